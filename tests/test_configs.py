"""Every config parses, states the paper's hyper-parameters, builds, and
(retrieval configs) runs one training step with tiny overrides on a small
synthetic copy of its dataset."""
import glob
import os.path as osp
import re

import pytest
import torch
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from mmengine.optim import build_optim_wrapper
from mmengine.registry import DefaultScope

from sapsam.registry import DATASETS, MODELS

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
LEAVES = sorted(p for p in glob.glob(osp.join(REPO, 'configs', '**', '*.py'),
                                     recursive=True) if '_base_' not in p)
RETRIEVAL = sorted(p for p in LEAVES
                   if osp.basename(osp.dirname(p)) in ('baseline', 'sapsam'))
EXPECTED_RETRIEVAL = {
    'baseline/clip_sdm_cuhk.py', 'baseline/clip_sdm_icfg.py',
    'baseline/clip_sdm_icfg_holdout.py', 'baseline/clip_sdm_rstp.py',
    'baseline/clip_sdm_synthetic.py', 'sapsam/elca_cuhk_faithful.py',
    'sapsam/elca_vitl14_cuhk.py', 'sapsam/baseline_vitl14_cuhk.py',
    *(f'sapsam/{head}_{ds}.py'
      for head in ('baseline', 'avgpool', 'conv1d', 'mhsa', 'elca')
      for ds in ('cuhk', 'icfg', 'rstp', 'synthetic')),
    *(f'sapsam/imgdec_{v}_cuhk.py'
      for v in ('discrete', 'discrete_wo_bg', 'linear_pe', 'linear_vit'))}
# Faithful leaves differ from their corrected twins by the same few
# overrides; one step runs for one leaf of each kind (fp16 SAP-SAM with
# parts, fp16 baseline, faithful image decoding, the ViT-L/14 pipeline).
ONE_STEP_FAITHFUL = {'sapsam/elca_cuhk_faithful.py',
                     'sapsam/baseline_cuhk_faithful.py',
                     'sapsam/imgdec_linear_pe_cuhk_faithful.py',
                     'sapsam/elca_vitl14_cuhk_faithful.py'}
DATASET_DIRS = {'CUHKPEDES': 'CUHK-PEDES', 'ICFGPEDES': 'ICFG-PEDES',
                'RSTPReid': 'RSTPReid'}


def tiny_arch(patch_size):
    return dict(embed_dim=32,
                vision=dict(width=32, layers=1, head_width=16,
                            patch_size=patch_size),
                text=dict(width=32, heads=2, layers=1))


def _patch_size(cfg):
    from sapsam.models.backbones.clip_backbone import CLIP_ARCHS
    arch = cfg.model.backbone.arch
    arch = CLIP_ARCHS[arch] if isinstance(arch, str) else arch
    return arch['vision']['patch_size']


def _rel(path):
    return osp.relpath(path, osp.join(REPO, 'configs'))


ONE_STEP = [p for p in RETRIEVAL
            if 'faithful' not in p or _rel(p) in ONE_STEP_FAITHFUL]


def test_config_tree_is_complete():
    found = {_rel(p) for p in RETRIEVAL}
    assert EXPECTED_RETRIEVAL <= found, EXPECTED_RETRIEVAL - found
    assert len(LEAVES) >= len(EXPECTED_RETRIEVAL)


@pytest.mark.parametrize('path', LEAVES, ids=_rel)
def test_config_parses_and_round_trips_through_a_dump(path, tmp_path):
    cfg = Config.fromfile(path)
    dumped = str(tmp_path / 'dumped.py')
    cfg.dump(dumped)
    again = Config.fromfile(dumped)
    if 'model' in cfg:
        assert cfg.get('default_scope') == 'sapsam'
        assert str(again.model['type']).split('.')[-1] == \
            getattr(cfg.model['type'], '__name__', cfg.model['type'])


