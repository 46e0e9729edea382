# Stage 4 in the lab with each training image resized to the aspect of
# Person-SAM's training images before it is segmented (the masks are resized
# back): the synthetic ATR train images are 0.594 as wide as high on
# average, the CUHK-PEDES-format ones 0.41.
from mmengine.config import read_base

with read_base():
    from .part_masks_cuhk import *  # noqa: F401,F403

input_aspect = 0.594
