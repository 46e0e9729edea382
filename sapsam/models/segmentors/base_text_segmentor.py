"""Base class of text-promptable segmentors (mmcv-lite safe)."""
from abc import ABCMeta, abstractmethod
from typing import Dict, Optional, Sequence, Union

import torch
import torch.nn.functional as F
from mmengine.model import BaseModel
from mmengine.structures import PixelData

from sapsam.utils.typing_utils import OptConfigType, OptMultiConfig, SampleList


class BaseTextSegmentor(BaseModel, metaclass=ABCMeta):
    """mmseg ``BaseSegmentor``'s API for models prompted by one phrase per
    sample.

    mmseg's own base class cannot be imported with mmcv-lite (it pulls
    ``mmcv.ops``), so this class keeps its method names: ``forward`` routes
    to ``loss`` / ``predict`` / ``_forward``; ``predict`` returns
    ``SegDataSample`` s with ``pred_sem_seg`` ``(1, H, W)`` at ``ori_shape``,
    which is what mmseg's ``IoUMetric`` reads. The phrase of each sample is
    ``data_sample.metainfo['text']``.

    Data flow::

        loss():    extract_feat() -> decode with the phrases -> losses
        predict(): encode_decode() -> postprocess_result()

    Args:
        data_preprocessor (dict, optional): Data preprocessor config.
        init_cfg (dict | list, optional): MMEngine init config.
    """

    #: Logit threshold of the foreground mask.
    mask_threshold: float = 0.0

    def __init__(self, data_preprocessor: OptConfigType = None,
                 init_cfg: OptMultiConfig = None) -> None:
        super().__init__(data_preprocessor=data_preprocessor,
                         init_cfg=init_cfg)

    def forward(self,
                inputs: torch.Tensor,
                data_samples: Optional[SampleList] = None,
                mode: str = 'tensor') -> Union[Dict[str, torch.Tensor],
                                               SampleList, torch.Tensor]:
        """Route to :meth:`loss`, :meth:`predict` or :meth:`_forward`.

        Args:
            inputs (Tensor): ``(B, 3, H, W)`` preprocessed images.
            data_samples (list[SegDataSample]): One per image, with the
                phrase in ``metainfo['text']``.
            mode (str): ``'loss'``, ``'predict'`` or ``'tensor'``.
        """
        if mode == 'loss':
            return self.loss(inputs, data_samples)
        if mode == 'predict':
            return self.predict(inputs, data_samples)
        if mode == 'tensor':
            return self._forward(inputs, data_samples)
        raise RuntimeError(f'Invalid mode "{mode}"; use loss, predict or '
                           f'tensor')

    @staticmethod
    def texts_of(data_samples: SampleList) -> list:
        """The phrase of every sample; errors name the sample's image."""
        if not data_samples:
            raise ValueError('a text-promptable segmentor needs data_samples '
                             'carrying the phrases')
        texts = []
        for i, sample in enumerate(data_samples):
            text = sample.metainfo.get('text')
            if not isinstance(text, str) or not text.strip():
                raise ValueError(
                    f'sample {i} ({sample.metainfo.get("img_path")}) has no '
                    f'phrase: metainfo["text"] = {text!r}')
            texts.append(text)
        return texts

    @abstractmethod
    def extract_feat(self, inputs: torch.Tensor) -> torch.Tensor:
        """Image features of ``(B, 3, H, W)`` inputs."""

    @abstractmethod
    def encode_decode(self, inputs: torch.Tensor,
                      data_samples: SampleList) -> torch.Tensor:
        """Mask logits ``(B, 1, h, w)`` of each image and its phrase."""

    @abstractmethod
    def loss(self, inputs: torch.Tensor,
             data_samples: SampleList) -> Dict[str, torch.Tensor]:
        """Loss dict (keys ``loss_*`` are summed)."""

    @abstractmethod
    def predict(self, inputs: torch.Tensor,
                data_samples: SampleList) -> SampleList:
        """``SegDataSample`` s with ``pred_sem_seg`` at ``ori_shape``."""

    @abstractmethod
    def _forward(self, inputs: torch.Tensor,
                 data_samples: Optional[SampleList] = None) -> torch.Tensor:
        """Raw mask logits, without postprocessing."""

    @staticmethod
    def resize_to_original(logits: torch.Tensor,
                           img_shape: Sequence[int],
                           ori_shape: Sequence[int],
                           pad_shape: Optional[Sequence[int]] = None
                           ) -> torch.Tensor:
        """Map logits back to the original image.

        With ``pad_shape`` (SAM geometry) the logits cover the padded canvas:
        upsample to ``pad_shape``, crop the ``img_shape`` region, resize to
        ``ori_shape`` (SAM's ``postprocess_masks``). Without it the logits
        cover the whole image (stretched geometry) and are resized directly.

        Args:
            logits (Tensor): ``(N, C, h, w)``.
            img_shape (tuple): ``(h, w)`` of the resized image in the canvas.
            ori_shape (tuple): ``(H, W)`` of the original image.
            pad_shape (tuple, optional): ``(S, S)`` of the padded canvas.

        Returns:
            Tensor: ``(N, C, H, W)``.
        """
        if pad_shape is not None:
            logits = F.interpolate(logits, tuple(pad_shape), mode='bilinear',
                                   align_corners=False)
            logits = logits[..., :img_shape[0], :img_shape[1]]
        return F.interpolate(logits, tuple(ori_shape), mode='bilinear',
                             align_corners=False)

    def postprocess_result(self,
                           seg_logits: torch.Tensor,
                           data_samples: SampleList,
                           crop_padding: bool = True) -> SampleList:
        """Write ``seg_logits`` and ``pred_sem_seg`` at ``ori_shape``.

        Args:
            seg_logits (Tensor): ``(B, 1, h, w)`` foreground logits.
            data_samples (list[SegDataSample]): metainfo ``img_shape``,
                ``ori_shape`` and, with ``crop_padding``, ``pad_shape``;
                ``flip``/``flip_direction`` are undone if present.
            crop_padding (bool): The logits cover the padded canvas.

        Returns:
            list[SegDataSample]: the input samples with ``seg_logits``
            ``(1, H, W)`` and ``pred_sem_seg`` ``(1, H, W)`` int64 in {0, 1}.
        """
        for logits, sample in zip(seg_logits, data_samples):
            meta = sample.metainfo
            img_shape = meta.get('img_shape', seg_logits.shape[-2:])
            ori_shape = meta.get('ori_shape', img_shape)
            pad_shape = meta.get('pad_shape', img_shape) \
                if crop_padding else None
            logits = self.resize_to_original(logits[None], img_shape,
                                             ori_shape, pad_shape)[0]
            if meta.get('flip', False):
                direction = meta.get('flip_direction', 'horizontal')
                dims = {'horizontal': (2,), 'vertical': (1,),
                        'diagonal': (1, 2)}[direction]
                logits = logits.flip(dims)
            sample.set_data(dict(
                seg_logits=PixelData(data=logits),
                pred_sem_seg=PixelData(
                    data=(logits > self.mask_threshold).long())))
        return data_samples

