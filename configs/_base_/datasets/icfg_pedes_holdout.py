# ICFG-PEDES with model selection on held-out train identities: the last
# 100 train identities leave the train split and form the val split, with
# the val loaders and the best-checkpoint policy of every other dataset.
from mmengine.config import read_base

with read_base():
    from .icfg_pedes import *  # noqa: F401,F403
    from ..default_runtime import default_hooks  # noqa: F401
    from .tbpr import val_cfg, val_dataloader, val_evaluator  # noqa: F401

holdout_ids = 100
train_dataloader.dataset.update(val_from_train=holdout_ids)
for loader in (val_dataloader, val_cfg.gallery_dataloader):
    loader.dataset.update(type=dataset_type, data_root=data_root,
                          val_from_train=holdout_ids)
del loader
