# Stage 3 on the synthetic ICFG-PEDES train captions with the rule splitter.
# Output goes to work_dirs/, next to (not over) the synthetic ground truth.
# python tools/data/split_captions.py \
#     configs/parts/split_captions_rule_synthetic_icfg.py
from mmengine.config import read_base

from sapsam.datasets import ICFGPEDES

with read_base():
    from ._base_.split_captions_rule import *  # noqa: F401,F403

dataset = dict(type=ICFGPEDES, data_root='data/synthetic/ICFG-PEDES',
               split='train', check_images=False)
out_dir = 'work_dirs/parts/synthetic/ICFG-PEDES'
