# Synthetic ATR (sapsam.datasets.synthetic, official layout) at the tiny
# model's 256 input, in small batches without workers: atr_phrase_seg.py's
# pipelines, metrics and selection otherwise; one checkpoint kept.
from mmengine.config import read_base

with read_base():
    from .atr_phrase_seg import *  # noqa: F401,F403

data_root = 'data/synthetic/ATR'
image_size = 256
resize = dict(resize, scale=(image_size, image_size))
train_pipeline = [load_image, load_phrase_mask, resize, pack]
test_pipeline = [load_image, resize, load_phrase_mask, pack]
train_dataloader.dataset.pipeline = train_pipeline
val_dataloader.dataset.pipeline = test_pipeline
test_dataloader.dataset.pipeline = test_pipeline
for loader in (train_dataloader, val_dataloader, test_dataloader):
    loader.update(batch_size=16, num_workers=0)
    loader.pop('persistent_workers')  # no workers
    loader.dataset.data_root = data_root
del loader
default_hooks.logger.update(interval=20)
default_hooks.checkpoint.update(max_keep_ckpts=1)
