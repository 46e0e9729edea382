# Stage 3 on the synthetic RSTPReid train captions with the rule splitter.
# Output goes to work_dirs/, next to (not over) the synthetic ground truth.
# python tools/data/split_captions.py \
#     configs/parts/split_captions_rule_synthetic_rstp.py
from mmengine.config import read_base

from sapsam.datasets import RSTPReid

with read_base():
    from ._base_.split_captions_rule import *  # noqa: F401,F403

dataset = dict(type=RSTPReid, data_root='data/synthetic/RSTPReid',
               split='train', check_images=False)
out_dir = 'work_dirs/parts/synthetic/RSTPReid'
