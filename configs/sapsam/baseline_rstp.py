# Table 6 "w/o matching" / Table 7 baseline on RSTPReid: CLIP ViT-B/16 + SDM.
from mmengine.config import read_base

with read_base():
    from ..baseline.clip_sdm_rstp import *  # noqa: F401,F403
