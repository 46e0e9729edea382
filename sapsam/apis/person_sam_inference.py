"""Inference API of Person-SAM: masks of many phrases on one image.

Stage 4 (``tools/data/generate_part_masks.py``) and the visualizer
(``tools/analysis/visualize_person_sam.py``) segment every phrase of a
record on its image; the image is encoded once and the phrases are decoded
in batches.
"""
from typing import Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn.functional as F

from sapsam.models.text_encoders import check_phrases


@torch.no_grad()
def segment_phrases(model: torch.nn.Module,
                    image: np.ndarray,
                    phrases: Sequence[str],
                    batch_size: int = 32,
                    input_aspect: Optional[float] = None
                    ) -> Tuple[np.ndarray, np.ndarray]:
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
        input_aspect (float, optional): Width / height the image is resized
            to (bicubic, height kept) before Person-SAM; the logits are
            resized back (bilinear) before the threshold. The aspect of
            Person-SAM's training images brings a narrower pedestrian to the
            shape it was trained on. None (default) segments the image as
            it is.

    Returns:
        tuple: masks ``(N, H, W)`` bool at the original resolution and
        IoU-head scores ``(N,)`` float32.
    """
    check_phrases(phrases, 'segment_phrases')
    if batch_size < 1:
        raise ValueError(f'batch_size must be >= 1, got {batch_size}')
    if input_aspect is not None and not input_aspect > 0:
        raise ValueError(f'input_aspect must be > 0, got {input_aspect}')
    ori_shape = tuple(image.shape[:2])
    if not phrases:
        return (np.zeros((0, *ori_shape), dtype=bool),
                np.zeros((0, ), dtype=np.float32))
    was_training = model.training
    model.eval()
    try:
        model_input = image if input_aspect is None else resize_to_aspect(
            image, input_aspect)
        input_shape = tuple(model_input.shape[:2])
        pixels, img_shape = model.data_preprocessor.preprocess_image(
            model_input)
        embeddings = model.encode_image(pixels)
        masks, scores = [], []
        for start in range(0, len(phrases), batch_size):
            chunk = list(phrases[start:start + batch_size])
            logits, iou = model.decode(
                embeddings, chunk, torch.zeros(len(chunk), dtype=torch.long))
            canvas = pixels.shape[-2:] if model.geometry == 'sam' else None
            logits = model.resize_to_original(logits, img_shape,
                                              input_shape, canvas)
            if input_shape != ori_shape:
                logits = F.interpolate(logits, ori_shape, mode='bilinear',
                                       align_corners=False)
            masks.append((logits[:, 0] > model.mask_threshold).cpu())
            scores.append(iou.float().cpu())
    finally:
        model.train(was_training)
    return (torch.cat(masks).numpy(),
            torch.cat(scores).numpy().astype(np.float32))


def resize_to_aspect(image: np.ndarray, aspect: float) -> np.ndarray:
    """``(H, W', C)`` image with ``W' = round(H * aspect)`` (at least 1),
    bicubic; the image itself when its width is already ``W'``."""
    import mmcv
    height, width = image.shape[:2]
    target = max(1, round(height * aspect))
    if target == width:
        return image
    return mmcv.imresize(image, (target, height), interpolation='bicubic')
