# CUHKPEDES: official annotation file and images under data_root.
from mmengine.config import read_base

from sapsam.datasets import CUHKPEDES

with read_base():
    from .tbpr import *  # noqa: F401,F403

dataset_type = CUHKPEDES
data_root = 'data/CUHK-PEDES'
for loader in (train_dataloader, val_dataloader, val_cfg.gallery_dataloader,
               test_dataloader, test_cfg.gallery_dataloader):
    loader.dataset.update(type=dataset_type, data_root=data_root)
del loader
