# The synthetic benchmark in CUHK-PEDES format (make demo generates it with
# tools/dataset_converters/generate_synthetic.py), at 192x64 for tiny CPU
# models (patch 8 gives the same 24x8 grid as ViT-B/16 at 384x128), with
# smaller batches and workers. Configs import default_runtime.py before this
# file, so the logging interval here wins.
from mmengine.config import read_base

from sapsam.datasets import CUHKPEDES

with read_base():
    from ..default_runtime import default_hooks  # noqa: F401
    from .tbpr import *  # noqa: F401,F403

dataset_type = CUHKPEDES
data_root = 'data/synthetic/CUHK-PEDES'
image_size = (192, 64)  # (h, w)
crop_padding = 5
patch_size = 8
resize = dict(resize, scale=image_size[::-1])
random_crop = dict(random_crop, size=image_size, padding=crop_padding)
train_pipeline = [load_image, resize, random_flip, random_crop,
                  random_erasing, tokenize, pack]
gallery_pipeline = [load_image, resize, pack]

train_dataloader.update(batch_size=32, num_workers=2)
train_dataloader.dataset.update(type=dataset_type, data_root=data_root,
                                pipeline=train_pipeline)
for loader in (val_dataloader, test_dataloader):
    loader.update(batch_size=128, num_workers=1)
    loader.dataset.update(type=dataset_type, data_root=data_root)
for loader in (val_cfg.gallery_dataloader, test_cfg.gallery_dataloader):
    loader.update(batch_size=128, num_workers=1)
    loader.dataset.update(type=dataset_type, data_root=data_root,
                          pipeline=gallery_pipeline)
del loader
default_hooks.logger.update(interval=10)
