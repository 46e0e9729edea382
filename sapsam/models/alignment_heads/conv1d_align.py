"""1-D convolution local alignment (supp. Table 6, row 2)."""
from typing import Tuple

import torch
import torch.nn as nn

from sapsam.registry import MODELS
from sapsam.utils.typing_utils import OptConfigType
from .base_alignment_head import PartMasks, gather_masked_tokens
from .base_contrastive_align import BaseContrastiveAlign


@MODELS.register_module()
class Conv1DAlign(BaseContrastiveAlign):
    """A 1-D convolution over each local sequence instead of plain pooling.

    A region's patch tokens (in raster order) and a phrase's tokens are packed
    into padded sequences; each modality has its own
    ``Conv1d(D, D, kernel_size) -> GELU`` and the outputs are mean-pooled
    over the real positions (padding is zeroed before the convolution, so it
    acts like zero padding at the sequence end). Symmetric InfoNCE on the
    cosine similarity of the pooled features.

    Args:
        embed_dim (int): Token width D.
        kernel_size (int): Odd convolution width. Defaults to 3.
        temperature (float): Softmax temperature. Defaults to 0.02.
        init_cfg (dict, optional): MMEngine init config.
    """

    def __init__(self, embed_dim: int = 512, kernel_size: int = 3,
                 temperature: float = 0.02,
                 init_cfg: OptConfigType = None) -> None:
        super().__init__(embed_dim=embed_dim, temperature=temperature,
                         init_cfg=init_cfg)
        if kernel_size < 1 or kernel_size % 2 == 0:
            raise ValueError(f'kernel_size must be odd, got {kernel_size}')
        self.image_conv = nn.Conv1d(embed_dim, embed_dim, kernel_size,
                                    padding=kernel_size // 2)
        self.text_conv = nn.Conv1d(embed_dim, embed_dim, kernel_size,
                                   padding=kernel_size // 2)
        self.act = nn.GELU()

    def _conv_pool(self, conv: nn.Conv1d, tokens: torch.Tensor,
                   mask: torch.Tensor) -> torch.Tensor:
        """``(B, T, D)`` tokens, ``(B, P, T)`` mask -> ``(B, P, D)``."""
        sequences, seq_mask = gather_masked_tokens(tokens, mask)
        batch, num_parts, length, dim = sequences.shape
        weights = seq_mask.to(sequences.dtype)[..., None]
        x = (sequences * weights).reshape(batch * num_parts, length, dim)
        x = self.act(conv(x.transpose(1, 2))).transpose(1, 2)
        x = x.reshape(batch, num_parts, length, dim) * weights
        return x.sum(2) / weights.sum(2).clamp(min=1)

    def aggregate(self, patch_tokens: torch.Tensor, text_tokens: torch.Tensor,
                  masks: PartMasks) -> Tuple[torch.Tensor, torch.Tensor]:
        return (self._conv_pool(self.image_conv, patch_tokens, masks.region),
                self._conv_pool(self.text_conv, text_tokens, masks.phrase))
