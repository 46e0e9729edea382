# Table 6 row 2 (Conv1D, 53.87 R@1): conv1d_cuhk.py with the official
# recipe (docs/fidelity.md): data pipeline and part files, whole-model fp16,
# per-epoch schedule. The head itself was not released.
from mmengine.config import read_base

from sapsam.models import SAPSAMFP16

with read_base():
    from .._base_.faithful_retriever import *  # noqa: F401,F403
    from .conv1d_cuhk import *  # noqa: F401,F403

train_dataloader['dataset'].update(faithful_part_dataset)
param_scheduler = faithful_param_scheduler
model.update(type=SAPSAMFP16)
