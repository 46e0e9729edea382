"""Fixtures of the user-path tests: tool import, one CPU thread."""
import pytest
import torch

from tests.helpers import load_script as _load_tool


@pytest.fixture(scope='session')
def load_tool():
    """``load_tool('tools/x/y.py')`` imports a script as a module."""
    return _load_tool


@pytest.fixture(autouse=True, scope='module')
def one_thread():
    """The shared CPUs are oversubscribed; one intra-op thread is faster."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
