# Synthetic ATR (sapsam.datasets.synthetic, official layout) at the tiny
# model's 256 input. Same pipelines and metrics as atr_phrase_seg.py.
from mmcv.transforms import LoadImageFromFile, Resize
from mmengine.config import read_base
from mmengine.dataset import DefaultSampler
from mmengine.runner import TestLoop, ValLoop
from mmseg.evaluation import IoUMetric

from sapsam.datasets import ATRPhraseSegDataset
from sapsam.datasets.transforms import LoadPhraseMask, PackPromptSegInputs
from sapsam.evaluation.metrics import PerSampleIoU

with read_base():
    from ..default_runtime import default_hooks  # noqa: F401

data_root = 'data/synthetic/ATR'
image_size = 256
group_table = 'official'

train_pipeline = [
    dict(type=LoadImageFromFile),
    dict(type=LoadPhraseMask),
    dict(type=Resize, scale=(image_size, image_size), keep_ratio=True,
         backend='pillow', interpolation='bilinear'),
    dict(type=PackPromptSegInputs),
]
test_pipeline = [
    dict(type=LoadImageFromFile),
    dict(type=Resize, scale=(image_size, image_size), keep_ratio=True,
         backend='pillow', interpolation='bilinear'),
    dict(type=LoadPhraseMask),
    dict(type=PackPromptSegInputs),
]

train_dataloader = dict(
    batch_size=16, num_workers=0,
    sampler=dict(type=DefaultSampler, shuffle=True),
    dataset=dict(type=ATRPhraseSegDataset, data_root=data_root,
                 ann_file='atr_item_descriptions_train.json',
                 group_table=group_table, pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=16, num_workers=0,
    sampler=dict(type=DefaultSampler, shuffle=False),
    dataset=dict(type=ATRPhraseSegDataset, data_root=data_root,
                 ann_file='atr_item_descriptions_dev.json',
                 group_table=group_table, pipeline=test_pipeline))
test_dataloader = dict(
    batch_size=16, num_workers=0,
    sampler=dict(type=DefaultSampler, shuffle=False),
    dataset=dict(type=ATRPhraseSegDataset, data_root=data_root,
                 ann_file='atr_item_descriptions_test.json',
                 group_table=group_table, pipeline=test_pipeline))

val_evaluator = [dict(type=IoUMetric, iou_metrics=['mIoU'], prefix='seg'),
                 dict(type=PerSampleIoU)]
test_evaluator = val_evaluator
val_cfg = dict(type=ValLoop)
test_cfg = dict(type=TestLoop)
# Configs import default_runtime.py before this file, so the checkpoint
# and logging policy here win: best per-sample mIoU, one checkpoint kept.
default_hooks.logger.update(interval=20)
default_hooks.checkpoint.update(save_best='per_sample/mIoU', rule='greater',
                                max_keep_ckpts=1)
