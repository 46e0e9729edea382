# The TBPR pipelines at the paper's resolution (384x128) and the sizes they
# use. They are defined in tbpr.py, next to the loaders that use them (and
# the part pipelines in tbpr_part_pipelines.py); this file keeps the name.
from mmengine.config import read_base

with read_base():
    from .tbpr import (crop_padding, gallery_pipeline, image_size,  # noqa
                       mask_prob, max_parts, part_mask_prob, patch_size,
                       query_pipeline, tokenizer, train_pipeline)
