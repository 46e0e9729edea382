"""Pad-and-crop augmentation (IRRA's ``Pad(10)`` + ``RandomCrop``)."""
import numpy as np
from mmcv.transforms import BaseTransform
from mmcv.transforms.utils import cache_randomness

from sapsam.registry import TRANSFORMS


@TRANSFORMS.register_module()
class RandomCrop(BaseTransform):
    """Zero-pad the image by ``padding`` pixels, then crop ``size`` back at a
    random position. ``gt_seg_map`` (part labels) moves with the image and is
    padded with 0 (background).

    Required keys: ``img``. Modified keys: ``img``, ``img_shape``,
    ``gt_seg_map`` (optional).

    Args:
        size (tuple): ``(h, w)`` of the crop.
        padding (int): Pixels added on every side before cropping.
    """

    def __init__(self, size, padding: int = 10) -> None:
        self.size = tuple(size)
        self.padding = int(padding)

    @cache_randomness
    def _offset(self, height: int, width: int):
        top = np.random.randint(0, height - self.size[0] + 1)
        left = np.random.randint(0, width - self.size[1] + 1)
        return top, left

    def _pad(self, array: np.ndarray) -> np.ndarray:
        pad = [(self.padding, self.padding)] * 2 + \
            [(0, 0)] * (array.ndim - 2)
        return np.pad(array, pad, mode='constant', constant_values=0)

    def transform(self, results: dict) -> dict:
        img = self._pad(results['img'])
        height, width = img.shape[:2]
        if height < self.size[0] or width < self.size[1]:
            raise ValueError(f'RandomCrop{self.size}: padded image is only '
                             f'{height}x{width}; resize it first')
        top, left = self._offset(height, width)
        window = (slice(top, top + self.size[0]),
                  slice(left, left + self.size[1]))
        results['img'] = np.ascontiguousarray(img[window])
        results['img_shape'] = self.size
        if results.get('gt_seg_map') is not None:
            results['gt_seg_map'] = np.ascontiguousarray(
                self._pad(results['gt_seg_map'])[window])
        return results

    def __repr__(self) -> str:
        return f'{type(self).__name__}(size={self.size}, ' \
               f'padding={self.padding})'
