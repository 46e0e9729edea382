from .base_phrase_generator import BasePhraseGenerator
from .blip2_phrase_generator import Blip2PhraseGenerator
from .template_phrase_generator import TemplatePhraseGenerator

__all__ = [
    'BasePhraseGenerator', 'Blip2PhraseGenerator', 'TemplatePhraseGenerator'
]
