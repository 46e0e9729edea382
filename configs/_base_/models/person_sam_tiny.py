# Tiny Person-SAM for CPU runs on the synthetic benchmark: random SAM
# ('tiny' preset, 256 input) and BERT written by
# `python tools/misc/make_tiny_weights.py --out data/synthetic/weights`.
from sapsam.models import (BertTextEncoder, BinaryCELoss, DiceLoss,
                           ImageEmbeddingCache, MCAPrompt, PersonSAM,
                           SAMDataPreprocessor)

image_size = 256
model = dict(
    type=PersonSAM,
    data_preprocessor=dict(type=SAMDataPreprocessor, image_size=image_size),
    sam=dict(arch='tiny', checkpoint='data/synthetic/weights/sam_tiny.pth'),
    # Frozen random BERT features separate the phrases poorly (synthetic MCA:
    # 32.8 vs 39.9 per-sample mIoU after 8 epochs), so the tiny text encoder
    # trains here; the image encoder stays frozen (and cached).
    text_encoder=dict(type=BertTextEncoder,
                      pretrained='data/synthetic/weights/bert_tiny',
                      max_length=16, frozen=False),
    prompt_encoder=dict(type=MCAPrompt, num_heads=4,
                        use_key_padding_mask=True),
    losses=[dict(type=DiceLoss, loss_weight=1.0),
            dict(type=BinaryCELoss, loss_weight=1.0)],
    iou_loss_weight=1.0,
    freeze_image_encoder=True,
    freeze_mask_decoder=False,
    geometry='sam',
    embedding_cache=dict(type=ImageEmbeddingCache))
