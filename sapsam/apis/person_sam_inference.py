"""Inference API of Person-SAM: masks of many phrases on one image.

Stage 4 (``tools/data/generate_part_masks.py``) and the visualizer
(``tools/analysis/visualize_person_sam.py``) segment every phrase of a
record on its image; the image is encoded once and the phrases are decoded
in batches.
"""
from typing import Sequence, Tuple

import numpy as np
import torch

from sapsam.models.text_encoders import check_phrases


@torch.no_grad()
def segment_phrases(model: torch.nn.Module,
                    image: np.ndarray,
                    phrases: Sequence[str],
                    batch_size: int = 32) -> Tuple[np.ndarray, np.ndarray]:
    """Masks of many phrases on one image (the image is encoded once).

    Equal to ``model.predict`` on one sample per phrase, without the data
    pipeline: ``model.data_preprocessor.preprocess_image`` resizes, pads and
    normalises the image; the low-res logits go back to the original size
    with SAM's ``postprocess_masks`` (``geometry='sam'``) or are stretched
    to it (``geometry='stretch'``).

    Args:
        model (PersonSAM): The model; put back in its training mode after.
        image (np.ndarray): ``(H, W, 3)`` uint8 RGB.
        phrases (list[str]): ``N`` non-empty phrases.
        batch_size (int): Phrases decoded together. Defaults to 32.

    Returns:
        tuple: masks ``(N, H, W)`` bool at the original resolution and
        IoU-head scores ``(N,)`` float32.
    """
    check_phrases(phrases, 'segment_phrases')
    if batch_size < 1:
        raise ValueError(f'batch_size must be >= 1, got {batch_size}')
    ori_shape = tuple(image.shape[:2])
    if not phrases:
        return (np.zeros((0, *ori_shape), dtype=bool),
                np.zeros((0, ), dtype=np.float32))
    was_training = model.training
    model.eval()
    try:
        pixels, img_shape = model.data_preprocessor.preprocess_image(image)
        embeddings = model.encode_image(pixels)
        masks, scores = [], []
        for start in range(0, len(phrases), batch_size):
            chunk = list(phrases[start:start + batch_size])
            logits, iou = model.decode(
                embeddings, chunk, torch.zeros(len(chunk), dtype=torch.long))
            canvas = pixels.shape[-2:] if model.geometry == 'sam' else None
            logits = model.resize_to_original(logits, img_shape, ori_shape,
                                              canvas)
            masks.append((logits[:, 0] > model.mask_threshold).cpu())
            scores.append(iou.float().cpu())
    finally:
        model.train(was_training)
    return (torch.cat(masks).numpy(),
            torch.cat(scores).numpy().astype(np.float32))
