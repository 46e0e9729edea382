# Baseline of SAP-SAM's Table 6/7: CLIP ViT-B/16 + SDM on cuhk_pedes.
from mmengine.config import read_base

with read_base():
    from .._base_.default_runtime import *  # noqa: F401,F403
    from .._base_.datasets.cuhk_pedes import *  # noqa: F401,F403
    from .._base_.models.clip_sdm_vitb16 import *  # noqa: F401,F403
    from .._base_.schedules.adam_60e import *  # noqa: F401,F403
