"""Text-image dot-product prompt (supplement Table 5, row 3)."""
import math
from typing import Optional, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F

from sapsam.registry import MODELS
from .base_text_prompt import BaseTextPrompt


@MODELS.register_module()
class DotPrompt(BaseTextPrompt):
    """f_A^[CLS] . f_I: the phrase's relevance map over the image as prompt.

    Not in the official code; built from the supplement's wording ("dot
    products between textual prompts and image features as prompts for the
    decoder"). With ``t`` the projected [CLS] and ``E`` the image embedding,
    the relevance of position ``(y, x)`` is
    ``r = <t / |t|, E[:, y, x]> / sqrt(C)`` and the dense prompt is
    ``r * value_proj(t)``: the phrase vector, scaled by how well each
    position matches it. ``t`` is also the sparse token.

    Shapes:
        sparse ``(B, 1, C)``; dense ``(B, C, h, w)``.
    """

    uses_image_embeddings = True

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.value_proj = nn.Linear(self.embed_dim, self.embed_dim)

    def forward(
        self,
        text_feats: torch.Tensor,
        text_mask: torch.Tensor,
        image_embeddings: Optional[torch.Tensor] = None
    ) -> Tuple[torch.Tensor, torch.Tensor]:
        self._check_inputs(text_feats, text_mask, image_embeddings)
        sparse = self.cls_token(text_feats)  # (B, 1, C)
        text = sparse[:, 0]
        relevance = torch.einsum('bc,bchw->bhw', F.normalize(text, dim=-1),
                                 image_embeddings) / math.sqrt(self.embed_dim)
        dense = relevance[:, None] * self.value_proj(text)[:, :, None, None]
        return sparse, dense
