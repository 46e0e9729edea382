# Tiny Person-SAM for CPU runs on the synthetic benchmark: person_sam_vit_b.py
# with a random SAM ('tiny' preset, 256 input) and BERT written by
# `python tools/misc/make_tiny_weights.py --out data/synthetic/weights`.
from mmengine.config import read_base

from sapsam.models import ImageEmbeddingCache

with read_base():
    from .person_sam_vit_b import *  # noqa: F401,F403

image_size = 256
model.data_preprocessor.image_size = image_size
sam_checkpoint = 'data/synthetic/weights/sam_tiny.pth'
model.image_encoder.update(
    arch='tiny', init_cfg=dict(type='Pretrained', checkpoint=sam_checkpoint))
model.mask_decoder.update(
    arch='tiny', init_cfg=dict(type='Pretrained', checkpoint=sam_checkpoint))
# Frozen random BERT features separate the phrases poorly (synthetic MCA:
# 32.8 vs 39.9 per-sample mIoU after 8 epochs), so the tiny text encoder
# trains here; the image encoder stays frozen (and cached in memory).
model.text_encoder.update(pretrained='data/synthetic/weights/bert_tiny',
                          frozen=False)
model.prompt_encoder.num_heads = 4
model.embedding_cache = dict(type=ImageEmbeddingCache)