@pytest.mark.parametrize('name', ['cuhk', 'icfg', 'rstp'])
def test_real_baselines_state_the_paper_settings(name):
    cfg = Config.fromfile(osp.join(REPO, f'configs/baseline/clip_sdm_{name}.py'))
    assert cfg.model.backbone.arch == 'ViT-B/16'
    assert tuple(cfg.model.backbone.image_size) == (384, 128)
    assert cfg.model.backbone.context_length == 77
    assert cfg.model.sdm_loss.temperature == 0.02
    opt = cfg.optim_wrapper.optimizer
    assert (opt.lr, opt.eps, opt.weight_decay) == (1e-5, 1e-3, 4e-5)
    assert cfg.train_cfg.max_epochs == 60
    assert cfg.train_dataloader.batch_size == 64
    assert cfg.model.backbone.pretrained.endswith('ViT-B-16.pt')
    has_val = name != 'icfg'
    assert (cfg.get('val_cfg') is not None) == has_val
    assert cfg.test_dataloader.dataset.split == 'test'


@pytest.mark.parametrize('path', LEAVES, ids=_rel)
def test_dataset_policies_reach_the_leaf(path):
    """Dataset bases refine the runtime's hooks (no val split: keep the last
    checkpoint; ATR: keep the best per-sample mIoU). That holds only when the
    leaf imports default_runtime.py before them (later imports win)."""
    source = open(path).read()
    bases = re.findall(r'from \.\._base_\.(\S+) import \*', source)
    if 'default_runtime' in bases:
        assert bases.index('default_runtime') == 0, bases
    cfg = Config.fromfile(path)
    if 'default_hooks' not in cfg or 'model' not in cfg:
        return
    checkpoint = cfg.default_hooks.checkpoint
    if cfg.get('val_cfg') is None:
        assert (checkpoint.save_best, checkpoint.max_keep_ckpts) == (None, 1)
    elif 'atr_item_descriptions' in str(cfg.val_dataloader.dataset):
        assert checkpoint.save_best == 'per_sample/mIoU'
    else:
        assert checkpoint.save_best == 'auto'


@pytest.fixture(scope='module')
def synthetic(tmp_path_factory):
    from sapsam.datasets.synthetic import generate_synthetic_benchmark
    out = str(tmp_path_factory.mktemp('synthetic_cfg'))
    generate_synthetic_benchmark(out, seed=5, scale=0.08, progress=False,
                                 datasets=('CUHK-PEDES', 'ICFG-PEDES',
                                           'RSTPReid'))
    return out


def _point_to(dataset_cfg, root):
    name = getattr(dataset_cfg['type'], '__name__', dataset_cfg['type'])
    dataset_cfg['data_root'] = osp.join(root, DATASET_DIRS[name])
    if dataset_cfg.get('val_from_train'):
        dataset_cfg['val_from_train'] = 2  # the small copy has few ids


def tiny_retrieval_cfg(path, root):
    """``path`` with a tiny CLIP, no pretrained weights and data in ``root``."""
    cfg = Config.fromfile(path)
    backbone = cfg.model.backbone
    if backbone.arch != 'tiny':
        backbone.update(arch=tiny_arch(_patch_size(cfg)), pretrained=None)
    head = cfg.model.get('image_decoding_head')
    if head and head.get('image_tokenizer'):
        head.image_tokenizer.update(checkpoint=None, hidden_dim=8,
                                    vocab_size=16)
    _point_to(cfg.train_dataloader.dataset, root)
    return cfg


@pytest.mark.parametrize('path', RETRIEVAL, ids=_rel)
def test_part_labels_match_the_backbone_grid(path):
    cfg = Config.fromfile(path)
    sizes = [step['patch_size'] for step in
             cfg.train_dataloader.dataset.pipeline
             if 'patch_size' in step]
    assert sizes in ([], [_patch_size(cfg)])
    # Every pipeline resizes to the backbone's input size.
    height, width = cfg.model.backbone.image_size
    loaders = [cfg.train_dataloader] + [
        cfg[key].gallery_dataloader for key in ('val_cfg', 'test_cfg')
        if cfg.get(key)]
    for loader in loaders:
        scales = [tuple(s['scale']) for s in loader.dataset.pipeline
                  if 'scale' in s and 'keep_ratio' in s]
        assert scales == [(width, height)], (path, scales)


