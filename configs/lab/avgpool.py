# Lab (synthetic benchmark + transferred tiny CLIP):
# sapsam/avgpool_synthetic.py
# fine-tuned from the pretrained weights of configs/_base_/lab.py.
from mmengine.config import read_base

with read_base():
    from ..sapsam.avgpool_synthetic import *  # noqa: F401,F403
    from .._base_.lab import *  # noqa: F401,F403
    from .._base_.schedules.adam_lab import *  # noqa: F401,F403

model.backbone.pretrained = lab_clip_checkpoint
