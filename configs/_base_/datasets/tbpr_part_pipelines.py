# SAP-SAM training pipeline: part masks merged into a label map that follows
# the image through the augmentation, per-patch part labels, phrase spans in
# the caption and part-aware masked-language targets. Sizes and the shared
# steps come from tbpr.py; `part_files` is where the datasets find the part
# annotations. A config at another size rebuilds `part_train_pipeline` from
# these pieces (synthetic_cuhk_parts.py, sapsam/elca_vitl14_cuhk.py).
from mmengine.config import read_base

from sapsam.datasets.transforms import (FindPhraseSpans, LoadPartMasks,
                                        MergePartMasks, PartAwareMaskTokens,
                                        PatchLabels)

with read_base():
    from .tbpr import (image_size, load_image, mask_prob,  # noqa: F401
                       max_parts, pack, part_mask_prob, patch_size,
                       random_crop, random_erasing, random_flip, resize,
                       tokenize, tokenizer)

part_files = dict(data_final='auto', score_dict='auto', seg_dir='segs')
load_part_masks = dict(type=LoadPartMasks)
merge_part_masks = dict(type=MergePartMasks, max_parts=max_parts)  # by score
patch_labels = dict(type=PatchLabels, patch_size=patch_size)
find_phrase_spans = dict(type=FindPhraseSpans, max_parts=max_parts,
                         max_mismatch=2, tokenizer=tokenizer)
part_masking = dict(type=PartAwareMaskTokens, part_mask_prob=part_mask_prob,
                    mask_prob=mask_prob)
part_load = [load_image, load_part_masks, merge_part_masks]
part_text = [tokenize, find_phrase_spans, part_masking, pack]
# Labels follow the image: nearest-neighbour resize, same flip and crop.
part_train_pipeline = [*part_load, resize, random_flip, random_crop,
                       random_erasing, patch_labels, *part_text]

# ---------------------------------------------------------------------------
# The official recipe (docs/fidelity.md): `--img_aug`, PIL-bicubic resizing of
# image and label map, the running-maximum merge and the two-pass masking
# with spans searched on the pass-1 caption. Faithful configs use
# `faithful_part_train_pipeline` (through ../faithful_retriever.py); the
# ViT-L/14 one rebuilds it from these pieces at its own size.
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
faithful_part_load = [load_image, load_part_masks,
                      dict(merge_part_masks, faithful=True)]  # M1
# R1: image and label map with PIL bicubic, as the official code.
faithful_resize = dict(type=ResizeWithLabels, scale=image_size[::-1],
                       keep_ratio=False, interpolation='bicubic',
                       backend='pillow', seg_interpolation='bicubic')
# Erasing before normalisation (CLIP-mean fill, erased labels 0), after the
# crop that is a no-op without padding.
faithful_crop = dict(random_crop, padding=0)
faithful_part_text = [
    tokenize,
    # Pass 1 aliased into the caption (T1), spans searched on it (T3), then
    # pass 2 (T1, T2, T4).
    dict(type=RandomMaskTokens, mask_prob=mask_prob, alias_text_ids=True,
         faithful=True),
    dict(find_phrase_spans, faithful=True),
    dict(part_masking, faithful=True),
    pack,
]
faithful_part_train_pipeline = [
    *faithful_part_load, faithful_resize, official_img_aug, faithful_crop,
    random_erasing, patch_labels, *faithful_part_text]
