# Supp. Table 4 (linear_after_pe): SDM + image cross-modal decoding on CUHK-PEDES
# (the part MLM and the alignment head off, see the model base).
from mmengine.config import read_base

with read_base():
    from .._base_.default_runtime import *  # noqa: F401,F403
    from .._base_.datasets.cuhk_pedes_parts import *  # noqa: F401,F403
    from .._base_.models.sapsam_imgdec_vitb16 import *  # noqa: F401,F403
    from .._base_.schedules.adam_60e import *  # noqa: F401,F403

model.image_decoding_head.update(variant='linear_after_pe')
