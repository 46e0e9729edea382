# Person-SAM (fidelity.md P6-P9): SAM ViT-B (frozen image encoder, trained
# mask decoder) + BERT-base-uncased (frozen, 16 tokens) + the MCA text prompt.
# Weights are read from local paths; nothing is downloaded.
from sapsam.models import (BertTextEncoder, BinaryCELoss, DiceLoss,
                           ImageEmbeddingCache, MCAPrompt, PersonSAM,
                           SAMDataPreprocessor, SAMImageEncoder,
                           SAMMaskDecoder)

image_size = 1024
sam_checkpoint = 'checkpoints/sam/sam_vit_b_01ec64.pth'
model = dict(
    type=PersonSAM,
    data_preprocessor=dict(type=SAMDataPreprocessor, image_size=image_size),
    # SAM's own modules; init_weights() loads them from the SAM checkpoint
    # (and SAM's positional encoding with the mask decoder).
    image_encoder=dict(type=SAMImageEncoder, arch='vit_b',
                       init_cfg=dict(type='Pretrained',
                                     checkpoint=sam_checkpoint)),
    mask_decoder=dict(type=SAMMaskDecoder, arch='vit_b',
                      init_cfg=dict(type='Pretrained',
                                    checkpoint=sam_checkpoint)),
    text_encoder=dict(type=BertTextEncoder,
                      pretrained='checkpoints/bert-base-uncased',
                      max_length=16, frozen=True),
    # Swap for CLSPrompt / DensePrompt / DotPrompt (supplement Table 5).
    # use_key_padding_mask=False reproduces the official MCA (P6).
    prompt_encoder=dict(type=MCAPrompt, num_heads=8,
                        use_key_padding_mask=True),
    # The official run was effectively Dice-only (MONAI < 1.3) and left
    # the IoU head untrained (P2): losses=[dict(type=DiceLoss)],
    # iou_loss_weight=0 reproduces it.
    losses=[dict(type=DiceLoss, loss_weight=1.0),
            dict(type=BinaryCELoss, loss_weight=1.0)],
    iou_loss_weight=1.0,
    freeze_image_encoder=True,
    freeze_mask_decoder=False,
    # 'stretch' reproduces the official GT/prediction geometry (P3).
    geometry='sam',
    # The frozen encoder runs once per image: later epochs read the cache
    # (~2 MiB per image in float16 on disk).
    embedding_cache=dict(type=ImageEmbeddingCache, max_items=256,
                         cache_dir='work_dirs/cache/person_sam_vit_b_1024',
                         store_dtype='float16'))
