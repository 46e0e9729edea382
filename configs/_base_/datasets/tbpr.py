# One text-based person retrieval benchmark (mmseg's dataset-base shape):
# the sizes, the pipelines at the paper's resolution (384x128) and the
# loaders of training, model selection (val) and test. A per-dataset base
# (cuhk_pedes.py, icfg_pedes.py, rstp_reid.py, synthetic_cuhk.py) imports it
# and sets `dataset_type` and `data_root` on every loader's dataset; a config
# at another size sets the sizes and rebuilds the steps that use them (see
# synthetic_cuhk.py and sapsam/*_vitl14_cuhk.py). The part pipelines are in
# tbpr_part_pipelines.py.
from mmcv.transforms import LoadImageFromFile, RandomFlip, Resize
from mmengine.dataset import DefaultSampler

from sapsam.datasets.transforms import (PackTBPRInputs, RandomCrop,
                                        RandomErasing, TokenizeCaption)
from sapsam.engine.runners import TextToImageRetrievalLoop
from sapsam.evaluation.metrics import TBPRMetric

# Sizes of the paper's runs.
image_size = (384, 128)  # (h, w): the backbone input
crop_padding = 10
patch_size = 16  # part labels per ViT-B/16 patch: a 24x8 grid
max_parts = 6  # phrases (part masks) per caption
mask_prob = 0.15  # MLM selection rate outside the phrases
part_mask_prob = 0.35  # MLM selection rate inside the phrases
tokenizer = dict(type='CLIPTokenizer', context_length=77)

# IRRA's augmentation: resize, flip, pad + random crop, random erasing.
load_image = dict(type=LoadImageFromFile)
resize = dict(type=Resize, scale=image_size[::-1], keep_ratio=False)  # (w, h)
random_flip = dict(type=RandomFlip, prob=0.5, direction='horizontal')
random_crop = dict(type=RandomCrop, size=image_size, padding=crop_padding)
random_erasing = dict(type=RandomErasing, prob=0.5, scale=(0.02, 0.4),
                      ratio=(0.3, 3.3))
tokenize = dict(type=TokenizeCaption, tokenizer=tokenizer)
pack = dict(type=PackTBPRInputs)
train_pipeline = [load_image, resize, random_flip, random_crop,
                  random_erasing, tokenize, pack]
# Gallery images and query captions at test time.
gallery_pipeline = [load_image, resize, pack]
query_pipeline = [tokenize, pack]

train_dataloader = dict(
    batch_size=64, num_workers=8, persistent_workers=True,
    sampler=dict(type=DefaultSampler, shuffle=True),
    dataset=dict(split='train', pipeline=train_pipeline))
# Model selection on the official val split (peers select on test): the
# val captions query the val images.
val_dataloader = dict(
    batch_size=512, num_workers=8, persistent_workers=True,
    sampler=dict(type=DefaultSampler, shuffle=False),
    dataset=dict(split='val', view='captions', pipeline=query_pipeline))
val_cfg = dict(type=TextToImageRetrievalLoop, gallery_dataloader=dict(
    val_dataloader,
    dataset=dict(split='val', view='images', pipeline=gallery_pipeline)))
val_evaluator = dict(type=TBPRMetric, topk=(1, 5, 10))
# The test split, evaluated as the val split.
test_dataloader = dict(
    val_dataloader, dataset=dict(val_dataloader['dataset'], split='test'))
test_cfg = dict(val_cfg, gallery_dataloader=dict(
    val_cfg['gallery_dataloader'],
    dataset=dict(val_cfg['gallery_dataloader']['dataset'], split='test')))
test_evaluator = val_evaluator
