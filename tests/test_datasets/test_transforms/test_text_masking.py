"""Part-aware MLM masking: rates over many draws, faithful vs corrected."""
import numpy as np
import pytest
import torch
from mmengine.dataset import Compose

from sapsam.datasets.transforms import PartAwareMaskTokens, RandomMaskTokens

MASK_ID, SOT, EOT = 49405, 49406, 49407
NUM_WORDS = 50
SPANS = torch.tensor([[5, 9], [15, 17], [30, 35], [-1, -1], [-1, -1],
                      [-1, -1]])
INSIDE = np.zeros(77, dtype=bool)
for s, e in SPANS[:3].tolist():
    INSIDE[s:e + 1] = True
BOUNDARY = np.zeros(77, dtype=bool)
BOUNDARY[SPANS[:3].flatten().numpy()] = True
WORDS = np.zeros(77, dtype=bool)
WORDS[1:NUM_WORDS + 1] = True
DRAWS = 3000


def _caption(seed=0):
    rng = np.random.default_rng(seed)
    ids = torch.zeros(77, dtype=torch.long)
    ids[0] = SOT
    ids[1:NUM_WORDS + 1] = torch.from_numpy(rng.integers(1, 49000, NUM_WORDS))
    ids[NUM_WORDS + 1] = EOT
    return ids


def _draw(transform, draws=DRAWS, seed=0):
    np.random.seed(seed)
    clean = _caption()
    outs = [transform(dict(text_ids=clean.clone(), part_spans=SPANS.clone(),
                           img_path='a.jpg'))
            for _ in range(draws)]
    stack = {k: torch.stack([o[k] for o in outs]).numpy()
             for k in ('text_ids', 'mlm_ids', 'mlm_labels')}
    return clean.numpy(), stack


def test_corrected_rates_and_80_10_10():
    clean, out = _draw(PartAwareMaskTokens())
    selected = out['mlm_labels'] > 0
    assert not selected[:, ~WORDS].any(), 'SOT/EOT/padding were masked'
    assert abs(selected[:, INSIDE].mean() - 0.35) < 0.015
    assert abs(selected[:, WORDS & ~INSIDE].mean() - 0.15) < 0.01
    # Inner phrase tokens get the part rate too (the fix of T2).
    assert abs(selected[:, INSIDE & ~BOUNDARY].mean() - 0.35) < 0.02
    labels, ids = out['mlm_labels'][selected], out['mlm_ids'][selected]
    assert (labels == np.broadcast_to(clean, selected.shape)[selected]).all()
    masked = (ids == MASK_ID).mean()
    unchanged = (ids == labels).mean()
    randomised = 1 - masked - unchanged
    assert abs(masked - 0.8) < 0.015
    assert abs(unchanged - 0.1) < 0.01 and abs(randomised - 0.1) < 0.01
    assert (ids[(ids != MASK_ID) & (ids != labels)] < MASK_ID).all()
    assert (out['mlm_ids'][~selected] ==
            np.broadcast_to(clean, selected.shape)[~selected]).all()
    # The caption used by SDM and the alignment stays clean.
    assert (out['text_ids'] == clean).all()


def _official_two_passes(part_mask_prob=0.35, mask_prob=0.15):
    """Pass 1 (aliased into text_ids), then pass 2, as the faithful
    pipeline chains them (FindPhraseSpans sits between them there)."""
    return Compose([
        RandomMaskTokens(mask_prob=mask_prob, alias_text_ids=True,
                         faithful=True),
        PartAwareMaskTokens(part_mask_prob=part_mask_prob,
                            mask_prob=mask_prob, faithful=True)])


def test_faithful_reproduces_b1_and_b3():
    """docs/fidelity.md T1 (aliasing) and T2 (boundary-only part rate)."""
    clean, out = _draw(_official_two_passes())
    # T1: text_ids is the doubly masked caption (= mlm_ids).
    assert (out['text_ids'] == out['mlm_ids']).all()
    altered = (out['text_ids'] != clean)[:, WORDS].mean()
    assert 0.2 < altered < 0.3  # about 25 % of the tokens
    selected = out['mlm_labels'] > 0
    # Pass 2 sees tokens that pass 1 did not turn into <|mask|>: 88 %.
    eligible = 1 - 0.15 * 0.8
    # T2: only span boundaries get 0.35; inner phrase tokens get 0.15.
    assert abs(selected[:, BOUNDARY].mean() - 0.35 * eligible) < 0.02
    assert abs(selected[:, INSIDE & ~BOUNDARY].mean() - 0.15 * eligible) \
        < 0.015
    assert abs(selected[:, WORDS & ~INSIDE].mean() - 0.15 * eligible) < 0.01
    # Pass-2 labels may be pass-1 random ids; <|mask|> only where position
    # 1 was forced (T4).
    labels = out['mlm_labels'][selected]
    forced = selected.sum(1) == 1
    assert (out['mlm_labels'][~forced][selected[~forced]] < MASK_ID).all()
    assert (labels != np.broadcast_to(clean, selected.shape)[selected]).any()


