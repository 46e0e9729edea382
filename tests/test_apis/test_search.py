"""Text search with a trained tiny retriever on the synthetic benchmark.

One tiny CLIP is trained once per module (in process, 100 iterations at
96x32 on a CUHK-PEDES-format benchmark of 18 train identities) and then
searched through ``sapsam.apis``, ``tools/search.py`` and
``tools/analysis/visualize_retrieval.py``.

The gallery is the *train* split: a tiny model trained from scratch for a
few seconds memorises its training identities but does not generalise to
unseen ones (test R@1 stays at chance), and the point here is the search
path, not generalisation: a wrong pipeline, normalisation, channel order,
tokenisation or index would break the retrieval of known identities.
"""
import json
import os
import os.path as osp
import re

import numpy as np
import pytest
import torch
from PIL import Image

from sapsam.apis import (GalleryIndex, IndexMismatchError,
                         build_gallery_index, encode_captions,
                         gallery_preprocessing, init_retriever,
                         load_gallery_index, model_identity, search_gallery)
from tests.helpers import load_script as _load_tool

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIG = osp.join(REPO, 'configs/baseline/clip_sdm_synthetic.py')


@pytest.fixture(scope='module')
def one_thread():
    """The shared CPUs are oversubscribed: several intra-op threads spin
    and run many times slower than one."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _train_config(root: str, work_dir: str):
    """The synthetic baseline, shrunk to train in ~10 s on one core."""
    from mmengine.config import Config
    cfg = Config.fromfile(CONFIG)
    size = (96, 32)  # (H, W); patch 8 -> 12x4 tokens
    cfg.model.backbone.image_size = size
    cfg.model.id_loss = dict(type='IDLoss')  # speeds up memorisation
    cfg.model.num_classes = 18
    for loader in (cfg.train_dataloader, cfg.test_dataloader,
                   cfg.test_cfg.gallery_dataloader):
        loader.dataset.data_root = root
        loader.num_workers = 0
        loader.persistent_workers = False
    for transform in cfg.test_cfg.gallery_dataloader.dataset.pipeline:
        if 'Resize' in str(transform['type']):
            transform['scale'] = size[::-1]
    train = cfg.train_dataloader
    train.batch_size = 16
    train.dataset.pipeline = [
        t for t in train.dataset.pipeline
        if not any(n in str(t['type']) for n in ('RandomCrop', 'Erasing'))]
    for transform in train.dataset.pipeline:
        if 'Resize' in str(transform['type']):
            transform['scale'] = size[::-1]
    # Evaluate on the train split: galleries of known identities.
    cfg.test_dataloader.dataset.split = 'train'
    cfg.test_cfg.gallery_dataloader.dataset.split = 'train'
    cfg.val_dataloader = cfg.val_cfg = cfg.val_evaluator = None
    epochs = 10
    cfg.train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=epochs)
    cfg.optim_wrapper.optimizer.lr = 5e-4
    cfg.param_scheduler = [
        dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0,
             end=10),
        dict(type='CosineAnnealingLR', T_max=epochs, by_epoch=True, begin=0,
             end=epochs)]
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook',
                                        interval=epochs)
    cfg.default_hooks.logger.interval = 20
    cfg.randomness = dict(seed=0)
    cfg.visualizer.name = f'search_test_{os.getpid()}'
    cfg.experiment_name = f'search_test_{os.getpid()}'
    cfg.work_dir = work_dir
    return cfg


@pytest.fixture(scope='module')
def trained(tmp_path_factory, one_thread):
    """Config, checkpoint and official test-loop metrics of a tiny model
    trained on the synthetic train split."""
    from mmengine.runner import Runner

    from sapsam.datasets.synthetic import generate_synthetic_benchmark
    from sapsam.utils import register_all_modules
    register_all_modules(init_default_scope=False)
    out = str(tmp_path_factory.mktemp('synthetic'))
    generate_synthetic_benchmark(out, seed=3, scale=0.15,
                                 datasets=('CUHK-PEDES', ))
    root = osp.join(out, 'CUHK-PEDES')
    work_dir = str(tmp_path_factory.mktemp('train'))
    runner = Runner.from_cfg(_train_config(root, work_dir))
    runner.train()
    metrics = runner.test()
    config = osp.join(work_dir, 'clip_sdm_synthetic.py')
    assert osp.isfile(config)  # the runner dumps the config it trained
    return dict(config=config, checkpoint=osp.join(work_dir, 'epoch_10.pth'),
                root=root, metrics=metrics, work_dir=work_dir)


@pytest.fixture(scope='module')
def model(trained):
    return init_retriever(trained['config'], trained['checkpoint'])


@pytest.fixture(scope='module')
def train_gallery(trained):
    return dict(type='CUHKPEDES', data_root=trained['root'], split='train',
                view='images')


def _train_captions(root):
    from sapsam.datasets import CUHKPEDES
    captions = CUHKPEDES(root, split='train', view='captions')
    infos = [captions.get_data_info(i) for i in range(len(captions))]
    return [i['caption'] for i in infos], [i['pid'] for i in infos]


def test_search_retrieves_trained_identities(trained, model, train_gallery,
                                             tmp_path):
    index = build_gallery_index(model, train_gallery, batch_size=32,
                                progress=False)
    assert index.labelled and len(index) == len(set(index.paths))
    texts, pids = _train_captions(trained['root'])
    results = search_gallery(model, index, texts, topk=10)
    assert all(len(r) == 10 for r in results)
    assert all(r[0]['score'] >= r[-1]['score'] for r in results)
    r1 = 100 * np.mean([r[0]['pid'] == p for r, p in zip(results, pids)])
    # The index path gives what the evaluation loop gives (same features up
    # to float rounding: allow one query to flip).
    assert r1 == pytest.approx(trained['metrics']['t2i/R1'],
                               abs=100 / len(texts) + 1e-9)
    # Chance R@1 = mean share of the gallery that shows the query's
    # identity (~6% here: 18 identities). The trained model reaches 42-61%
    # (training seeds 0-2; 47% with the seed used here); 4x chance (and at
    # least 20%) cannot be met by an untrained model or a broken search
    # path.
    gallery_pids = np.array(index.pids)
    chance = 100 * np.mean([(gallery_pids == p).mean() for p in pids])
    assert r1 >= max(20.0, 4 * chance), (r1, chance)

    # A known identity's caption, retrieved first through the CLI: the
    # caption the model ranks its identity first with the largest margin.
    sims = index.similarity(encode_captions(model, texts))
    margins = []
    for q, pid in enumerate(pids):
        match = torch.tensor(np.asarray(index.pids) == pid)
        margins.append(float(sims[q][match].max() - sims[q][~match].max()))
    best = int(np.argmax(margins))
    assert margins[best] > 0
    out_png, out_json = tmp_path / 'result.png', tmp_path / 'result.json'
    search = _load_tool('tools/search.py')
    search.main([trained['config'], trained['checkpoint'], '--gallery-split',
                 'train', '--query-index', str(best), '--topk', '5',
                 '--index', str(tmp_path / 'train.index'), '--out',
                 str(out_png), '--out-json', str(out_json),
                 '--no-progress', '--cfg-options',
                 f'test_cfg.gallery_dataloader.dataset.data_root='
                 f'{trained["root"]}'])
    ranking = json.load(open(out_json))
    assert ranking[0]['query'] == texts[best]
    assert ranking[0]['gt_pid'] == pids[best]
    assert ranking[0]['hits'][0]['pid'] == pids[best]
    with Image.open(out_png) as picture:
        assert picture.format == 'PNG'
        assert picture.width > 5 * 64 and picture.height > 150


def test_saved_index_is_refused_by_another_model(trained, model,
                                                 train_gallery, tmp_path,
                                                 capsys):
    index = build_gallery_index(model, train_gallery, progress=False)
    path = str(tmp_path / 'gallery.index')
    index.save(path)
    loaded = load_gallery_index(model, path)
    assert torch.equal(loaded.features, index.features)
    assert loaded.paths == index.paths and loaded.pids == index.pids
    half = GalleryIndex.load(index.save(str(tmp_path / 'half'), 'float16'))
    assert torch.allclose(half.features, index.features, atol=1e-3)

    # Other weights: the same architecture, one tensor changed.
    other = init_retriever(trained['config'], trained['checkpoint'])
    same = model_identity(other)['weights_hash']  # cached by the inferencer
    assert same == model_identity(model)['weights_hash']
    state = other.model.state_dict()
    state['backbone.ln_final.bias'] = state['backbone.ln_final.bias'] + 0.01
    other.model.load_state_dict(state)  # drops the cached identity
    assert model_identity(other)['weights_hash'] != same
    with pytest.raises(IndexMismatchError, match='model weights differ'):
        load_gallery_index(other, path)
    with pytest.raises(IndexMismatchError):
        search_gallery(other, index, 'a man in a red coat')
    # Same weights, other preprocessing (image size of the gallery).
    resized = init_retriever(trained['config'], trained['checkpoint'],
                             cfg_options={
                                 'test_cfg.gallery_dataloader.dataset.'
                                 'pipeline.1.scale': (40, 100)})
    assert model_identity(resized)['weights_hash'] == \
        model_identity(model)['weights_hash']
    with pytest.raises(IndexMismatchError,
                       match=r'preprocessing pipeline\[1\]\.scale'):
        load_gallery_index(resized, path)

    # The CLI refuses it too, with the message and exit status 2.
    torch.save(dict(state_dict=other.model.state_dict()),
               str(tmp_path / 'other.pth'))
    search = _load_tool('tools/search.py')
    with pytest.raises(SystemExit) as exit_info:
        search.main([trained['config'], str(tmp_path / 'other.pth'),
                     '--gallery', path, '--query', 'a man in a red coat'])
    assert exit_info.value.code == 2
    assert 'built by another model' in capsys.readouterr().err


def test_folder_gallery_is_encoded_once_and_refreshed(trained, tmp_path,
                                                      capsys):
    folder = tmp_path / 'photos'
    folder.mkdir()
    sources = sorted(os.listdir(osp.join(trained['root'], 'imgs', 'CUHK01')))
    for name in sources[:6]:
        with open(osp.join(trained['root'], 'imgs', 'CUHK01', name),
                  'rb') as src:
            (folder / name).write_bytes(src.read())
    search = _load_tool('tools/search.py')
    args = [trained['config'], trained['checkpoint'], '--gallery',
            str(folder), '--index', str(tmp_path / 'photos.index'),
            '--query', 'a woman with long hair', '--topk', '3',
            '--no-progress']
    first = search.main(args)
    assert 'encoding the gallery' in capsys.readouterr().out
    assert len(first[0]) == 3
    assert all(hit['pid'] is None for hit in first[0])
    assert {osp.basename(h['path']) for h in first[0]} <= set(sources[:6])
    again = search.main(args)
    assert 'reusing index' in capsys.readouterr().out
    assert again == first
    # A new image makes the saved index stale.
    (folder / 'extra.png').write_bytes((folder / sources[0]).read_bytes())
    search.main(args)
    out = capsys.readouterr().out
    assert 'out of date' in out and 'saved index' in out
    assert len(GalleryIndex.load(str(tmp_path / 'photos.index'))) == 7
    # An unreadable file is skipped and named; the rest is searched.
    (folder / 'zz_broken.jpg').write_bytes(b'not an image')
    search.main(args)
    out = capsys.readouterr().out
    assert 'skipped 1 unreadable images' in out and 'zz_broken.jpg' in out
    assert len(GalleryIndex.load(str(tmp_path / 'photos.index'))) == 7


def test_visualize_retrieval_failures_first(trained, tmp_path):
    tool = _load_tool('tools/analysis/visualize_retrieval.py')
    out_dir = tmp_path / 'vis'
    summary = tool.main([trained['config'], trained['checkpoint'],
                         '--split', 'train', '--num-queries', '2',
                         '--out-dir', str(out_dir), '--cfg-options',
                         f'test_cfg.gallery_dataloader.dataset.data_root='
                         f'{trained["root"]}'])
    # Same numbers as the runner's retrieval loop.
    for key in ('R1', 'R5', 'R10', 'mAP', 'mINP'):
        assert summary['metrics'][key] == pytest.approx(
            trained['metrics'][f't2i/{key}'], abs=1.0)
    queries = summary['queries']
    ranks = [q['first_match_rank'] for q in queries]
    failures = [r for r in ranks if r > 1]
    assert ranks[:len(failures)] == sorted(failures, reverse=True)
    assert all(r == 1 for r in ranks[len(failures):])
    pictures = sorted(p for p in os.listdir(out_dir) if p.endswith('.png'))
    assert pictures == sorted(q['picture'] for q in queries[:2])
    assert re.match(rf'0000_query{queries[0]["query"]}_rank{ranks[0]}\.png',
                    pictures[0])
    on_disk = json.load(open(out_dir / 'summary.json'))
    assert on_disk['failures'] == len(failures)


def test_gallery_index_query_matches_brute_force(monkeypatch):
    from sapsam.apis import gallery_index as module
    gen = torch.Generator().manual_seed(0)
    feats = torch.nn.functional.normalize(torch.randn(50, 8, generator=gen),
                                          dim=1)
    index = GalleryIndex(feats, [f'{i}.jpg' for i in range(50)],
                         dict(weights_hash='a', model_cfg_hash='b'),
                         dict(pipeline=[]))
    queries = torch.nn.functional.normalize(torch.randn(7, 8, generator=gen),
                                            dim=1)
    expected = (queries @ feats.t()).sort(dim=1, descending=True)
    monkeypatch.setattr(module, '_CHUNK_NUM_ELEMENTS', 100)  # 2 rows/chunk
    scores, rows = index.query(queries, topk=5)
    assert torch.allclose(scores, expected.values[:, :5])
    assert torch.equal(rows, expected.indices[:, :5])
    assert index.query(queries, topk=500)[1].shape == (7, 50)
    with pytest.raises(ValueError, match=r'\(Q, 8\)'):
        index.query(torch.zeros(2, 4))
    with pytest.raises(IndexMismatchError, match='preprocessing'):
        index.check_compatible(dict(weights_hash='a', model_cfg_hash='b'),
                               dict(pipeline=[dict(type='Resize')]))


def test_model_identity_ignores_weight_locations(trained, model):
    """Moving the pretrained CLIP file does not invalidate an index; the
    architecture and the preprocessing do."""
    moved = init_retriever(trained['config'], trained['checkpoint'],
                           cfg_options={'model.backbone.pretrained':
                                        '/elsewhere/ViT-B-16.pt'})
    assert model_identity(moved)['model_cfg_hash'] == \
        model_identity(model)['model_cfg_hash']
    assert gallery_preprocessing(moved) == gallery_preprocessing(model)
    pipeline = gallery_preprocessing(model)['pipeline']
    assert [t['type'] for t in pipeline] == [
        'LoadImageFromFile', 'Resize', 'PackTBPRInputs']
    # A checkpoint of another architecture is refused when loading.
    with pytest.raises(RuntimeError, match='does not fit the model'):
        init_retriever(trained['config'], trained['checkpoint'],
                       cfg_options={'model.backbone.arch': 'small'})
    with pytest.raises(FileNotFoundError, match='checkpoint not found'):
        init_retriever(trained['config'], trained['checkpoint'] + '.missing')


def test_search_latency_benchmark_runs_tiny(one_thread):
    bench = _load_tool('benchmarks/search_latency.py')
    result = bench.run(CONFIG, gallery_sizes=(300, ), build_images=4,
                       batch_size=2, repeats=1, threads=1)
    query = result['queries']['300']
    assert {'encode_sentence_ms', 'rank_top10_ms',
            'search_gallery_ms'} <= set(query)
    assert query['disk']['float16']['mib'] < query['disk']['float32']['mib']
    assert result['build']['images'] == 4
    assert 'images_per_s' in result['build']
