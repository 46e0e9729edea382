# Short schedule for tiny models trained from scratch on the synthetic
# benchmark: the official rules on the official parameter names, as in
# adam_60e.py, at a larger lr and milder multipliers.
from mmengine.optim import CosineAnnealingLR, LinearLR, OptimWrapper
from mmengine.runner import EpochBasedTrainLoop
from torch.optim import Adam

from sapsam.engine.optimizers import OrderedRulesOptimWrapperConstructor

max_epochs = 12
optim_wrapper = dict(
    type=OptimWrapper,
    optimizer=dict(type=Adam, lr=5e-4, betas=(0.9, 0.999), eps=1e-8,
                   weight_decay=4e-5),
    constructor=OrderedRulesOptimWrapperConstructor,
    paramwise_cfg=dict(names='official', rules=[
        dict(keys=['cross'], lr_mult=2.0),
        dict(keys=['bias'], lr_mult=1.0, decay_mult=0.0),
        dict(keys=['classifier', 'mlm_head', 'mim_decoder'], lr_mult=2.0),
    ]))
param_scheduler = [
    # Warm-up per iteration: an epoch-wise LinearLR never applies its last
    # step, so the lr would stay below the base lr for the whole run.
    dict(type=LinearLR, start_factor=0.1, end_factor=1.0, by_epoch=True,
         begin=0, end=1, convert_to_iter_based=True),
    dict(type=CosineAnnealingLR, T_max=11, eta_min=0.0, by_epoch=True,
         begin=1, end=12),
]
train_cfg = dict(type=EpochBasedTrainLoop, max_epochs=12, val_interval=2)
