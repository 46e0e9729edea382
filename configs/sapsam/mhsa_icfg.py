# SAP-SAM on ICFG-PEDES: SDM + part-aware MLM + MHSAAlign + InfoNCE (supp. Table 6).
from mmengine.config import read_base

from sapsam.models import MHSAAlign

with read_base():
    from .._base_.default_runtime import *  # noqa: F401,F403
    from .._base_.datasets.icfg_pedes_parts import *  # noqa: F401,F403
    from .._base_.models.sapsam_vitb16 import *  # noqa: F401,F403
    from .._base_.schedules.adam_60e import *  # noqa: F401,F403

model['alignment_head'] = dict(type=MHSAAlign, temperature=0.02)
