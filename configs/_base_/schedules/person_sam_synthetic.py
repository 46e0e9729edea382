# Short schedule for the tiny Person-SAM on the synthetic benchmark (random
# SAM and BERT weights, so a larger lr than person_sam_20e.py): one warm-up
# epoch at 0.1x (LinearLR end=2, see person_sam_20e.py), then cosine.
from mmengine.optim import CosineAnnealingLR, LinearLR, OptimWrapper
from mmengine.runner import EpochBasedTrainLoop
from torch.optim import AdamW

max_epochs = 8
optim_wrapper = dict(
    type=OptimWrapper,
    optimizer=dict(type=AdamW, lr=1e-3, betas=(0.9, 0.999), eps=1e-8,
                   weight_decay=0.01),
    paramwise_cfg=dict(custom_keys={'bias': dict(decay_mult=0.0)}))
param_scheduler = [
    dict(type=LinearLR, start_factor=0.1, end_factor=1.0, by_epoch=True,
         begin=0, end=2),
    dict(type=CosineAnnealingLR, T_max=max_epochs - 1, eta_min=1e-5,
         by_epoch=True, begin=1, end=max_epochs),
]
train_cfg = dict(type=EpochBasedTrainLoop, max_epochs=max_epochs,
                 val_interval=2)
