"""Every faithful config turns on every faithful switch of its pipeline and
model, sits one short leaf over its corrected twin, and is listed in the
README with its table row (docs/fidelity.md)."""
import glob
import inspect
import math
import os.path as osp
import re

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import DefaultScope
from open_clip.transformer import LayerNormFp32

from sapsam.datasets.transforms import (FindPhraseSpans, PartAwareMaskTokens,
                                        RandomCrop, RandomMaskTokens,
                                        ResizeWithLabels,
                                        TorchvisionTransforms)
from sapsam.datasets.transforms.find_phrase_spans import find_phrase_span
from sapsam.engine.optimizers import (OfficialWarmupLR,
                                      RepeatedStepOptimWrapper)
from sapsam.models import (CLIPRetrieverFP16, DiceLoss, ELCAAlign, MCAPrompt,
                           SAPSAMFP16)
from sapsam.registry import MODELS

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
FAITHFUL = sorted(glob.glob(osp.join(REPO, 'configs', '*', '*_faithful.py')))
RETRIEVER = [p for p in FAITHFUL if '/sapsam/' in p]
PERSON_SAM = [p for p in FAITHFUL if '/person_sam/' in p]
#: Supplement table row -> (faithful config, published R@1 on CUHK-PEDES
#: or Person-SAM mIoU on ATR).
ROWS = {
    'Table 4 row 1': ('sapsam/imgdec_discrete_cuhk_faithful.py', '69.54'),
    'Table 4 row 2': ('sapsam/imgdec_discrete_wo_bg_cuhk_faithful.py',
                      '69.77'),
    'Table 4 row 3': ('sapsam/imgdec_linear_pe_cuhk_faithful.py', '72.69'),
    'Table 4 row 4': ('sapsam/imgdec_linear_vit_cuhk_faithful.py', '71.56'),
    'Table 5 row 1': ('person_sam/cls_atr_faithful.py', '56.31'),
    'Table 5 row 2': ('person_sam/dense_atr_faithful.py', '59.27'),
    'Table 5 row 3': ('person_sam/dot_atr_faithful.py', '58.01'),
    'Table 5 row 4': ('person_sam/mca_atr_faithful.py', '61.55'),
    'Table 6 w/o matching': ('sapsam/baseline_cuhk_faithful.py', '70.42'),
    'Table 6 row 1': ('sapsam/avgpool_cuhk_faithful.py', '32.96'),
    'Table 6 row 2': ('sapsam/conv1d_cuhk_faithful.py', '53.87'),
    'Table 6 row 3': ('sapsam/mhsa_cuhk_faithful.py', '68.99'),
    'Table 6 row 4': ('sapsam/elca_cuhk_faithful.py', '73.59'),
    'Table 7 baseline ViT-B/16': ('sapsam/baseline_cuhk_faithful.py',
                                  '70.42'),
    'Table 7 SAP-SAM ViT-B/16': ('sapsam/elca_cuhk_faithful.py', '75.05'),
    'Table 7 baseline ViT-L/14': ('sapsam/baseline_vitl14_cuhk_faithful.py',
                                  '72.13'),
    'Table 7 SAP-SAM ViT-L/14': ('sapsam/elca_vitl14_cuhk_faithful.py',
                                 '76.28'),
}


def _rel(path):
    return osp.relpath(path, osp.join(REPO, 'configs'))


def _type(cfg):
    kind = cfg['type']
    if isinstance(kind, str):
        kind = MODELS.get(kind.split('.')[-1])
    return kind


def _unset_faithful_switches(cfg, where='model'):
    """Config dicts whose type takes ``faithful`` and leave it off."""
    found = []
    if isinstance(cfg, dict):
        if 'type' in cfg and inspect.isclass(cfg['type']) and \
                'faithful' in inspect.signature(cfg['type']).parameters and \
                cfg.get('faithful') is not True:
            found.append(f'{where}: {cfg["type"].__name__}')
        for key, value in cfg.items():
            found += _unset_faithful_switches(value, f'{where}.{key}')
    elif isinstance(cfg, (list, tuple)):
        for i, value in enumerate(cfg):
            found += _unset_faithful_switches(value, f'{where}[{i}]')
    return found


def test_every_table_row_has_a_faithful_config_and_every_leaf_a_row():
    assert {osp.join(REPO, 'configs', p) for p, _ in ROWS.values()} == \
        set(FAITHFUL)


