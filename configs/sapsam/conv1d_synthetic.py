# Synthetic twin of conv1d_cuhk.py: tiny CLIP, SDM + part-aware MLM + Conv1DAlign.
from mmengine.config import read_base

from sapsam.models import Conv1DAlign

with read_base():
    from .._base_.default_runtime import *  # noqa: F401,F403
    from .._base_.datasets.synthetic_cuhk_parts import *  # noqa: F401,F403
    from .._base_.models.sapsam_tiny import *  # noqa: F401,F403
    from .._base_.schedules.adam_synthetic import *  # noqa: F401,F403

model['alignment_head'] = dict(type=Conv1DAlign, temperature=0.02)
