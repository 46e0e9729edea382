"""Binary cross-entropy on mask logits."""
from typing import Optional

import torch
import torch.nn as nn
import torch.nn.functional as F

from sapsam.registry import MODELS


@MODELS.register_module()
class BinaryCELoss(nn.Module):
    """Pixel-wise BCE with logits, averaged over the valid pixels.

    Args:
        loss_weight (float): Multiplier. Defaults to 1.0.
        loss_name (str): Key in the loss dict. Defaults to ``'loss_bce'``.
    """

    def __init__(self, loss_weight: float = 1.0,
                 loss_name: str = 'loss_bce') -> None:
        super().__init__()
        self.loss_weight = loss_weight
        self._loss_name = loss_name

    @property
    def loss_name(self) -> str:
        return self._loss_name

    def forward(self, logits: torch.Tensor, target: torch.Tensor,
                valid: Optional[torch.Tensor] = None) -> torch.Tensor:
        """
        Args:
            logits (Tensor): ``(B, 1, H, W)`` mask logits.
            target (Tensor): ``(B, 1, H, W)`` in {0, 1}.
            valid (Tensor, optional): ``(B, 1, H, W)`` bool, pixels to score.

        Returns:
            Tensor: scalar loss.
        """
        if logits.shape != target.shape:
            raise ValueError(f'BinaryCELoss: logits {tuple(logits.shape)} '
                             f'and target {tuple(target.shape)} differ')
        loss = F.binary_cross_entropy_with_logits(
            logits.float(), target.float(), reduction='none')
        if valid is None:
            return self.loss_weight * loss.mean()
        keep = valid.float()
        return self.loss_weight * (loss * keep).sum() / keep.sum().clamp(min=1)
