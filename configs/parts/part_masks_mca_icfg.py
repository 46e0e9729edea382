# Stage 4 on the real ICFG-PEDES train images with the trained Person-SAM
# (SAM ViT-B + BERT + MCA prompt, configs/_base_/models/person_sam_vit_b.py).
# python tools/data/generate_part_masks.py \
#     configs/parts/part_masks_mca_icfg.py --checkpoint CKPT
# Several GPUs: tools/data/generate_part_masks.py ... --shard i/n per
# process, or torchrun ... --launcher pytorch.
from mmengine.config import read_base

with read_base():
    from .._base_.models.person_sam_vit_b import *  # noqa: F401,F403
    from ._base_.part_masks import *  # noqa: F401,F403

dataset_name = 'ICFG-PEDES'
data_root = 'data/ICFG-PEDES'
out_dir = 'data/ICFG-PEDES'
device = 'cuda'
model.embedding_cache = dict(type=ImageEmbeddingCache, max_items=8)