@pytest.mark.parametrize('path', FAITHFUL, ids=_rel)
def test_faithful_leaf_is_a_short_override_of_its_twin(path):
    twin = osp.basename(path).replace('_faithful.py', '')
    source = open(path).read()
    assert osp.isfile(osp.join(osp.dirname(path), twin + '.py'))
    assert f'from .{twin} import *' in source
    assert 'from .._base_.faithful_' in source
    assert len(source.splitlines()) <= 30


@pytest.mark.parametrize('path', RETRIEVER, ids=_rel)
def test_retriever_faithful_switches(path):
    cfg = Config.fromfile(path)
    model = cfg.model
    assert model.type in (SAPSAMFP16, CLIPRetrieverFP16)  # P5
    assert cfg.optim_wrapper.optimizer.eps == 1e-3
    assert cfg.optim_wrapper.paramwise_cfg.names == 'official'  # O1
    (sched, ) = cfg.param_scheduler  # S1
    assert sched['type'] is OfficialWarmupLR
    assert (sched.warmup, sched.warmup_factor, sched.after, sched.total,
            sched.by_epoch) == (5, 0.1, 'cosine', 60, True)
    assert not _unset_faithful_switches(model)  # D1 and any later switch
    head = model.get('alignment_head')
    if head and head['type'] is ELCAAlign:
        assert head.readout == 'cls'
    dataset = cfg.train_dataloader.dataset
    pipeline = dataset.pipeline
    assert not _unset_faithful_switches(pipeline, 'pipeline')
    if 'part_files' not in dataset:
        return  # the baselines keep IRRA's augmentation
    assert dataset.part_files.faithful is True  # M2
    types = [step['type'] for step in pipeline]
    (resize, ) = [s for s in pipeline if s['type'] is ResizeWithLabels]
    assert (resize.interpolation, resize.backend,
            resize.seg_interpolation) == ('bicubic', 'pillow', 'bicubic')
    (aug, ) = [s for s in pipeline if s['type'] is TorchvisionTransforms]
    assert aug.prob == 0.45 and len(aug.transforms) == 12  # A1
    assert all(s.padding == 0 for s in pipeline if s['type'] is RandomCrop)
    assert 'RandomFlip' not in [t.__name__ for t in types]  # flip inside A1
    # T1-T4: pass 1 aliased before the span search, pass 2 after it.
    order = [types.index(t) for t in (RandomMaskTokens, FindPhraseSpans,
                                      PartAwareMaskTokens)]
    assert order == sorted(order)
    (first, ) = [s for s in pipeline if s['type'] is RandomMaskTokens]
    assert first.alias_text_ids is True


@pytest.mark.parametrize('path', PERSON_SAM, ids=_rel)
def test_person_sam_faithful_switches(path):
    cfg = Config.fromfile(path)
    model = cfg.model
    assert [loss['type'] for loss in model.losses] == [DiceLoss]  # P2
    assert model.losses[0].squared_pred is True
    assert model.iou_loss_weight == 0
    assert model.geometry == 'stretch' and model.score_at_low_res  # P3
    if model.prompt_encoder['type'] is MCAPrompt:
        assert model.prompt_encoder.use_key_padding_mask is False
    wrapper = cfg.optim_wrapper  # P1
    assert wrapper['type'] is RepeatedStepOptimWrapper and wrapper.repeats == 2
    opt = wrapper.optimizer
    assert (opt.lr, opt.weight_decay, opt.eps) == (1e-4, 0.01, 1e-8)
    assert wrapper.paramwise_cfg.custom_keys.bias.decay_mult == 0
    (sched, ) = cfg.param_scheduler  # S2
    assert (sched.warmup, sched.warmup_factor, sched.after) == (
        1, 0.1, 'constant')
    assert cfg.train_dataloader.batch_size == 6
    assert cfg.train_cfg.max_epochs == 20
    steps = [s['type'].__name__ for s in cfg.train_pipeline]
    assert steps == ['LoadImageFromFile', 'LoadPhraseMask', 'Resize',
                     'PackPromptSegInputs']  # no augmentation
    assert 'atr_item_descriptions_dev' in cfg.val_dataloader.dataset.ann_file
    assert cfg.default_hooks.checkpoint.save_best == 'per_sample/mIoU'


def test_readme_maps_every_row_to_its_config_and_number():
    lines = open(osp.join(REPO, 'README.md')).read().splitlines()
    for row, (config, number) in ROWS.items():
        assert any(line.startswith(f'| {row} ') and
                   f'configs/{config}' in line and number in line
                   for line in lines), row


