"""Cross-modal decoder of SAP-SAM (IRRA's cross-former)."""
from typing import Optional

import torch
import torch.nn as nn
from mmengine.model import BaseModule
from open_clip.transformer import LayerNorm, QuickGELU, Transformer

from sapsam.registry import MODELS
from sapsam.utils.typing_utils import OptConfigType


@MODELS.register_module()
class CrossModalDecoder(BaseModule):
    """Cross-attention from one modality to the other, then self-attention.

    ``x = MHA(ln_query(query), ln_context(context), ln_context(context))``
    (no residual around the cross-attention, as in IRRA), then ``depth``
    residual transformer blocks (QuickGELU, MLP ratio 4) and ``ln_post``.
    Used with text queries over image tokens for masked-language decoding
    and with image queries over text tokens for image decoding (the official
    code shares the same modules for both).

    Args:
        embed_dim (int): Width D. Defaults to 512.
        num_heads (int): Attention heads. Defaults to 8.
        depth (int): Transformer blocks after the cross-attention.
            Defaults to 4.
        init_cfg (dict, optional): MMEngine init config.
    """

    def __init__(self, embed_dim: int = 512, num_heads: int = 8,
                 depth: int = 4, init_cfg: OptConfigType = None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.embed_dim = embed_dim
        self.cross_attn = nn.MultiheadAttention(embed_dim, num_heads,
                                                batch_first=True)
        self.ln_query = LayerNorm(embed_dim)
        self.ln_context = LayerNorm(embed_dim)
        self.transformer = Transformer(embed_dim, depth, num_heads,
                                       act_layer=QuickGELU, batch_first=True)
        self.ln_post = LayerNorm(embed_dim)
        # IRRA initialisation.
        attn_std = embed_dim ** -0.5
        proj_std = attn_std * (2 * depth) ** -0.5
        fc_std = (2 * embed_dim) ** -0.5
        for block in self.transformer.resblocks:
            nn.init.normal_(block.attn.in_proj_weight, std=attn_std)
            nn.init.normal_(block.attn.out_proj.weight, std=proj_std)
            nn.init.normal_(block.mlp.c_fc.weight, std=fc_std)
            nn.init.normal_(block.mlp.c_proj.weight, std=proj_std)
        nn.init.normal_(self.cross_attn.in_proj_weight, std=attn_std)
        nn.init.normal_(self.cross_attn.out_proj.weight, std=proj_std)

    def forward(self, query: torch.Tensor, context: torch.Tensor,
                context_padding_mask: Optional[torch.Tensor] = None
                ) -> torch.Tensor:
        """
        Args:
            query (Tensor): ``(B, Lq, D)`` tokens to decode.
            context (Tensor): ``(B, Lk, D)`` tokens of the other modality.
            context_padding_mask (Tensor, optional): ``(B, Lk)`` bool, True
                = ignore this context token.

        Returns:
            Tensor: ``(B, Lq, D)``.
        """
        context = self.ln_context(context)
        x = self.cross_attn(self.ln_query(query), context, context,
                            key_padding_mask=context_padding_mask,
                            need_weights=False)[0]
        return self.ln_post(self.transformer(x))
