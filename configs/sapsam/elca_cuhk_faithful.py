# The paper's main model with the official code's behaviour where it departs
# from the paper (method.md §8): caption aliasing and boundary-only part
# masking (B1, B3), running-maximum mask merge (B15), the official span
# search, parts keyed and filtered as the official loader does (B10, B11),
# and ELCA read at the image [CLS] query. Everything else as elca_cuhk.py.
from mmcv.transforms import LoadImageFromFile, RandomFlip, Resize
from mmengine.config import read_base

from sapsam.datasets.transforms import (FindPhraseSpans, LoadPartMasks,
                                        MergePartMasks, PackTBPRInputs,
                                        PartAwareMaskTokens, PatchLabels,
                                        RandomCrop, RandomErasing,
                                        TokenizeCaption)
from sapsam.models import ELCAAlign

with read_base():
    from .elca_cuhk import *  # noqa: F401,F403

train_dataloader['dataset']['part_files']['faithful'] = True
train_dataloader['dataset']['pipeline'] = [
    dict(type=LoadImageFromFile),
    dict(type=LoadPartMasks),
    dict(type=MergePartMasks, max_parts=6, faithful=True),
    dict(type=Resize, scale=(128, 384), keep_ratio=False),
    dict(type=RandomFlip, prob=0.5, direction='horizontal'),
    dict(type=RandomCrop, size=(384, 128), padding=10),
    dict(type=RandomErasing, prob=0.5, scale=(0.02, 0.4), ratio=(0.3, 3.3)),
    dict(type=PatchLabels, patch_size=16),
    dict(type=TokenizeCaption,
         tokenizer=dict(type='CLIPTokenizer', context_length=77)),
    dict(type=FindPhraseSpans, max_parts=6, max_mismatch=2, faithful=True),
    dict(type=PartAwareMaskTokens, part_mask_prob=0.35, mask_prob=0.15,
         faithful=True),
    dict(type=PackTBPRInputs),
]
model['alignment_head'] = dict(type=ELCAAlign, num_heads=8, readout='cls')
