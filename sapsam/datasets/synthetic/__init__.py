"""Procedural synthetic benchmark written in the official data formats."""
from .attributes import (ATR_CLASSES, GROUP_LABELS, attribute_difference,
                         mutate_identity, sample_identity)
from .captions import compose_caption, describe_part, processed_tokens
from .generator import (DATASETS, benchmark_signatures,
                        generate_synthetic_benchmark, is_generated,
                        pretraining_corpus, read_manifest)
from .renderer import RenderedPedestrian, group_masks, render_pedestrian
from .writers import atr_label_text, part_seg_stem

__all__ = [
    'ATR_CLASSES', 'GROUP_LABELS', 'attribute_difference', 'mutate_identity',
    'sample_identity', 'compose_caption', 'describe_part', 'processed_tokens',
    'DATASETS', 'benchmark_signatures', 'pretraining_corpus',
    'generate_synthetic_benchmark', 'is_generated',
    'read_manifest', 'RenderedPedestrian', 'group_masks', 'render_pedestrian',
    'atr_label_text', 'part_seg_stem'
]
