# Table 6 "w/o matching" and Table 7 baseline ViT-B/16 (70.42 R@1):
# baseline_cuhk.py (CLIP + SDM, IRRA's augmentation) with the official
# whole-model fp16 and per-epoch schedule (docs/fidelity.md).
from mmengine.config import read_base

from sapsam.models import CLIPRetrieverFP16

with read_base():
    from .._base_.faithful_retriever import *  # noqa: F401,F403
    from .baseline_cuhk import *  # noqa: F401,F403

param_scheduler = faithful_param_scheduler
model.update(type=CLIPRetrieverFP16)
