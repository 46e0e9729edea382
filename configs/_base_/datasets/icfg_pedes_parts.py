# ICFGPEDES with SAP-SAM part annotations (<NAME>_data_final_<N>.json,
# <NAME>_score_dict_<N-1>.json and segs/ in data_root, written by
# tools/data/split_captions.py and tools/data/generate_part_masks.py).
from mmengine.config import read_base

with read_base():
    from .icfg_pedes import *  # noqa: F401,F403
    from .tbpr_part_pipelines import *  # noqa: F401,F403

train_dataloader.dataset.update(part_files=part_files,
                                pipeline=part_train_pipeline)
