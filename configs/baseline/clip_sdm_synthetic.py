# Baseline (global features + SDM) with a tiny CLIP on the synthetic
# benchmark: what `make demo` trains first.
from mmengine.config import read_base

with read_base():
    from .._base_.default_runtime import *  # noqa: F401,F403
    from .._base_.datasets.synthetic_cuhk import *  # noqa: F401,F403
    from .._base_.models.clip_sdm_tiny import *  # noqa: F401,F403
    from .._base_.schedules.adam_synthetic import *  # noqa: F401,F403
