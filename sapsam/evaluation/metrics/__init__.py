from .per_sample_iou import PerSampleIoU
from .tbpr_metric import TBPRMetric

__all__ = []
__all__ += ['PerSampleIoU']
__all__ += ['TBPRMetric']
