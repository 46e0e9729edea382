# The official Person-SAM recipe (Table 5) as small overrides of the
# corrected configs (docs/fidelity.md). A faithful leaf imports its corrected
# twin and this file, then applies the three pieces.
from torch.optim import AdamW

from sapsam.engine.optimizers import (OfficialWarmupLR,
                                      RepeatedStepOptimWrapper)
from sapsam.models import DiceLoss

# Person-SAM (Table 5): P1 two optimizer steps per iteration, AdamW 1e-4,
# wd 0.01 (biases 0); S2 one warm-up epoch at 0.1, then constant; P2
# Dice-only loss with squared predictions and an untrained IoU head; P3
# ground truth stretched to 256x256 and scored there (logits > 0).
faithful_person_sam_optim_wrapper = dict(
    type=RepeatedStepOptimWrapper, repeats=2,
    optimizer=dict(type=AdamW, lr=1e-4, betas=(0.9, 0.999), eps=1e-8,
                   weight_decay=0.01),
    paramwise_cfg=dict(custom_keys={'bias': dict(decay_mult=0.0)}))
faithful_person_sam_param_scheduler = [
    dict(type=OfficialWarmupLR, warmup=1, warmup_factor=0.1,
         after='constant', by_epoch=True)]
faithful_person_sam_model = dict(
    losses=[dict(type=DiceLoss, squared_pred=True, loss_weight=1.0)],
    iou_loss_weight=0.0, geometry='stretch', score_at_low_res=True)
