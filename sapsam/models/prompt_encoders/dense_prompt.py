"""Dense token-feature text prompt (supplement Table 5, row 2)."""
from typing import Optional, Tuple

import torch
import torch.nn as nn

from sapsam.registry import MODELS
from .base_text_prompt import BaseTextPrompt


@MODELS.register_module()
class DensePrompt(BaseTextPrompt):
    """All phrase token features, projected to ``C``, laid onto the grid.

    The official ``else`` branch passes the raw ``(B, L, 768)`` tokens as the
    dense prompt, which cannot run (docs/fidelity.md P8). This variant makes it
    runnable with the layout of the official MCA prompt, so that Table 5's
    rows 2 and 4 differ only in where the grid columns come from: here the
    real tokens of each phrase (its [PAD]s excluded, the [CLS] dropped like
    the MCA keys) are projected by ``token_proj`` and linearly resampled
    along the sequence to the grid width; column ``x`` holds the resampled
    feature ``x`` on every row. The projected [CLS] is the sparse token.

    Args:
        drop_cls_token (bool): Leave the [CLS] out of the grid. Defaults to
            True.
        **kwargs: ``text_dim``, ``embed_dim``, ``image_embedding_size``,
            ``init_cfg`` of :class:`BaseTextPrompt`.

    Shapes:
        sparse ``(B, 1, C)``; dense ``(B, C, h, w)``, constant along ``y``.
    """

    def __init__(self, drop_cls_token: bool = True, **kwargs) -> None:
        super().__init__(**kwargs)
        self.drop_cls_token = drop_cls_token
        self.token_proj = nn.Linear(self.text_dim, self.embed_dim)

    def forward(
        self,
        text_feats: torch.Tensor,
        text_mask: torch.Tensor,
        image_embeddings: Optional[torch.Tensor] = None
    ) -> Tuple[torch.Tensor, torch.Tensor]:
        self._check_inputs(text_feats, text_mask, image_embeddings)
        tokens, mask = text_feats, text_mask.bool()
        if self.drop_cls_token:
            tokens, mask = tokens[:, 1:], mask[:, 1:]
        tokens = self.token_proj(tokens)  # (B, L', C)
        h, w = self.image_embedding_size
        # Real tokens first (the tokenizer pads on the right); count >= 1.
        lengths = mask.sum(dim=1).clamp(min=1).to(tokens.dtype)  # (B,)
        grid = torch.linspace(0, 1, w, device=tokens.device,
                              dtype=tokens.dtype)
        position = grid[None] * (lengths[:, None] - 1)  # (B, w)
        left = position.floor().long()
        right = torch.minimum(left + 1, lengths[:, None].long() - 1)
        frac = (position - left.to(tokens.dtype))[..., None]  # (B, w, 1)
        channels = tokens.shape[-1]

        def gather(index):
            return tokens.gather(1, index[..., None].expand(-1, -1, channels))

        columns = gather(left) * (1 - frac) + gather(right) * frac  # (B,w,C)
        dense = columns.transpose(1, 2)[:, :, None, :].expand(-1, -1, h, -1)
        return self.cls_token(text_feats), dense
