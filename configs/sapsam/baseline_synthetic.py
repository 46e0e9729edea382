# Table 6 "w/o matching" on the synthetic benchmark (tiny CLIP + SDM).
from mmengine.config import read_base

with read_base():
    from ..baseline.clip_sdm_synthetic import *  # noqa: F401,F403
