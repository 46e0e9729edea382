"""Merge a sample's part masks into one label map (docs/fidelity.md M1)."""
from typing import Optional, Sequence, Tuple

import numpy as np
from mmcv.transforms import BaseTransform

from sapsam.registry import TRANSFORMS


def merge_part_masks(masks: Sequence[np.ndarray],
                     scores: Sequence[float],
                     shape: Optional[Tuple[int, int]] = None,
                     faithful: bool = False) -> np.ndarray:
    """Label map of overlapping binary masks: pixel = k + 1 for mask k.

    Default: where masks overlap, the highest score wins (ties: the earlier
    mask). ``faithful=True`` reproduces the official ``merge_mask`` (M1):
    masks are painted in order; a mask overwrites earlier labels only when
    its score is a new running maximum, otherwise it fills background only.

    Args:
        masks (Sequence[np.ndarray]): ``(H, W)`` masks, non-zero = part.
        scores (Sequence[float]): one score per mask.
        shape (tuple, optional): ``(H, W)`` of the result when there is no
            mask.
        faithful (bool): use the official running-maximum rule.

    Returns:
        np.ndarray: ``(H, W)`` uint8 labels in ``0..len(masks)``.
    """
    if len(masks) != len(scores):
        raise ValueError(f'{len(masks)} masks but {len(scores)} scores')
    if len(masks) > 255:
        raise ValueError(f'too many masks for a uint8 map: {len(masks)}')
    if not masks:
        if shape is None:
            raise ValueError('shape is required when there is no mask')
        return np.zeros(shape, dtype=np.uint8)
    shape = masks[0].shape
    for k, m in enumerate(masks):
        if m.shape != shape:
            raise ValueError(f'mask {k} is {m.shape}, mask 0 is {shape}')
    labels = np.zeros(shape, dtype=np.uint8)
    if faithful:
        best = 0.0
        for k, (mask, score) in enumerate(zip(masks, scores)):
            region = mask > 0
            if score > best:
                best = score
                labels[region] = k + 1
            else:
                labels[region & (labels == 0)] = k + 1
        return labels
    # Stable descending sort: the first of equal scores is painted first.
    for k in sorted(range(len(masks)), key=lambda i: -scores[i]):
        labels[(masks[k] > 0) & (labels == 0)] = k + 1
    return labels


@TRANSFORMS.register_module()
class MergePartMasks(BaseTransform):
    """Merge ``part_masks`` into ``results['gt_seg_map']``.

    Keeps the first ``max_parts`` masks, scores and phrases (the official
    truncation), merges them with :func:`merge_part_masks` and stores the
    ``(H, W)`` uint8 label map under ``gt_seg_map`` so that mmcv's
    ``Resize`` (NEAREST for maps, R1), ``RandomFlip`` and the crop/erasing
    transforms move it with the image. Samples without parts get an
    all-zero map of the image size.

    Required keys: ``part_masks``, ``part_scores``, ``part_phrases``, ``img``
    (only for samples without parts).

    Modified keys: ``part_scores``, ``part_phrases`` (truncated). Added
    keys: ``gt_seg_map``. Removed keys: ``part_masks``.

    Args:
        max_parts (int): Defaults to 6 (the official ``max_part_num``).
        faithful (bool): official running-maximum priority. Defaults to
            False (highest score wins).
    """

    def __init__(self, max_parts: int = 6, faithful: bool = False) -> None:
        if not 1 <= max_parts <= 255:
            raise ValueError(f'max_parts must be in [1, 255], got {max_parts}')
        self.max_parts = max_parts
        self.faithful = faithful

    def transform(self, results: dict) -> dict:
        if 'part_masks' not in results:
            raise KeyError('MergePartMasks needs "part_masks": put '
                           'LoadPartMasks before it')
        masks = results.pop('part_masks')[:self.max_parts]
        scores = list(results.get('part_scores') or [])[:self.max_parts]
        phrases = list(results.get('part_phrases') or [])[:self.max_parts]
        if len(phrases) != len(masks):
            raise ValueError(
                f'sample {results.get("img_path", "?")!r} (caption_idx '
                f'{results.get("caption_idx", "?")}): {len(masks)} part masks '
                f'but {len(phrases)} part phrases')
        shape = results['img'].shape[:2] if 'img' in results else None
        results['gt_seg_map'] = merge_part_masks(masks, scores, shape,
                                                 self.faithful)
        results['part_scores'] = scores
        results['part_phrases'] = phrases
        return results

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(max_parts={self.max_parts}, '
                f'faithful={self.faithful})')
