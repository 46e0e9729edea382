# Stage 3 on the real CUHK-PEDES train captions with a local LLM.
# python tools/data/split_captions.py configs/parts/split_captions_llm_cuhk.py
from mmengine.config import read_base

from sapsam.datasets import CUHKPEDES

with read_base():
    from ._base_.split_captions_llm import *  # noqa: F401,F403

dataset = dict(type=CUHKPEDES, data_root='data/CUHK-PEDES', split='train',
               check_images=False)
out_dir = 'data/CUHK-PEDES'
