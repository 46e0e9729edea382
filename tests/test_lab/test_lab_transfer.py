"""The synthetic lab: a test split that can measure, pretraining data
disjoint from the benchmark, and the transfer script's weights."""
import os.path as osp

import pytest
import torch
from mmengine.config import Config

from sapsam.datasets.synthetic import (benchmark_signatures,
                                       pretraining_corpus)
from sapsam.datasets.synthetic.attributes import identity_signature
from sapsam.datasets.synthetic.generator import TBPR_SPECS, _plan_tbpr
from tests.helpers import REPO, load_script

LAB_CONFIGS = ('baseline', 'avgpool', 'conv1d', 'mhsa', 'elca', 'elca_cls')
PERSON_SAM_LAB = ('cls', 'dense', 'dot', 'mca')


@pytest.fixture(autouse=True)
def one_thread():
    """Training loops here are small; one thread avoids spin-waiting on
    the shared CPUs."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _test_split(seed):
    identities, images = _plan_tbpr('CUHK-PEDES', TBPR_SPECS['CUHK-PEDES'],
                                    seed, 1.0)
    return identities, images


@pytest.mark.parametrize('seed', [0, 1])
def test_cuhk_test_split_can_measure_two_points(seed):
    """>= 200 test identities and >= 2,000 queries (one query per caption),
    so that 2 R@1 points are outside query-sampling noise."""
    identities, images = _test_split(seed)
    test = [i for i in images if i['identity']['split'] == 'test']
    assert len({i['identity']['id'] for i in test}) >= 200
    assert sum(i['n_captions'] for i in test) >= 2000


def test_near_duplicate_families_span_the_splits():
    """Families (identities one attribute apart) are dealt across splits:
    some have members in two splits, and the test split still holds
    near-duplicate pairs of its own."""
    identities, _ = _test_split(0)
    splits_of = {}
    for identity in identities:
        splits_of.setdefault(identity['family'], set()).add(identity['split'])
    assert sum(len(s) > 1 for s in splits_of.values()) >= 20
    test_families = [f for f, s in splits_of.items() if 'test' in s]
    in_test = [sum(i['family'] == f and i['split'] == 'test'
                   for i in identities) for f in test_families]
    assert sum(n > 1 for n in in_test) >= 10


def test_pretraining_identities_never_occur_in_the_benchmark():
    benchmark = benchmark_signatures(0)
    corpus = pretraining_corpus(40, seed=0, exclude=benchmark)
    signatures = {identity_signature(item['attributes'])
                  for item in corpus}
    assert len(signatures) == 40
    assert not signatures & benchmark
    again = pretraining_corpus(40, seed=0, exclude=benchmark)
    assert all((a['image'] == b['image']).all() and
               a['captions'] == b['captions'] for a, b in zip(corpus, again))
    item = corpus[0]
    assert item['image'].shape[:2] == item['label_map'].shape
    assert item['label_map'].max() < 18 and len(item['captions']) == 2


def test_pretraining_lowers_the_contrastive_loss():
    tool = load_script('tools/misc/pretrain_lab_encoders.py')
    corpus = pretraining_corpus(48, seed=1)
    _, losses = tool.pretrain_clip(corpus, epochs=6, batch_size=32, lr=2e-3)
    assert losses[-1] < losses[0] - 0.3, losses


def test_transfer_script_writes_weights_the_lab_configs_load(
        tmp_path):
    """One small run: the CLIP loads into CLIPBackbone, the SAM into
    Person-SAM with its image encoder replaced and nothing else; the same
    arguments reproduce the same weights; an up-to-date run is skipped."""
    from sapsam.models import CLIPBackbone
    from sapsam.models.segmentors.sam_builder import build_sam
    make_tiny = load_script('tools/misc/make_tiny_weights.py')
    tool = load_script('tools/misc/pretrain_lab_encoders.py')
    out = str(tmp_path / 'weights')
    make_tiny.make_tiny_sam(osp.join(out, 'sam_tiny.pth'))
    argv = ['--out', out, '--ids', '8', '--clip-epochs', '1',
            '--sam-epochs', '1', '--sam-images', '32', '--threads', '1']
    first = tool.main(argv)
    assert osp.isdir(osp.join(out, tool.MINILM_DIR))
    backbone = CLIPBackbone(arch='tiny', image_size=(192, 64),
                            pretrained=osp.join(out, tool.CLIP_FILE))
    saved = torch.load(osp.join(out, tool.CLIP_FILE), weights_only=True)
    assert torch.equal(backbone.token_embedding.weight,
                       saved['token_embedding.weight'])
    base = torch.load(osp.join(out, 'sam_tiny.pth'), weights_only=True)
    lab = torch.load(osp.join(out, tool.SAM_FILE), weights_only=True)
    assert set(base) == set(lab)
    changed = {k.split('.')[0] for k in base if not torch.equal(base[k],
                                                                 lab[k])}
    assert changed == {'image_encoder'}
    build_sam('tiny').load_state_dict(lab)
    # Same arguments: skipped; forced: the same weights again; one stage
    # alone (a lane of make demo) keeps the other's output.
    assert tool.main(argv) == first
    again = tool.main(argv + ['--force'])
    assert again['clip']['digest'] == first['clip']['digest']
    assert again['sam']['digest'] == first['sam']['digest']
    assert first['clip']['arguments']['ids'] == 8
    sam_only = tool.main(argv + ['--stages', 'sam', '--sam-epochs', '2'])
    assert sam_only['sam']['digest'] != first['sam']['digest']
    # The learning rate and the label head are part of what the manifest
    # compares.
    other_lr = tool.main(argv + ['--stages', 'sam', '--sam-lr', '1e-2'])
    assert other_lr['sam']['arguments']['lr'] == 1e-2
    per_cell = tool.main(argv + ['--stages', 'sam', '--sam-head', 'bilinear'])
    assert per_cell['sam']['arguments']['head'] == 'bilinear'
    digests = {run['sam']['digest'] for run in (first, sam_only, other_lr,
                                                per_cell)}
    assert len(digests) == 4
    assert tool.read_manifest(out, 'clip') == again['clip']


@pytest.mark.parametrize('name', LAB_CONFIGS)
def test_lab_retrievers_start_from_the_transferred_clip(name):
    cfg = Config.fromfile(osp.join(REPO, 'configs/lab', f'{name}.py'))
    lab = Config.fromfile(osp.join(REPO, 'configs/_base_/lab.py'))
    assert cfg.model.backbone.pretrained == lab.lab_clip_checkpoint
    assert cfg.model.backbone.arch == 'tiny'
    assert cfg.train_cfg.max_epochs == cfg.max_epochs
    if name == 'elca_cls':
        assert cfg.model.alignment_head.readout == 'cls'
    elif name == 'elca':
        assert cfg.model.alignment_head.readout == 'region'


@pytest.mark.parametrize('name', PERSON_SAM_LAB)
def test_lab_person_sam_uses_frozen_transferred_encoders(name):
    cfg = Config.fromfile(osp.join(REPO, 'configs/lab',
                                   f'person_sam_{name}.py'))
    lab = Config.fromfile(osp.join(REPO, 'configs/_base_/lab.py'))
    for part in (cfg.model.image_encoder, cfg.model.mask_decoder):
        assert part.init_cfg == dict(type='Pretrained',
                                     checkpoint=lab.lab_sam_checkpoint)
    assert cfg.model.text_encoder.pretrained == lab.lab_bert
    assert cfg.model.text_encoder.frozen and cfg.model.freeze_image_encoder
    assert cfg.model.prompt_encoder.type.__name__.lower() == f'{name}prompt'


@pytest.fixture(scope='module')
def tiny_cuhk(tmp_path_factory):
    from sapsam.datasets.synthetic import generate_synthetic_benchmark
    out = str(tmp_path_factory.mktemp('lab_cuhk'))
    generate_synthetic_benchmark(out, seed=2, scale=0.05,
                                 datasets=('CUHK-PEDES', ), progress=False)
    return osp.join(out, 'CUHK-PEDES')


def test_gradient_share_reports_each_weighted_loss(tiny_cuhk):
    """The diagnostic behind docs/results.md's gradient table: one norm
    per loss and tower, and a loss weighted 0 contributes nothing."""
    tool = load_script('tools/analysis/loss_gradient_share.py')
    options = [f'train_dataloader.dataset.data_root={tiny_cuhk}']
    norms = tool.main(['configs/sapsam/elca_synthetic.py', '--batches', '1',
                       '--batch-size', '8', '--cfg-options', *options])
    assert set(norms) == {'loss_sdm', 'loss_mlm', 'loss_align'}
    assert all(v > 0 for towers in norms.values() for v in towers.values())
    silenced = tool.main(['configs/sapsam/elca_synthetic.py', '--batches',
                          '1', '--batch-size', '8', '--cfg-options',
                          *options, 'model.align_loss_weight=0.0'])
    assert all(v == 0 for v in silenced['loss_align'].values())
    assert silenced['loss_sdm'] == pytest.approx(norms['loss_sdm'])
