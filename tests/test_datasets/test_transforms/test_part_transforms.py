"""Part label transforms: loading, merging, patch labels, phrase spans."""
import os.path as osp

import mmcv
import numpy as np
import pytest
import torch
from mmcv.transforms import LoadImageFromFile, RandomFlip, Resize
from mmengine.dataset import Compose

from sapsam.datasets.transforms import (FindPhraseSpans, LoadPartMasks,
                                        MergePartMasks, PackTBPRInputs,
                                        PatchLabels, RandomCrop,
                                        RandomErasing, TokenizeCaption)
from sapsam.datasets.transforms import find_phrase_spans as fps_module
from sapsam.datasets.transforms.find_phrase_spans import find_phrase_span
from sapsam.datasets.transforms.merge_part_masks import merge_part_masks
from sapsam.datasets.transforms.patch_labels import patch_majority_labels
from sapsam.models.tokenizers import CLIPTokenizer
from tests import helpers
from tests.helpers import REPO


def masks_from(points, shape=(3, 3)):
    out = []
    for pts in points:
        m = np.zeros(shape, np.uint8)
        for y, x in pts:
            m[y, x] = 1
        out.append(m)
    return out


def test_merge_highest_score_wins_and_faithful_running_maximum():
    # m0 (0.3) and m2 (0.5) overlap at (1, 1); m1 (0.9) comes in between.
    masks = masks_from([[(1, 0), (1, 1)], [(0, 0)], [(1, 1), (1, 2)]])
    scores = [0.3, 0.9, 0.5]
    # Highest score wins: m2 (label 3) takes the overlap.
    assert merge_part_masks(masks, scores).tolist() == [
        [2, 0, 0], [1, 3, 3], [0, 0, 0]]
    # Official rule: m2's 0.5 is not a new running maximum (0.9), so it
    # only fills background and m0 (label 1) keeps the overlap.
    assert merge_part_masks(masks, scores, faithful=True).tolist() == [
        [2, 0, 0], [1, 1, 3], [0, 0, 0]]
    # A later, higher score overwrites in both modes; ties keep the first.
    two = masks_from([[(0, 0), (0, 1)], [(0, 1), (0, 2)]])
    for faithful in (False, True):
        assert merge_part_masks(two, [0.2, 0.8], faithful=faithful)[0].tolist(
        ) == [1, 2, 2]
    assert merge_part_masks(two, [0.5, 0.5])[0].tolist() == [1, 1, 2]
    assert merge_part_masks([], [], shape=(2, 3)).tolist() == [[0] * 3] * 2
    with pytest.raises(ValueError, match='2 masks but 1 scores'):
        merge_part_masks(two, [0.5])


def test_patch_labels_majority_with_foreground_priority():
    label_map = np.array([
        [0, 0, 2, 2, 0, 0],
        [0, 1, 3, 3, 0, 0],
        [4, 4, 1, 2, 0, 5],
        [4, 1, 2, 1, 5, 0],
    ])
    # Patches (2x2), row-major: {0:3, 1:1} -> 1 (foreground first);
    # {2:2, 3:2} -> 2 (tie, lower label); all 0 -> 0; {4:3, 1:1} -> 4;
    # {1:2, 2:2} -> 1; {0:2, 5:2} -> 5 (foreground beats the tie).
    assert patch_majority_labels(label_map, 2).tolist() == [1, 2, 0, 4, 1, 5]
    out = PatchLabels()(dict(gt_seg_map=np.zeros((384, 128), np.uint8)))
    assert out['patch_labels'].dtype == torch.long
    assert out['patch_labels'].shape == (192, )
    with pytest.raises(ValueError, match='not a multiple of the patch size'):
        PatchLabels()(dict(gt_seg_map=np.zeros((100, 128), np.uint8),
                           img_path='x.png'))


@pytest.fixture(scope='module')
def tokenizer():
    return CLIPTokenizer()


def test_find_phrase_span_by_hand(tokenizer):
    # ids: [SOT, the, woman, wears, a, light, blue, jacket, and, black,
    #       pants, EOT, 0, ...]; one BPE token per word.
    ids = tokenizer.tokenize('the woman wears a light blue jacket and black '
                             'pants')
    assert ids[11] == tokenizer.eot_id
    enc = tokenizer.encode
    content = (1, 11)
    assert find_phrase_span(ids, enc('black pants'), search_range=content) \
        == (9, 10)
    # One mismatching token (grey vs blue): still found.
    assert find_phrase_span(ids, enc('a light grey jacket'),
                            search_range=content) == (4, 7)
    # Three mismatches at the only start-token match: not found.
    assert find_phrase_span(ids, enc('a dark green hat'),
                            search_range=content) == (-1, -1)
    assert find_phrase_span(ids, enc('white shoes'),
                            search_range=content) == (-1, -1)
    assert find_phrase_span(ids, [], search_range=content) == (-1, -1)


