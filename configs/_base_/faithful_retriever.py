# The official SAP-SAM retriever recipe as small overrides of the corrected
# configs (docs/fidelity.md). A faithful leaf imports its corrected twin and
# this file, then applies the pieces it needs:
#   train_dataloader['dataset'].update(faithful_part_dataset)
#   param_scheduler = faithful_param_scheduler
#   model.update(type=SAPSAMFP16) ...
from mmengine.config import read_base

from sapsam.engine.optimizers import OfficialWarmupLR

with read_base():
    from .datasets.tbpr_part_pipelines import (  # noqa: F401
        faithful_part_train_pipeline, part_files)

# Retriever data: the official pipeline and part files read as the official
# loader reads them (M2: CUHK seg files keyed by record position, nested
# phrase lists dropped).
faithful_part_dataset = dict(
    pipeline=faithful_part_train_pipeline,
    part_files=dict(part_files, faithful=True))
# S1: per-epoch warm-up 0.1 + 0.9 (e - 1) / 5 over epochs 1-5, then cosine
# to 0 at epoch 60. (Adam eps 1e-3 is in every paper config already.)
faithful_param_scheduler = [
    dict(type=OfficialWarmupLR, warmup=5, warmup_factor=0.1, after='cosine',
         total=60, by_epoch=True)]