def test_forced_mask_and_empty_caption():
    ids = torch.tensor([SOT, 320, 786, EOT, 0, 0])
    out = PartAwareMaskTokens(part_mask_prob=0., mask_prob=0.)(
        dict(text_ids=ids.clone(), part_spans=SPANS[:1] * 0 + 1))
    assert out['mlm_labels'].tolist() == [0, 320, 0, 0, 0, 0]
    assert out['mlm_ids'].tolist() == [SOT, MASK_ID, 786, EOT, 0, 0]
    empty = RandomMaskTokens()(dict(text_ids=torch.tensor([SOT, EOT, 0])))
    assert empty['mlm_labels'].tolist() == [0, 0, 0]
    assert empty['mlm_ids'].tolist() == [SOT, EOT, 0]


def test_faithful_pass_two_forces_position_one_even_if_masked():
    """T4: with nothing selected, the official pass 2 forces position 1,
    which pass 1 already masked: its label becomes the mask id."""
    ids = torch.tensor([SOT, 320, 786, EOT, 0, 0])
    sample = dict(text_ids=ids.clone(), part_spans=torch.tensor([[1, 2]]))
    out = _official_two_passes(part_mask_prob=0., mask_prob=0.)(sample)
    assert out['mlm_labels'].tolist() == [0, MASK_ID, 0, 0, 0, 0]
    assert out['text_ids'].tolist() == [SOT, MASK_ID, 786, EOT, 0, 0]
    # Default: the first token that can still be masked is forced.
    first = RandomMaskTokens(mask_prob=0., alias_text_ids=True)(
        dict(text_ids=ids.clone()))
    out = PartAwareMaskTokens(part_mask_prob=0., mask_prob=0.)(
        dict(first, part_spans=torch.tensor([[1, 2]])))
    assert out['mlm_labels'].tolist() == [0, 0, 786, 0, 0, 0]
    with pytest.raises(KeyError, match='pass 2'):
        PartAwareMaskTokens(faithful=True)(
            dict(text_ids=ids.clone(), part_spans=torch.tensor([[1, 2]])))


def test_random_mask_tokens_ignores_spans_and_can_alias():
    np.random.seed(1)
    clean = _caption()
    outs = [RandomMaskTokens()(dict(text_ids=clean.clone()))
            for _ in range(1000)]
    selected = torch.stack([o['mlm_labels'] for o in outs]).numpy() > 0
    assert abs(selected[:, WORDS].mean() - 0.15) < 0.01
    assert all(torch.equal(o['text_ids'], clean) for o in outs)
    aliased = RandomMaskTokens(alias_text_ids=True)(
        dict(text_ids=clean.clone()))
    assert torch.equal(aliased['text_ids'], aliased['mlm_ids'])


def test_errors_name_the_sample():
    transform = PartAwareMaskTokens()
    with pytest.raises(KeyError, match=r"b\.jpg.*part_spans"):
        transform(dict(text_ids=_caption(), img_path='b.jpg', caption_idx=3))
    with pytest.raises(ValueError, match=r"c\.jpg.*\[70, 80\]"):
        transform(dict(text_ids=_caption(), img_path='c.jpg',
                       part_spans=torch.tensor([[70, 80]])))


def test_runs_after_tokenizer_and_span_finding(sapsam_scope):
    pipeline = Compose([
        dict(type='TokenizeCaption'),
        dict(type='FindPhraseSpans', max_parts=6),
        dict(type='PartAwareMaskTokens', part_mask_prob=1.0, mask_prob=0.0),
    ])
    out = pipeline(dict(caption='a woman in a red coat and black boots',
                        part_phrases=['a red coat', 'black boots']))
    spans = out['part_spans'][:out['part_num']]
    assert (spans[:, 0] >= 0).all()
    expected = torch.zeros(77, dtype=torch.bool)
    for start, end in spans.tolist():
        expected[start:end + 1] = True
    assert torch.equal(out['mlm_labels'] > 0, expected)
    assert torch.equal(out['mlm_labels'][expected], out['text_ids'][expected])
