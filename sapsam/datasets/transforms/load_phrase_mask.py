"""Load an ATR label map as the binary mask of one phrase's part group."""
from typing import Optional

import numpy as np
from mmcv.transforms import LoadAnnotations

from sapsam.registry import TRANSFORMS


@TRANSFORMS.register_module()
class LoadPhraseMask(LoadAnnotations):
    """Read ``seg_map_path`` and keep the pixels of ``mask_class_ids``.

    The label map is decoded unchanged (Pillow by default, so palette PNGs
    give their indices) and turned into ``gt_seg_map`` ``(H, W)`` uint8 in
    {0, 1}: 1 where the ATR id is one of the record's group ids. Put it
    after ``Resize`` in test pipelines to score at the original resolution
    (mmseg convention), before it in training pipelines so ``Resize`` moves
    the mask with the image (nearest).

    Required keys: ``seg_map_path``, ``mask_class_ids``; optional
    ``ori_shape`` (checked against the map), ``record`` (named in errors).

    Added keys: ``gt_seg_map``; ``seg_fields`` gains ``'gt_seg_map'``.

    Args:
        imdecode_backend (str): Defaults to ``'pillow'``.
        backend_args (dict, optional): MMEngine file backend arguments.
        num_classes (int): Label ids must be below it (18 ATR classes); a
            larger id (a colour visualisation, another label set) is an
            error naming the file.

    Examples:
        >>> t = LoadPhraseMask()
        >>> out = t(dict(seg_map_path='SegmentationClassAug/a.png',
        ...              mask_class_ids=(9, 10)))
        >>> set(np.unique(out['gt_seg_map'])) <= {0, 1}
        True
    """

    def __init__(self, imdecode_backend: str = 'pillow',
                 backend_args: Optional[dict] = None,
                 num_classes: int = 18) -> None:
        self.num_classes = num_classes
        super().__init__(with_bbox=False, with_label=False, with_seg=True,
                         imdecode_backend=imdecode_backend,
                         backend_args=backend_args)

    def transform(self, results: dict) -> dict:
        where = results.get('record', results.get('seg_map_path'))
        if 'mask_class_ids' not in results:
            raise KeyError(f'{where}: no mask_class_ids to binarise the '
                           f'label map with')
        try:
            self._load_seg_map(results)
        except FileNotFoundError as err:
            raise FileNotFoundError(
                f'{where}: mask PNG not found: {results["seg_map_path"]}'
            ) from err
        except Exception as err:  # noqa: BLE001 (PIL/cv2 raise many types)
            raise ValueError(
                f'{where}: cannot decode label map {results["seg_map_path"]} '
                f'(empty, truncated or not a PNG: {err})') from err
        labels = results['gt_seg_map']
        if labels is None or labels.ndim != 2:
            raise ValueError(
                f'{where}: {results["seg_map_path"]} is not a single-channel '
                f'label map (shape '
                f'{None if labels is None else labels.shape})')
        if labels.size and int(labels.max()) >= self.num_classes:
            raise ValueError(
                f'{where}: label map {results["seg_map_path"]} has id '
                f'{int(labels.max())}; ATR ids are 0..{self.num_classes - 1}')
        ori_shape = results.get('ori_shape')
        if ori_shape is not None and tuple(labels.shape) != tuple(ori_shape):
            raise ValueError(
                f'{where}: label map {results["seg_map_path"]} is '
                f'{labels.shape}, its image is {tuple(ori_shape)}')
        results['gt_seg_map'] = np.isin(
            labels, results['mask_class_ids']).astype(np.uint8)
        seg_fields = results.setdefault('seg_fields', [])
        if 'gt_seg_map' not in seg_fields:
            seg_fields.append('gt_seg_map')
        return results
