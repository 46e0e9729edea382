# Stage 4 on the synthetic CUHK-PEDES train images with the tiny Person-SAM
# (configs/person_sam/mca_atr_synthetic.py). Reads the phrases written by
# split_captions_rule_synthetic_cuhk.py.
# python tools/data/generate_part_masks.py \
#     configs/parts/part_masks_synthetic_cuhk.py --checkpoint CKPT
from mmengine.config import read_base

with read_base():
    from .._base_.models.person_sam_tiny import *  # noqa: F401,F403
    from ._base_.part_masks import *  # noqa: F401,F403

dataset_name = 'CUHK-PEDES'
data_root = 'data/synthetic/CUHK-PEDES'
out_dir = 'work_dirs/parts/synthetic/CUHK-PEDES'
# Each image is used by every caption that describes it: keep its
# embedding in memory.
model.embedding_cache = dict(type=ImageEmbeddingCache, max_items=8)
