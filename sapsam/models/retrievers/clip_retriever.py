"""Global-feature CLIP retriever (the baseline of SAP-SAM)."""
from typing import Dict, List, Optional

import torch
import torch.nn.functional as F
from mmengine.model import BaseModel

from sapsam.registry import MODELS
from ..data_preprocessors import TBPRDataPreprocessor
from sapsam.structures import stack_field
from sapsam.utils.typing_utils import OptConfigType, SampleList


@MODELS.register_module()
class CLIPRetriever(BaseModel):
    """Text-to-image person retriever on CLIP global features.

    Training: image [CLS] and text [EOT] features, SDM loss (and an optional
    identity loss). Test: L2-normalised global features only; the retrieval
    loop ranks the gallery by cosine similarity.

    Data flow::

        loss():    backbone.encode_image / encode_text -> global_losses()
        predict(): images -> image_feat, or captions -> text_feat

    Args:
        backbone (dict): :class:`CLIPBackbone` config.
        sdm_loss (dict): Config of the SDM loss.
        id_loss (dict, optional): Config of :class:`IDLoss`; ``in_channels``
            and ``num_classes`` are filled in when missing.
        num_classes (int, optional): Number of training identities.
        data_preprocessor (dict, optional): Defaults to
            ``TBPRDataPreprocessor``.
        init_cfg (dict, optional): MMEngine init config.
    """

    def __init__(self,
                 backbone: dict,
                 sdm_loss: OptConfigType = dict(type='SDMLoss',
                                                temperature=0.02),
                 id_loss: OptConfigType = None,
                 num_classes: Optional[int] = None,
                 data_preprocessor: OptConfigType = None,
                 init_cfg: OptConfigType = None) -> None:
        if data_preprocessor is None:
            data_preprocessor = dict(type=TBPRDataPreprocessor)
        super().__init__(data_preprocessor=data_preprocessor,
                         init_cfg=init_cfg)
        self.backbone = MODELS.build(backbone)
        self.sdm_loss = MODELS.build(sdm_loss) if sdm_loss else None
        self.id_loss = None
        if id_loss:
            id_loss = dict(id_loss)
            id_loss.setdefault('in_channels', self.backbone.embed_dim)
            if 'num_classes' not in id_loss:
                if num_classes is None:
                    raise ValueError('id_loss needs num_classes')
                id_loss['num_classes'] = num_classes
            self.id_loss = MODELS.build(id_loss)

    # ------------------------------------------------------------ features
    def extract_image_feat(self, images: torch.Tensor) -> torch.Tensor:
        """``(B, 3, H, W) -> (B, D)`` L2-normalised [CLS] features."""
        return F.normalize(self.backbone.encode_image(images)[:, 0].float(),
                           dim=-1)

    def extract_text_feat(self, text_ids: torch.Tensor) -> torch.Tensor:
        """``(B, L) -> (B, D)`` L2-normalised [EOT] features.

        The batch is trimmed to its longest caption first: the text tower
        is causal and the feature is read at the EOT token, so the padding
        after the last EOT cannot change it (validation, test and search
        all encode queries here; training keeps all L positions).
        """
        text_ids = self.backbone.trim_to_longest(text_ids)
        tokens = self.backbone.encode_text(text_ids)
        return F.normalize(self.backbone.text_global(tokens, text_ids).float(),
                           dim=-1)

    # --------------------------------------------------------------- modes
    def forward(self, inputs: Optional[torch.Tensor] = None,
                data_samples: Optional[SampleList] = None,
                mode: str = 'tensor'):
        if mode == 'loss':
            return self.loss(inputs, data_samples)
        if mode == 'predict':
            return self.predict(inputs, data_samples)
        if mode == 'tensor':
            return self._forward(inputs, data_samples)
        raise RuntimeError(f'invalid mode {mode!r}; use loss, predict or '
                           f'tensor')

    def global_losses(self, image_global: torch.Tensor,
                      text_global: torch.Tensor,
                      pids: torch.Tensor) -> Dict[str, torch.Tensor]:
        """Losses on the global features ``(B, D), (B, D), (B,)``."""
        losses = {}
        if self.sdm_loss is not None:
            losses['loss_sdm'] = self.sdm_loss(image_global, text_global, pids)
        if self.id_loss is not None:
            losses['loss_id'] = self.id_loss(image_global, text_global, pids)
        return losses

    def loss(self, inputs: torch.Tensor,
             data_samples: SampleList) -> Dict[str, torch.Tensor]:
        """Losses of a batch of image-caption pairs.

        Args:
            inputs (Tensor): ``(B, 3, H, W)`` normalised images.
            data_samples (list): with ``text_ids`` ``(L,)`` and ``pid``.
        """
        text_ids = stack_field(data_samples, 'text_ids', inputs.device)
        pids = stack_field(data_samples, 'pid', inputs.device)
        image_tokens = self.backbone.encode_image(inputs)
        text_tokens = self.backbone.encode_text(text_ids)
        text_global = self.backbone.text_global(text_tokens, text_ids)
        return self.global_losses(image_tokens[:, 0], text_global, pids)

    def predict(self, inputs: Optional[torch.Tensor],
                data_samples: SampleList) -> SampleList:
        """Write ``image_feat`` (gallery batches, ``inputs`` given) or
        ``text_feat`` (query batches, ``inputs`` None) into the samples."""
        if inputs is not None:
            feats = self.extract_image_feat(inputs)
            name = 'image_feat'
        else:
            device = next(self.parameters()).device
            feats = self.extract_text_feat(
                stack_field(data_samples, 'text_ids', device))
            name = 'text_feat'
        for sample, feat in zip(data_samples, feats):
            sample.set_field(feat, name)
        return data_samples

    def _forward(self, inputs: Optional[torch.Tensor],
                 data_samples: Optional[SampleList] = None
                 ) -> Dict[str, torch.Tensor]:
        """Token features: ``image_tokens`` ``(B, 1+N, D)`` and/or
        ``text_tokens`` ``(B, L, D)``."""
        out = {}
        if inputs is not None:
            out['image_tokens'] = self.backbone.encode_image(inputs)
        if data_samples is not None and all('text_ids' in s
                                            for s in data_samples):
            device = next(self.parameters()).device
            out['text_tokens'] = self.backbone.encode_text(
                stack_field(data_samples, 'text_ids', device))
        return out
