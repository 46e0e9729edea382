"""Agreement of generated part masks with reference (ground-truth) masks.

Used on the synthetic benchmark, whose generator writes ground-truth
``<DATASET>_data_final_<N>.json`` / ``segs/`` files and the ATR group of
every phrase (``synthetic_attributes.json``). A generated phrase is matched
to a reference phrase of the same caption (exact text, else the best word
overlap of at least ``min_overlap``); the IoU of the two masks is then
averaged per part class (over phrases, as the paper's mIoU averages over
samples).
"""
import json
import os.path as osp
import re
from collections import defaultdict
from typing import Dict, Optional, Sequence, Tuple

import mmcv
import numpy as np

from sapsam.utils.atr_vocabulary import ATR_GROUP_NAMES
from .formats import flatten_attributes, read_data_final, seg_stem

_WORD = re.compile(r'[a-z0-9]+')


def _words(text: str) -> set:
    return set(_WORD.findall(text.lower()))


def match_phrase(phrase: str, candidates: Sequence[str],
                 min_overlap: float = 0.5) -> Optional[int]:
    """Index of the candidate that ``phrase`` refers to, or ``None``.

    Exact (case-insensitive) text first, else the highest word Jaccard
    overlap if it reaches ``min_overlap`` (ties: the first candidate).
    """
    low = phrase.lower().strip()
    for j, cand in enumerate(candidates):
        if cand.lower().strip() == low:
            return j
    words, best, best_j = _words(phrase), 0.0, None
    for j, cand in enumerate(candidates):
        other = _words(cand)
        union = words | other
        score = len(words & other) / len(union) if union else 0.0
        if score > best:
            best, best_j = score, j
    return best_j if best >= min_overlap else None


def synthetic_phrase_groups(attributes_file: str,
                            records: Sequence[dict]) -> Dict[Tuple[int, int],
                                                             str]:
    """``{(caption idx, phrase index): group key}`` of reference records,
    read from the synthetic benchmark's ``synthetic_attributes.json``."""
    with open(attributes_file, encoding='utf-8') as f:
        entries = json.load(f)
    by_caption = {}
    for entry in entries:
        for caption in entry.get('captions', []):
            key = (entry['path'].lstrip('/'), caption['text'])
            by_caption[key] = dict(zip(caption['phrases'], caption['groups']))
    groups = {}
    for rec in records:
        table = by_caption.get((rec['name'].lstrip('/'), rec['sentence']))
        if table is None:
            raise KeyError(f'{attributes_file}: no caption {rec["sentence"]!r}'
                           f' for image {rec["name"]!r} (idx {rec["idx"]})')
        for i, phrase in enumerate(flatten_attributes(rec['attribute'])):
            if phrase in table:
                groups[(rec['idx'], i)] = table[phrase]
    return groups


def _read_mask(path: str) -> np.ndarray:
    mask = mmcv.imread(path, flag='unchanged')
    if mask is None:
        raise FileNotFoundError(f'cannot read mask {path}')
    return mask > 0


def evaluate_part_masks(pred_data_final: str, pred_seg_dir: str,
                        ref_data_final: str, ref_seg_dir: str,
                        phrase_groups: Dict[Tuple[int, int], str],
                        min_overlap: float = 0.5) -> dict:
    """Mean IoU per part class of predicted masks against reference masks.

    Args:
        pred_data_final / pred_seg_dir: generated stage-3/4 outputs.
        ref_data_final / ref_seg_dir: reference (ground-truth) files.
        phrase_groups: ``{(idx, reference phrase index): group key}``.
        min_overlap (float): see :func:`match_phrase`.

    Returns:
        dict: ``per_class`` ({class name: {'mIoU', 'count'}}), ``mIoU``
        (mean over classes), ``mIoU_phrases`` (mean over all matched
        phrases), ``matched``, ``unmatched`` and ``missing_reference``
        (captions without a reference record) counts.
    """
    pred = read_data_final(pred_data_final)
    ref = {r['idx']: r for r in read_data_final(ref_data_final)}
    ious = defaultdict(list)
    unmatched = missing_reference = 0
    for rec in pred:
        target = ref.get(rec['idx'])
        phrases = flatten_attributes(rec['attribute'])
        if target is None:
            missing_reference += len(phrases)
            continue
        ref_phrases = flatten_attributes(target['attribute'])
        for i, phrase in enumerate(phrases):
            j = match_phrase(phrase, ref_phrases, min_overlap)
            group = phrase_groups.get((rec['idx'], j)) if j is not None \
                else None
            if group is None:
                unmatched += 1
                continue
            p = _read_mask(osp.join(pred_seg_dir,
                                    seg_stem(rec['idx'], rec['name'], i) +
                                    '.png'))
            g = _read_mask(osp.join(ref_seg_dir,
                                    seg_stem(target['idx'], target['name'],
                                             j) + '.png'))
            if p.shape != g.shape:
                raise ValueError(f'caption {rec["idx"]} phrase {i}: mask '
                                 f'{p.shape} vs reference {g.shape}')
            union = np.logical_or(p, g).sum()
            ious[group].append(
                float(np.logical_and(p, g).sum() / union) if union else 1.0)
    per_class = {
        ATR_GROUP_NAMES.get(g, g): dict(mIoU=100 * float(np.mean(v)),
                                        count=len(v))
        for g, v in sorted(ious.items(), key=lambda kv: int(kv[0]))
    }
    every = [x for v in ious.values() for x in v]
    return dict(
        per_class=per_class,
        mIoU=float(np.mean([c['mIoU'] for c in per_class.values()]))
        if per_class else 0.0,
        mIoU_phrases=100 * float(np.mean(every)) if every else 0.0,
        matched=len(every), unmatched=unmatched,
        missing_reference=missing_reference)


def format_iou_table(result: dict) -> str:
    """Markdown table of :func:`evaluate_part_masks` results."""
    lines = ['| part class | phrases | mIoU (%) |', '|---|---:|---:|']
    for name, row in result['per_class'].items():
        lines.append(f'| {name} | {row["count"]} | {row["mIoU"]:.2f} |')
    lines.append(f'| **mean over classes** | {result["matched"]} | '
                 f'{result["mIoU"]:.2f} |')
    lines.append(f'| mean over phrases | {result["matched"]} | '
                 f'{result["mIoU_phrases"]:.2f} |')
    return '\n'.join(lines)
