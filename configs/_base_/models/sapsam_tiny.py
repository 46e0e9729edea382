# SAP-SAM (sapsam_vitb16.py) with a tiny randomly initialised CLIP and one
# narrow decoder layer, for the synthetic benchmark on CPU.
from mmengine.config import read_base

from sapsam.models import CLIPBackbone

with read_base():
    from .sapsam_vitb16 import *  # noqa: F401,F403

model.backbone = dict(type=CLIPBackbone, arch='tiny', image_size=(192, 64),
                      context_length=77)
model.cross_modal_decoder.update(num_heads=2, depth=1)
model.alignment_head.num_heads = 2
