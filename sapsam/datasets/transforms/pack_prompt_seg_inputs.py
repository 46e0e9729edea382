"""Pack a phrase-prompted segmentation sample."""
from typing import Sequence

import numpy as np
import torch
from mmcv.transforms import BaseTransform
from mmengine.structures import PixelData
from mmseg.structures import SegDataSample

from sapsam.registry import TRANSFORMS


@TRANSFORMS.register_module()
class PackPromptSegInputs(BaseTransform):
    """Pack an image, its phrase and its binary mask for a text segmentor.

    Added keys: ``inputs`` ``(3, H, W)`` uint8 tensor (channel order as
    decoded) and ``data_samples`` (``SegDataSample``: ``gt_sem_seg``
    ``(1, H, W)`` int64 if ``gt_seg_map`` is present; ``meta_keys`` present
    in the results go to its metainfo, ``text`` included).

    Args:
        meta_keys (sequence[str]): Keys copied into the metainfo.

    Examples:
        >>> out = PackPromptSegInputs()(dict(
        ...     img=np.zeros((4, 6, 3), np.uint8), text='long hair',
        ...     gt_seg_map=np.ones((4, 6), np.uint8)))
        >>> out['inputs'].shape, out['data_samples'].metainfo['text']
        (torch.Size([3, 4, 6]), 'long hair')
    """

    def __init__(self,
                 meta_keys: Sequence[str] = (
                     'img_path', 'seg_map_path', 'ori_shape', 'img_shape',
                     'scale_factor', 'flip', 'flip_direction', 'text',
                     'group_id', 'record')) -> None:
        self.meta_keys = tuple(meta_keys)

    def transform(self, results: dict) -> dict:
        if 'img' not in results:
            raise KeyError(f'{results.get("record", "sample")}: no image to '
                           f'pack')
        img = results['img']
        if img.ndim == 2:
            img = img[..., None]
        inputs = torch.from_numpy(
            np.ascontiguousarray(img.transpose(2, 0, 1)))
        sample = SegDataSample()
        if 'gt_seg_map' in results:
            gt = results['gt_seg_map'].astype(np.int64)
            sample.gt_sem_seg = PixelData(data=torch.from_numpy(gt)[None])
        sample.set_metainfo({key: results[key] for key in self.meta_keys
                             if key in results})
        return dict(inputs=inputs, data_samples=sample)

    def __repr__(self) -> str:
        return f'{type(self).__name__}(meta_keys={self.meta_keys})'
