"""Person-SAM: SAM prompted by a phrase (SAP-SAM stage s02)."""
from typing import Dict, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.structures import PixelData
from segment_anything.modeling import Sam

from sapsam.registry import MODELS, TASK_UTILS
from sapsam.utils.typing_utils import (ConfigType, OptConfigType,
                                       OptMultiConfig, SampleList)
from .base_text_segmentor import BaseTextSegmentor
from .image_embedding_cache import CachedImageEncoder
from .sam_builder import (build_sam_pe_layer, image_embedding_size,
                          load_sam_part, read_sam_checkpoint)


@MODELS.register_module()
class PersonSAM(BaseTextSegmentor):
    """Text-promptable SAM: segment the region a phrase describes.

    Composed like ``segment_anything``'s ``Sam(image_encoder, prompt_encoder,
    mask_decoder)``: four config slots, the image encoder and mask decoder
    being SAM's own modules (:class:`SAMImageEncoder`,
    :class:`SAMMaskDecoder`; single-mask output) with their pretrained
    weights in ``init_cfg``, plus SAM's random-Fourier positional encoding.
    SAM's point/box/mask prompt encoder is replaced by a text path: a BERT
    phrase encoder and a prompt encoder from :data:`MODELS` (``CLSPrompt``,
    ``DensePrompt``, ``DotPrompt``, ``MCAPrompt``; supplement Table 5) that
    turns token features into the decoder's sparse and dense prompts.

    Data flow::

        pixels (B,3,S,S) -> image_encoder (cached) -> E (B,C,S/16,S/16)
        phrases -> text_encoder -> (B,L,Ct) -> prompt_encoder -> sparse, dense
        mask_decoder(E, pe, sparse, dense) -> logits (B,1,S/4,S/4), iou (B,)

    Geometry (docs/fidelity.md P3). ``'sam'`` (default): the low-res logits
    cover the padded ``S x S`` canvas; training upsamples them to ``S x S``
    and scores them against the equally resized-and-padded ground truth
    (padding ignored); prediction upsamples, crops the image region and
    resizes to the original size (SAM's ``postprocess_masks``). ``'stretch'``
    reproduces the official code: the image is still padded, but the ground
    truth is the whole image stretched to the low-res size and predictions
    are stretched back to the original size.

    Weights. ``init_weights()`` (the runner calls it before training) loads
    each SAM part from its ``init_cfg``; SAM's positional encoding and
    ``no_mask_embed`` (which SAM keeps in its prompt encoder) are read from
    the mask decoder's checkpoint. Building the model loads nothing but the
    BERT weights; a trained Person-SAM checkpoint holds every weight.

    Args:
        image_encoder (dict): ``SAMImageEncoder`` config: ``arch`` (a preset
            name, ``'vit_b'``, ``'vit_l'``, ``'vit_h'``, ``'tiny'``, or a dict
            with ``arch`` and overrides, see :func:`sam_arch_settings`) and
            ``init_cfg=dict(type='Pretrained', checkpoint=PATH)``, PATH a SAM
            state dict in the official ``sam_vit_b_01ec64.pth`` format.
        mask_decoder (dict): ``SAMMaskDecoder`` config, likewise; its
            ``arch`` must have the image encoder's ``prompt_dim``.
        text_encoder (dict): Phrase encoder config (``BertTextEncoder``).
        prompt_encoder (dict): Prompt encoder config (:data:`MODELS`);
            ``text_dim``, ``embed_dim`` and ``image_embedding_size`` default
            to the text encoder's and SAM's sizes.
        losses (list[dict]): Mask losses (``DiceLoss``, ``BinaryCELoss``),
            each called as ``loss(logits, target, valid)``.
        iou_loss_weight (float): Weight of an MSE loss that trains the IoU
            head to predict the IoU of the thresholded mask (SAM's recipe).
            The official model leaves the head untrained (fidelity P2): 0, which
            also freezes the head. Defaults to 0.
        freeze_image_encoder (bool): Defaults to True.
        freeze_mask_decoder (bool): Defaults to False.
        geometry (str): ``'sam'`` or ``'stretch'``. Defaults to ``'sam'``.
        score_at_low_res (bool): ``predict`` keeps the low-res prediction
            (``S/4``, 256 for SAM) and stretches the ground truth to it, the
            official evaluation (per-sample IoU of ``logits > 0`` at 256x256,
            docs/fidelity.md P3; needs ``geometry='stretch'``). Defaults to
            False (predictions at ``ori_shape``).
        embedding_cache (dict, optional): ``ImageEmbeddingCache`` config;
            needs a frozen image encoder, which is then called through a
            ``CachedImageEncoder``. Defaults to None.
        data_preprocessor (dict, optional): Defaults to a
            ``SAMDataPreprocessor`` with the encoder's image size.
        init_cfg (dict | list, optional): MMEngine init config.
    """

    def __init__(self,
                 image_encoder: ConfigType = dict(type='SAMImageEncoder'),
                 mask_decoder: ConfigType = dict(type='SAMMaskDecoder'),
                 text_encoder: ConfigType = dict(type='BertTextEncoder'),
                 prompt_encoder: ConfigType = dict(type='MCAPrompt'),
                 losses: Sequence[ConfigType] = (dict(type='DiceLoss'), ),
                 iou_loss_weight: float = 0.0,
                 freeze_image_encoder: bool = True,
                 freeze_mask_decoder: bool = False,
                 geometry: str = 'sam',
                 score_at_low_res: bool = False,
                 embedding_cache: OptConfigType = None,
                 data_preprocessor: OptConfigType = None,
                 init_cfg: OptMultiConfig = None) -> None:
        image_encoder = MODELS.build(image_encoder)
        mask_decoder = MODELS.build(mask_decoder)
        settings = image_encoder.arch_settings
        if mask_decoder.transformer_dim != settings['prompt_dim']:
            raise ValueError(
                f'mask_decoder width {mask_decoder.transformer_dim} differs '
                f'from the image encoder output width '
                f"{settings['prompt_dim']} (SAM arch prompt_dim)")
        image_size = settings['image_size']
        if data_preprocessor is None:
            data_preprocessor = dict(type='SAMDataPreprocessor',
                                     image_size=image_size)
        if isinstance(data_preprocessor, dict):
            # Build from sapsam's registry: BaseModel would use MMEngine's
            # root registry, which misses it outside the sapsam scope.
            data_preprocessor = MODELS.build(data_preprocessor)
        super().__init__(data_preprocessor=data_preprocessor,
                         init_cfg=init_cfg)
        if geometry not in ('sam', 'stretch'):
            raise ValueError(f"geometry must be 'sam' or 'stretch', got "
                             f'{geometry!r}')
        preprocessor_size = getattr(self.data_preprocessor, 'image_size',
                                    image_size)
        if preprocessor_size != image_size:
            raise ValueError(
                f'data_preprocessor.image_size {preprocessor_size} differs '
                f'from the SAM image size {image_size}')
        if score_at_low_res and geometry != 'stretch':
            raise ValueError("score_at_low_res needs geometry='stretch'")
        self.geometry = geometry
        self.score_at_low_res = score_at_low_res
        self.iou_loss_weight = iou_loss_weight
        #: The image encoder's SAM size settings (:func:`sam_arch_settings`).
        self.sam_settings = settings
        self.image_encoder = image_encoder
        self.pe_layer = build_sam_pe_layer(settings)
        self.mask_decoder = mask_decoder
        self.image_embedding_size = image_embedding_size(self.sam_settings)
        self.text_encoder = MODELS.build(text_encoder)
        self.prompt_encoder = MODELS.build(
            prompt_encoder,
            default_args=dict(
                text_dim=self.text_encoder.hidden_size,
                embed_dim=self.sam_settings['prompt_dim'],
                image_embedding_size=self.image_embedding_size))
        self.losses = nn.ModuleList(MODELS.build(cfg) for cfg in losses)
        if not self.losses and iou_loss_weight <= 0:
            raise ValueError('PersonSAM needs at least one loss')

        self.freeze_image_encoder = freeze_image_encoder
        self.freeze_mask_decoder = freeze_mask_decoder
        if freeze_image_encoder:
            self.image_encoder.requires_grad_(False)
        if freeze_mask_decoder:
            self.mask_decoder.requires_grad_(False)
        elif iou_loss_weight <= 0:
            # Nothing trains the IoU head then (as in the official code);
            # freezing it keeps DDP from waiting for its gradients.
            self.mask_decoder.iou_prediction_head.requires_grad_(False)

        self.embedding_cache = None
        self.cached_image_encoder: Optional[CachedImageEncoder] = None
        if embedding_cache is not None:
            if not freeze_image_encoder:
                raise ValueError('embedding_cache needs a frozen image '
                                 'encoder (freeze_image_encoder=True)')
            self.embedding_cache = TASK_UTILS.build(embedding_cache)
            self.cached_image_encoder = CachedImageEncoder(
                self.image_encoder, self.embedding_cache,
                extra=repr(sorted(self.sam_settings.items())))

    # ------------------------------------------------------------ weights
    def init_weights(self) -> None:
        """Load the SAM parts from their ``init_cfg`` and initialise the
        prompt encoder; BERT (loaded when built) is left as it is."""
        self.prompt_encoder.init_weights()
        states = {}  # both parts usually name one SAM file: read it once

        def read_once(path: str) -> Dict[str, torch.Tensor]:
            if path not in states:
                states[path] = read_sam_checkpoint(path)
            return states[path]

        self.image_encoder.init_weights(read_once)
        self.mask_decoder.init_weights(read_once)
        init_cfg = self.mask_decoder.init_cfg
        if init_cfg is None:
            return
        path = init_cfg['checkpoint']
        state = read_once(path)
        load_sam_part(state, path, 'prompt_encoder.pe_layer.', self.pe_layer,
                      self.sam_settings)
        no_mask_key = 'prompt_encoder.no_mask_embed.weight'
        no_mask = getattr(self.prompt_encoder, 'no_mask_embed', None)
        if no_mask_key in state and isinstance(no_mask, nn.Embedding) and \
                no_mask.weight.shape == state[no_mask_key].shape:
            with torch.no_grad():
                no_mask.weight.copy_(state[no_mask_key])

    def train(self, mode: bool = True) -> 'PersonSAM':
        """Switch mode; frozen SAM parts stay in eval mode."""
        super().train(mode)
        if self.freeze_image_encoder:
            self.image_encoder.eval()
        if self.freeze_mask_decoder:
            self.mask_decoder.eval()
        return self

    # ------------------------------------------------------------ encoding
    def encode_image(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """Image embeddings, from the cache where possible.

        Args:
            pixel_values (Tensor): ``(B, 3, S, S)`` preprocessed images.

        Returns:
            Tensor: ``(B, C, S/16, S/16)``.
        """
        size = self.sam_settings['image_size']
        if pixel_values.dim() != 4 or pixel_values.shape[1:] != (3, size,
                                                                 size):
            raise ValueError(f'encode_image expects (B, 3, {size}, {size}), '
                             f'got {tuple(pixel_values.shape)}')
        if self.cached_image_encoder is None:
            return self._run_image_encoder(pixel_values)
        return self.cached_image_encoder(pixel_values)

    def _run_image_encoder(self, pixel_values: torch.Tensor) -> torch.Tensor:
        with torch.set_grad_enabled(torch.is_grad_enabled()
                                    and not self.freeze_image_encoder):
            return self.image_encoder(pixel_values)

    def extract_feat(self, inputs: torch.Tensor) -> torch.Tensor:
        """Image embeddings ``(B, C, S/16, S/16)``."""
        return self.encode_image(inputs)

    def decode(self,
               image_embeddings: torch.Tensor,
               texts: Sequence[str],
               image_index: Optional[torch.Tensor] = None
               ) -> Tuple[torch.Tensor, torch.Tensor]:
        """Mask logits of phrases on encoded images.

        Args:
            image_embeddings (Tensor): ``(B, C, h, w)``.
            texts (list[str]): ``N`` phrases.
            image_index (Tensor, optional): ``(N,)`` image of each phrase.
                Defaults to ``arange(N)`` (needs ``N == B``).

        Returns:
            tuple[Tensor, Tensor]: logits ``(N, 1, 4h, 4w)`` and IoU-head
            scores ``(N,)``.
        """
        num = len(texts)
        device = image_embeddings.device
        if image_index is None:
            if num != image_embeddings.shape[0]:
                raise ValueError(f'{num} phrases for '
                                 f'{image_embeddings.shape[0]} images; pass '
                                 f'image_index')
            image_index = torch.arange(num, device=device)
        image_index = torch.as_tensor(image_index, device=device)
        text_feats, text_mask = self.text_encoder(texts)
        prompt_images = image_embeddings[image_index] \
            if self.prompt_encoder.uses_image_embeddings else None
        sparse, dense = self.prompt_encoder(text_feats, text_mask,
                                            prompt_images)
        image_pe = self.pe_layer(self.image_embedding_size)[None]
        order, logits, scores = [], [], []
        # SAM's decoder takes one image with any number of prompts.
        for image in image_index.unique(sorted=True).tolist():
            rows = (image_index == image).nonzero(as_tuple=True)[0]
            masks, iou = self.mask_decoder(
                image_embeddings=image_embeddings[image:image + 1],
                image_pe=image_pe,
                sparse_prompt_embeddings=sparse[rows],
                dense_prompt_embeddings=dense[rows],
                multimask_output=False)
            order.append(rows)
            logits.append(masks)
            scores.append(iou[:, 0])
        restore = torch.cat(order).argsort()
        return torch.cat(logits)[restore], torch.cat(scores)[restore]

    def encode_decode(self, inputs: torch.Tensor,
                      data_samples: SampleList) -> torch.Tensor:
        """Low-res logits ``(B, 1, S/4, S/4)`` of each image's phrase."""
        embeddings = self.encode_image(inputs)
        return self.decode(embeddings, self.texts_of(data_samples))[0]

    # ------------------------------------------------------------ training
    def _targets(self, logits: torch.Tensor, data_samples: SampleList
                 ) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Logits, binary target and valid mask in the loss geometry."""
        gts = []
        for sample in data_samples:
            if 'gt_sem_seg' not in sample:
                raise ValueError(f'{sample.metainfo.get("img_path")}: no '
                                 f'gt_sem_seg to train on')
            gts.append(sample.gt_sem_seg.data)
        if self.geometry == 'sam':
            gt = torch.stack(gts).to(logits.device)  # (B, 1, S, S), padded
            if gt.shape[-2:] != (self.sam_settings['image_size'], ) * 2:
                raise ValueError(f'gt_sem_seg must be padded to the SAM '
                                 f'canvas, got {tuple(gt.shape)}')
            logits = F.interpolate(logits, gt.shape[-2:], mode='bilinear',
                                   align_corners=False)
        else:
            stretched = []
            for sample, gt in zip(data_samples, gts):
                h, w = sample.metainfo.get('img_shape', gt.shape[-2:])
                stretched.append(F.interpolate(
                    gt[None, :, :h, :w].float(), logits.shape[-2:],
                    mode='nearest')[0])
            gt = torch.stack(stretched).to(logits.device)
        valid = gt != 255
        return logits, (gt == 1) & valid, valid

    def loss(self, inputs: torch.Tensor,
             data_samples: SampleList) -> Dict[str, torch.Tensor]:
        """Mask losses, optional IoU-head loss, and the batch IoU (logged).

        Returns:
            dict: ``loss_*`` tensors and ``iou`` (mean per-sample IoU of the
            thresholded masks, not back-propagated).
        """
        embeddings = self.encode_image(inputs)
        logits, iou_pred = self.decode(embeddings,
                                       self.texts_of(data_samples))
        logits, target, valid = self._targets(logits, data_samples)
        losses = {}
        for loss in self.losses:
            losses[loss.loss_name] = loss(logits, target, valid)
        with torch.no_grad():
            pred = (logits > self.mask_threshold) & valid
            inter = (pred & target).flatten(1).sum(1).float()
            union = (pred | target).flatten(1).sum(1).float()
            iou = inter / (union + 1e-10)
        if self.iou_loss_weight > 0:
            losses['loss_iou'] = self.iou_loss_weight * F.mse_loss(
                iou_pred.float(), iou)
        losses['iou'] = iou.mean()
        return losses

    # ----------------------------------------------------------- inference
    def predict(self, inputs: torch.Tensor,
                data_samples: SampleList) -> SampleList:
        """``SegDataSample`` s with ``pred_sem_seg``/``seg_logits`` at
        ``ori_shape`` and the IoU-head score in ``pred_iou_score``."""
        embeddings = self.encode_image(inputs)
        logits, scores = self.decode(embeddings, self.texts_of(data_samples))
        if self.score_at_low_res:
            samples = self._low_res_result(logits, data_samples)
        else:
            samples = self.postprocess_result(
                logits, data_samples, crop_padding=self.geometry == 'sam')
        for sample, score in zip(samples, scores):
            sample.set_field(score.detach(), 'pred_iou_score')
        return samples

    def resize_to_original(self, logits: torch.Tensor,
                           img_shape: Sequence[int],
                           ori_shape: Sequence[int],
                           pad_shape: Optional[Sequence[int]] = None
                           ) -> torch.Tensor:
        """Logits ``(N, C, h, w)`` at ``ori_shape``: on the padded canvas
        (``pad_shape`` given, SAM geometry) by ``segment_anything``'s own
        ``Sam.postprocess_masks``; stretched otherwise."""
        if pad_shape is None:
            return super().resize_to_original(logits, img_shape, ori_shape)
        size = self.sam_settings['image_size']
        if tuple(pad_shape) != (size, size):
            raise ValueError(f'pad_shape {tuple(pad_shape)} is not the SAM '
                             f'canvas ({size}, {size})')
        return Sam.postprocess_masks(self, logits, tuple(img_shape),
                                     tuple(ori_shape))

    def _low_res_result(self, logits: torch.Tensor,
                        data_samples: SampleList) -> SampleList:
        """Prediction ``logits > threshold`` at the logits' size and the
        whole ground truth stretched to it (nearest)."""
        for logit, sample in zip(logits, data_samples):
            sample.set_data(dict(seg_logits=PixelData(data=logit),
                                 pred_sem_seg=PixelData(data=(
                                     logit > self.mask_threshold).long())))
            if 'gt_sem_seg' in sample:
                gt = sample.gt_sem_seg.data
                sample.gt_sem_seg = PixelData(data=F.interpolate(
                    gt[None].float(), logit.shape[-2:],
                    mode='nearest')[0].to(gt.dtype))
        return data_samples

    def _forward(self, inputs: torch.Tensor,
                 data_samples: Optional[SampleList] = None) -> torch.Tensor:
        """Low-res logits ``(B, 1, S/4, S/4)``."""
        return self.encode_decode(inputs, data_samples)

    def segment_phrases(self,
                        image: np.ndarray,
                        phrases: Sequence[str],
                        batch_size: int = 32,
                        input_aspect: Optional[float] = None
                        ) -> Tuple[np.ndarray, np.ndarray]:
        """Masks ``(N, H, W)`` bool and IoU-head scores ``(N,)`` of many
        phrases on one RGB image: :func:`sapsam.apis.segment_phrases`."""
        from sapsam.apis.person_sam_inference import segment_phrases
        return segment_phrases(self, image, phrases, batch_size, input_aspect)
