# ATR phrase segmentation (fidelity.md F1, G3): one sample = (image, phrase,
# binary mask of the phrase's part group). SAM geometry: the longest side is
# resized to 1024 with SAM's own (Pillow bilinear) resize, jointly with the
# mask in training; the model pads to 1024x1024. Validation/test masks stay
# at the original resolution (scored there by both metrics).
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

data_root = 'data/ATR'
image_size = 1024
# 'official' = {2}, {3}, {9, 10} masks; 'supplement' = Table 1 merges.
group_table = 'official'

load_image = dict(type=LoadImageFromFile)
load_phrase_mask = dict(type=LoadPhraseMask)
resize = dict(type=Resize, scale=(image_size, image_size), keep_ratio=True,
              backend='pillow', interpolation='bilinear')
pack = dict(type=PackPromptSegInputs)
train_pipeline = [load_image, load_phrase_mask, resize, pack]  # mask resized
test_pipeline = [load_image, resize, load_phrase_mask, pack]  # mask kept

train_dataloader = dict(
    batch_size=6, num_workers=4, persistent_workers=True,
    sampler=dict(type=DefaultSampler, shuffle=True),
    dataset=dict(type=ATRPhraseSegDataset, data_root=data_root,
                 ann_file='atr_item_descriptions_train.json',
                 group_table=group_table, pipeline=train_pipeline))
# Model selection on dev, as the official code does; test on test.
val_dataloader = dict(
    train_dataloader, sampler=dict(type=DefaultSampler, shuffle=False),
    dataset=dict(train_dataloader['dataset'],
                 ann_file='atr_item_descriptions_dev.json',
                 pipeline=test_pipeline))
test_dataloader = dict(
    val_dataloader, dataset=dict(val_dataloader['dataset'],
                                 ann_file='atr_item_descriptions_test.json'))

# mmseg's dataset-level IoU over (background, foreground) and the paper's
# per-sample foreground IoU (per_sample/mIoU).
val_evaluator = [dict(type=IoUMetric, iou_metrics=['mIoU'], prefix='seg'),
                 dict(type=PerSampleIoU)]
test_evaluator = val_evaluator
val_cfg = dict(type=ValLoop)
test_cfg = dict(type=TestLoop)
# The checkpoint with the best per-sample mIoU is kept. Configs import
# default_runtime.py before this file, so this policy wins.
default_hooks.checkpoint.update(save_best='per_sample/mIoU', rule='greater')
