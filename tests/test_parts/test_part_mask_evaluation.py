"""Part-mask agreement (the demo's metric) and the stage-4 benchmark."""
import os.path as osp
import shutil

import mmcv
import numpy as np
import pytest

from sapsam.parts.evaluation import (evaluate_part_masks, format_iou_table,
                                     match_phrase, synthetic_phrase_groups)
from sapsam.parts.formats import (find_part_files, read_data_final, seg_stem,
                                  write_data_final)
from tests.helpers import load_script


def test_match_phrase():
    refs = ['long brown hair', 'a black jacket', 'a blue knee-length dress']
    assert match_phrase('A black jacket', refs) == 1
    assert match_phrase('a blue dress', refs) == 2      # 3 of 5 words
    assert match_phrase('white shoes', refs) is None


@pytest.fixture(scope='module')
def synthetic(tmp_path_factory):
    from sapsam.datasets.synthetic import generate_synthetic_benchmark
    root = str(tmp_path_factory.mktemp('synthetic'))
    generate_synthetic_benchmark(root, seed=0, scale=0.03,
                                 datasets=('CUHK-PEDES', ), progress=False)
    return osp.join(root, 'CUHK-PEDES')


def test_ground_truth_against_itself_and_a_damaged_copy(synthetic, tmp_path):
    ref_final, _ = find_part_files(synthetic, 'CUHK-PEDES')
    records = read_data_final(ref_final)
    groups = synthetic_phrase_groups(
        osp.join(synthetic, 'synthetic_attributes.json'), records)
    num_phrases = sum(len(r['attribute']) for r in records)
    assert len(groups) == num_phrases
    seg = osp.join(synthetic, 'segs')
    perfect = evaluate_part_masks(ref_final, seg, ref_final, seg, groups)
    assert perfect['matched'] == num_phrases and perfect['unmatched'] == 0
    assert all(row['mIoU'] == 100 for row in perfect['per_class'].values())
    assert 'upper-clothes' in perfect['per_class']

    # Prediction: every mask of the first record emptied, its first phrase
    # reworded, and an extra phrase that matches nothing.
    pred_seg = tmp_path / 'segs'
    shutil.copytree(seg, pred_seg)
    first = dict(records[0])
    first['attribute'] = list(first['attribute']) + ['a purple umbrella']
    for i in range(len(records[0]['attribute'])):
        path = pred_seg / (seg_stem(first['idx'], first['name'], i) + '.png')
        mmcv.imwrite(np.zeros_like(mmcv.imread(str(path), 'unchanged')),
                     str(path))
    mmcv.imwrite(np.zeros((4, 4), np.uint8), str(
        pred_seg / (seg_stem(first['idx'], first['name'],
                             len(first['attribute']) - 1) + '.png')))
    pred_final = str(tmp_path / 'CUHK-PEDES_data_final_x.json')
    write_data_final(pred_final, [first] + records[1:])
    damaged = evaluate_part_masks(pred_final, str(pred_seg), ref_final, seg,
                                  groups)
    assert damaged['unmatched'] == 1
    assert damaged['matched'] == num_phrases
    expected = 100 * (num_phrases - len(records[0]['attribute'])) / \
        num_phrases
    assert damaged['mIoU_phrases'] == pytest.approx(expected)
    table = format_iou_table(damaged)
    assert table.startswith('| part class | phrases | mIoU (%) |')


def test_benchmark_runs_at_tiny_size():
    bench = load_script('benchmarks/part_masks.py')
    result = bench.run(arch='tiny', num_images=1, phrases_per_image=2,
                       text='tiny')
    assert result['num_images'] == 1 and result['phrases_per_image'] == 2
    assert {'batched_s', 'per_phrase_s'} <= set(result)
    # Encoding once and decoding in a batch gives the per-phrase result.
    assert result['min_mask_agreement'] > 0.999
    assert result['max_score_diff'] < 1e-4
