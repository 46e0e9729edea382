# Training pipelines that turn the part files into SAP-SAM targets
# (method.md §5.2): label maps merged by score, resized with NEAREST (B5),
# augmented jointly with the image, per-patch labels (majority with
# foreground priority), and phrase spans in the CLIP tokens.
# Import from a SAP-SAM config and give the train dataset
# part_files=dict(data_final='auto', score_dict='auto', seg_dir='segs').
# Part-aware token masking (p' = 0.35 inside phrase spans) follows the span
# search; faithful=True there reproduces B1/B3.
from mmcv.transforms import LoadImageFromFile, RandomFlip, Resize

from sapsam.datasets.transforms import (FindPhraseSpans, LoadPartMasks,
                                        MergePartMasks, PackTBPRInputs,
                                        PartAwareMaskTokens, PatchLabels,
                                        RandomCrop, RandomErasing,
                                        TokenizeCaption)

max_parts = 6
tokenizer = dict(type='CLIPTokenizer', context_length=77)

# 384x128 with 16x16 patches: the 24x8 grid of CLIP ViT-B/16.
part_train_pipeline = [
    dict(type=LoadImageFromFile),
    dict(type=LoadPartMasks),
    # faithful=True: the official running-maximum overlap rule (B15).
    dict(type=MergePartMasks, max_parts=max_parts, faithful=False),
    dict(type=Resize, scale=(128, 384), keep_ratio=False),  # (w, h)
    dict(type=RandomFlip, prob=0.5, direction='horizontal'),
    dict(type=RandomCrop, size=(384, 128), padding=10),
    dict(type=RandomErasing, prob=0.5, scale=(0.02, 0.4), ratio=(0.3, 3.3)),
    dict(type=PatchLabels, patch_size=16),
    dict(type=TokenizeCaption, tokenizer=tokenizer),
    dict(type=FindPhraseSpans, max_parts=max_parts, max_mismatch=2,
         tokenizer=tokenizer),
    dict(type=PartAwareMaskTokens, part_mask_prob=0.35, mask_prob=0.15),
    dict(type=PackTBPRInputs),
]

# The synthetic twin at 192x64 with 8x8 patches: the same 24x8 grid.
part_train_pipeline_synthetic = [
    dict(type=LoadImageFromFile),
    dict(type=LoadPartMasks),
    dict(type=MergePartMasks, max_parts=max_parts, faithful=False),
    dict(type=Resize, scale=(64, 192), keep_ratio=False),
    dict(type=RandomFlip, prob=0.5, direction='horizontal'),
    dict(type=RandomCrop, size=(192, 64), padding=5),
    dict(type=RandomErasing, prob=0.5, scale=(0.02, 0.4), ratio=(0.3, 3.3)),
    dict(type=PatchLabels, patch_size=8),
    dict(type=TokenizeCaption, tokenizer=tokenizer),
    dict(type=FindPhraseSpans, max_parts=max_parts, max_mismatch=2,
         tokenizer=tokenizer),
    dict(type=PartAwareMaskTokens, part_mask_prob=0.35, mask_prob=0.15),
    dict(type=PackTBPRInputs),
]
