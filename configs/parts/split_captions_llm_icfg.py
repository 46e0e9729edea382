# Stage 3 on the real ICFG-PEDES train captions with a local LLM.
# python tools/data/split_captions.py configs/parts/split_captions_llm_icfg.py
from mmengine.config import read_base

from sapsam.datasets import ICFGPEDES

with read_base():
    from ._base_.split_captions_llm import *  # noqa: F401,F403

dataset = dict(type=ICFGPEDES, data_root='data/ICFG-PEDES', split='train',
               check_images=False)
out_dir = 'data/ICFG-PEDES'
