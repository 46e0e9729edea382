# Synthetic twin of mhsa_cuhk.py: tiny CLIP, SDM + part-aware MLM + MHSAAlign.
from mmengine.config import read_base

from sapsam.models import MHSAAlign

with read_base():
    from .._base_.default_runtime import *  # noqa: F401,F403
    from .._base_.datasets.synthetic_cuhk_parts import *  # noqa: F401,F403
    from .._base_.models.sapsam_tiny import *  # noqa: F401,F403
    from .._base_.schedules.adam_synthetic import *  # noqa: F401,F403

model['alignment_head'] = dict(type=MHSAAlign, temperature=0.02)
