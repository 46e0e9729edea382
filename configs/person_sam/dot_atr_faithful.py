# Table 5 row 3 (f_A^[CLS] . f_I, 58.01 mIoU): dot_atr.py trained with the
# official Person-SAM recipe (docs/fidelity.md P1-P3, S2): two optimizer steps per
# iteration, Dice-only loss, ground truth stretched to 256x256 and scored
# there, one warm-up epoch then a constant lr; batch 6, 20 epochs, no
# augmentation, selection on dev per-sample mIoU (as in dot_atr.py).
from mmengine.config import read_base

with read_base():
    from .._base_.faithful_person_sam import *  # noqa: F401,F403
    from .dot_atr import *  # noqa: F401,F403

model.update(faithful_person_sam_model)
optim_wrapper = faithful_person_sam_optim_wrapper
param_scheduler = faithful_person_sam_param_scheduler
