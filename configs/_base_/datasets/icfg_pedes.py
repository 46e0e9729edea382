# ICFGPEDES: official annotation file and images under data_root.
from mmengine.dataset import DefaultSampler
from mmengine.config import read_base

from sapsam.datasets import ICFGPEDES
from sapsam.engine.runners import TextToImageRetrievalLoop
from sapsam.evaluation.metrics import TBPRMetric

with read_base():
    from .tbpr_pipelines import *  # noqa: F401,F403

data_root = 'data/ICFG-PEDES'

train_dataloader = dict(
    batch_size=64, num_workers=8, persistent_workers=True,
    sampler=dict(type=DefaultSampler, shuffle=True),
    dataset=dict(type=ICFGPEDES, data_root=data_root, split='train',
                 pipeline=train_pipeline))

# ICFG-PEDES has no val split: train without validation and keep the last
# checkpoint (see icfg_pedes_holdout.py for a held-out slice of train).
val_dataloader = None
val_cfg = None
val_evaluator = None

test_dataloader = dict(
    batch_size=512, num_workers=8, persistent_workers=True,
    sampler=dict(type=DefaultSampler, shuffle=False),
    dataset=dict(type=ICFGPEDES, data_root=data_root, split='test',
                 view='captions', pipeline=query_pipeline))
test_cfg = dict(
    type=TextToImageRetrievalLoop,
    gallery_dataloader=dict(
        batch_size=512, num_workers=8, persistent_workers=True,
        sampler=dict(type=DefaultSampler, shuffle=False),
        dataset=dict(type=ICFGPEDES, data_root=data_root, split='test',
                     view='images', pipeline=gallery_pipeline)))
test_evaluator = dict(type=TBPRMetric, topk=(1, 5, 10))
