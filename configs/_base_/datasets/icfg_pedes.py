# ICFGPEDES: official annotation file and images under data_root. It has no
# val split: train without validation and keep the last checkpoint (see
# icfg_pedes_holdout.py for a held-out slice of train). Configs import
# default_runtime.py before this file, so the checkpoint policy here wins.
from mmengine.config import read_base

from sapsam.datasets import ICFGPEDES

with read_base():
    from ..default_runtime import default_hooks  # noqa: F401
    from .tbpr import *  # noqa: F401,F403

dataset_type = ICFGPEDES
data_root = 'data/ICFG-PEDES'
for loader in (train_dataloader, test_dataloader, test_cfg.gallery_dataloader):
    loader.dataset.update(type=dataset_type, data_root=data_root)
del loader
val_dataloader = val_cfg = val_evaluator = None
default_hooks.checkpoint.update(save_best=None, max_keep_ckpts=1)
