"""Registries and import hygiene."""
import subprocess
import sys

import pytest
import torch.nn as nn
from mmengine.registry import MODELS as ROOT_MODELS

import sapsam.registry as reg

REGISTRIES = ['RUNNERS', 'LOOPS', 'HOOKS', 'DATASETS', 'DATA_SAMPLERS',
              'TRANSFORMS', 'MODELS', 'MODEL_WRAPPERS', 'WEIGHT_INITIALIZERS',
              'TASK_UTILS', 'OPTIMIZERS', 'OPTIM_WRAPPERS',
              'OPTIM_WRAPPER_CONSTRUCTORS', 'PARAM_SCHEDULERS', 'METRICS',
              'EVALUATOR', 'VISUALIZERS', 'VISBACKENDS', 'LOG_PROCESSORS',
              'FUNCTIONS']
COMPONENTS = ['PROMPT_ENCODERS', 'ALIGNMENT_HEADS', 'TOKENIZERS',
              'PHRASE_GENERATORS', 'CAPTION_SPLITTERS']


@pytest.mark.parametrize('name', REGISTRIES)
def test_every_registry_is_a_located_child_of_mmengine(name):
    registry = getattr(reg, name)
    assert registry.scope == 'sapsam'
    assert registry.parent is not None and registry.parent.scope == 'mmengine'
    assert registry._locations and all(
        loc.startswith('sapsam.') for loc in registry._locations)


@pytest.mark.parametrize('name', COMPONENTS)
def test_component_registries_hang_under_models(name):
    registry = getattr(reg, name)
    assert registry.parent is reg.MODELS
    assert registry.parent.parent is ROOT_MODELS


def test_component_registry_builds_its_own_members_in_sapsam_scope(
        sapsam_scope):
    class _ProbeHead(nn.Module):
        def __init__(self, width=1):
            super().__init__()
            self.width = width

    reg.ALIGNMENT_HEADS.register_module(name='_ProbeHead', module=_ProbeHead,
                                        force=True)
    head = reg.ALIGNMENT_HEADS.build(dict(type='_ProbeHead', width=3))
    assert isinstance(head, _ProbeHead) and head.width == 3
    # Falls back to its parent, sapsam's MODELS.
    from sapsam.models import SDMLoss
    assert isinstance(reg.ALIGNMENT_HEADS.build(dict(type='SDMLoss')), SDMLoss)
    with pytest.raises(KeyError, match="'NoSuchHead' is not in the alignment "
                       "head registry; known: .*_ProbeHead"):
        reg.ALIGNMENT_HEADS.build(dict(type='NoSuchHead'))
    tok = reg.TOKENIZERS.build(dict(type='CLIPTokenizer', context_length=16))
    assert tok(['a red coat']).shape == (1, 16)


def test_import_does_not_pull_compiled_mmcv_ops():
    code = ('import sys, sapsam, sapsam.models, sapsam.datasets, '
            'sapsam.evaluation, sapsam.engine, sapsam.registry\n'
            'from sapsam.utils import register_all_modules\n'
            'register_all_modules()\n'
            'bad = [m for m in sys.modules if m.startswith("mmcv.ops") or '
            'm == "mmcv._ext" or m.startswith("mmseg.models") or '
            'm.startswith("mmseg.utils")]\n'
            'print(bad)\nassert not bad, bad\n')
    result = subprocess.run([sys.executable, '-c', code], capture_output=True,
                            text=True)
    assert result.returncode == 0, result.stderr[-2000:]
