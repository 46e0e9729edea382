"""SAPSAM with a tiny CLIPBackbone: losses, gradients, encoder calls."""
import pytest
import torch
from mmengine.optim import OptimWrapper

from sapsam.models.heads import ImageDecodingHead
from sapsam.registry import MODELS
from sapsam.structures import TBPRDataSample

IMAGE_SIZE = (32, 16)  # tiny arch, patch 8 -> 4 x 2 patches
TINY_DVAE = dict(vocab_size=12, hidden_dim=8, blocks_per_group=1)
# Every head is tested on its own in test_alignment_heads.py; here the swap
# by config for the default head, its faithful readout and an InfoNCE head.
ALIGNMENT_HEADS = [dict(type='ELCAAlign', num_heads=2),
                   dict(type='ELCAAlign', num_heads=2, readout='cls'),
                   dict(type='MHSAAlign', num_heads=2)]


def _model(**overrides):
    cfg = dict(type='SAPSAM',
               backbone=dict(type='CLIPBackbone', arch='tiny',
                             image_size=IMAGE_SIZE),
               cross_modal_decoder=dict(type='CrossModalDecoder', num_heads=2,
                                        depth=1),
               alignment_head=dict(type='ELCAAlign', num_heads=2))
    cfg.update(overrides)
    return MODELS.build(cfg)


