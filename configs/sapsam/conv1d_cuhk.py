# SAP-SAM on CUHK-PEDES: SDM + part-aware MLM + Conv1DAlign + InfoNCE (supp. Table 6).
from mmengine.config import read_base

from sapsam.models import Conv1DAlign

with read_base():
    from .._base_.default_runtime import *  # noqa: F401,F403
    from .._base_.datasets.cuhk_pedes_parts import *  # noqa: F401,F403
    from .._base_.models.sapsam_vitb16 import *  # noqa: F401,F403
    from .._base_.schedules.adam_60e import *  # noqa: F401,F403

model['alignment_head'] = dict(type=Conv1DAlign, temperature=0.02)
