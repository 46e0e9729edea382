"""File writers in the official formats (docs/fidelity.md F1, F2)."""
import json
import os
import os.path as osp
from typing import Any

import numpy as np
from PIL import Image

from .attributes import ATR_CLASSES


def write_json(path: str, obj: Any) -> None:
    """Write ``obj`` as compact one-line JSON (as the official files are)."""
    os.makedirs(osp.dirname(path) or '.', exist_ok=True)
    with open(path, 'w', encoding='utf-8') as f:
        f.write(json.dumps(obj))


def write_image(path: str, array: np.ndarray) -> None:
    """Save an (H, W, 3) RGB or (H, W) uint8 array; format from extension.

    ``.jpg``/``.jpeg`` are written as JPEG (quality 95), anything else as
    PNG. (H, W) arrays are written as mode 'L' (label maps, 0/1 masks).
    """
    if array.dtype != np.uint8 or array.ndim not in (2, 3):
        raise ValueError(f'{path}: expected a uint8 (H, W) or (H, W, 3) '
                         f'array, got {array.dtype} {array.shape}')
    os.makedirs(osp.dirname(path) or '.', exist_ok=True)
    image = Image.fromarray(array, mode='L' if array.ndim == 2 else 'RGB')
    if osp.splitext(path)[1].lower() in ('.jpg', '.jpeg'):
        image.save(path, format='JPEG', quality=95)
    else:
        image.save(path, format='PNG', compress_level=1)


def atr_label_text() -> str:
    """Content of ``atr_label.txt``: "name id" lines, names padded to 15."""
    return '\n'.join(f'{name:<15}{i}' for i, name in enumerate(ATR_CLASSES))


def part_seg_stem(idx: int, name: str, phrase_index: int) -> str:
    """Official seg file stem of one phrase (docs/fidelity.md F1).

    Args:
        idx: Index of the caption in the caption-level train list.
        name: ``data_final`` image name with its leading "/", e.g.
            "/CUHK01/0363004.png".
        phrase_index: Index of the phrase within the caption's list.

    Returns:
        str: e.g. "0__CUHK01_0363004_0" (two underscores from the "/").
    """
    return '_'.join([str(idx)] + name[:-4].split('/') + [str(phrase_index)])
