"""Inference API: text search over a gallery with a trained retriever."""
from .gallery_index import GalleryIndex, IndexMismatchError
from .person_sam_inference import segment_phrases
from .retrieval_inferencer import TextToImageRetrievalInferencer
from .retriever_inference import (build_gallery_index, default_device,
                                  encode_captions,
                                  gallery_preprocessing, init_retriever,
                                  list_gallery_images, load_gallery_index,
                                  model_identity, search_gallery)

__all__ = [
    'GalleryIndex', 'IndexMismatchError', 'TextToImageRetrievalInferencer',
    'build_gallery_index', 'default_device',
    'encode_captions', 'gallery_preprocessing', 'init_retriever',
    'list_gallery_images', 'load_gallery_index', 'model_identity',
    'search_gallery', 'segment_phrases'
]
