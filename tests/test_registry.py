"""Registries: string types build through the default scope, and import
hygiene."""
import subprocess
import sys

import mmengine.registry as root
import pytest

# The registries MMEngine's Runner (or its optimiser constructor, visualizer
# and weight initialisers) builds from through the default scope.
RUNNER_BUILT = ['LOOPS', 'HOOKS', 'DATASETS', 'DATA_SAMPLERS', 'TRANSFORMS',
                'MODELS', 'MODEL_WRAPPERS', 'WEIGHT_INITIALIZERS',
                'TASK_UTILS', 'OPTIMIZERS', 'OPTIM_WRAPPERS',
                'OPTIM_WRAPPER_CONSTRUCTORS', 'PARAM_SCHEDULERS', 'METRICS',
                'EVALUATOR', 'VISUALIZERS', 'VISBACKENDS', 'LOG_PROCESSORS']


def _run(code):
    result = subprocess.run([sys.executable, '-c', code], capture_output=True,
                            text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


@pytest.mark.parametrize('name', RUNNER_BUILT)
def test_default_scope_resolves_in_sapsam_without_warning(name, sapsam_scope,
                                                          monkeypatch):
    import mmengine.logging
    logged = []
    monkeypatch.setattr(mmengine.logging, 'print_log',
                        lambda msg, *a, **k: logged.append(msg))
    with getattr(root, name).switch_scope_and_registry(None) as registry:
        assert registry.scope == 'sapsam'
    assert logged == []


def test_string_types_build_from_a_fresh_interpreter():
    # Only the registry module is imported: `locations` import the rest.
    code = (
        'from mmengine.registry import DefaultScope, MODELS, TASK_UTILS\n'
        'import sapsam.registry\n'
        "with DefaultScope.overwrite_default_scope('sapsam'):\n"
        "    head = MODELS.build(dict(type='ELCAAlign', embed_dim=16,\n"
        "                             num_heads=2))\n"
        "    prompt = MODELS.build(dict(type='MCAPrompt', text_dim=8,\n"
        "                               embed_dim=16,\n"
        "                               image_embedding_size=(4, 4)))\n"
        "    tok = TASK_UTILS.build(dict(type='CLIPTokenizer',\n"
        "                                context_length=16))\n"
        "    splitter = TASK_UTILS.build(dict(type='RuleCaptionSplitter'))\n"
        "    gen = TASK_UTILS.build(dict(type='TemplatePhraseGenerator'))\n"
        'print(type(head).__name__, type(prompt).__name__,\n'
        '      type(splitter).__name__, type(gen).__name__,\n'
        "      tuple(tok(['a red coat']).shape))\n")
    assert _run(code).split() == [
        'ELCAAlign', 'MCAPrompt', 'RuleCaptionSplitter',
        'TemplatePhraseGenerator', '(1,', '16)']


def test_sapsam_registries_build_string_types(sapsam_scope):
    from sapsam.models import SDMLoss
    from sapsam.registry import MODELS, TASK_UTILS
    assert isinstance(MODELS.build(dict(type='SDMLoss')), SDMLoss)
    assert MODELS.build(dict(type='ELCAAlign')).readout == 'region'
    tok = TASK_UTILS.build(dict(type='CLIPTokenizer', context_length=16))
    assert tok(['a red coat']).shape == (1, 16)
    with pytest.raises(KeyError, match='NoSuchHead'):
        MODELS.build(dict(type='NoSuchHead'))


def test_runner_functions_resolve_in_sapsam_scope(sapsam_scope):
    from mmengine.dataset import pseudo_collate
    assert root.FUNCTIONS.get('pseudo_collate') is pseudo_collate


def test_import_does_not_pull_compiled_mmcv_ops():
    _run('import sys, sapsam, sapsam.models, sapsam.datasets, '
         'sapsam.evaluation, sapsam.engine, sapsam.registry\n'
         'from sapsam.utils import register_all_modules\n'
         'register_all_modules()\n'
         'bad = [m for m in sys.modules if m.startswith("mmcv.ops") or '
         'm == "mmcv._ext" or m.startswith("mmseg.models") or '
         'm.startswith("mmseg.utils")]\n'
         'print(bad)\nassert not bad, bad\n')


def test_dataset_layer_does_not_import_the_offline_part_pipeline():
    # The loaders and the checker read part files (sapsam.parts.formats);
    # the BLIP-2 phrase generators and LLM caption splitters load only when
    # a registry builds one.
    out = _run('import sys, sapsam.datasets\n'
               'from sapsam.datasets import check_tbpr_dataset\n'
               'print(sorted(m for m in sys.modules if m.startswith('
               '("sapsam.parts.phrase_generators", '
               '"sapsam.parts.caption_splitters"))))\n'
               'from sapsam.registry import TASK_UTILS\n'
               'print(TASK_UTILS.get("Blip2PhraseGenerator").__name__)\n')
    assert out.split('\n')[:2] == ['[]', 'Blip2PhraseGenerator']
