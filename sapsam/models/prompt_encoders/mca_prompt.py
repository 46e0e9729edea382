"""Multi-head cross-attention text prompt (supplement Table 5, row 4)."""
from typing import Optional, Tuple

import torch
import torch.nn as nn

from sapsam.registry import MODELS
from .base_text_prompt import BaseTextPrompt


@MODELS.register_module()
class MCAPrompt(BaseTextPrompt):
    """theta_MCA(f_p, f_A, f_A): learnable queries attend to the phrase tokens.

    ``num_queries`` learnable 256-d queries ``f_p`` cross-attend (``num_heads``
    heads) to the projected phrase tokens ``f_A``. The attended queries form
    the dense prompt with the official layout: query ``x`` fills grid column
    ``x`` on every row, so ``num_queries`` equals the grid width (64 for a
    1024 input). The projected [CLS] is the single sparse token, as in the
    official model (the supplement does not mention it).

    Args:
        num_queries (int, optional): Number of learnable queries. Defaults to
            the grid width, which is the only value the layout accepts.
        num_heads (int): Attention heads. Defaults to 8.
        use_key_padding_mask (bool): Hide [PAD] tokens from the attention.
            ``False`` reproduces the official model, which attends to them
            (docs/fidelity.md P6). Defaults to True.
        drop_cls_token (bool): Keys/values are tokens ``1..L-1`` (the [CLS]
            is dropped), as in the official model. Defaults to True.
        query_init_std (float): Std of the normal init of the queries; the
            official model uses 1.0. Defaults to 1.0.
        **kwargs: ``text_dim``, ``embed_dim``, ``image_embedding_size``,
            ``init_cfg`` of :class:`BaseTextPrompt`.

    Shapes:
        sparse ``(B, 1, C)``; dense ``(B, C, h, w)`` with
        ``dense[b, :, y, x] = attended[b, x, :]``.
    """

    def __init__(self,
                 num_queries: Optional[int] = None,
                 num_heads: int = 8,
                 use_key_padding_mask: bool = True,
                 drop_cls_token: bool = True,
                 query_init_std: float = 1.0,
                 **kwargs) -> None:
        super().__init__(**kwargs)
        grid_width = self.image_embedding_size[1]
        num_queries = grid_width if num_queries is None else num_queries
        if num_queries != grid_width:
            raise ValueError(
                f'MCAPrompt lays query x on grid column x, so num_queries '
                f'must equal the grid width {grid_width}, got {num_queries}')
        if self.embed_dim % num_heads:
            raise ValueError(f'embed_dim {self.embed_dim} is not divisible '
                             f'by num_heads {num_heads}')
        self.num_queries = num_queries
        self.use_key_padding_mask = use_key_padding_mask
        self.drop_cls_token = drop_cls_token
        self.key_proj = nn.Linear(self.text_dim, self.embed_dim)
        self.queries = nn.Parameter(
            torch.randn(1, num_queries, self.embed_dim) * query_init_std)
        self.attention = nn.MultiheadAttention(
            self.embed_dim, num_heads, batch_first=True)

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
        keys = self.key_proj(tokens)  # (B, L', C)
        batch = keys.shape[0]
        padding_mask = None
        if self.use_key_padding_mask:
            padding_mask = ~mask
            # A row with no real key would give NaNs: let it see everything.
            padding_mask = padding_mask & mask.any(dim=1, keepdim=True)
        attended, _ = self.attention(
            self.queries.expand(batch, -1, -1), keys, keys,
            key_padding_mask=padding_mask, need_weights=False)  # (B, w, C)
        h = self.image_embedding_size[0]
        dense = attended.transpose(1, 2)[:, :, None, :].expand(-1, -1, h, -1)
        return self.cls_token(text_feats), dense
