# Lab Person-SAM, cls prompt (supplement Table 5 layout):
# person_sam/cls_atr_synthetic.py
# with the transferred encoders of configs/_base_/lab.py, both frozen.
from mmengine.config import read_base

with read_base():
    from ..person_sam.cls_atr_synthetic import *  # noqa: F401,F403
    from .._base_.lab import *  # noqa: F401,F403
    from .._base_.schedules.person_sam_lab import *  # noqa: F401,F403

model.image_encoder.init_cfg.checkpoint = lab_sam_checkpoint
model.mask_decoder.init_cfg.checkpoint = lab_sam_checkpoint
model.text_encoder.update(pretrained=lab_bert, frozen=True,
                          cache_size=lab_phrase_cache)
