# Supp. Table 4 (linear_after_vit): SDM + image cross-modal decoding on CUHK-PEDES.
# The supplement reports image decoding alone (combining it with text
# decoding hurt), so the part MLM and the alignment head are off here.
from mmengine.config import read_base

from sapsam.models import ImageDecodingHead

with read_base():
    from .._base_.default_runtime import *  # noqa: F401,F403
    from .._base_.datasets.cuhk_pedes_parts import *  # noqa: F401,F403
    from .._base_.models.sapsam_vitb16 import *  # noqa: F401,F403
    from .._base_.schedules.adam_60e import *  # noqa: F401,F403

model.update(
    mlm_head=None,
    alignment_head=None,
    image_decoding_head=dict(
        type=ImageDecodingHead, variant='linear_after_vit',
        foreground_mask_rate=0.5, background_mask_rate=0.2,
    ),
    mim_loss_weight=1.0)
