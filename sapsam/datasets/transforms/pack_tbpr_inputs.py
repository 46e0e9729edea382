"""Pack a TBPR sample into ``inputs`` and a :class:`TBPRDataSample`."""
from typing import Sequence

import numpy as np
import torch
from mmcv.transforms import BaseTransform

from sapsam.registry import TRANSFORMS
from sapsam.structures import TBPRDataSample


@TRANSFORMS.register_module()
class PackTBPRInputs(BaseTransform):
    """Pack the image (if any) and the listed fields.

    ``inputs`` is the ``(3, H, W)`` uint8 image tensor, or None for
    caption-only (query) samples.

    Args:
        data_keys (sequence): Keys copied as data fields when present.
        meta_keys (sequence): Keys copied as metainfo when present.
    """

    def __init__(self,
                 data_keys: Sequence[str] = (
                     'pid', 'image_id', 'caption_idx', 'text_ids', 'mlm_ids',
                     'mlm_labels', 'patch_labels', 'part_spans', 'part_num'),
                 meta_keys: Sequence[str] = (
                     'caption', 'img_path', 'ori_shape', 'img_shape',
                     'flip')) -> None:
        self.data_keys = tuple(data_keys)
        self.meta_keys = tuple(meta_keys)

    def transform(self, results: dict) -> dict:
        inputs = None
        if results.get('img') is not None:
            img = results['img']
            if img.ndim == 2:
                img = np.repeat(img[..., None], 3, axis=2)
            inputs = torch.from_numpy(
                np.ascontiguousarray(img.transpose(2, 0, 1)))
        sample = TBPRDataSample()
        for key in self.data_keys:
            if key in results:
                sample.set_field(results[key], key)
        sample.set_metainfo({k: results[k] for k in self.meta_keys
                             if k in results})
        return dict(inputs=inputs, data_samples=sample)

    def __repr__(self) -> str:
        return f'{type(self).__name__}(data_keys={self.data_keys})'
