# The official Person-SAM as released (SAP-SAM s02), for its converted best.pth:
#   python tools/model_converters/person_sam_official_to_sapsam.py best.pth \
#       checkpoints/person_sam_official.pth \
#       --config configs/person_sam/mca_atr_official.py --verify
#   python tools/test.py configs/person_sam/mca_atr_official.py \
#       checkpoints/person_sam_official.pth
# Differences from mca_atr.py, as the official code does them: the MCA prompt
# attends to [PAD] tokens (fidelity P6), ground truth and predictions are
# stretched to the whole image (P3), Dice loss only, IoU head untrained (P2).
from mmengine.config import read_base

from sapsam.models import DiceLoss, MCAPrompt

with read_base():
    from .mca_atr import *  # noqa: F401,F403

model.update(
    prompt_encoder=dict(type=MCAPrompt, num_heads=8,
                        use_key_padding_mask=False),
    geometry='stretch',
    losses=[dict(type=DiceLoss, loss_weight=1.0)],
    iou_loss_weight=0.0)
