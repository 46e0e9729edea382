# Supp. Table 7 baseline: CLIP ViT-L/14 + SDM on CUHK-PEDES, at 378x126
# (the 27x9 patch grid ViT-L/14 sees at 384x128; see elca_vitl14_cuhk.py).
from mmcv.transforms import LoadImageFromFile, RandomFlip, Resize
from mmengine.config import read_base

from sapsam.datasets.transforms import (PackTBPRInputs, RandomCrop,
                                        RandomErasing, TokenizeCaption)

with read_base():
    from ..baseline.clip_sdm_cuhk import *  # noqa: F401,F403

model['backbone'].update(arch='ViT-L/14', image_size=(378, 126),
                         pretrained='checkpoints/clip/ViT-L-14.pt')
train_dataloader['dataset']['pipeline'] = [
    dict(type=LoadImageFromFile),
    dict(type=Resize, scale=(126, 378), keep_ratio=False),
    dict(type=RandomFlip, prob=0.5, direction='horizontal'),
    dict(type=RandomCrop, size=(378, 126), padding=10),
    dict(type=RandomErasing, prob=0.5, scale=(0.02, 0.4), ratio=(0.3, 3.3)),
    dict(type=TokenizeCaption,
         tokenizer=dict(type='CLIPTokenizer', context_length=77)),
    dict(type=PackTBPRInputs),
]
gallery_pipeline_l14 = [
    dict(type=LoadImageFromFile),
    dict(type=Resize, scale=(126, 378), keep_ratio=False),
    dict(type=PackTBPRInputs),
]
val_cfg['gallery_dataloader']['dataset']['pipeline'] = gallery_pipeline_l14
test_cfg['gallery_dataloader']['dataset']['pipeline'] = gallery_pipeline_l14