def test_exact_match_beats_an_earlier_fuzzy_match(tokenizer):
    # [SOT, a(1), man, wearing, a(4), red, coat, and, a(8), red, hat, EOT]
    ids = tokenizer.tokenize('a man wearing a red coat and a red hat')
    phrase = tokenizer.encode('a red hat')
    assert find_phrase_span(ids, phrase, search_range=(1, 11)) == (8, 10)
    # The official scan takes the first start-token hit with <= 2
    # mismatches: "a man wearing".
    assert find_phrase_span(ids, phrase, exact_first=False) == (1, 3)


def test_find_phrase_spans_transform_marks_and_ignores_misses(monkeypatch):
    logged = []
    monkeypatch.setattr(fps_module, 'print_log',
                        lambda msg, **kw: logged.append(msg))
    transform = FindPhraseSpans(max_parts=6, log_interval=2)
    tok = CLIPTokenizer()
    labels = torch.tensor([0, 1, 2, 3, 3, 1])
    results = dict(
        text_ids=tok.tokenize('the woman wears a light blue jacket and black '
                              'pants'),
        caption='the woman wears ...', caption_idx=7,
        part_phrases=['black pants', 'white shoes', 'a light blue jacket'],
        patch_labels=labels)
    out = transform(results)
    assert out['part_spans'].tolist() == [[9, 10], [-1, -1], [4, 7],
                                          [-1, -1], [-1, -1], [-1, -1]]
    assert out['part_num'] == 3
    # The region of the phrase that was not found becomes background.
    assert out['patch_labels'].tolist() == [0, 1, 0, 3, 3, 1]
    assert labels.tolist() == [0, 1, 2, 3, 3, 1]     # input not modified
    assert transform.num_missed == 1 and transform.num_phrases == 3
    assert "'white shoes' not found" in logged[0] and 'caption_idx 7' in \
        logged[0]
    # A sample without parts: all -1, part_num 0, labels untouched (zeros).
    empty = transform(dict(text_ids=tok.tokenize('a man'), part_phrases=[],
                           patch_labels=torch.zeros(6, dtype=torch.long)))
    assert (empty['part_spans'] == -1).all() and empty['part_num'] == 0
    assert 'FindPhraseSpans: 1 of 3 phrases not found in 2 samples' in \
        logged[-1]


def test_find_phrase_spans_faithful_pads_with_phrase_zero():
    tok = CLIPTokenizer()
    out = FindPhraseSpans(max_parts=4, faithful=True)(dict(
        text_ids=tok.tokenize('a man wearing a red coat and a red hat'),
        part_phrases=['a red hat', 'red coat']))
    # Official: no exact pass, padding rows repeat phrase 0.
    assert out['part_spans'].tolist() == [[1, 3], [5, 6], [1, 3], [1, 3]]
    assert out['part_num'] == 2


@pytest.fixture
def sample(tmp_path):
    """A drawn person with five part masks written as 0/1 PNGs."""
    image, labels = helpers.draw_person(height=60, width=30)
    img_path = str(tmp_path / 'person.png')
    mmcv.imwrite(image[..., ::-1], img_path)
    groups = [(2, ), (4, ), (6, ), (9, 10), (16, )]
    paths = []
    for k, ids in enumerate(groups):
        path = str(tmp_path / f'0__person_{k}.png')
        mmcv.imwrite(np.isin(labels, ids).astype(np.uint8), path)
        paths.append(path)
    return dict(img_path=img_path, caption_idx=0,
                caption='A woman with black hair wearing a red top, blue '
                'pants and white shoes. She carries a green bag.',
                part_phrases=['black hair', 'a red top', 'blue pants',
                              'white shoes', 'a green bag'],
                part_seg_paths=paths, part_scores=[0.9, 0.8, 0.7, 0.6, 0.5],
                labels=labels)


def part_pipeline(*augment):
    return Compose([
        dict(type=LoadImageFromFile),
        dict(type=LoadPartMasks),
        dict(type=MergePartMasks, max_parts=6),
        dict(type=Resize, scale=(128, 384), keep_ratio=False),
        *augment,
        dict(type=PatchLabels, patch_size=16),
        dict(type=TokenizeCaption),
        dict(type=FindPhraseSpans, max_parts=6, max_mismatch=2),
        dict(type=PackTBPRInputs),
    ])


