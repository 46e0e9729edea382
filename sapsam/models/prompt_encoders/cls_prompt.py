"""[CLS]-only text prompt (supplement Table 5, row 1)."""
from typing import Optional, Tuple

import torch
import torch.nn as nn

from sapsam.registry import MODELS
from .base_text_prompt import BaseTextPrompt


@MODELS.register_module()
class CLSPrompt(BaseTextPrompt):
    """The projected [CLS] feature is the only sparse token; the dense prompt
    is a learned "no mask" embedding broadcast over the grid, as SAM does
    when no mask prompt is given.

    ``no_mask_embed`` has the name and shape of SAM's own, so
    :class:`PersonSAM` initialises it from the SAM checkpoint's
    ``prompt_encoder.no_mask_embed.weight`` when one is loaded.

    Shapes:
        sparse ``(B, 1, C)``; dense ``(B, C, h, w)``, the same vector at every
        position.
    """

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.no_mask_embed = nn.Embedding(1, self.embed_dim)

    def forward(
        self,
        text_feats: torch.Tensor,
        text_mask: torch.Tensor,
        image_embeddings: Optional[torch.Tensor] = None
    ) -> Tuple[torch.Tensor, torch.Tensor]:
        self._check_inputs(text_feats, text_mask, image_embeddings)
        batch = text_feats.shape[0]
        h, w = self.image_embedding_size
        dense = self.no_mask_embed.weight.reshape(1, -1, 1, 1).expand(
            batch, -1, h, w)
        return self.cls_token(text_feats), dense
