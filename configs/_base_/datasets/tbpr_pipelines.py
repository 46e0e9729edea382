# Data pipelines of the TBPR datasets at the paper's resolution (384x128).
from mmcv.transforms import LoadImageFromFile, RandomFlip, Resize

from sapsam.datasets.transforms import (PackTBPRInputs, RandomCrop,
                                        RandomErasing, TokenizeCaption)

# IRRA's augmentation: resize, flip, pad 10 + random crop, random erasing.
train_pipeline = [
    dict(type=LoadImageFromFile),
    dict(type=Resize, scale=(128, 384), keep_ratio=False),  # (w, h)
    dict(type=RandomFlip, prob=0.5, direction='horizontal'),
    dict(type=RandomCrop, size=(384, 128), padding=10),
    dict(type=RandomErasing, prob=0.5, scale=(0.02, 0.4), ratio=(0.3, 3.3)),
    dict(type=TokenizeCaption,
         tokenizer=dict(type='CLIPTokenizer', context_length=77)),
    dict(type=PackTBPRInputs),
]
# Gallery images and query captions at test time.
gallery_pipeline = [
    dict(type=LoadImageFromFile),
    dict(type=Resize, scale=(128, 384), keep_ratio=False),
    dict(type=PackTBPRInputs),
]
query_pipeline = [
    dict(type=TokenizeCaption,
         tokenizer=dict(type='CLIPTokenizer', context_length=77)),
    dict(type=PackTBPRInputs),
]
