# Stage 4 in the lab: part masks for the synthetic CUHK-PEDES train images
# from a Person-SAM trained with configs/lab/person_sam_mca.py.
from mmengine.config import read_base

with read_base():
    from ..parts.part_masks_synthetic_cuhk import *  # noqa: F401,F403
    from .._base_.lab import *  # noqa: F401,F403

model.image_encoder.init_cfg.checkpoint = lab_sam_checkpoint
model.mask_decoder.init_cfg.checkpoint = lab_sam_checkpoint
model.text_encoder.update(pretrained=lab_bert, frozen=True,
                          cache_size=lab_phrase_cache)
