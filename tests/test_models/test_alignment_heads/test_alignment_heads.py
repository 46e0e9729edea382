"""Alignment heads: masks, losses, gradients, negatives, vectorised ELCA."""
import functools
import importlib.util
import os

import pytest
import torch

from sapsam.models.alignment_heads import (AvgPoolAlign, Conv1DAlign,
                                           ELCAAlign, MHSAAlign,
                                           build_part_masks,
                                           gather_masked_tokens,
                                           sample_phrase_negatives,
                                           sample_region_matched_negatives)
from sapsam.registry import MODELS

DIM, TEXT_LEN, NUM_PARTS = 16, 16, 3
REFERENCE = os.path.join(os.path.dirname(__file__), 'elca_reference.py')


@functools.lru_cache(maxsize=1)
def _reference():
    """The per-pair ELCA loss and the batch generator (elca_reference.py)."""
    spec = importlib.util.spec_from_file_location('elca_reference',
                                                  REFERENCE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _batch():
    """Six samples on a 4x3 patch grid whose valid parts are known.

    0: parts 1-3 valid. 1: region 2 empty -> 1, 3. 2: phrase 1 not found
    -> 2, 3. 3: part_num 1 although region 2 exists -> 1. 4: nothing.
    5: parts 1-3 valid.
    """
    full = torch.tensor([1, 1, 1, 2, 2, 0, 2, 3, 0, 3, 3, 0])
    labels = torch.stack([
        full, torch.where(full == 2, 0, full), full,
        torch.tensor([1, 1, 0, 2, 2, 0, 0, 0, 0, 0, 0, 0]),
        torch.zeros(12, dtype=torch.long), full])
    spans = torch.tensor([[1, 2], [4, 6], [8, 8]]).repeat(6, 1, 1)
    spans[2, 0] = -1
    spans[4] = -1
    part_num = torch.tensor([3, 3, 3, 1, 0, 3])
    pids = torch.tensor([0, 0, 1, 1, 2, 3])
    return labels, spans, part_num, pids


EXPECTED_VALID = torch.tensor([[1, 1, 1], [1, 0, 1], [0, 1, 1], [1, 0, 0],
                               [0, 0, 0], [1, 1, 1]], dtype=torch.bool)

HEADS = {
    'avgpool': lambda: AvgPoolAlign(embed_dim=DIM),
    'conv1d': lambda: Conv1DAlign(embed_dim=DIM),
    'mhsa': lambda: MHSAAlign(embed_dim=DIM, num_heads=2),
    'elca_region': lambda: ELCAAlign(embed_dim=DIM, num_heads=2,
                                     readout='region'),
    'elca_cls': lambda: ELCAAlign(embed_dim=DIM, num_heads=2, readout='cls'),
}


def _tokens(batch=6, patches=12, seed=0):
    gen = torch.Generator().manual_seed(seed)
    image = torch.randn(batch, 1 + patches, DIM, generator=gen)
    text = torch.randn(batch, TEXT_LEN, DIM, generator=gen)
    return image.requires_grad_(), text.requires_grad_()


def test_part_masks_select_exactly_the_usable_parts():
    labels, spans, part_num, _ = _batch()
    masks = build_part_masks(labels, spans, part_num, TEXT_LEN)
    assert torch.equal(masks.valid, EXPECTED_VALID)
    assert masks.region.shape == (6, 3, 12)
    assert masks.phrase[0, 1].nonzero().flatten().tolist() == [4, 5, 6]
    assert not masks.phrase[2, 0].any()


def test_gather_keeps_order_and_pads():
    tokens = torch.arange(5.)[None, :, None]  # (1, 5, 1)
    mask = torch.tensor([[[0, 1, 0, 1, 1], [0, 0, 0, 0, 0]]], dtype=torch.bool)
    seq, seq_mask = gather_masked_tokens(tokens, mask)
    assert seq.shape == (1, 2, 3, 1)
    assert seq[0, 0, :, 0].tolist() == [1., 3., 4.]
    assert seq_mask.tolist() == [[[True, True, True], [False] * 3]]


@pytest.mark.parametrize('name', sorted(HEADS))
def test_loss_is_finite_and_trains_both_encoders(name):
    torch.manual_seed(0)
    head = HEADS[name]()
    labels, spans, part_num, pids = _batch()
    image, text = _tokens()
    out = head.loss(image, text, labels, spans, part_num, pids)
    loss = out['loss_align']
    assert loss.dim() == 0 and torch.isfinite(loss) and loss > 0
    loss.backward()
    assert image.grad.abs().sum() > 0 and text.grad.abs().sum() > 0
    # Sample 4 has no valid part: none of its tokens may be used.
    assert image.grad[4].abs().sum() == 0 and text.grad[4].abs().sum() == 0
    # Caption tokens outside every phrase get no gradient.
    outside = torch.ones(TEXT_LEN, dtype=torch.bool)
    outside[[1, 2, 4, 5, 6, 8]] = False
    assert text.grad[:, outside].abs().sum() == 0
    for pname, param in head.named_parameters():
        assert param.grad is not None and torch.isfinite(param.grad).all(), \
            pname


@pytest.mark.parametrize('name', sorted(HEADS))
def test_no_valid_part_in_the_batch_gives_zero_attached_loss(name):
    head = HEADS[name]()
    labels, spans, _, pids = _batch()
    image, text = _tokens()
    out = head.loss(image, text, labels, spans, torch.zeros(6,
                                                            dtype=torch.long),
                    pids)
    assert out['loss_align'].item() == 0
    out['loss_align'].backward()
    assert image.grad is not None and text.grad is not None
    for pname, param in head.named_parameters():
        assert param.grad is not None, f'{pname} left out of the graph'


def test_elca_cls_readout_ignores_region_patches():
    """Faithful ELCA: only the [CLS] query shapes the score."""
    labels, spans, part_num, pids = _batch()
    grads = {}
    for readout in ('cls', 'region'):
        torch.manual_seed(0)
        head = ELCAAlign(embed_dim=DIM, num_heads=2, readout=readout)
        image, text = _tokens()
        head.loss(image, text, labels, spans, part_num, pids,
                  generator=torch.Generator().manual_seed(0)
                  )['loss_align'].backward()
        grads[readout] = image.grad
    assert grads['cls'][:, 1:].abs().sum() == 0
    assert grads['cls'][[0, 1, 2, 3, 5], 0].abs().min() > 0
    # Region readout: region patches get gradients, [CLS] and background
    # patches none.
    region = grads['region']
    assert region[:, 0].abs().sum() == 0
    assert region[:, 1:][labels == 0].abs().sum() == 0
    assert region[0, 1:][labels[0] > 0].abs().sum(-1).min() > 0


@pytest.mark.parametrize('readout', ['cls', 'region'])
def test_vectorised_elca_equals_the_loop_reference(readout):
    torch.manual_seed(1)
    dim = 32
    head = ELCAAlign(embed_dim=dim, num_heads=4, readout=readout)
    ann = _reference().make_part_annotations(10, 6, (6, 4),
                                            full_parts=False, seed=3)
    image = torch.randn(10, 25, dim, requires_grad=True)
    text = torch.randn(10, 77, dim, requires_grad=True)
    masks = build_part_masks(ann['patch_labels'], ann['part_spans'],
                             ann['part_num'], 77)
    negatives = sample_phrase_negatives(masks.valid, ann['pids'],
                                        torch.Generator().manual_seed(7))
    assert negatives[2].sum() > 5
    vec = head.loss(image, text, ann['patch_labels'], ann['part_spans'],
                    ann['part_num'], ann['pids'],
                    negatives=negatives)['loss_align']
    vec_grads = torch.autograd.grad(vec, [image, text])
    loop = _reference().elca_loss_loop(head, image, text, masks, negatives)
    loop_grads = torch.autograd.grad(loop, [image, text])
    assert abs(vec.item() - loop.item()) < 1e-5
    for a, b in zip(vec_grads, loop_grads):
        torch.testing.assert_close(a, b, atol=1e-6, rtol=1e-4)


def test_negatives_come_from_other_identities_and_valid_phrases():
    labels, spans, part_num, pids = _batch()
    valid = build_part_masks(labels, spans, part_num, TEXT_LEN).valid
    draws = [sample_phrase_negatives(valid, pids,
                                     torch.Generator().manual_seed(s))
             for s in range(200)]
    seen = set()
    for neg_sample, neg_part, has_negative in draws:
        assert torch.equal(has_negative, valid)
        rows, cols = has_negative.nonzero(as_tuple=True)
        k, part = neg_sample[rows, cols], neg_part[rows, cols]
        assert (pids[k] != pids[rows]).all()
        assert valid[k, part].all()
        seen.update(k[rows == 0].tolist())
    # Sample 0 (pid 0): candidates are samples 2, 3 and 5 (4 has no part).
    assert seen == {2, 3, 5}
    same = sample_phrase_negatives(valid, pids,
                                   torch.Generator().manual_seed(5))
    for a, b in zip(same, draws[5]):
        assert torch.equal(a, b)
    # One identity in the whole batch: no negative at all.
    _, _, none = sample_phrase_negatives(valid, torch.zeros(6,
                                                            dtype=torch.long))
    assert not none.any()


def test_region_matched_negatives_pick_the_same_body_part():
    """Each region's negative is another identity's phrase on the region
    that overlaps it most (here the same part index, since part p covers
    the same patches in every sample), never an invalid slot."""
    labels, spans, part_num, pids = _batch()
    masks = build_part_masks(labels, spans, part_num, TEXT_LEN)
    for seed in range(20):
        neg_sample, neg_part, has_negative = sample_region_matched_negatives(
            masks.region, masks.valid, pids,
            torch.Generator().manual_seed(seed))
        assert torch.equal(has_negative, masks.valid)
        rows, cols = has_negative.nonzero(as_tuple=True)
        k, part = neg_sample[rows, cols], neg_part[rows, cols]
        assert (pids[k] != pids[rows]).all()
        assert masks.valid[k, part].all()
        region, negative = masks.region[rows, cols], masks.region[k, part]
        iou = (region & negative).sum(-1) / (region | negative).sum(-1)
        # Sample 0's part 1 (3 patches) faces sample 2's or 5's part 1.
        first = (rows == 0) & (cols == 0)
        assert part[first].item() == 0 and iou[first].item() == 1.0
        assert (iou > 0).all()
    _, _, none = sample_region_matched_negatives(
        masks.region, masks.valid, torch.zeros(6, dtype=torch.long))
    assert not none.any()


def test_elca_region_matched_negatives_train_the_head():
    """The option is a constructor switch; the loss stays finite and
    differentiable, and an unknown name is refused."""
    labels, spans, part_num, pids = _batch()
    head = ELCAAlign(embed_dim=DIM, num_heads=2, negatives='region_matched')
    image = torch.randn(6, 13, DIM, requires_grad=True)
    text = torch.randn(6, TEXT_LEN, DIM, requires_grad=True)
    out = head.loss(image, text, labels, spans, part_num, pids,
                    generator=torch.Generator().manual_seed(0))
    out['loss_align'].backward()
    assert torch.isfinite(out['loss_align']) and image.grad.abs().sum() > 0
    with pytest.raises(ValueError, match='negatives'):
        ELCAAlign(embed_dim=DIM, num_heads=2, negatives='hard')


def test_same_identity_phrases_are_not_infonce_negatives():
    head = AvgPoolAlign(embed_dim=4, temperature=0.02)
    feats = torch.eye(4)[None].repeat(2, 1, 1)[:, :3]  # (2, 3, 4)
    valid = torch.ones(2, 3, dtype=torch.bool)
    # Samples 0 and 1 describe the same parts with the same features: only
    # identity-aware masking makes this a perfect alignment.
    same_pid = head.info_nce(feats, feats, valid, torch.tensor([7, 7]))
    other_pid = head.info_nce(feats, feats, valid, torch.tensor([7, 8]))
    assert same_pid.item() < 1e-6
    assert other_pid.item() > 0.6


def test_bad_annotations_raise_clear_errors():
    head = AvgPoolAlign(embed_dim=DIM)
    labels, spans, part_num, pids = _batch()
    image, text = _tokens()
    names = [f'img_{i}.jpg' for i in range(6)]
    bad_labels = labels.clone()
    bad_labels[3, 0] = 5
    with pytest.raises(ValueError, match=r'img_3\.jpg.*patch_labels'):
        head.loss(image, text, bad_labels, spans, part_num, pids, names)
    bad_spans = spans.clone()
    bad_spans[1, 2] = torch.tensor([8, TEXT_LEN])
    with pytest.raises(ValueError, match=r'img_1\.jpg.*span'):
        head.loss(image, text, labels, bad_spans, part_num, pids, names)
    with pytest.raises(ValueError, match='embed_dim'):
        AvgPoolAlign(embed_dim=8).loss(image, text, labels, spans, part_num,
                                       pids)


def test_heads_build_from_their_registry():
    for type_name, cls in (('AvgPoolAlign', AvgPoolAlign),
                           ('Conv1DAlign', Conv1DAlign),
                           ('MHSAAlign', MHSAAlign),
                           ('ELCAAlign', ELCAAlign)):
        head = MODELS.build(dict(type=type_name, embed_dim=DIM))
        assert type(head) is cls
    assert MODELS.build(dict(type='ELCAAlign')).readout == 'region'
    with pytest.raises(ValueError, match='readout'):
        ELCAAlign(readout='mean')


def test_elca_init_depth_scales_only_the_output_projections():
    """``init_depth`` (default 4, the official decoder depth) sets the std
    of the official initialisation: depth 1 doubles the projections drawn
    with ``(2 * depth) ** -0.5``, every other weight is the same."""
    def build(**kwargs):
        torch.manual_seed(0)
        return ELCAAlign(embed_dim=DIM, num_heads=2, **kwargs).state_dict()

    default, four, one = build(), build(init_depth=4), build(init_depth=1)
    scaled = {'cross_attn.out_proj.weight', 'classifier.fc.weight'}
    for name, value in default.items():
        assert torch.equal(value, four[name]), name
        expected = 2 * value if name in scaled else value
        assert torch.allclose(one[name], expected), name
    with pytest.raises(ValueError, match='init_depth'):
        ELCAAlign(embed_dim=DIM, num_heads=2, init_depth=0)
