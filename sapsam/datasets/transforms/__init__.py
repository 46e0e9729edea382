from .pack_tbpr_inputs import PackTBPRInputs
from .random_crop import RandomCrop
from .random_erasing import RandomErasing
from .tokenize_caption import TokenizeCaption

__all__ = ['PackTBPRInputs', 'RandomCrop', 'RandomErasing', 'TokenizeCaption']
