"""sapsam: text-based person retrieval with SAP-SAM on MMEngine."""
from .version import __version__

__all__ = ['__version__']
