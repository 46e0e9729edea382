"""Fixtures of the user-path tests: tool import, one CPU thread."""
import importlib.util
import os.path as osp

import pytest
import torch

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def _load_tool(relpath: str):
    """Import a script under ``tools/`` as a module."""
    path = osp.join(REPO, relpath)
    spec = importlib.util.spec_from_file_location(
        'sapsam_test_' + osp.splitext(osp.basename(path))[0], path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


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
