# Fine-tuning schedule of the lab's retrievers, which start from the
# pretrained tiny CLIP (configs/_base_/lab.py): adam_synthetic.py's rules at
# a lower lr and over fewer epochs.
from mmengine.config import read_base
from mmengine.optim import CosineAnnealingLR, LinearLR

with read_base():
    from .adam_synthetic import *  # noqa: F401,F403

max_epochs = 6
optim_wrapper.optimizer.lr = 2e-4
param_scheduler = [
    dict(type=LinearLR, start_factor=0.1, end_factor=1.0, by_epoch=True,
         begin=0, end=1, convert_to_iter_based=True),
    dict(type=CosineAnnealingLR, T_max=max_epochs - 1, eta_min=0.0,
         by_epoch=True, begin=1, end=max_epochs),
]
train_cfg.update(max_epochs=max_epochs, val_interval=1)