def test_paper_main_model_and_faithful_switches():
    main = Config.fromfile(osp.join(REPO, 'configs/sapsam/elca_cuhk.py'))
    assert main.model.alignment_head.readout == 'region'
    assert main.model.mlm_head is not None
    faithful = Config.fromfile(
        osp.join(REPO, 'configs/sapsam/elca_cuhk_faithful.py'))
    assert faithful.model.alignment_head.readout == 'cls'
    flags = [step.get('faithful') for step in
             faithful.train_dataloader.dataset.pipeline]
    assert flags.count(True) == 4  # merge, pass 1, span search, pass 2
    assert faithful.train_dataloader.dataset.part_files.faithful is True
    masking = [s for s in main.train_dataloader.dataset.pipeline
               if 'part_mask_prob' in s][0]
    assert (masking.part_mask_prob, masking.mask_prob) == (0.35, 0.15)


@pytest.mark.parametrize('path', ONE_STEP, ids=_rel)
def test_retrieval_config_runs_one_training_step(path, synthetic):
    cfg = tiny_retrieval_cfg(path, synthetic)
    with DefaultScope.overwrite_default_scope('sapsam'):
        torch.manual_seed(0)
        model = MODELS.build(cfg.model)
        dataset = DATASETS.build(cfg.train_dataloader.dataset)
        batch = pseudo_collate([dataset[i] for i in range(4)])
        optim_wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
        before = [p.detach().clone() for p in model.parameters()]
        losses = model.train_step(batch, optim_wrapper)
    assert 'loss' in losses and torch.isfinite(losses['loss'])
    changed = sum(not torch.equal(a, b.detach())
                  for a, b in zip(before, model.parameters()))
    assert changed > 0
    if cfg.get('test_cfg'):
        for loader in (cfg.test_dataloader, cfg.test_cfg.gallery_dataloader):
            _point_to(loader.dataset, synthetic)
            with DefaultScope.overwrite_default_scope('sapsam'):
                assert len(DATASETS.build(loader.dataset)) > 0


@pytest.mark.parametrize('name, warmup, total', [
    ('configs/baseline/clip_sdm_cuhk.py', 5, 60),
    ('configs/baseline/clip_sdm_synthetic.py', 1, 12)])
def test_schedule_warms_up_to_the_base_lr_then_cosine(name, warmup, total):
    """Simulate the schedulers as the Runner steps them (per iteration for
    converted ones, per epoch otherwise)."""
    cfg = Config.fromfile(osp.join(REPO, name))
    base_lr = cfg.optim_wrapper.optimizer.lr
    param = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.Adam([param], lr=base_lr)
    iters = 10
    schedulers = []
    for sched in cfg.param_scheduler:
        sched = dict(sched)
        cls = sched.pop('type')
        if sched.pop('convert_to_iter_based', False):
            schedulers.append((False, cls.build_iter_from_epoch(
                optimizer, epoch_length=iters, **sched)))
        else:
            schedulers.append((True, cls(optimizer, **sched)))
    lrs = []
    for epoch in range(total):
        lrs.append(optimizer.param_groups[0]['lr'])
        for _ in range(iters):
            for by_epoch, sched in schedulers:
                if not by_epoch:
                    sched.step()
        for by_epoch, sched in schedulers:
            if by_epoch:
                sched.step()
    assert lrs[0] == pytest.approx(0.1 * base_lr, rel=0.05)
    assert lrs[warmup] == pytest.approx(base_lr, rel=0.05)
    import math
    k = (total - warmup) // 2
    assert lrs[warmup + k] == pytest.approx(
        base_lr * (1 + math.cos(math.pi * k / (total - warmup))) / 2,
        rel=0.05)
    assert lrs[-1] < 0.05 * base_lr
