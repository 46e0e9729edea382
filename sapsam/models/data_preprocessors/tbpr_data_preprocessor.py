"""Batch images for text-based person retrieval."""
from typing import Optional, Sequence

import torch
from mmengine.model import BaseDataPreprocessor

from sapsam.registry import MODELS

#: OpenAI CLIP normalisation, in the 0-255 range.
CLIP_MEAN = (0.48145466 * 255, 0.4578275 * 255, 0.40821073 * 255)
CLIP_STD = (0.26862954 * 255, 0.26130258 * 255, 0.27577711 * 255)


@MODELS.register_module()
class TBPRDataPreprocessor(BaseDataPreprocessor):
    """Stack, convert and normalise images; move data samples to the device.

    Query batches (captions only) carry no images: their ``inputs`` come out
    as ``None``.

    Args:
        mean (sequence): Per-channel mean in 0-255. Defaults to CLIP's.
        std (sequence): Per-channel std in 0-255. Defaults to CLIP's.
        bgr_to_rgb (bool): Flip the channel order (images decoded by
            ``LoadImageFromFile`` are BGR). Defaults to True.
    """

    def __init__(self, mean: Sequence[float] = CLIP_MEAN,
                 std: Sequence[float] = CLIP_STD,
                 bgr_to_rgb: bool = True) -> None:
        super().__init__()
        self.register_buffer('mean', torch.tensor(mean).view(-1, 1, 1), False)
        self.register_buffer('std', torch.tensor(std).view(-1, 1, 1), False)
        self.bgr_to_rgb = bgr_to_rgb

    def forward(self, data: dict, training: bool = False) -> dict:
        """
        Args:
            data (dict): ``inputs`` (list of ``(3, H, W)`` uint8 tensors, a
                stacked ``(B, 3, H, W)`` tensor, or Nones) and
                ``data_samples``.

        Returns:
            dict: ``inputs`` ``(B, 3, H, W)`` float32 or None, and
            ``data_samples`` on the model's device.
        """
        data = self.cast_data(data)
        images: Optional[torch.Tensor] = data.get('inputs')
        if isinstance(images, (list, tuple)):
            if all(img is None for img in images):
                images = None
            else:
                shapes = {tuple(img.shape) for img in images}
                if len(shapes) != 1:
                    raise ValueError(f'images of one batch differ in shape: '
                                     f'{sorted(shapes)}; resize them in the '
                                     f'pipeline')
                images = torch.stack(list(images))
        if images is not None:
            if self.bgr_to_rgb:
                images = images.flip(1)
            images = (images.float() - self.mean) / self.std
        return dict(inputs=images, data_samples=data.get('data_samples'))
