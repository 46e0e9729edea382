# The synthetic benchmark in CUHK-PEDES format (make demo generates it with
# tools/dataset_converters/generate_synthetic.py), at 192x64 for tiny CPU
# models (patch 8 gives the same 24x8 grid as ViT-B/16 at 384x128).
from mmcv.transforms import LoadImageFromFile, RandomFlip, Resize
from mmengine.dataset import DefaultSampler

from sapsam.datasets import CUHKPEDES
from sapsam.datasets.transforms import (PackTBPRInputs, RandomCrop,
                                        RandomErasing, TokenizeCaption)
from sapsam.engine.runners import TextToImageRetrievalLoop
from sapsam.evaluation.metrics import TBPRMetric

data_root = 'data/synthetic/CUHK-PEDES'
tokenizer = dict(type='CLIPTokenizer', context_length=77)

train_pipeline = [
    dict(type=LoadImageFromFile),
    dict(type=Resize, scale=(64, 192), keep_ratio=False),  # (w, h)
    dict(type=RandomFlip, prob=0.5, direction='horizontal'),
    dict(type=RandomCrop, size=(192, 64), padding=5),
    dict(type=RandomErasing, prob=0.5, scale=(0.02, 0.4), ratio=(0.3, 3.3)),
    dict(type=TokenizeCaption, tokenizer=tokenizer),
    dict(type=PackTBPRInputs),
]
gallery_pipeline = [
    dict(type=LoadImageFromFile),
    dict(type=Resize, scale=(64, 192), keep_ratio=False),
    dict(type=PackTBPRInputs),
]
query_pipeline = [
    dict(type=TokenizeCaption, tokenizer=tokenizer),
    dict(type=PackTBPRInputs),
]

train_dataloader = dict(
    batch_size=32, num_workers=2, persistent_workers=True,
    sampler=dict(type=DefaultSampler, shuffle=True),
    dataset=dict(type=CUHKPEDES, data_root=data_root, split='train',
                 pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=128, num_workers=1, persistent_workers=True,
    sampler=dict(type=DefaultSampler, shuffle=False),
    dataset=dict(type=CUHKPEDES, data_root=data_root, split='val',
                 view='captions', pipeline=query_pipeline))
val_cfg = dict(
    type=TextToImageRetrievalLoop,
    gallery_dataloader=dict(
        batch_size=128, num_workers=1, persistent_workers=True,
        sampler=dict(type=DefaultSampler, shuffle=False),
        dataset=dict(type=CUHKPEDES, data_root=data_root, split='val',
                     view='images', pipeline=gallery_pipeline)))
val_evaluator = dict(type=TBPRMetric, topk=(1, 5, 10))
test_dataloader = dict(
    batch_size=128, num_workers=1, persistent_workers=True,
    sampler=dict(type=DefaultSampler, shuffle=False),
    dataset=dict(type=CUHKPEDES, data_root=data_root, split='test',
                 view='captions', pipeline=query_pipeline))
test_cfg = dict(
    type=TextToImageRetrievalLoop,
    gallery_dataloader=dict(
        batch_size=128, num_workers=1, persistent_workers=True,
        sampler=dict(type=DefaultSampler, shuffle=False),
        dataset=dict(type=CUHKPEDES, data_root=data_root, split='test',
                     view='images', pipeline=gallery_pipeline)))
test_evaluator = dict(type=TBPRMetric, topk=(1, 5, 10))
