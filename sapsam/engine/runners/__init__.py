from .retrieval_loop import TextToImageRetrievalLoop

__all__ = ['TextToImageRetrievalLoop']
