"""Fixtures shared by several test directories. Keep per-topic fixtures in
the test modules or their directory's ``conftest.py``; plain helpers
(script loader, drawn people) are in ``tests/helpers.py``."""
import os
import sys

import pytest
import torch

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if REPO_ROOT not in sys.path:
    sys.path.insert(0, REPO_ROOT)

torch.set_num_threads(max(1, min(2, torch.get_num_threads())))

from tests.helpers import load_script  # noqa: E402 (needs sys.path above)


@pytest.fixture
def sapsam_scope():
    """Run the test inside the ``sapsam`` default scope."""
    from mmengine.registry import DefaultScope
    with DefaultScope.overwrite_default_scope('sapsam'):
        yield


@pytest.fixture(scope='session')
def load_tool():
    """``load_tool('tools/x/y.py')`` imports a script as a module."""
    return load_script


@pytest.fixture
def one_thread():
    """The shared CPUs are oversubscribed; several intra-op threads then
    spin-wait and run many times slower. The Person-SAM tests use it for
    every test (``pytestmark`` or their directory's ``conftest.py``)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope='session')
def tiny_weights(tmp_path_factory):
    """``sam_tiny.pth`` and ``bert_tiny/`` written by make_tiny_weights."""
    tool = load_script('tools/misc/make_tiny_weights.py')
    return tool.make_tiny_weights(str(tmp_path_factory.mktemp('weights')))


@pytest.fixture
def person_sam(tiny_weights, sapsam_scope):
    """Build a tiny PersonSAM with the tiny SAM weights loaded (as the
    runner does, by ``init_weights()``); ``sam_arch`` and ``sam_checkpoint``
    set both SAM parts, other keyword arguments override the defaults."""
    from sapsam.registry import MODELS

    def build(sam_arch='tiny', sam_checkpoint=tiny_weights['sam'],
              **overrides):
        init_cfg = dict(type='Pretrained', checkpoint=sam_checkpoint)
        cfg = dict(
            type='PersonSAM',
            image_encoder=dict(type='SAMImageEncoder', arch=sam_arch,
                               init_cfg=init_cfg),
            mask_decoder=dict(type='SAMMaskDecoder', arch=sam_arch,
                              init_cfg=init_cfg),
            text_encoder=dict(type='BertTextEncoder',
                              pretrained=tiny_weights['bert']),
            prompt_encoder=dict(type='MCAPrompt', num_heads=4),
            losses=[dict(type='DiceLoss'), dict(type='BinaryCELoss')])
        cfg.update(overrides)
        torch.manual_seed(0)
        model = MODELS.build(cfg)
        model.init_weights()
        return model

    return build
