"""Every config parses, states the paper's hyper-parameters, builds, and
(retrieval configs) runs one training step with tiny overrides on a small
synthetic copy of its dataset."""
import glob
import os.path as osp

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
    'baseline/clip_sdm_synthetic.py'}
DATASET_DIRS = {'CUHKPEDES': 'CUHK-PEDES', 'ICFGPEDES': 'ICFG-PEDES',
                'RSTPReid': 'RSTPReid'}
TINY_ARCH = dict(embed_dim=32,
                 vision=dict(width=32, layers=1, head_width=16, patch_size=16),
                 text=dict(width=32, heads=2, layers=1))


def _rel(path):
    return osp.relpath(path, osp.join(REPO, 'configs'))


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
        backbone.update(arch=TINY_ARCH, pretrained=None)
    _point_to(cfg.train_dataloader.dataset, root)
    return cfg


@pytest.mark.parametrize('path', RETRIEVAL, ids=_rel)
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