def _samples(num_parts=(2, 3, 0, 1), aliased=False, seed=0):
    """Four samples (pids 0, 0, 1, 2) with 8 patch labels and 6 spans."""
    gen = torch.Generator().manual_seed(seed)
    samples = []
    for i, parts in enumerate(num_parts):
        ids = torch.zeros(77, dtype=torch.long)
        ids[0], ids[1:15], ids[15] = 49406, torch.randint(
            1, 40000, (14,), generator=gen), 49407
        labels = torch.zeros(77, dtype=torch.long)
        mlm = ids.clone()
        labels[[3, 8]] = ids[[3, 8]]
        mlm[[3, 8]] = 49405
        spans = torch.full((6, 2), -1)
        for k in range(parts):
            spans[k] = torch.tensor([2 + 3 * k, 3 + 3 * k])
        patch = torch.tensor([1, 1, 2, 2, 3, 3, 0, 0])
        patch[patch > parts] = 0
        sample = TBPRDataSample(metainfo=dict(img_path=f'img_{i}.jpg'))
        sample.set_field(i // 2 if i < 2 else i - 1, 'pid')
        sample.set_field(mlm if aliased else ids, 'text_ids')
        sample.set_field(mlm, 'mlm_ids')
        sample.set_field(labels, 'mlm_labels')
        sample.set_field(patch, 'patch_labels')
        sample.set_field(spans, 'part_spans')
        sample.set_field(parts, 'part_num')
        samples.append(sample)
    return samples


def _images(batch=4):
    return torch.randn(batch, 3, *IMAGE_SIZE,
                       generator=torch.Generator().manual_seed(1))


def _assert_trains_everything(model, losses):
    total = sum(v for k, v in losses.items() if k.startswith('loss'))
    assert torch.isfinite(total)
    total.backward()
    missing = [n for n, p in model.named_parameters()
               if p.requires_grad and p.grad is None]
    assert not missing, f'parameters outside the graph: {missing[:5]}'


@pytest.mark.parametrize('head', ALIGNMENT_HEADS, ids=lambda h: h['type'] +
                         h.get('readout', ''))
def test_loss_with_each_alignment_head(sapsam_scope, head):
    torch.manual_seed(0)
    model = _model(alignment_head=head)
    losses = model.loss(_images(), _samples())
    assert {'loss_sdm', 'loss_mlm', 'mlm_acc', 'loss_align'} <= set(losses)
    assert losses['loss_align'] > 0 and losses['loss_mlm'] > 0
    _assert_trains_everything(model, losses)


def test_no_valid_part_in_the_batch(sapsam_scope):
    model = _model()
    losses = model.loss(_images(), _samples(num_parts=(0, 0, 0, 0)))
    assert losses['loss_align'].item() == 0
    _assert_trains_everything(model, losses)


def test_loss_weights_scale_the_losses(sapsam_scope):
    torch.manual_seed(0)
    base = _model()
    torch.manual_seed(0)
    weighted = _model(mlm_loss_weight=0.5, align_loss_weight=2.0)
    weighted.load_state_dict(base.state_dict())
    images, samples = _images(), _samples()
    torch.manual_seed(3)
    a = base.loss(images, samples)
    torch.manual_seed(3)
    b = weighted.loss(images, samples)
    torch.testing.assert_close(b['loss_mlm'], 0.5 * a['loss_mlm'])
    torch.testing.assert_close(b['loss_align'], 2.0 * a['loss_align'])
    torch.testing.assert_close(b['loss_sdm'], a['loss_sdm'])


@pytest.mark.parametrize('aliased,rows', [(False, 8), (True, 4)])
def test_each_encoder_runs_once(sapsam_scope, monkeypatch, aliased, rows):
    """Clean + masked captions share one text pass; identical ids (the
    faithful pipeline) are encoded once for B rows."""
    model = _model()
    calls = {'text': [], 'image': []}
    encode_text, encode_image = (model.backbone.encode_text,
                                 model.backbone.encode_image)
    monkeypatch.setattr(model.backbone, 'encode_text', lambda ids: (
        calls['text'].append(ids.shape[0]) or encode_text(ids)))
    monkeypatch.setattr(model.backbone, 'encode_image', lambda *a, **k: (
        calls['image'].append(1) or encode_image(*a, **k)))
    model.loss(_images(), _samples(aliased=aliased))
    assert calls == {'text': [rows], 'image': [1]}


@pytest.mark.parametrize('variant', ['linear_after_pe', 'linear_after_vit',
                                     'discrete', 'discrete_wo_background'])
def test_image_decoding_variants(sapsam_scope, tmp_path, variant):
    head = dict(type='ImageDecodingHead', variant=variant)
    if variant.startswith('discrete'):
        path = tmp_path / 'dvae.pth'
        torch.save(MODELS.build(dict(type='DVAEImageTokenizer', **TINY_DVAE))
                   .state_dict(), path)
        head['image_tokenizer'] = dict(type='DVAEImageTokenizer',
                                       checkpoint=str(path), **TINY_DVAE)
    torch.manual_seed(0)
    model = _model(image_decoding_head=head, mlm_head=None,
                   alignment_head=None)
    assert isinstance(model.image_decoding_head, ImageDecodingHead)
    losses = model.loss(_images(), _samples())
    assert set(losses) == {'loss_sdm', 'loss_mim'}
    assert losses['loss_mim'] > 0
    _assert_trains_everything(model, losses)


def test_train_step_and_predict(sapsam_scope):
    torch.manual_seed(0)
    model = _model()
    optim = OptimWrapper(torch.optim.Adam(model.parameters(), lr=1e-3))
    before = model.alignment_head.classifier.fc.weight.clone()
    data = dict(inputs=[torch.randint(0, 256, (3, *IMAGE_SIZE),
                                      dtype=torch.uint8) for _ in range(4)],
                data_samples=_samples())
    log = model.train_step(data, optim)
    assert {'loss', 'loss_sdm', 'loss_mlm', 'loss_align'} <= set(log)
    assert not torch.equal(before, model.alignment_head.classifier.fc.weight)
    gallery = model.predict(_images(2), _samples()[:2])
    feats = torch.stack([s.image_feat for s in gallery])
    torch.testing.assert_close(feats.norm(dim=-1), torch.ones(2))


def test_bf16_autocast_runs(sapsam_scope):
    torch.manual_seed(0)
    model = _model()
    with torch.autocast('cpu', dtype=torch.bfloat16):
        losses = model.loss(_images(), _samples())
    assert all(v.dtype == torch.float32 for k, v in losses.items()
               if k.startswith('loss'))
    _assert_trains_everything(model, losses)


def test_bad_patch_labels_name_the_image(sapsam_scope):
    model = _model()
    samples = _samples()
    samples[1].patch_labels = torch.tensor([1, 1, 2, 2, 3, 9, 0, 0])
    with pytest.raises(ValueError, match=r'img_1\.jpg'):
        model.loss(_images(), samples)
    samples[1].patch_labels = torch.zeros(5, dtype=torch.long)
    with pytest.raises(Exception, match='patch_labels|stack'):
        model.loss(_images(), samples)


def test_components_are_optional(sapsam_scope):
    model = _model(cross_modal_decoder=None, mlm_head=None,
                   alignment_head=None)
    losses = model.loss(_images(), _samples())
    assert set(losses) == {'loss_sdm'}
    with pytest.raises(ValueError, match='cross_modal_decoder'):
        _model(cross_modal_decoder=None)
