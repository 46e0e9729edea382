from .base_text_segmentor import BaseTextSegmentor
from .image_embedding_cache import ImageEmbeddingCache
from .person_sam import (SAM_ARCHS, PersonSAM, build_sam_modules,
                         sam_arch_settings)

__all__ = ['BaseTextSegmentor', 'ImageEmbeddingCache', 'PersonSAM',
           'SAM_ARCHS', 'build_sam_modules', 'sam_arch_settings']
