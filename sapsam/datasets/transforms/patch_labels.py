"""Per-patch part labels of a label map."""
import numpy as np
import torch
from mmcv.transforms import BaseTransform

from sapsam.registry import TRANSFORMS


def patch_majority_labels(label_map: np.ndarray,
                          patch_size: int = 16) -> np.ndarray:
    """Majority label of every patch, foreground first (docs/fidelity.md L1).

    A patch takes its most frequent label; if that is background (0) and the
    patch has any foreground pixel, it takes its most frequent non-zero label
    instead. Ties go to the lower label. Patches are in row-major order
    (the ViT token order).

    Args:
        label_map (np.ndarray): ``(H, W)`` integer labels, ``H`` and ``W``
            multiples of ``patch_size``.
        patch_size (int): Defaults to 16.

    Returns:
        np.ndarray: ``(H // patch_size * W // patch_size,)`` int64 labels.
    """
    h, w = label_map.shape
    if h % patch_size or w % patch_size:
        raise ValueError(f'label map {h}x{w} (HxW) is not a multiple of the '
                         f'patch size {patch_size}')
    hp, wp = h // patch_size, w // patch_size
    labels = label_map.astype(np.int64)
    num_labels = int(labels.max()) + 1 if labels.size else 1
    patches = labels.reshape(hp, patch_size, wp, patch_size).transpose(
        0, 2, 1, 3).reshape(hp * wp, -1)
    # Per-patch histogram without a Python loop over patches.
    offsets = np.arange(hp * wp)[:, None] * num_labels
    counts = np.bincount((patches + offsets).ravel(),
                         minlength=hp * wp * num_labels).reshape(
                             hp * wp, num_labels)
    counts[:, 0] = 0
    # argmax returns the first maximum, i.e. the lower label on ties; an
    # all-background patch has only zero counts and gets label 0.
    return counts.argmax(axis=1).astype(np.int64)


@TRANSFORMS.register_module()
class PatchLabels(BaseTransform):
    """``results['patch_labels']``: the part label of every ViT patch.

    Required keys: ``gt_seg_map`` (``(H, W)``, e.g. 384x128).

    Added keys: ``patch_labels`` (LongTensor ``(H/p * W/p,)``, 192 for
    384x128 with p = 16).

    Args:
        patch_size (int): ViT patch size. Defaults to 16.

    Examples:
        >>> seg = np.zeros((384, 128), np.uint8); seg[:16, :16] = 1
        >>> PatchLabels()(dict(gt_seg_map=seg))['patch_labels'][:2]
        tensor([1, 0])
    """

    def __init__(self, patch_size: int = 16) -> None:
        if patch_size < 1:
            raise ValueError(f'patch_size must be >= 1, got {patch_size}')
        self.patch_size = patch_size

    def transform(self, results: dict) -> dict:
        seg = results.get('gt_seg_map')
        if seg is None:
            raise KeyError('PatchLabels needs "gt_seg_map": put '
                           'MergePartMasks (and the resize) before it')
        try:
            labels = patch_majority_labels(seg, self.patch_size)
        except ValueError as err:
            raise ValueError(f'sample {results.get("img_path", "?")!r}: '
                             f'{err}; resize the image before PatchLabels') \
                from err
        results['patch_labels'] = torch.from_numpy(labels)
        return results

    def __repr__(self) -> str:
        return f'{type(self).__name__}(patch_size={self.patch_size})'
