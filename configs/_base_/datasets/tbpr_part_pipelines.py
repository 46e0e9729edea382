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

# ---------------------------------------------------------------------------
# The official recipe (docs/fidelity.md): `--img_aug`, PIL-bicubic resizing of
# image and label map, the running-maximum merge and the two-pass masking
# with spans searched on the pass-1 caption. Faithful leaves use
# `faithful_part_train_pipeline`; the ViT-L/14 leaf rebuilds it from the
# pieces at its own size.
from torchvision.transforms.v2 import (AugMix, ColorJitter,  # noqa: E402
                                       GaussianBlur, RandomAdjustSharpness,
                                       RandomAffine, RandomAutocontrast,
                                       RandomEqualize, RandomGrayscale,
                                       RandomHorizontalFlip, RandomInvert,
                                       RandomPosterize, RandomRotation)

from sapsam.datasets.transforms import (RandomMaskTokens,  # noqa: E402
                                        ResizeWithLabels,
                                        TorchvisionTransforms)

# `--img_aug` (A1): all twelve, in this order, with probability 0.45.
official_img_aug = dict(
    type=TorchvisionTransforms, prob=0.45, transforms=[
        dict(type=RandomHorizontalFlip, p=0.5),  # image and labels
        dict(type=RandomGrayscale, p=0.5),
        dict(type=ColorJitter, brightness=0.15, hue=0.1),
        dict(type=GaussianBlur, kernel_size=(3, 5), sigma=(0.02, 1.5)),
        dict(type=RandomInvert, p=0.5),
        dict(type=RandomPosterize, bits=3, p=0.5),
        dict(type=RandomAdjustSharpness, sharpness_factor=4, p=0.5),
        dict(type=RandomAutocontrast, p=0.5),
        dict(type=AugMix, severity=3),
        dict(type=RandomRotation, degrees=25),  # labels: nearest, fill 0
        dict(type=RandomAffine, degrees=(5, 15), shear=10),
        dict(type=RandomEqualize, p=0.5),
    ])
faithful_part_load = [
    dict(type=LoadImageFromFile),
    dict(type=LoadPartMasks),
    dict(type=MergePartMasks, max_parts=max_parts, faithful=True),  # M1
]
# Erasing before normalisation (CLIP-mean fill, erased labels 0), after the
# crop that is a no-op without padding.
official_erasing = dict(type=RandomErasing, prob=0.5, scale=(0.02, 0.4),
                        ratio=(0.3, 3.3))
faithful_part_text = [
    dict(type=TokenizeCaption,
         tokenizer=dict(type='CLIPTokenizer', context_length=77)),
    # Pass 1 aliased into the caption (T1), spans searched on it (T3), then
    # pass 2 (T1, T2, T4).
    dict(type=RandomMaskTokens, mask_prob=0.15, alias_text_ids=True,
         faithful=True),
    dict(type=FindPhraseSpans, max_parts=max_parts, max_mismatch=2,
         faithful=True),
    dict(type=PartAwareMaskTokens, part_mask_prob=0.35, mask_prob=0.15,
         faithful=True),
    dict(type=PackTBPRInputs),
]
faithful_part_train_pipeline = [
    *faithful_part_load,
    # R1: image and label map with PIL bicubic, as the official code.
    dict(type=ResizeWithLabels, scale=(128, 384), keep_ratio=False,
         interpolation='bicubic', backend='pillow',
         seg_interpolation='bicubic'),
    official_img_aug,
    dict(type=RandomCrop, size=(384, 128), padding=0),
    official_erasing,
    dict(type=PatchLabels, patch_size=16),
    *faithful_part_text,
]
