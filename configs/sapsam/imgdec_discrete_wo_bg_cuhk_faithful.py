# Table 4 row 2 (69.77 R@1): imgdec_discrete_wo_bg_cuhk.py with the official
# recipe (docs/fidelity.md): data pipeline and part files, whole-model fp16,
# per-epoch schedule, and the mask drawn with randn < rate (D1).
from mmengine.config import read_base

from sapsam.models import SAPSAMFP16

with read_base():
    from .._base_.faithful_retriever import *  # noqa: F401,F403
    from .imgdec_discrete_wo_bg_cuhk import *  # noqa: F401,F403

train_dataloader['dataset'].update(faithful_part_dataset)
param_scheduler = faithful_param_scheduler
model.update(type=SAPSAMFP16)
model['image_decoding_head'].update(faithful=True)
