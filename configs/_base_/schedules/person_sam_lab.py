# Schedule of the lab's Person-SAM (pretrained frozen SAM image encoder and
# frozen all-MiniLM-L6-v2, configs/_base_/lab.py): person_sam_synthetic.py,
# shorter, since only the decoder and the prompt encoder learn.
from mmengine.config import read_base
from mmengine.optim import CosineAnnealingLR, LinearLR

with read_base():
    from .person_sam_synthetic import *  # noqa: F401,F403

max_epochs = 6
param_scheduler = [
    dict(type=LinearLR, start_factor=0.1, end_factor=1.0, by_epoch=True,
         begin=0, end=2),
    dict(type=CosineAnnealingLR, T_max=max_epochs - 1, eta_min=1e-5,
         by_epoch=True, begin=1, end=max_epochs),
]
train_cfg.update(max_epochs=max_epochs, val_interval=1)
