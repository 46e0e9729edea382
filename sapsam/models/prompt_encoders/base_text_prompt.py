"""Common interface of the text prompt encoders of Person-SAM."""
from abc import ABCMeta, abstractmethod
from typing import Optional, Sequence, Tuple

import torch
import torch.nn as nn
from mmengine.model import BaseModule

from sapsam.utils.typing_utils import OptMultiConfig


class BaseTextPrompt(BaseModule, metaclass=ABCMeta):
    """Turn phrase token features into SAM mask-decoder prompts.

    Every variant (supplement Table 5) produces the two inputs that
    ``segment_anything``'s ``MaskDecoder`` takes besides the image:
    sparse prompt tokens ``(B, N, C)`` and a dense prompt map
    ``(B, C, h, w)`` that is added to the image embedding. All variants own
    ``text_proj``, the ``text_dim -> embed_dim`` projection of the [CLS]
    feature (the official ``text_proj``).

    Args:
        text_dim (int): Channels of the text features (768 for BERT-base).
            Filled in by :class:`PersonSAM` from its text encoder.
        embed_dim (int): SAM prompt channels (256 for SAM-B/L/H).
        image_embedding_size (tuple[int, int]): ``(h, w)`` of the image
            embedding (64x64 for a 1024 input).
        init_cfg (dict | list, optional): MMEngine init config.
    """

    #: Whether :meth:`forward` reads the image embedding.
    uses_image_embeddings: bool = False

    def __init__(self,
                 text_dim: int = 768,
                 embed_dim: int = 256,
                 image_embedding_size: Sequence[int] = (64, 64),
                 init_cfg: OptMultiConfig = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if len(tuple(image_embedding_size)) != 2:
            raise ValueError(f'image_embedding_size must be (h, w), got '
                             f'{image_embedding_size}')
        self.text_dim = text_dim
        self.embed_dim = embed_dim
        self.image_embedding_size = tuple(int(s) for s in image_embedding_size)
        self.text_proj = nn.Linear(text_dim, embed_dim)

    def cls_token(self, text_feats: torch.Tensor) -> torch.Tensor:
        """Project the [CLS] feature into one sparse prompt token.

        Args:
            text_feats (Tensor): ``(B, L, text_dim)``, [CLS] first.

        Returns:
            Tensor: ``(B, 1, embed_dim)``.
        """
        return self.text_proj(text_feats[:, 0])[:, None]

    def _check_inputs(self, text_feats: torch.Tensor, text_mask: torch.Tensor,
                      image_embeddings: Optional[torch.Tensor]) -> None:
        if text_feats.dim() != 3 or text_feats.shape[-1] != self.text_dim:
            raise ValueError(
                f'{type(self).__name__}: text_feats must be (B, L, '
                f'{self.text_dim}), got {tuple(text_feats.shape)}')
        if text_mask.shape != text_feats.shape[:2]:
            raise ValueError(
                f'{type(self).__name__}: text_mask {tuple(text_mask.shape)} '
                f'does not match text_feats {tuple(text_feats.shape[:2])}')
        if self.uses_image_embeddings:
            expected = (text_feats.shape[0], self.embed_dim,
                        *self.image_embedding_size)
            if image_embeddings is None or \
                    tuple(image_embeddings.shape) != expected:
                got = None if image_embeddings is None else tuple(
                    image_embeddings.shape)
                raise ValueError(f'{type(self).__name__}: image_embeddings '
                                 f'must be {expected}, got {got}')

    @abstractmethod
    def forward(
        self,
        text_feats: torch.Tensor,
        text_mask: torch.Tensor,
        image_embeddings: Optional[torch.Tensor] = None
    ) -> Tuple[torch.Tensor, torch.Tensor]:
        """Build the prompts.

        Args:
            text_feats (Tensor): ``(B, L, text_dim)`` token features,
                [CLS] first.
            text_mask (Tensor): ``(B, L)`` bool, True for real tokens
                (the tokenizer's attention mask).
            image_embeddings (Tensor, optional): ``(B, embed_dim, h, w)``,
                one row per prompt; only read by variants with
                ``uses_image_embeddings``.

        Returns:
            tuple[Tensor, Tensor]: sparse ``(B, N, embed_dim)`` and dense
            ``(B, embed_dim, h, w)`` prompts.
        """
