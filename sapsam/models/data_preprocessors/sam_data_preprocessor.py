"""SAM input preprocessing: normalise, pad bottom/right to a square canvas."""
from typing import Sequence, Tuple

import mmcv
import numpy as np
import torch
import torch.nn.functional as F
from mmengine.model import BaseDataPreprocessor
from mmengine.structures import PixelData
from segment_anything.utils.transforms import ResizeLongestSide

from sapsam.registry import MODELS

#: SAM's pixel mean/std (ImageNet's, in the 0-255 range).
SAM_MEAN = (123.675, 116.28, 103.53)
SAM_STD = (58.395, 57.12, 57.375)


@MODELS.register_module()
class SAMDataPreprocessor(BaseDataPreprocessor):
    """Batch images the way SAM expects them.

    The pipeline has already resized each image so that its longest side is
    ``image_size`` (``mmcv`` ``Resize(scale=(S, S), keep_ratio=True)``,
    jointly with its ground truth). This step normalises with SAM's mean/std
    and zero-pads bottom/right to ``S x S`` (after normalisation, as SAM
    does). In training the ``gt_sem_seg`` maps are padded the same way with
    ``seg_pad_val`` (ignored by the losses); ``pad_shape`` is recorded.

    Args:
        image_size (int): Side ``S`` of the square input. Defaults to 1024.
        mean (sequence): Per-channel mean, 0-255. Defaults to SAM's.
        std (sequence): Per-channel std, 0-255. Defaults to SAM's.
        bgr_to_rgb (bool): Flip channels (``LoadImageFromFile`` decodes BGR).
            Defaults to True.
        pad_val (float): Value of padded (normalised) pixels. Defaults to 0.
        seg_pad_val (int): Value of padded label pixels. Defaults to 255.
        resize_interpolation (str): Interpolation of :meth:`preprocess_image`
            for raw images; keep it equal to the pipeline's ``Resize``.
            Defaults to ``'bilinear'``.
        resize_backend (str): ``'pillow'`` (SAM's own resize) or ``'cv2'``.
            Defaults to ``'pillow'``.
    """

    def __init__(self,
                 image_size: int = 1024,
                 mean: Sequence[float] = SAM_MEAN,
                 std: Sequence[float] = SAM_STD,
                 bgr_to_rgb: bool = True,
                 pad_val: float = 0.,
                 seg_pad_val: int = 255,
                 resize_interpolation: str = 'bilinear',
                 resize_backend: str = 'pillow') -> None:
        super().__init__()
        self.image_size = int(image_size)
        self.register_buffer('mean', torch.tensor(mean).view(-1, 1, 1), False)
        self.register_buffer('std', torch.tensor(std).view(-1, 1, 1), False)
        self.bgr_to_rgb = bgr_to_rgb
        self.pad_val = pad_val
        self.seg_pad_val = seg_pad_val
        self.resize_interpolation = resize_interpolation
        self.resize_backend = resize_backend

    def _pad(self, tensor: torch.Tensor, value: float) -> torch.Tensor:
        h, w = tensor.shape[-2:]
        return F.pad(tensor, (0, self.image_size - w, 0, self.image_size - h),
                     value=value)

    def normalize_and_pad(self,
                          images: Sequence[torch.Tensor]) -> torch.Tensor:
        """Normalise and pad a list of ``(3, h, w)`` images (channel order as
        decoded) with ``max(h, w) <= S`` into ``(B, 3, S, S)`` float32."""
        batch = []
        for i, img in enumerate(images):
            if img.dim() != 3 or img.shape[0] != 3:
                raise ValueError(f'SAMDataPreprocessor: image {i} must be '
                                 f'(3, H, W), got {tuple(img.shape)}')
            if max(img.shape[-2:]) > self.image_size:
                raise ValueError(
                    f'SAMDataPreprocessor: image {i} is {tuple(img.shape)}, '
                    f'larger than image_size {self.image_size}; resize its '
                    f'longest side to {self.image_size} in the pipeline')
            img = img.float()
            if self.bgr_to_rgb:
                img = img.flip(0)
            img = (img - self.mean) / self.std
            batch.append(self._pad(img, self.pad_val))
        return torch.stack(batch)

    def forward(self, data: dict, training: bool = False) -> dict:
        """
        Args:
            data (dict): ``inputs`` (list of ``(3, h, w)`` uint8 tensors) and
                ``data_samples`` (``SegDataSample`` list, with ``text`` and
                ``img_shape`` in their metainfo).
            training (bool): Also pad ``gt_sem_seg``.

        Returns:
            dict: ``inputs`` ``(B, 3, S, S)`` float32 and ``data_samples``.
        """
        data = self.cast_data(data)
        images = data['inputs']
        if isinstance(images, torch.Tensor):
            images = list(images)
        samples = data.get('data_samples')
        inputs = self.normalize_and_pad(images)
        if samples is not None:
            for img, sample in zip(images, samples):
                sample.set_metainfo(dict(pad_shape=(self.image_size,) * 2))
                if training and 'gt_sem_seg' in sample:
                    gt = sample.gt_sem_seg.data
                    if gt.shape[-2:] != img.shape[-2:]:
                        raise ValueError(
                            f'SAMDataPreprocessor: gt_sem_seg '
                            f'{tuple(gt.shape)} of '
                            f'{sample.metainfo.get("img_path")} does not '
                            f'match its image {tuple(img.shape)}; resize '
                            f'both in the training pipeline')
                    sample.gt_sem_seg = PixelData(
                        data=self._pad(gt, self.seg_pad_val))
        return dict(inputs=inputs, data_samples=samples)

    def preprocess_image(
            self, image: np.ndarray) -> Tuple[torch.Tensor, Tuple[int, int]]:
        """SAM preprocessing of one raw RGB image, for inference.

        Args:
            image (np.ndarray): ``(H, W, 3)`` uint8, RGB.

        Returns:
            tuple: ``(1, 3, S, S)`` float32 on the model's device, and the
            resized ``(h, w)`` before padding.
        """
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise ValueError(f'image must be (H, W, 3) uint8 RGB, got '
                             f'{image.shape} {image.dtype}')
        # SAM's longest-side geometry (equal to mmcv's keep-ratio Resize of
        # the pipeline); the interpolation is the pipeline's.
        h, w = ResizeLongestSide.get_preprocess_shape(*image.shape[:2],
                                                      self.image_size)
        resized = mmcv.imresize(image, (w, h),
                                interpolation=self.resize_interpolation,
                                backend=self.resize_backend)
        tensor = torch.from_numpy(np.ascontiguousarray(
            resized.transpose(2, 0, 1))).to(self.mean.device)
        if self.bgr_to_rgb:  # forward() flips BGR->RGB; the input is RGB
            tensor = tensor.flip(0)
        return self.normalize_and_pad([tensor]), tuple(resized.shape[:2])
