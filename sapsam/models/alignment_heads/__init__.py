from .avg_pool_align import AvgPoolAlign
from .base_alignment_head import (BaseAlignmentHead, PartMasks,
                                  build_part_masks, gather_masked_tokens,
                                  masked_mean,
                                  sample_phrase_negatives,
                                  sample_region_matched_negatives)
from .base_contrastive_align import BaseContrastiveAlign
from .conv1d_align import Conv1DAlign
from .elca_align import ELCAAlign
from .mhsa_align import MHSAAlign

__all__ = [
    'AvgPoolAlign', 'BaseAlignmentHead', 'BaseContrastiveAlign', 'Conv1DAlign',
    'ELCAAlign', 'MHSAAlign', 'PartMasks', 'build_part_masks',
    'gather_masked_tokens', 'masked_mean',
    'sample_phrase_negatives', 'sample_region_matched_negatives'
]
