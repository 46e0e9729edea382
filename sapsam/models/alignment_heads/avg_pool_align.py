"""Average-pooling local alignment (supp. Table 6, row 1)."""
from typing import Tuple

import torch

from sapsam.registry import MODELS
from .base_alignment_head import PartMasks, masked_mean
from .base_contrastive_align import BaseContrastiveAlign


@MODELS.register_module()
class AvgPoolAlign(BaseContrastiveAlign):
    """Region feature = mean of its patch tokens, phrase feature = mean of its
    tokens; symmetric InfoNCE on their cosine similarity.

    The head has no parameters.

    Args:
        embed_dim (int): Token width D (checked against the inputs).
        temperature (float): Softmax temperature. Defaults to 0.02.
        init_cfg (dict, optional): MMEngine init config.

    Examples:
        >>> from sapsam.registry import MODELS
        >>> head = MODELS.build(dict(type='AvgPoolAlign', embed_dim=8))
    """

    def aggregate(self, patch_tokens: torch.Tensor, text_tokens: torch.Tensor,
                  masks: PartMasks) -> Tuple[torch.Tensor, torch.Tensor]:
        return (masked_mean(patch_tokens, masks.region),
                masked_mean(text_tokens, masks.phrase))
