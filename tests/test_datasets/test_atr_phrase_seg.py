"""ATR phrase records -> (image, phrase, binary mask) samples."""
import json
import os.path as osp

import mmcv
import numpy as np
import pytest
import torch

from sapsam.datasets import ATRPhraseSegDataset
from sapsam.utils.atr_vocabulary import ATR_CROP_GROUPS, ATR_PART_GROUPS

# One intra-op thread (tests/conftest.py), as every Person-SAM test.
pytestmark = pytest.mark.usefixtures('one_thread')

REAL_DEV = '/work/shared/data/atr_item_descriptions_dev.json'
S = 256


def write_atr(root, records, size=(120, 80), seed=0):
    """Images and label maps named after ``records`` (one part per group,
    plus face and legs so the merge tables differ)."""
    rng = np.random.default_rng(seed)
    for name in sorted({r['name'] for r in records}):
        h, w = size
        labels = np.zeros((h, w), np.uint8)
        bands = np.array_split(np.arange(h), 17)
        for atr_id, rows in zip(range(1, 18), bands):
            labels[rows, w // 4:3 * w // 4] = atr_id
        mmcv.imwrite(rng.integers(0, 256, (h, w, 3), dtype=np.uint8),
                     osp.join(root, 'JPEGImages', name))
        mmcv.imwrite(labels, osp.join(root, 'SegmentationClassAug',
                                      osp.splitext(name)[0] + '.png'))
    with open(osp.join(root, 'ann.json'), 'w') as f:
        json.dump(records, f)
    return str(root)


def pipeline(train=True):
    from mmcv.transforms import LoadImageFromFile, Resize

    from sapsam.datasets.transforms import LoadPhraseMask, PackPromptSegInputs
    resize = dict(type=Resize, scale=(S, S), keep_ratio=True,
                  backend='pillow')
    load = [dict(type=LoadImageFromFile)]
    steps = [dict(type=LoadPhraseMask), resize] if train else \
        [resize, dict(type=LoadPhraseMask)]
    return load + steps + [dict(type=PackPromptSegInputs)]


@pytest.fixture
def real_records():
    with open(REAL_DEV) as f:
        records = json.load(f)
    # The first record of each group id found in the real file.
    picked = {}
    for record in records:
        picked.setdefault(record['idx'], record)
    assert set(picked) == set(ATR_PART_GROUPS)
    return list(picked.values())


def test_real_records_load_with_their_group_masks(real_records, tmp_path,
                                                  sapsam_scope):
    root = write_atr(tmp_path, real_records)
    dataset = ATRPhraseSegDataset(ann_file='ann.json', data_root=root,
                                  pipeline=pipeline(train=False))
    assert len(dataset) == len(real_records) == 9
    assert dataset.metainfo['classes'] == ('background', 'foreground')
    for i, record in enumerate(real_records):
        info = dataset.get_data_info(i)
        assert info['text'] == record['text'].strip()
        assert info['img_path'].endswith('JPEGImages/' + record['name'])
        stem = osp.splitext(record['name'])[0]
        assert info['seg_map_path'].endswith(stem + '.png')
        sample = dataset[i]['data_samples']
        labels = mmcv.imread(info['seg_map_path'], flag='unchanged')
        expected = np.isin(labels, ATR_PART_GROUPS[record['idx']])
        gt = sample.gt_sem_seg.data[0].numpy()
        assert gt.shape == (120, 80) and np.array_equal(gt == 1, expected)
        assert sample.metainfo['text'] == record['text'].strip()
        assert sample.metainfo['group_id'] == record['idx']
    # Official table: hair only; supplement Table 1: hair + face.
    hair = [i for i, r in enumerate(real_records) if r['idx'] == '2'][0]
    merged = ATRPhraseSegDataset(ann_file='ann.json', data_root=root,
                                 group_table='supplement',
                                 pipeline=pipeline(train=False))
    official_gt = dataset[hair]['data_samples'].gt_sem_seg.data
    merged_gt = merged[hair]['data_samples'].gt_sem_seg.data
    assert merged_gt.sum() == 2 * official_gt.sum()
    assert ATR_CROP_GROUPS['9'] == (9, 10, 12, 13)


def test_training_pipeline_resizes_mask_with_image(real_records, tmp_path,
                                                   sapsam_scope):
    root = write_atr(tmp_path, real_records[:2])
    dataset = ATRPhraseSegDataset(ann_file='ann.json', data_root=root,
                                  pipeline=pipeline(train=True))
    packed = dataset[0]
    assert packed['inputs'].shape == (3, 256, 171)  # longest side 256
    assert packed['data_samples'].gt_sem_seg.data.shape == (1, 256, 171)
    assert packed['data_samples'].metainfo['ori_shape'] == (120, 80)
    assert set(packed['data_samples'].gt_sem_seg.data.unique().tolist()) \
        == {0, 1}


@pytest.mark.parametrize('broken, error, message', [
    (dict(idx='8'), ValueError, r"record 1 \(2500_1029.jpg\): group id '8'"),
    (dict(text='  '), ValueError, r'record 1 \(2500_1029.jpg\): empty phrase'),
    (dict(missing_png=True), FileNotFoundError,
     r'record 1 \(2500_1029.jpg\): mask PNG not found'),
    (dict(drop_key='text'), ValueError, r'record 1: expected keys'),
])
def test_bad_records_name_the_file_and_record(tmp_path, broken, error,
                                              message):
    records = [dict(name='997_1.jpg', idx='4', text='a red t-shirt'),
               dict(name='2500_1029.jpg', idx='16', text='a black bag')]
    root = write_atr(tmp_path, records)
    bad = dict(records[1])
    if broken.get('missing_png'):
        (tmp_path / 'SegmentationClassAug' / '2500_1029.png').unlink()
    elif 'drop_key' in broken:
        bad.pop(broken['drop_key'])
    else:
        bad.update(broken)
    with open(osp.join(root, 'ann.json'), 'w') as f:
        json.dump([records[0], bad], f)
    with pytest.raises(error, match='ann.json record 1'):
        ATRPhraseSegDataset(ann_file='ann.json', data_root=root)
    with pytest.raises(error, match=message):
        ATRPhraseSegDataset(ann_file='ann.json', data_root=root)


def test_mask_removed_after_loading_is_reported_by_the_transform(
        tmp_path, sapsam_scope):
    records = [dict(name='997_1.jpg', idx='9', text='white sneakers')]
    root = write_atr(tmp_path, records)
    dataset = ATRPhraseSegDataset(ann_file='ann.json', data_root=root,
                                  pipeline=pipeline())
    (tmp_path / 'SegmentationClassAug' / '997_1.png').unlink()
    with pytest.raises(FileNotFoundError,
                       match=r'record 0 \(997_1.jpg\): mask PNG not found'):
        dataset[0]
    # A label map that does not match its image is reported too.
    mmcv.imwrite(np.zeros((10, 10), np.uint8),
                 str(tmp_path / 'SegmentationClassAug' / '997_1.png'))
    with pytest.raises(ValueError, match=r'997_1.jpg\): label map'):
        dataset[0]


def test_data_preprocessor_pads_images_and_masks(tmp_path, sapsam_scope):
    from mmengine.dataset import pseudo_collate

    from sapsam.models.data_preprocessors import SAMDataPreprocessor
    records = [dict(name='997_1.jpg', idx='9', text='white sneakers')]
    root = write_atr(tmp_path, records)
    dataset = ATRPhraseSegDataset(ann_file='ann.json', data_root=root,
                                  pipeline=pipeline())
    preprocessor = SAMDataPreprocessor(image_size=S)
    batch = preprocessor(pseudo_collate([dataset[0]]), training=True)
    pixels, sample = batch['inputs'], batch['data_samples'][0]
    assert pixels.shape == (1, 3, S, S)
    assert torch.equal(pixels[0, :, :, 171:], torch.zeros(3, S, S - 171))
    gt = sample.gt_sem_seg.data
    assert gt.shape == (1, S, S) and (gt[:, :, 171:] == 255).all()
    assert sample.metainfo['pad_shape'] == (S, S)
    with pytest.raises(ValueError, match='larger than image_size'):
        SAMDataPreprocessor(image_size=128)(pseudo_collate([dataset[0]]))
