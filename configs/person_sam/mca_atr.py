# Person-SAM on ATR with the MCAPrompt: 64 learnable queries cross-attending to
# the phrase tokens (Table 5 row 4, the paper's choice).
# SAM ViT-B + BERT-base-uncased from local paths, 1024 input, AdamW 1e-4,
# 20 epochs, batch 6; validated on dev (per_sample/mIoU = the paper's mIoU).
#   python tools/train.py configs/person_sam/mca_atr.py
#   python tools/test.py configs/person_sam/mca_atr.py CKPT
from mmengine.config import read_base

from sapsam.models import MCAPrompt

with read_base():
    from .._base_.default_runtime import *  # noqa: F401,F403
    from .._base_.datasets.atr_phrase_seg import *  # noqa: F401,F403
    from .._base_.models.person_sam_vit_b import *  # noqa: F401,F403
    from .._base_.schedules.person_sam_20e import *  # noqa: F401,F403

model['prompt_encoder'] = dict(type=MCAPrompt, num_heads=8,
                               use_key_padding_mask=True)
