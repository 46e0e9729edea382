"""tools/analysis/visualize_person_sam.py and the visualisers' drawing."""
import json
import os
import os.path as osp

import numpy as np
import pytest
import torch
from PIL import Image

from sapsam.visualization import PersonSAMVisualizer, RetrievalVisualizer
from sapsam.visualization.person_sam_visualizer import (mask_iou,
                                                        overlay_mask)
from tests.helpers import REPO
from tests.helpers import load_script as _load_tool



@pytest.fixture(scope='module')
def atr_and_weights(tmp_path_factory):
    from sapsam.datasets.synthetic import generate_synthetic_benchmark
    out = str(tmp_path_factory.mktemp('synthetic'))
    generate_synthetic_benchmark(out, seed=2, scale=0.05, datasets=('ATR', ))
    weights = _load_tool('tools/misc/make_tiny_weights.py').make_tiny_weights(
        str(tmp_path_factory.mktemp('weights')))
    return osp.join(out, 'ATR'), weights


def test_visualize_person_sam_draws_records_with_ground_truth(
        atr_and_weights, tmp_path):
    root, weights = atr_and_weights
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    tool = _load_tool('tools/analysis/visualize_person_sam.py')
    options = ['--cfg-options',
               f'model.image_encoder.init_cfg.checkpoint={weights["sam"]}',
               f'model.mask_decoder.init_cfg.checkpoint={weights["sam"]}',
               f'model.text_encoder.pretrained={weights["bert"]}',
               f'test_dataloader.dataset.data_root={root}',
               'model.embedding_cache=None']
    config = osp.join(REPO, 'configs/person_sam/mca_atr_synthetic.py')
    try:
        result = tool.main([config, '--num-images', '2', '--max-phrases',
                            '3', '--out-dir', str(tmp_path / 'vis')] +
                           options)
        # Free mode: any image and phrases, no ground truth.
        image = sorted(os.listdir(osp.join(root, 'JPEGImages')))[0]
        free = tool.main([config, '--image',
                          osp.join(root, 'JPEGImages', image), '--phrase',
                          'a red jacket', '--out-dir',
                          str(tmp_path / 'free')] + options)
    finally:
        torch.set_num_threads(threads)
    assert result['pictures'] == 2
    assert 2 <= result['phrases'] <= 6
    records = result['records']
    assert all(0.0 <= r['iou'] <= 1.0 for r in records)
    assert result['mean_iou'] == pytest.approx(
        np.mean([r['iou'] for r in records]))
    # The records drawn are the first images of the test file, in order.
    with open(osp.join(root, 'atr_item_descriptions_test.json')) as f:
        names = []
        for rec in json.load(f):
            if rec['name'] not in names:
                names.append(rec['name'])
    assert [osp.basename(r['image']) for r in records][0] == names[0]
    pictures = sorted(p for p in os.listdir(tmp_path / 'vis')
                      if p.endswith('.png'))
    assert len(pictures) == 2
    with Image.open(tmp_path / 'vis' / pictures[0]) as picture:
        # Three columns (image, prediction, ground truth), one row a phrase.
        assert picture.width >= 3 * 100
    assert free['records'][0]['iou'] is None
    assert free['records'][0]['phrase'] == 'a red jacket'


def test_overlay_and_iou():
    image = np.zeros((4, 3, 3), np.uint8)
    mask = np.zeros((4, 3), bool)
    mask[1:3, 1] = True
    out = overlay_mask(image, mask, (200, 0, 0), alpha=0.5)
    assert out[1, 1].tolist() == [100, 0, 0] and out[0, 0].tolist() == [0, 0,
                                                                         0]
    other = np.zeros_like(mask)
    other[2:4, 1] = True
    assert mask_iou(mask, other) == pytest.approx(1 / 3)
    with pytest.raises(ValueError, match='differs from the image'):
        overlay_mask(image, mask.T, (1, 2, 3))
    with pytest.raises(ValueError, match=r'pred_masks must be \(1, 4, 3\)'):
        PersonSAMVisualizer().draw_phrase_masks(image, ['a hat'],
                                                mask[None, :, :2])


def test_retrieval_picture_marks_matches(tmp_path):
    paths = []
    for i, colour in enumerate([(0, 0, 255), (255, 255, 0)]):
        path = str(tmp_path / f'{i}.png')
        Image.fromarray(np.full((60, 24, 3), colour, np.uint8)).save(path)
        paths.append(path)
    hits = [dict(path=paths[0], score=0.9, pid=7),
            dict(path=paths[1], score=0.4, pid=3)]
    out = str(tmp_path / 'grid.png')
    picture = RetrievalVisualizer().add_retrieval(
        'q', [dict(text='a man in a blue coat', query_pid=7, hits=hits)],
        out_file=out)
    with Image.open(out) as saved:
        assert np.array_equal(np.asarray(saved.convert('RGB')), picture)
    colours = {tuple(c) for c in picture.reshape(-1, 3).tolist()}
    assert (0x1a, 0x96, 0x41) in colours  # green frame of the match
    assert (0xd7, 0x19, 0x1c) in colours  # red frame of the non-match
    # The green frame surrounds the first (blue) tile, left of the red one.
    green = np.argwhere(np.all(picture == (0x1a, 0x96, 0x41), axis=-1))
    red = np.argwhere(np.all(picture == (0xd7, 0x19, 0x1c), axis=-1))
    assert green[:, 1].max() < red[:, 1].min()
    # Unlabelled galleries are drawn without match colours.
    plain = RetrievalVisualizer().draw_retrieval(
        [dict(text='x', hits=[dict(path=paths[0], score=0.1)])])
    assert not np.all(plain == (0x1a, 0x96, 0x41), axis=-1).any()
