# IRRA / SAP-SAM schedule (docs/fidelity.md O1, S1): Adam, lr 1e-5, eps
# 1e-3, wd 4e-5, with the official rules tested on the official parameter
# names (names='official'): `cross` 5x, `bias` 2x without weight decay,
# `classifier`/`mlm_head`/`mim_decoder` 5x, later rules overriding earlier
# ones. 5 warm-up epochs from 0.1x, then cosine to 0 at epoch 60.
from mmengine.optim import CosineAnnealingLR, LinearLR, OptimWrapper
from mmengine.runner import EpochBasedTrainLoop
from torch.optim import Adam

from sapsam.engine.optimizers import OrderedRulesOptimWrapperConstructor

optim_wrapper = dict(
    type=OptimWrapper,
    optimizer=dict(type=Adam, lr=1e-5, betas=(0.9, 0.999), eps=1e-3,
                   weight_decay=4e-5),
    constructor=OrderedRulesOptimWrapperConstructor,
    paramwise_cfg=dict(names='official'))

param_scheduler = [
    # Warm-up per iteration: an epoch-wise LinearLR never applies its last
    # step, so the lr would stay below the base lr for the whole run.
    dict(type=LinearLR, start_factor=0.1, end_factor=1.0, by_epoch=True,
         begin=0, end=5, convert_to_iter_based=True),
    dict(type=CosineAnnealingLR, T_max=55, eta_min=0.0, by_epoch=True,
         begin=5, end=60),
]

train_cfg = dict(type=EpochBasedTrainLoop, max_epochs=60, val_interval=1)
