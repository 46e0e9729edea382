# elca.py with region-matched negatives: each region's negative phrase is
# the other identity's phrase whose region overlaps it most (same body
# part, another attribute) instead of a random one.
from mmengine.config import read_base

with read_base():
    from .elca import *  # noqa: F401,F403

model.alignment_head.negatives = 'region_matched'
