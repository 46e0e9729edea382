# Official Person-SAM schedule (docs/fidelity.md S2): AdamW lr 1e-4, wd 0.01
# (none on biases), one warm-up epoch at 0.1x, then constant; 20 epochs,
# validated every epoch. (The official double optimizer.step(), P1, is in
# the faithful twins.)
# MMEngine's LinearLR never updates at step `end`: end=2 gives exactly
# 0.1x in epoch 0 and 1x from epoch 1 (end=1 would stay at 0.1x).
from mmengine.optim import LinearLR, OptimWrapper
from mmengine.runner import EpochBasedTrainLoop
from torch.optim import AdamW

optim_wrapper = dict(
    type=OptimWrapper,
    optimizer=dict(type=AdamW, lr=1e-4, betas=(0.9, 0.999), eps=1e-8,
                   weight_decay=0.01),
    paramwise_cfg=dict(custom_keys={'bias': dict(decay_mult=0.0)}))
param_scheduler = [
    dict(type=LinearLR, start_factor=0.1, end_factor=1.0, by_epoch=True,
         begin=0, end=2),
]
train_cfg = dict(type=EpochBasedTrainLoop, max_epochs=20, val_interval=1)
