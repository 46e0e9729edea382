"""Load the Person-SAM part masks of a training sample."""
from typing import List, Optional

import mmcv
import numpy as np
from mmcv.transforms import BaseTransform
from mmengine import fileio

from sapsam.registry import TRANSFORMS


def _describe(results: dict) -> str:
    return (f'sample {results.get("img_path", "?")!r} '
            f'(caption_idx {results.get("caption_idx", "?")})')


@TRANSFORMS.register_module()
class LoadPartMasks(BaseTransform):
    """Read ``results['part_seg_paths']`` into binary masks.

    The masks are the 0/1 PNGs written by stage 4 at the image's original
    resolution (0/255 masks are accepted too). Samples without parts get an
    empty list. An empty, undecodable, multi-channel or non-binary mask is
    an error naming the sample and the file.

    Required keys: ``part_seg_paths`` (list[str]), ``part_scores``
    (list[float]), optionally ``img`` (to check the mask size).

    Added keys: ``part_masks`` (list of ``(H, W)`` uint8 arrays in {0, 1}).

    Args:
        check_shape (bool): require every mask to have the size of
            ``results['img']``. Defaults to True.
        backend_args (dict, optional): MMEngine file backend arguments.

    Examples:
        >>> LoadPartMasks()(dict(part_seg_paths=['segs/0__a_0.png'],
        ...                      part_scores=[0.9]))['part_masks'][0].shape
        (384, 128)
    """

    def __init__(self, check_shape: bool = True,
                 backend_args: Optional[dict] = None) -> None:
        self.check_shape = check_shape
        self.backend_args = backend_args

    def transform(self, results: dict) -> dict:
        paths = list(results.get('part_seg_paths') or [])
        scores = list(results.get('part_scores') or [])
        if len(scores) != len(paths):
            raise ValueError(f'{_describe(results)}: {len(paths)} part masks '
                             f'but {len(scores)} part scores')
        image = results.get('img')
        masks: List[np.ndarray] = []
        for path in paths:
            try:
                content = fileio.get(path, backend_args=self.backend_args)
            except FileNotFoundError as err:
                raise FileNotFoundError(f'{_describe(results)}: part mask not '
                                        f'found: {path}') from err
            if not content:
                raise ValueError(f'{_describe(results)}: part mask {path} is '
                                 'empty (0 bytes)')
            try:
                mask = mmcv.imfrombytes(content, flag='unchanged')
            except Exception as err:  # noqa: BLE001 (cv2 raises several)
                raise ValueError(f'{_describe(results)}: cannot decode part '
                                 f'mask {path} ({err})') from err
            if mask is None:
                raise ValueError(f'{_describe(results)}: cannot decode part '
                                 f'mask {path} (truncated or not a PNG)')
            if mask.ndim != 2:
                raise ValueError(f'{_describe(results)}: part mask {path} has '
                                 f'shape {mask.shape}; stage 4 writes '
                                 'single-channel 0/1 PNGs')
            if mask.max() > 1 and not np.isin(mask, (0, 255)).all():
                raise ValueError(
                    f'{_describe(results)}: part mask {path} has values '
                    f'{np.unique(mask)[:6].tolist()}; expected 0/1 (or '
                    '0/255)')
            if self.check_shape and image is not None \
                    and mask.shape != image.shape[:2]:
                raise ValueError(
                    f'{_describe(results)}: part mask {path} is '
                    f'{mask.shape[1]}x{mask.shape[0]} (WxH) but the image is '
                    f'{image.shape[1]}x{image.shape[0]}')
            masks.append((mask > 0).astype(np.uint8))
        results['part_masks'] = masks
        results['part_scores'] = [float(s) for s in scores]
        return results

    def __repr__(self) -> str:
        return f'{type(self).__name__}(check_shape={self.check_shape})'