def test_pipeline_resizes_maps_nearest_and_flips_jointly(sample):
    labels = sample.pop('labels')
    pipeline = part_pipeline(dict(type=RandomFlip, prob=1.0,
                                  direction='horizontal'))
    packed = pipeline(dict(sample))
    data = packed['data_samples']
    assert packed['inputs'].shape == (3, 384, 128)
    # Expected: merged groups (distinct, so labels = group order + 1),
    # NEAREST-resized and flipped with the image.
    merged = np.zeros_like(labels)
    for k, ids in enumerate([(2, ), (4, ), (6, ), (9, 10), (16, )]):
        merged[np.isin(labels, ids)] = k + 1
    expected = mmcv.imflip(mmcv.imresize(merged, (128, 384),
                                         interpolation='nearest'))
    assert data.patch_labels.tolist() == patch_majority_labels(expected,
                                                               16).tolist()
    assert set(data.patch_labels.tolist()) == {0, 1, 2, 3, 4, 5}
    tok = CLIPTokenizer()
    for k, (start, end) in enumerate(data.part_spans[:5].tolist()):
        assert tok.decode(data.text_ids[start:end + 1].tolist()) == \
            sample['part_phrases'][k]
    assert data.part_spans[5].tolist() == [-1, -1]
    assert data.part_num == 5


def test_pipeline_with_augmentation_and_truncation(sample):
    sample.pop('labels')
    sample['part_phrases'] = sample['part_phrases'] + ['red top', 'x']
    sample['part_seg_paths'] = sample['part_seg_paths'] + \
        sample['part_seg_paths'][1:3]
    sample['part_scores'] = sample['part_scores'] + [0.95, 0.1]
    np.random.seed(0)
    pipeline = part_pipeline(
        dict(type=RandomFlip, prob=0.5, direction='horizontal'),
        dict(type=RandomCrop, size=(384, 128), padding=10),
        dict(type=RandomErasing, prob=1.0))
    for _ in range(3):
        data = pipeline(dict(sample))['data_samples']
        assert data.part_num == 6                # truncated to max_parts
        assert data.part_spans.shape == (6, 2)
        labels = set(data.patch_labels.tolist())
        assert labels <= set(range(7)) and 0 in labels


def test_pipeline_sample_without_parts(sample):
    sample.pop('labels')
    for key in ('part_phrases', 'part_seg_paths', 'part_scores'):
        sample[key] = []
    data = part_pipeline()(dict(sample))['data_samples']
    assert (data.patch_labels == 0).all() and data.patch_labels.shape == \
        (192, )
    assert (data.part_spans == -1).all() and data.part_num == 0


def test_load_part_masks_errors_name_file_and_sample(sample, tmp_path):
    sample.pop('labels')
    bad = dict(sample, part_seg_paths=[str(tmp_path / 'missing.png')],
               part_scores=[0.5], part_phrases=['x'])
    with pytest.raises(FileNotFoundError, match=r'person\.png.*caption_idx 0'
                       r'.*missing\.png'):
        Compose([dict(type=LoadImageFromFile), dict(type=LoadPartMasks)])(bad)
    small = str(tmp_path / 'small.png')
    mmcv.imwrite(np.ones((5, 5), np.uint8), small)
    bad['part_seg_paths'] = [small]
    with pytest.raises(ValueError, match=r'small\.png is 5x5 .*image is '
                       r'30x60'):
        Compose([dict(type=LoadImageFromFile), dict(type=LoadPartMasks)])(bad)
    with pytest.raises(ValueError, match='1 part masks but 2 part scores'):
        LoadPartMasks()(dict(part_seg_paths=[small], part_scores=[1, 2]))
    # 0/255 masks are read as binary.
    mmcv.imwrite(np.full((60, 30), 255, np.uint8), small)
    masks = LoadPartMasks()(dict(part_seg_paths=[small],
                                 part_scores=[1]))['part_masks']
    assert masks[0].max() == 1


@pytest.mark.parametrize('name, shape, grid', [
    ('configs/sapsam/elca_cuhk.py', (384, 128), 192),
    ('configs/sapsam/elca_synthetic.py', (192, 64), 192)])
def test_config_pipelines_produce_sapsam_targets(sample, name, shape, grid):
    from mmengine.config import Config
    cfg = Config.fromfile(osp.join(REPO, name))
    sample.pop('labels')
    packed = Compose(cfg.train_dataloader.dataset.pipeline)(dict(sample))
    data = packed['data_samples']
    assert packed['inputs'].shape == (3, *shape)
    assert data.patch_labels.shape == (grid, )
    assert data.part_num == 5 and (data.part_spans[:5] >= 0).all()
    assert data.mlm_ids.shape == data.mlm_labels.shape == (77, )
