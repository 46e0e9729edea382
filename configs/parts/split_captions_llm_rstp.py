# Stage 3 on the real RSTPReid train captions with a local LLM.
# python tools/data/split_captions.py configs/parts/split_captions_llm_rstp.py
from mmengine.config import read_base

from sapsam.datasets import RSTPReid

with read_base():
    from ._base_.split_captions_llm import *  # noqa: F401,F403

dataset = dict(type=RSTPReid, data_root='data/RSTPReid', split='train',
               check_images=False)
out_dir = 'data/RSTPReid'
