"""Pictures people look at: retrieval grids with the true match, Person-SAM
masks that stay visible on any clothes."""
import json
import os
import os.path as osp

import numpy as np
import pytest
import torch

from sapsam.visualization import PersonSAMVisualizer, RetrievalVisualizer
from sapsam.visualization.person_sam_visualizer import contrasting_colors

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIG = osp.join(REPO, 'configs/baseline/clip_sdm_synthetic.py')


@pytest.mark.parametrize('clothes', [(220, 30, 30), (40, 200, 40)])
def test_outlines_contrast_with_the_clothes(clothes):
    image = np.full((80, 32, 3), 128, np.uint8)
    image[20:60, 4:28] = clothes
    mask = np.zeros((80, 32), bool)
    mask[18:62, 2:30] = True  # the region and a rim around it
    pred, gt = contrasting_colors(image, [mask])
    assert pred != gt
    for color in (pred, gt):
        assert np.linalg.norm(np.subtract(color, clothes)) > 150
        assert np.linalg.norm(np.subtract(color, 128)) > 100


def test_person_sam_picture_labels_empty_masks_and_explains_score(
        monkeypatch):
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure
    written = []
    for cls in (Axes, Figure):
        original = cls.text
        monkeypatch.setattr(cls, 'text', lambda self, *a, _o=original, **k:
                            written.append(str(a[2])) or _o(self, *a, **k))
    image = np.full((80, 32, 3), 90, np.uint8)
    masks = np.zeros((2, 80, 32), bool)
    masks[0, 10:30, 5:25] = True
    PersonSAMVisualizer(tile_inches=1.6).draw_phrase_masks(
        image, ['a hat', 'a bag'], masks, scores=[0.9, 0.1])
    assert sum('empty' in t and 'prediction' in t for t in written) == 1
    assert any(t.startswith('score = ') and 'IoU head' in t.replace(
        '\n', ' ') for t in written)


def test_person_sam_picture_shows_the_image_once():
    image = np.full((80, 32, 3), 90, np.uint8)
    masks = np.zeros((3, 80, 32), bool)
    masks[0, 10:30, 5:25] = True  # masks[1], masks[2]: empty predictions
    vis = PersonSAMVisualizer(tile_inches=1.6)
    one = vis.draw_phrase_masks(image, ['a hat'], masks[:1])
    three = vis.draw_phrase_masks(image, ['a hat', 'a bag', 'shoes'], masks,
                                  scores=[0.9, 0.1, 0.2],
                                  gt_masks=[masks[0], None, masks[0]])
    # One tile for the image plus one per phrase (not image + mask per row).
    # (2 tiles vs 4 tiles side by side, in one row of the same height.)
    assert three.shape[0] == pytest.approx(one.shape[0], rel=0.15)
    assert three.shape[1] / one.shape[1] == pytest.approx(2, rel=0.1)


@pytest.fixture(scope='module')
def labelled_split(tmp_path_factory):
    from sapsam.datasets.synthetic import generate_synthetic_benchmark
    out = str(tmp_path_factory.mktemp('synthetic'))
    generate_synthetic_benchmark(out, seed=4, scale=0.1,
                                 datasets=('CUHK-PEDES', ), progress=False)
    from sapsam.apis import init_retriever
    torch.manual_seed(0)
    model = init_retriever(CONFIG).model
    path = str(tmp_path_factory.mktemp('ckpt') / 'tiny.pth')
    torch.save(dict(state_dict=model.state_dict(), meta={}), path)
    return osp.join(out, 'CUHK-PEDES'), path


def test_visualize_retrieval_picks_queries_and_draws_the_truth(
        labelled_split, tmp_path, load_tool, monkeypatch):
    root, checkpoint = labelled_split
    tool = load_tool('tools/analysis/visualize_retrieval.py')
    drawn = []
    draw = RetrievalVisualizer.draw_retrieval
    monkeypatch.setattr(RetrievalVisualizer, 'draw_retrieval',
                        lambda self, q: drawn.append(q[0]) or draw(self, q))
    summary = tool.main([CONFIG, checkpoint, '--split', 'test', '--topk',
                         '5', '--num-queries', '1000', '--select', 'all',
                         '--out-dir', str(tmp_path), '--cfg-options',
                         f'test_cfg.gallery_dataloader.dataset.data_root='
                         f'{root}', f'test_dataloader.dataset.data_root='
                         f'{root}'])
    ranks = {q['query']: q['first_match_rank'] for q in summary['queries']}
    assert len(drawn) == len(ranks) == summary['num_queries']
    assert len([p for p in os.listdir(tmp_path) if p.endswith('.png')]) \
        == len(ranks)
    for row in drawn:
        q = int(row['title'].split()[1].rstrip(','))
        truth = row['truth']
        # The true match is the right person at the rank the metrics give.
        assert truth['pid'] == row['query_pid']
        assert truth['rank'] == ranks[q]
        if truth['rank'] <= 5:
            assert row['hits'][truth['rank'] - 1]['path'] == truth['path']
    # Which queries each --select draws, and in which order.
    first = torch.tensor([ranks[q] for q in range(len(ranks))])
    pick = tool.select_queries
    failures = pick(first, 'failures', 5)
    assert failures == sorted((q for q in ranks if ranks[q] > 1),
                              key=lambda q: (-ranks[q], q))
    near = pick(first, 'near-misses', 5)
    assert near == sorted((q for q in ranks if 1 < ranks[q] <= 5),
                          key=lambda q: (ranks[q], q))
    assert pick(first, 'successes', 5) == [q for q in sorted(ranks)
                                           if ranks[q] == 1]
    assert failures and near and pick(first, 'successes', 5)
    assert pick(first, 'all', 5, indices=[3, 0]) == [3, 0]
    with pytest.raises(ValueError, match='--queries'):
        pick(first, 'all', 5, indices=[len(ranks)])
    on_disk = json.load(open(tmp_path / 'summary.json'))
    assert on_disk['num_queries'] == len(ranks)
