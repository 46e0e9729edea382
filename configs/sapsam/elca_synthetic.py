# Synthetic twin of elca_cuhk.py: tiny CLIP, SDM + part-aware MLM + ELCAAlign.
from mmengine.config import read_base

from sapsam.models import ELCAAlign

with read_base():
    from .._base_.default_runtime import *  # noqa: F401,F403
    from .._base_.datasets.synthetic_cuhk_parts import *  # noqa: F401,F403
    from .._base_.models.sapsam_tiny import *  # noqa: F401,F403
    from .._base_.schedules.adam_synthetic import *  # noqa: F401,F403

model['alignment_head'] = dict(type=ELCAAlign, num_heads=2, readout='region')
