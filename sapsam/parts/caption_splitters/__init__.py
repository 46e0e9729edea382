from .base_caption_splitter import BaseCaptionSplitter, SplitResult
from .llm_caption_splitter import LLMCaptionSplitter, parse_phrase_list
from .rule_caption_splitter import RuleCaptionSplitter

__all__ = [
    'BaseCaptionSplitter', 'SplitResult', 'LLMCaptionSplitter',
    'RuleCaptionSplitter', 'parse_phrase_list'
]
