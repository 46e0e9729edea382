"""Region processing of stage 1: whiten outside a part group, then crop.

fidelity.md G1 / supplement §2.1 ("Filter"): every pixel outside the merged
group mask is set to white, and the image is cropped to the group's tight box
enlarged on each side by an independent random margin in ``[0, max_margin)``
(clipped to the image). The margins come from a caller-provided
``numpy.random.Generator``, so crops are reproducible.
"""
from typing import NamedTuple, Optional, Sequence, Tuple

import numpy as np


class PartRegion(NamedTuple):
    """One part group of one image, ready to be described.

    Attributes:
        group_key (str): ATR group key (``'1'`` hat ... ``'16'`` bag).
        crop (np.ndarray): ``(h, w, 3)`` uint8 RGB crop, white outside the
            group.
        group_mask (np.ndarray): ``(h, w)`` bool, pixels of the merged group.
        part_mask (np.ndarray): ``(h, w)`` bool, pixels of the classes the
            phrase describes (e.g. hair without the face).
        image_shape (tuple): ``(H, W)`` of the full image.
        box (tuple): ``(x0, y0, x1, y1)`` crop box in the image, exclusive end.
        person_height (int): rows spanned by all labelled (non-zero) pixels.
        name (str): image name (set by the phrase generators).
    """
    group_key: str
    crop: np.ndarray
    group_mask: np.ndarray
    part_mask: np.ndarray
    image_shape: Tuple[int, int]
    box: Tuple[int, int, int, int]
    person_height: int
    name: str = ''


def class_mask(label_map: np.ndarray, class_ids: Sequence[int]) -> np.ndarray:
    """``(H, W)`` bool mask of the pixels whose label is in ``class_ids``."""
    return np.isin(label_map, np.asarray(class_ids, dtype=label_map.dtype))


def whiten_outside(image: np.ndarray, mask: np.ndarray,
                   fill: int = 255) -> np.ndarray:
    """Copy of ``image`` (H, W, C) with every pixel outside ``mask`` set to
    ``fill`` in all channels."""
    out = image.copy()
    out[~mask] = fill
    return out


def padded_box(mask: np.ndarray, margins: Sequence[int]) -> Tuple[int, ...]:
    """Tight box of ``mask`` enlarged by ``margins`` = (left, top, right,
    bottom) pixels and clipped to the image.

    Returns:
        tuple: ``(x0, y0, x1, y1)`` with exclusive ``x1``/``y1``.

    Raises:
        ValueError: if ``mask`` is empty.
    """
    ys, xs = np.nonzero(mask)
    if ys.size == 0:
        raise ValueError('padded_box: the mask is empty')
    h, w = mask.shape
    left, top, right, bottom = (int(m) for m in margins)
    return (max(0, int(xs.min()) - left), max(0, int(ys.min()) - top),
            min(w, int(xs.max()) + 1 + right), min(h, int(ys.max()) + 1 +
                                                   bottom))


def extract_part_region(image: np.ndarray,
                        label_map: np.ndarray,
                        group_key: str,
                        group_ids: Sequence[int],
                        part_ids: Sequence[int],
                        rng: np.random.Generator,
                        max_margin: int = 20,
                        fill: int = 255) -> Optional[PartRegion]:
    """Whitened crop of one part group, or ``None`` if the group is absent.

    As in the official code, a group is processed only if its **first** id is
    present (hair must be present; a face alone does not trigger group 2).

    Args:
        image (np.ndarray): ``(H, W, 3)`` uint8 RGB.
        label_map (np.ndarray): ``(H, W)`` integer ATR labels.
        group_key (str): group key stored with the result.
        group_ids (Sequence[int]): ids merged for the crop (Table 1).
        part_ids (Sequence[int]): ids the phrase describes.
        rng (np.random.Generator): draws the four margins.
        max_margin (int): margins are drawn from ``[0, max_margin)``.
        fill (int): value written outside the group.

    Raises:
        ValueError: if image and label map sizes differ.
    """
    if image.shape[:2] != label_map.shape[:2]:
        raise ValueError(f'image {image.shape[:2]} and label map '
                         f'{label_map.shape[:2]} differ in size')
    if not np.any(label_map == group_ids[0]):
        return None
    group = class_mask(label_map, group_ids)
    margins = rng.integers(0, max(1, max_margin), size=4)
    x0, y0, x1, y1 = padded_box(group, margins)
    crop = whiten_outside(image, group, fill)[y0:y1, x0:x1]
    part = class_mask(label_map[y0:y1, x0:x1], part_ids)
    rows = np.nonzero((label_map > 0).any(axis=1))[0]
    return PartRegion(group_key, crop, group[y0:y1, x0:x1], part,
                      tuple(label_map.shape[:2]), (x0, y0, x1, y1),
                      int(rows.max() - rows.min() + 1))
