from .cross_modal_decoder import CrossModalDecoder
from .image_decoding_head import ImageDecodingHead
from .masked_language_head import MaskedLanguageHead

__all__ = ['CrossModalDecoder', 'ImageDecodingHead', 'MaskedLanguageHead']
