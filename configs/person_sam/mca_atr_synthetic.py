# Synthetic twin of mca_atr.py: tiny random SAM/BERT (make_tiny_weights.py)
# on the synthetic ATR, trains on CPU in minutes.
#   python tools/misc/make_tiny_weights.py --out data/synthetic/weights
#   python tools/train.py configs/person_sam/mca_atr_synthetic.py
from mmengine.config import read_base

from sapsam.models import MCAPrompt

with read_base():
    from .._base_.default_runtime import *  # noqa: F401,F403
    from .._base_.datasets.atr_phrase_seg_synthetic import *  # noqa: F401,F403
    from .._base_.models.person_sam_tiny import *  # noqa: F401,F403
    from .._base_.schedules.person_sam_synthetic import *  # noqa: F401,F403

model['prompt_encoder'] = dict(type=MCAPrompt, num_heads=4,
                               use_key_padding_mask=True)
