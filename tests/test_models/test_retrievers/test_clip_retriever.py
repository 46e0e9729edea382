"""Baseline retriever, SDM loss and the optimiser rules."""
import math
from unittest import mock

import pytest
import torch
import torch.nn.functional as F

from sapsam.engine.optimizers import OrderedRulesOptimWrapperConstructor
from sapsam.models import CLIPRetriever, IDLoss, SDMLoss
from sapsam.structures import TBPRDataSample


def test_sdm_matches_hand_computation():
    image = torch.tensor([[1., 0.], [0., 1.], [1., 1.]])
    text = torch.tensor([[1., 0.], [1., 1.], [0., 1.]])
    pids = torch.tensor([0, 0, 1])
    loss = SDMLoss(temperature=0.5)(image, text, pids)
    v, t = F.normalize(image, dim=1), F.normalize(text, dim=1)
    s = v @ t.t() / 0.5
    q = torch.tensor([[.5, .5, 0.], [.5, .5, 0.], [0., 0., 1.]])
    expected = 0.
    for logits in (s, s.t()):
        for i in range(3):
            p = torch.softmax(logits[i], 0)
            expected += sum(float(p[j]) * (math.log(float(p[j])) -
                                           math.log(float(q[i, j]) + 1e-8))
                            for j in range(3)) / 3
    assert loss.item() == pytest.approx(expected, rel=1e-5)


def test_sdm_prefers_aligned_pairs():
    torch.manual_seed(0)
    feats = torch.randn(8, 16)
    pids = torch.arange(8)
    aligned = SDMLoss()(feats, feats, pids)
    shuffled = SDMLoss()(feats, feats[torch.randperm(8)], pids)
    assert aligned < 0.01 < shuffled


def _batch(n=4):
    samples = []
    for i in range(n):
        ids = torch.zeros(77, dtype=torch.long)
        ids[:4] = torch.tensor([49406, 320 + i, 1000 + i, 49407])
        samples.append(TBPRDataSample(pid=i // 2, text_ids=ids))
    return dict(inputs=[torch.randint(0, 255, (3, 192, 64), dtype=torch.uint8)
                        for _ in range(n)], data_samples=samples)


def test_retriever_loss_and_predict():
    torch.manual_seed(0)
    model = CLIPRetriever(backbone=dict(type='CLIPBackbone', arch='tiny',
                                        image_size=(192, 64)),
                          id_loss=dict(type='IDLoss'), num_classes=2)
    data = model.data_preprocessor(_batch(), training=True)
    losses = model(**data, mode='loss')
    assert set(losses) == {'loss_sdm', 'loss_id'}
    total = sum(losses.values())
    total.backward()
    assert all(p.grad is not None for p in model.parameters())
    gallery = model.val_step(_batch())
    assert gallery[0].image_feat.shape == (64,)
    assert torch.allclose(gallery[0].image_feat.norm(), torch.tensor(1.))
    batch = _batch()
    batch['inputs'] = [None] * 4
    queries = model.val_step(batch)
    assert 'text_feat' in queries[0] and 'image_feat' not in queries[0]


def test_ordered_rules_override_in_order():
    model = torch.nn.Module()
    model.backbone = torch.nn.Linear(2, 2)
    model.cross_attn = torch.nn.Linear(2, 2)
    model.classifier = torch.nn.Linear(2, 2)
    wrapper = OrderedRulesOptimWrapperConstructor(dict(
        optimizer=dict(type='Adam', lr=1e-5, weight_decay=4e-5)),
        paramwise_cfg=dict(rules=[
            dict(keys=['cross'], lr_mult=5.0),
            dict(keys=['bias'], lr_mult=2.0, decay_mult=0.0),
            dict(keys=['classifier'], lr_mult=5.0)]))(model)
    got = {id(g['params'][0]): (g['lr'], g['weight_decay'])
           for g in wrapper.optimizer.param_groups}
    expect = {
        model.backbone.weight: (1e-5, 4e-5), model.backbone.bias: (2e-5, 0.),
        model.cross_attn.weight: (5e-5, 4e-5),
        model.cross_attn.bias: (2e-5, 0.),  # bias rule comes after 'cross'
        model.classifier.weight: (5e-5, 4e-5),
        model.classifier.bias: (5e-5, 0.)}
    for param, (lr, wd) in expect.items():
        assert got[id(param)] == pytest.approx((lr, wd))
    with pytest.raises(ValueError, match='num_classes'):
        IDLoss(4, 0)


def test_query_features_use_the_batch_trimmed_to_its_longest_caption():
    torch.manual_seed(0)
    model = CLIPRetriever(backbone=dict(type='CLIPBackbone', arch='tiny',
                                        image_size=(192, 64))).eval()
    ids = torch.zeros(3, 77, dtype=torch.long)
    for row, length in enumerate((5, 12, 8)):  # captions of 3-10 words
        ids[row, :length] = torch.randint(1, 49000, (length, ))
        ids[row, 0], ids[row, length - 1] = 49406, 49407
    backbone = model.backbone
    with torch.no_grad():
        padded = F.normalize(backbone.text_global(backbone.encode_text(ids),
                                                  ids), dim=-1)
        with mock.patch.object(backbone, 'encode_text',
                               wraps=backbone.encode_text) as encode:
            trimmed = model.extract_text_feat(ids)
    assert encode.call_args.args[0].shape == (3, 12)  # not 77 positions
    torch.testing.assert_close(trimmed, padded, rtol=0, atol=1e-6)
