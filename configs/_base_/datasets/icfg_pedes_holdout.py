# ICFG-PEDES with model selection on held-out train identities: the last
# 100 train identities leave the train split and form the val split.
from mmengine.config import read_base
from mmengine.dataset import DefaultSampler

from sapsam.datasets import ICFGPEDES
from sapsam.engine.runners import TextToImageRetrievalLoop
from sapsam.evaluation.metrics import TBPRMetric

with read_base():
    from .icfg_pedes import *  # noqa: F401,F403

holdout_ids = 100
train_dataloader['dataset'] = dict(
    type=ICFGPEDES, data_root=data_root, split='train',
    val_from_train=holdout_ids, pipeline=train_pipeline)
val_dataloader = dict(
    batch_size=512, num_workers=8, persistent_workers=True,
    sampler=dict(type=DefaultSampler, shuffle=False),
    dataset=dict(type=ICFGPEDES, data_root=data_root, split='val',
                 view='captions', val_from_train=holdout_ids,
                 pipeline=query_pipeline))
val_cfg = dict(
    type=TextToImageRetrievalLoop,
    gallery_dataloader=dict(
        batch_size=512, num_workers=8, persistent_workers=True,
        sampler=dict(type=DefaultSampler, shuffle=False),
        dataset=dict(type=ICFGPEDES, data_root=data_root, split='val',
                     view='images', val_from_train=holdout_ids,
                     pipeline=gallery_pipeline)))
val_evaluator = dict(type=TBPRMetric, topk=(1, 5, 10))
