"""Random erasing of a rectangle (Zhong et al.), as in IRRA."""
import math
from typing import Sequence

import numpy as np
from mmcv.transforms import BaseTransform

from sapsam.registry import TRANSFORMS

#: CLIP mean colour in BGR 0-255 (images from LoadImageFromFile are BGR).
CLIP_MEAN_BGR = (104.08, 116.75, 122.77)


@TRANSFORMS.register_module()
class RandomErasing(BaseTransform):
    """With probability ``prob`` fill a random rectangle with ``fill``.

    The default fill is the CLIP mean colour, so the erased area becomes 0
    after normalisation. (IRRA erases after normalising with the mean
    *values* as fill; the difference is a constant offset of the patch.)
    The same rectangle of ``gt_seg_map`` is set to 0 (background), as
    SAP-SAM does for its part masks.

    Args:
        prob (float): Probability of erasing. Defaults to 0.5.
        scale (tuple): Range of the erased area fraction.
        ratio (tuple): Range of the aspect ratio (h / w).
        fill (sequence): Fill colour, in the image's channel order.
        max_attempts (int): Tries to place a rectangle that fits.
    """

    def __init__(self, prob: float = 0.5, scale=(0.02, 0.4),
                 ratio=(0.3, 3.3), fill: Sequence[float] = CLIP_MEAN_BGR,
                 max_attempts: int = 10) -> None:
        if not 0 <= prob <= 1:
            raise ValueError(f'prob must be in [0, 1], got {prob}')
        self.prob = prob
        self.scale = scale
        self.ratio = ratio
        self.fill = np.asarray(fill, dtype=np.float32)
        self.max_attempts = max_attempts

    def transform(self, results: dict) -> dict:
        if np.random.rand() >= self.prob:
            return results
        img = results['img']
        height, width = img.shape[:2]
        log_ratio = (math.log(self.ratio[0]), math.log(self.ratio[1]))
        for _ in range(self.max_attempts):
            area = height * width * np.random.uniform(*self.scale)
            aspect = math.exp(np.random.uniform(*log_ratio))
            h = int(round(math.sqrt(area * aspect)))
            w = int(round(math.sqrt(area / aspect)))
            if 0 < h < height and 0 < w < width:
                top = np.random.randint(0, height - h + 1)
                left = np.random.randint(0, width - w + 1)
                img = img.copy()
                img[top:top + h, left:left + w] = self.fill.astype(img.dtype)
                results['img'] = img
                if results.get('gt_seg_map') is not None:
                    seg = results['gt_seg_map'].copy()
                    seg[top:top + h, left:left + w] = 0
                    results['gt_seg_map'] = seg
                break
        return results
