"""sapsam: text-based person retrieval with SAP-SAM on MMEngine."""
from .utils.checkpoint_compat import patch_mmengine_checkpoint_loading
from .version import __version__

# MMEngine 0.10.x cannot read its own checkpoints under torch >= 2.6.
patch_mmengine_checkpoint_loading()

__all__ = ['__version__']
