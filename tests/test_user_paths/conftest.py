"""Fixtures of the user-path tests: one CPU thread per module (``load_tool``
is the shared fixture of ``tests/conftest.py``)."""
import pytest
import torch


@pytest.fixture(autouse=True, scope='module')
def one_thread():
    """The shared CPUs are oversubscribed; one intra-op thread is faster."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
