"""Self-attention local alignment with learnable aggregation tokens
(supp. Table 6, row 3)."""
from typing import Tuple

import torch
import torch.nn as nn

from sapsam.registry import MODELS
from sapsam.utils.typing_utils import OptConfigType
from .base_alignment_head import PartMasks, gather_masked_tokens
from .base_contrastive_align import BaseContrastiveAlign


@MODELS.register_module()
class MHSAAlign(BaseContrastiveAlign):
    """``f_v = MHSA([v, region tokens])[0]``, ``f_t = MHSA([t, phrase
    tokens])[0]`` with learnable tokens v and t; symmetric InfoNCE on their
    cosine similarity.

    Only the output at the learnable token is used, so attention is computed
    for that single query over ``[token; local tokens]`` (identical to running
    full self-attention and reading position 0). Each modality has its own
    token and attention module. The token is always a valid key, so empty
    (padded) parts stay finite.

    Args:
        embed_dim (int): Token width D.
        num_heads (int): Attention heads. Defaults to 8.
        temperature (float): Softmax temperature. Defaults to 0.02.
        init_cfg (dict, optional): MMEngine init config.
    """

    def __init__(self, embed_dim: int = 512, num_heads: int = 8,
                 temperature: float = 0.02,
                 init_cfg: OptConfigType = None) -> None:
        super().__init__(embed_dim=embed_dim, temperature=temperature,
                         init_cfg=init_cfg)
        self.image_token = nn.Parameter(torch.randn(embed_dim) * 0.02)
        self.text_token = nn.Parameter(torch.randn(embed_dim) * 0.02)
        self.image_attn = nn.MultiheadAttention(embed_dim, num_heads,
                                                batch_first=True)
        self.text_attn = nn.MultiheadAttention(embed_dim, num_heads,
                                               batch_first=True)

    @staticmethod
    def _attend(attn: nn.MultiheadAttention, token: torch.Tensor,
                tokens: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """``(B, T, D)`` tokens, ``(B, P, T)`` mask -> ``(B, P, D)``."""
        sequences, seq_mask = gather_masked_tokens(tokens, mask)
        batch, num_parts, length, dim = sequences.shape
        query = token.to(sequences.dtype).expand(batch * num_parts, 1, dim)
        keys = torch.cat(
            [query, sequences.reshape(batch * num_parts, length, dim)], 1)
        padding = torch.cat([
            seq_mask.new_zeros(batch * num_parts, 1),
            ~seq_mask.reshape(batch * num_parts, length)], 1)
        out = attn(query, keys, keys, key_padding_mask=padding,
                   need_weights=False)[0]
        return out.reshape(batch, num_parts, dim)

    def aggregate(self, patch_tokens: torch.Tensor, text_tokens: torch.Tensor,
                  masks: PartMasks) -> Tuple[torch.Tensor, torch.Tensor]:
        return (self._attend(self.image_attn, self.image_token, patch_tokens,
                             masks.region),
                self._attend(self.text_attn, self.text_token, text_tokens,
                             masks.phrase))
