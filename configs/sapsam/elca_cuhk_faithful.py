# Table 6 row 4 (ELCA, 73.59 R@1) and Table 7 SAP-SAM ViT-B/16 (75.05):
# elca_cuhk.py with the official recipe (docs/fidelity.md): its data
# pipeline and part files, whole-model fp16, per-epoch schedule, and ELCA
# read at the image [CLS] query.
from mmengine.config import read_base

from sapsam.models import SAPSAMFP16

with read_base():
    from .._base_.faithful_retriever import *  # noqa: F401,F403
    from .elca_cuhk import *  # noqa: F401,F403

train_dataloader['dataset'].update(faithful_part_dataset)
param_scheduler = faithful_param_scheduler
model.update(type=SAPSAMFP16)
model['alignment_head'].update(readout='cls')
