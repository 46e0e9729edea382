# elca.py with the official ELCA readout (the [CLS] token of the attended
# image), beside the default region readout that lets the masks shape the
# matching score.
from mmengine.config import read_base

with read_base():
    from .elca import *  # noqa: F401,F403

model.alignment_head.readout = 'cls'
