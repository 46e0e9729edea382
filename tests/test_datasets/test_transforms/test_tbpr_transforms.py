"""Transforms of the TBPR training pipeline."""
import numpy as np
import pytest
import torch

from sapsam.datasets.samplers import IdentitySampler
from sapsam.datasets.transforms import (PackTBPRInputs, RandomCrop,
                                        RandomErasing, TokenizeCaption)
from sapsam.models.tokenizers import CLIPTokenizer


def test_tokenize_caption_and_truncation():
    out = TokenizeCaption()(dict(caption='A man in a red coat.'))
    ids = out['text_ids']
    tok = CLIPTokenizer()
    assert ids.shape == (77,) and ids[0] == tok.sot_id
    n = int((ids > 0).sum())
    assert ids[n - 1] == tok.eot_id and tok.decode(ids) == 'a man in a red coat .'
    long = TokenizeCaption(dict(type='CLIPTokenizer', context_length=8))(
        dict(caption='one two three four five six seven eight nine'))
    assert long['text_ids'][-1] == tok.eot_id and (long['text_ids'] > 0).all()
    with pytest.raises(ValueError, match='empty caption'):
        TokenizeCaption()(dict(caption='  ', img_path='x.jpg'))


def test_random_crop_moves_label_map_with_image():
    img = np.arange(12 * 6 * 3, dtype=np.uint8).reshape(12, 6, 3)
    seg = (img[..., 0] % 7).astype(np.uint8)
    np.random.seed(0)
    out = RandomCrop(size=(12, 6), padding=2)(dict(img=img.copy(),
                                                  gt_seg_map=seg.copy()))
    assert out['img'].shape == (12, 6, 3) and out['gt_seg_map'].shape == (12, 6)
    # Wherever the crop shows original pixels, the label agrees with them.
    inside = out['img'][..., 0] > 0
    assert np.array_equal(out['gt_seg_map'][inside],
                          (out['img'][..., 0] % 7)[inside])
    # Padding is background in the label map.
    assert (out['gt_seg_map'][out['img'].sum(-1) == 0] == 0).all()


def test_random_erasing_clears_labels_and_fills_mean():
    img = np.full((40, 20, 3), 255, np.uint8)
    seg = np.full((40, 20), 3, np.uint8)
    np.random.seed(1)
    out = RandomErasing(prob=1.0, fill=(10, 20, 30))(dict(img=img,
                                                          gt_seg_map=seg))
    erased = (out['img'] == np.array([10, 20, 30], np.uint8)).all(-1)
    assert erased.any() and not erased.all()
    assert np.array_equal(out['gt_seg_map'] == 0, erased)
    assert (img == 255).all()  # the input array is not modified in place
    untouched = RandomErasing(prob=0.0)(dict(img=img))
    assert untouched['img'] is img


def test_pack_inputs_image_and_caption_only():
    results = dict(img=np.zeros((8, 4, 3), np.uint8), pid=3, image_id=1,
                   text_ids=torch.arange(77), caption='c', img_path='p.jpg')
    packed = PackTBPRInputs()(results)
    assert packed['inputs'].shape == (3, 8, 4)
    sample = packed['data_samples']
    assert sample.pid == 3 and sample.caption == 'c'
    assert torch.equal(sample.text_ids, torch.arange(77))
    query = PackTBPRInputs()(dict(pid=1, text_ids=torch.arange(77)))
    assert query['inputs'] is None and query['data_samples'].pid == 1


class _PidDataset:
    def __init__(self, pids):
        self.pids = pids

    def __len__(self):
        return len(self.pids)

    def get_data_info(self, i):
        return dict(pid=self.pids[i])


def test_identity_sampler_groups_k_per_identity():
    pids = [0] * 5 + [1] * 2 + [2] * 8 + [3] * 4
    sampler = IdentitySampler(_PidDataset(pids), num_instances=4, seed=0)
    order = list(sampler)
    assert len(order) == len(sampler)
    groups = [order[i:i + 4] for i in range(0, len(order), 4)]
    for group in groups:
        assert len({pids[i] for i in group}) == 1
    assert {pids[g[0]] for g in groups} == {0, 1, 2, 3}
    sampler.set_epoch(1)
    assert list(sampler) != order
