"""Shared test fixtures. Keep per-topic fixtures in the test modules."""
import os
import sys

import pytest
import torch

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if REPO_ROOT not in sys.path:
    sys.path.insert(0, REPO_ROOT)

torch.set_num_threads(max(1, min(2, torch.get_num_threads())))


@pytest.fixture
def sapsam_scope():
    """Run the test inside the ``sapsam`` default scope."""
    from mmengine.registry import DefaultScope
    with DefaultScope.overwrite_default_scope('sapsam'):
        yield
