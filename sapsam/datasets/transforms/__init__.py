from .find_phrase_spans import FindPhraseSpans
from .load_part_masks import LoadPartMasks
from .load_phrase_mask import LoadPhraseMask
from .merge_part_masks import MergePartMasks
from .pack_prompt_seg_inputs import PackPromptSegInputs
from .pack_tbpr_inputs import PackTBPRInputs
from .patch_labels import PatchLabels
from .random_crop import RandomCrop
from .random_erasing import RandomErasing
from .text_masking import PartAwareMaskTokens, RandomMaskTokens
from .tokenize_caption import TokenizeCaption
from .torchvision_transforms import (ResizeWithLabels, TorchvisionTransforms,
                                     build_torchvision_transform)

__all__ = ['PackTBPRInputs', 'RandomCrop', 'RandomErasing', 'TokenizeCaption']
__all__ += ['FindPhraseSpans', 'LoadPartMasks', 'MergePartMasks', 'PatchLabels']
__all__ += ['PartAwareMaskTokens', 'RandomMaskTokens']
__all__ += ['LoadPhraseMask', 'PackPromptSegInputs']
__all__ += ['ResizeWithLabels', 'TorchvisionTransforms',
            'build_torchvision_transform']
