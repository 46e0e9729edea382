# Baseline on ICFG-PEDES, selecting the checkpoint on 100 held-out train
# identities instead of keeping the last one.
from mmengine.config import read_base

with read_base():
    from .._base_.default_runtime import *  # noqa: F401,F403
    from .._base_.datasets.icfg_pedes_holdout import *  # noqa: F401,F403
    from .._base_.models.clip_sdm_vitb16 import *  # noqa: F401,F403
    from .._base_.schedules.adam_60e import *  # noqa: F401,F403
