# Supp. Table 7: SAP-SAM (SDM + part-aware MLM + ELCA) on CLIP ViT-L/14,
# CUHK-PEDES. A 14-pixel patch does not divide 384x128; the ViT would see a
# 27x9 grid and drop the last 6x2 pixels, so the input is 378x126 (the same
# 27x9 grid) and the part labels use 14x14 patches.
from mmcv.transforms import LoadImageFromFile, RandomFlip, Resize
from mmengine.config import read_base

from sapsam.datasets.transforms import (FindPhraseSpans, LoadPartMasks,
                                        MergePartMasks, PackTBPRInputs,
                                        PartAwareMaskTokens, PatchLabels,
                                        RandomCrop, RandomErasing,
                                        TokenizeCaption)

with read_base():
    from .elca_cuhk import *  # noqa: F401,F403

model['backbone'].update(arch='ViT-L/14', image_size=(378, 126),
                         pretrained='checkpoints/clip/ViT-L-14.pt')
train_dataloader['dataset']['pipeline'] = [
    dict(type=LoadImageFromFile),
    dict(type=LoadPartMasks),
    dict(type=MergePartMasks, max_parts=6),
    dict(type=Resize, scale=(126, 378), keep_ratio=False),
    dict(type=RandomFlip, prob=0.5, direction='horizontal'),
    dict(type=RandomCrop, size=(378, 126), padding=10),
    dict(type=RandomErasing, prob=0.5, scale=(0.02, 0.4), ratio=(0.3, 3.3)),
    dict(type=PatchLabels, patch_size=14),
    dict(type=TokenizeCaption,
         tokenizer=dict(type='CLIPTokenizer', context_length=77)),
    dict(type=FindPhraseSpans, max_parts=6, max_mismatch=2),
    dict(type=PartAwareMaskTokens, part_mask_prob=0.35, mask_prob=0.15),
    dict(type=PackTBPRInputs),
]
gallery_pipeline_l14 = [
    dict(type=LoadImageFromFile),
    dict(type=Resize, scale=(126, 378), keep_ratio=False),
    dict(type=PackTBPRInputs),
]
val_cfg['gallery_dataloader']['dataset']['pipeline'] = gallery_pipeline_l14
test_cfg['gallery_dataloader']['dataset']['pipeline'] = gallery_pipeline_l14
