from .base_text_segmentor import BaseTextSegmentor
from .image_embedding_cache import (CachedImageEncoder, ImageEmbeddingCache,
                                    module_fingerprint)
from .person_sam import PersonSAM
from .sam_builder import (SAM_ARCHS, SAMImageEncoder, SAMMaskDecoder,
                          build_sam, build_sam_image_encoder,
                          build_sam_mask_decoder, build_sam_modules,
                          build_sam_prompt_encoder, read_sam_checkpoint,
                          sam_arch_settings)

__all__ = ['BaseTextSegmentor', 'CachedImageEncoder', 'ImageEmbeddingCache',
           'PersonSAM', 'SAMImageEncoder', 'SAMMaskDecoder', 'SAM_ARCHS',
           'build_sam', 'build_sam_image_encoder',
           'build_sam_mask_decoder', 'build_sam_modules',
           'build_sam_prompt_encoder', 'module_fingerprint',
           'read_sam_checkpoint', 'sam_arch_settings']
