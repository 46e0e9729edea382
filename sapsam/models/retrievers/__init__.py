from .clip_retriever import CLIPRetriever

__all__ = ['CLIPRetriever']
