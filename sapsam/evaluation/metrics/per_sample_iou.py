"""Foreground IoU averaged over samples (the Person-SAM paper's mIoU)."""
from collections import defaultdict
from typing import Dict, List, Optional, Sequence

import numpy as np
from mmengine.evaluator import BaseMetric

from sapsam.registry import METRICS


@METRICS.register_module()
class PerSampleIoU(BaseMetric):
    """Mean over samples of each sample's binary foreground IoU.

    This is the number the official Person-SAM reports as "mIoU" (docs/fidelity.md
    §2.4): ``IoU = |pred & gt| / (|pred | gt| + 1e-10)`` per sample, then a
    plain mean, so a sample with an empty mask and an empty prediction
    scores 0, as in the official code. It differs from mmseg's
    ``IoUMetric``, which sums intersections and unions over the data set and
    averages over the background and foreground classes. Pixels equal to
    ``ignore_index`` are left out. Predictions and ground truths are compared
    at the resolution they come in (``ori_shape`` for :class:`PersonSAM`).

    Results (percent): ``mIoU`` and, when the samples carry ``group_id`` in
    their metainfo, ``IoU_<group>`` per group (named by the dataset's
    ``group_names`` metainfo when present).

    Args:
        ignore_index (int): Ground-truth value to ignore. Defaults to 255.
        per_group (bool): Also report per-group means. Defaults to True.
        collect_device (str): ``'cpu'`` or ``'gpu'``.
        prefix (str, optional): Defaults to ``'per_sample'``.

    Examples:
        >>> from mmengine.evaluator import Evaluator
        >>> evaluator = Evaluator(dict(type='PerSampleIoU'))
        >>> # evaluator.process(data_samples=[seg_data_sample, ...])
        >>> # evaluator.evaluate(n) -> {'per_sample/mIoU': ...}
    """

    default_prefix: Optional[str] = 'per_sample'

    def __init__(self, ignore_index: int = 255, per_group: bool = True,
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        self.ignore_index = ignore_index
        self.per_group = per_group

    def process(self, data_batch, data_samples: Sequence[dict]) -> None:
        for sample in data_samples:
            pred = sample['pred_sem_seg']['data'].squeeze().cpu().numpy()
            gt = sample['gt_sem_seg']['data'].squeeze().cpu().numpy()
            if pred.shape != gt.shape:
                raise ValueError(
                    f'{sample.get("img_path")}: prediction {pred.shape} and '
                    f'ground truth {gt.shape} differ in size')
            valid = gt != self.ignore_index
            pred = (pred == 1) & valid
            gt = (gt == 1) & valid
            inter = np.logical_and(pred, gt).sum()
            union = np.logical_or(pred, gt).sum()
            self.results.append((float(inter / (union + 1e-10)),
                                 sample.get('group_id')))

    def compute_metrics(self, results: List[tuple]) -> Dict[str, float]:
        ious = np.array([iou for iou, _ in results], dtype=np.float64)
        metrics = {'mIoU': round(float(ious.mean()) * 100, 2)
                   if len(ious) else float('nan')}
        if self.per_group:
            names = (self.dataset_meta or {}).get('group_names', {})
            groups: Dict[str, List[float]] = defaultdict(list)
            for iou, group in results:
                if group is not None:
                    groups[str(group)].append(iou)
            for group in sorted(groups, key=lambda g: (len(g), g)):
                name = names.get(group, group)
                metrics[f'IoU_{name}'] = round(
                    float(np.mean(groups[group])) * 100, 2)
        return metrics
