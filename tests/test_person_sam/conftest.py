"""Fixtures of the Person-SAM tests: tiny weights and models, one thread."""
import importlib.util
import os.path as osp

import pytest
import torch

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def _load_tool(relpath: str):
    """Import a script under ``tools/`` or ``benchmarks/`` as a module."""
    path = osp.join(REPO, relpath)
    name = 'sapsam_test_' + osp.splitext(osp.basename(path))[0]
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope='session')
def load_tool():
    """``load_tool('tools/x/y.py')`` imports a script as a module."""
    return _load_tool


@pytest.fixture(autouse=True)
def one_thread():
    """The shared CPUs are oversubscribed; several intra-op threads then
    spin-wait and run many times slower."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope='session')
def tiny_weights(tmp_path_factory):
    """``sam_tiny.pth`` and ``bert_tiny/`` written by make_tiny_weights."""
    tool = _load_tool('tools/misc/make_tiny_weights.py')
    return tool.make_tiny_weights(str(tmp_path_factory.mktemp('weights')))


@pytest.fixture
def person_sam(tiny_weights, sapsam_scope):
    """Build a tiny PersonSAM; keyword arguments override the defaults."""
    from sapsam.registry import MODELS

    def build(**overrides):
        cfg = dict(
            type='PersonSAM',
            sam=dict(arch='tiny', checkpoint=tiny_weights['sam']),
            text_encoder=dict(type='BertTextEncoder',
                              pretrained=tiny_weights['bert']),
            prompt_encoder=dict(type='MCAPrompt', num_heads=4),
            losses=[dict(type='DiceLoss'), dict(type='BinaryCELoss')])
        cfg.update(overrides)
        torch.manual_seed(0)
        return MODELS.build(cfg)

    return build
