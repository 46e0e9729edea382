from .base_text_prompt import BaseTextPrompt
from .cls_prompt import CLSPrompt
from .dense_prompt import DensePrompt
from .dot_prompt import DotPrompt
from .mca_prompt import MCAPrompt

__all__ = ['BaseTextPrompt', 'CLSPrompt', 'DensePrompt', 'DotPrompt',
           'MCAPrompt']
