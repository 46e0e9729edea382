"""torchvision ``transforms.v2`` inside mmcv pipelines, labels moving along."""
from typing import List, Union

import mmcv
import numpy as np
import torch
from mmcv.transforms import BaseTransform
from mmcv.transforms import Resize as MMCVResize
from mmengine.utils import get_object_from_string
from torchvision import tv_tensors
from torchvision.transforms import v2
from torchvision.transforms.v2._auto_augment import _AutoAugmentBase

from sapsam.registry import TRANSFORMS


def build_torchvision_transform(cfg: Union[dict, v2.Transform]
                                ) -> v2.Transform:
    """A ``transforms.v2`` object from ``dict(type=<class or name>, ...)``.

    ``type`` may be the class, its name in ``torchvision.transforms.v2``
    (``'RandomInvert'``) or a full import path (what a dumped config holds).
    """
    if isinstance(cfg, v2.Transform):
        return cfg
    cfg = dict(cfg)
    kind = cfg.pop('type')
    if isinstance(kind, str):
        found = getattr(v2, kind, None) or get_object_from_string(kind)
        if found is None:
            raise KeyError(f'{kind!r} is not a torchvision.transforms.v2 '
                           f'transform')
        kind = found
    if not (isinstance(kind, type) and issubclass(kind, v2.Transform)):
        raise TypeError(f'{kind!r} is not a torchvision.transforms.v2 class')
    return kind(**cfg)


@TRANSFORMS.register_module()
class TorchvisionTransforms(BaseTransform):
    """Apply torchvision v2 transforms to ``img`` and ``gt_seg_map`` jointly.

    The image (HWC, BGR, uint8 from ``LoadImageFromFile``) becomes a
    ``tv_tensors.Image`` in RGB and the label map a ``tv_tensors.Mask``, so
    geometric transforms move the labels with the pixels (always with
    nearest interpolation, fill 0) and photometric ones leave them alone.
    The auto-augment family (``AugMix``, ``RandAugment``, ...) sees the image
    only, as in the official code: its internal shears and rotations leave
    the labels where they are. With ``prob < 1`` the whole list is applied,
    in order, with probability ``prob``, else none (``RandomApply``; the
    official ``--img_aug`` bundle, docs/fidelity.md A1, is this with
    ``prob=0.45``). Randomness comes from torch's generator.

    Required keys: ``img``. Modified keys: ``img``, ``gt_seg_map``
    (optional), ``img_shape``.

    Args:
        transforms (list[dict]): ``transforms.v2`` configs, see
            :func:`build_torchvision_transform`.
        prob (float): Probability of applying the list. Defaults to 1.
        bgr (bool): The pipeline's images are BGR. Defaults to True.
    """

    def __init__(self, transforms: List[dict], prob: float = 1.0,
                 bgr: bool = True) -> None:
        if not 0 <= prob <= 1:
            raise ValueError(f'prob must lie in [0, 1], got {prob}')
        self.transforms = [build_torchvision_transform(t) for t in transforms]
        self.prob = prob
        self.bgr = bgr

    def _apply(self, image, mask):
        if self.prob < 1 and torch.rand(1) >= self.prob:
            return image, mask
        for transform in self.transforms:
            if mask is None or isinstance(transform, _AutoAugmentBase):
                image = transform(image)
            else:
                image, mask = transform(image, mask)
        return image, mask

    def transform(self, results: dict) -> dict:
        img = results['img']
        if img.ndim != 3 or img.dtype != np.uint8:
            raise ValueError(f'{results.get("img_path", "image")}: '
                             f'TorchvisionTransforms expects an HxWx3 uint8 '
                             f'image, got {img.shape} {img.dtype}')
        channels = img[..., ::-1] if self.bgr else img
        image = tv_tensors.Image(torch.from_numpy(
            np.ascontiguousarray(channels.transpose(2, 0, 1))))
        seg = results.get('gt_seg_map')
        mask = None if seg is None else tv_tensors.Mask(
            torch.from_numpy(np.ascontiguousarray(seg)))
        image, mask = self._apply(image, mask)
        if seg is not None:
            results['gt_seg_map'] = mask.numpy().astype(seg.dtype)
        out = image.permute(1, 2, 0).numpy()
        results['img'] = np.ascontiguousarray(out[..., ::-1] if self.bgr
                                              else out)
        results['img_shape'] = results['img'].shape[:2]
        return results

    def __repr__(self) -> str:
        names = ', '.join(type(t).__name__ for t in self.transforms)
        return f'{type(self).__name__}(prob={self.prob}, [{names}])'


@TRANSFORMS.register_module()
class ResizeWithLabels(MMCVResize):
    """mmcv ``Resize`` with a choice of label-map interpolation.

    ``seg_interpolation='nearest'`` (default) keeps labels exact, as mmcv's
    ``Resize`` does. The official code resizes the merged part-label map with
    PIL's default resampling (bicubic, docs/fidelity.md R1), which invents
    labels at boundaries; ``seg_interpolation='bicubic', backend='pillow'``
    reproduces those bytes. All other arguments are mmcv ``Resize``'s.
    """

    def __init__(self, *args, seg_interpolation: str = 'nearest',
                 **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.seg_interpolation = seg_interpolation

    def _resize_seg(self, results: dict) -> None:
        seg = results.get('gt_seg_map')
        if seg is None:
            return
        resize = mmcv.imrescale if self.keep_ratio else mmcv.imresize
        results['gt_seg_map'] = resize(seg, results['scale'],
                                       interpolation=self.seg_interpolation,
                                       backend=self.backend)

    def __repr__(self) -> str:
        return (super().__repr__()[:-1] +
                f', seg_interpolation={self.seg_interpolation!r})')
