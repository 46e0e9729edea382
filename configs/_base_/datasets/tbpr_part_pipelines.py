# SAP-SAM training pipeline (384x128): part masks merged into a label map
# that follows the image through the augmentation, per-patch part labels,
# phrase spans in the caption and part-aware masked-language targets.
from mmcv.transforms import LoadImageFromFile, RandomFlip, Resize

from sapsam.datasets.transforms import (FindPhraseSpans, LoadPartMasks,
                                        MergePartMasks, PackTBPRInputs,
                                        PartAwareMaskTokens, PatchLabels,
                                        RandomCrop, RandomErasing,
                                        TokenizeCaption)

max_parts = 6
part_train_pipeline = [
    dict(type=LoadImageFromFile),
    dict(type=LoadPartMasks),
    dict(type=MergePartMasks, max_parts=max_parts),  # priority by score
    dict(type=Resize, scale=(128, 384), keep_ratio=False),  # labels: nearest
    dict(type=RandomFlip, prob=0.5, direction='horizontal'),
    dict(type=RandomCrop, size=(384, 128), padding=10),
    dict(type=RandomErasing, prob=0.5, scale=(0.02, 0.4), ratio=(0.3, 3.3)),
    dict(type=PatchLabels, patch_size=16),  # 24x8 grid
    dict(type=TokenizeCaption,
         tokenizer=dict(type='CLIPTokenizer', context_length=77)),
    dict(type=FindPhraseSpans, max_parts=max_parts, max_mismatch=2),
    dict(type=PartAwareMaskTokens, part_mask_prob=0.35, mask_prob=0.15),
    dict(type=PackTBPRInputs),
]
