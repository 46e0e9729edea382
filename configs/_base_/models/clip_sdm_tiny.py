# The baseline retriever (clip_sdm_vitb16.py) with a tiny randomly
# initialised CLIP, for the synthetic benchmark on CPU.
from mmengine.config import read_base

from sapsam.models import CLIPBackbone

with read_base():
    from .clip_sdm_vitb16 import *  # noqa: F401,F403

model.backbone = dict(type=CLIPBackbone, arch='tiny', image_size=(192, 64),
                      context_length=77)
