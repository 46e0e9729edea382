# CUHKPEDES: official annotation file and images under data_root.
from mmengine.dataset import DefaultSampler
from mmengine.config import read_base

from sapsam.datasets import CUHKPEDES
from sapsam.engine.runners import TextToImageRetrievalLoop
from sapsam.evaluation.metrics import TBPRMetric

with read_base():
    from .tbpr_pipelines import *  # noqa: F401,F403

data_root = 'data/CUHK-PEDES'

train_dataloader = dict(
    batch_size=64, num_workers=8, persistent_workers=True,
    sampler=dict(type=DefaultSampler, shuffle=True),
    dataset=dict(type=CUHKPEDES, data_root=data_root, split='train',
                 pipeline=train_pipeline))

# Model selection on the official val split (peers select on test).
val_dataloader = dict(
    batch_size=512, num_workers=8, persistent_workers=True,
    sampler=dict(type=DefaultSampler, shuffle=False),
    dataset=dict(type=CUHKPEDES, data_root=data_root, split='val',
                 view='captions', pipeline=query_pipeline))
val_cfg = dict(
    type=TextToImageRetrievalLoop,
    gallery_dataloader=dict(
        batch_size=512, num_workers=8, persistent_workers=True,
        sampler=dict(type=DefaultSampler, shuffle=False),
        dataset=dict(type=CUHKPEDES, data_root=data_root, split='val',
                     view='images', pipeline=gallery_pipeline)))
val_evaluator = dict(type=TBPRMetric, topk=(1, 5, 10))

test_dataloader = dict(
    batch_size=512, num_workers=8, persistent_workers=True,
    sampler=dict(type=DefaultSampler, shuffle=False),
    dataset=dict(type=CUHKPEDES, data_root=data_root, split='test',
                 view='captions', pipeline=query_pipeline))
test_cfg = dict(
    type=TextToImageRetrievalLoop,
    gallery_dataloader=dict(
        batch_size=512, num_workers=8, persistent_workers=True,
        sampler=dict(type=DefaultSampler, shuffle=False),
        dataset=dict(type=CUHKPEDES, data_root=data_root, split='test',
                     view='images', pipeline=gallery_pipeline)))
test_evaluator = dict(type=TBPRMetric, topk=(1, 5, 10))