def test_official_schedule_per_epoch():
    """S1: epochs 1-5 (0-based 0-4) at 0.1 + 0.9 (e - 1) / 5, then
    (1 + cos(pi (e - 6) / 55)) / 2, stepped once per epoch."""
    cfg = Config.fromfile(
        osp.join(REPO, 'configs/sapsam/elca_cuhk_faithful.py'))
    param = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.Adam([param], lr=1e-5)
    (sched, ) = cfg.param_scheduler
    scheduler = OfficialWarmupLR(optimizer, **{
        k: v for k, v in sched.items() if k != 'type'})
    for epoch in range(1, 61):  # the official 1-based epoch
        if epoch <= 5:
            factor = 0.1 + 0.9 * (epoch - 1) / 5
        else:
            factor = 0.5 * (1 + math.cos(math.pi * (epoch - 6) / 55))
        assert optimizer.param_groups[0]['lr'] == pytest.approx(
            1e-5 * factor, rel=1e-9, abs=1e-15), epoch
        optimizer.step()
        scheduler.step()


def test_official_fp16_model_at_real_shapes():
    """P5: Linear/Conv/attention weights and the projections in fp16,
    embeddings and LayerNorm parameters in fp32 with LayerNorm computed in
    fp32 (built on the meta device: dtypes only)."""
    cfg = Config.fromfile(
        osp.join(REPO, 'configs/sapsam/elca_cuhk_faithful.py'))
    cfg.model.backbone.pretrained = None
    with DefaultScope.overwrite_default_scope('sapsam'), \
            torch.device('meta'):
        model = MODELS.build(cfg.model)
    backbone = model.backbone
    half = [backbone.visual.conv1.weight, backbone.visual.proj,
            backbone.text_projection,
            backbone.transformer.resblocks[0].attn.in_proj_weight,
            backbone.transformer.resblocks[0].mlp.c_fc.bias,
            model.cross_modal_decoder.cross_attn.in_proj_weight,
            model.mlm_head.mlp.fc.weight,
            model.alignment_head.cross_attn.in_proj_bias,
            model.alignment_head.classifier.dense.weight]
    assert all(p.dtype == torch.float16 for p in half)
    full = [backbone.token_embedding.weight, backbone.positional_embedding,
            backbone.visual.class_embedding, backbone.ln_final.weight,
            model.cross_modal_decoder.ln_post.bias]
    assert all(p.dtype == torch.float32 for p in full)
    norms = [m for m in model.modules() if isinstance(m, torch.nn.LayerNorm)]
    assert norms and all(type(m) is LayerNormFp32 for m in norms)


def test_official_fp16_layer_norm_computes_in_fp32():
    norm = LayerNormFp32(4)
    x = torch.tensor([[1e4, -1e4, 3., 5.]], dtype=torch.float16)
    assert norm(x).dtype == torch.float16
    assert torch.allclose(norm(x).float(), norm(x.float()), atol=1e-3)


def test_span_window_clamped_at_the_last_token():
    """T3: a phrase starting two tokens before the [EOT] of a truncated
    77-token caption is found by the official search (its window keeps
    comparing the last token), not by the default one."""
    ids = [49406] + list(range(100, 175)) + [49407]  # 77 tokens, truncated
    phrase = [173, 174, 300, 301]  # starts at 74, runs past the end
    assert find_phrase_span(ids, phrase) == (-1, -1)
    transform = FindPhraseSpans(max_parts=1, faithful=True)
    transform._cache['the phrase'] = phrase
    out = transform(dict(text_ids=torch.tensor(ids),
                         part_phrases=['the phrase']))
    assert out['part_spans'][0].tolist() == [74, 76]


def test_every_fidelity_row_names_tests_that_exist():
    """docs/fidelity.md: no row without a test, and every test it names is
    defined where it says."""
    import ast
    rows = [line for line in open(osp.join(REPO, 'docs', 'fidelity.md'))
            if line.startswith('| ') and not line.startswith('| id ')
            and not line.startswith('|---')]
    assert len(rows) >= 20
    for row in rows:
        path, cited = None, []
        for token in re.findall(r'`([^`]+)`', row.split(' | ')[-1]):
            if token.startswith('test_') and '.py' in token:
                path, _, name = token.partition('::')
            elif token.startswith('::') and path:
                name = token[2:]
            else:
                continue
            cited.append((path, name.split('[')[0]))
        assert cited, row
        for path, name in cited:
            full = osp.join(REPO, 'tests', path)
            assert osp.isfile(full), path
            if name:
                defined = {node.name for node in ast.walk(ast.parse(
                    open(full).read())) if isinstance(node, ast.FunctionDef)}
                assert name in defined, f'{path}::{name}'
