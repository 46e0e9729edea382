from .clip_retriever import CLIPRetriever
from .sapsam import SAPSAM

__all__ = ['CLIPRetriever']
__all__ += ['SAPSAM']
