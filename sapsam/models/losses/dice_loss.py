"""Soft Dice loss on binary mask logits."""
from typing import Optional

import torch
import torch.nn as nn

from sapsam.registry import MODELS


@MODELS.register_module()
class DiceLoss(nn.Module):
    """Per-sample soft Dice on sigmoid probabilities, averaged over the batch.

    ``1 - (2 sum(p g) + smooth) / (sum(p^2) + sum(g^2) + smooth)`` with
    ``p = sigmoid(logits)``, the Dice term of MONAI's
    ``DiceCELoss(sigmoid=True, squared_pred=True)`` used by the official
    Person-SAM (docs/fidelity.md P2). Pixels outside ``valid`` are left out.

    Args:
        squared_pred (bool): Square ``p`` and ``g`` in the denominator.
            Defaults to True.
        smooth (float): Added to numerator and denominator. Defaults to 1e-5.
        loss_weight (float): Multiplier. Defaults to 1.0.
        loss_name (str): Key in the loss dict. Defaults to ``'loss_dice'``.
    """

    def __init__(self, squared_pred: bool = True, smooth: float = 1e-5,
                 loss_weight: float = 1.0,
                 loss_name: str = 'loss_dice') -> None:
        super().__init__()
        self.squared_pred = squared_pred
        self.smooth = smooth
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
            raise ValueError(f'DiceLoss: logits {tuple(logits.shape)} and '
                             f'target {tuple(target.shape)} differ')
        prob = logits.float().sigmoid().flatten(1)
        target = target.float().flatten(1)
        if valid is not None:
            keep = valid.flatten(1).float()
            prob, target = prob * keep, target * keep
        intersection = (prob * target).sum(1)
        if self.squared_pred:
            denominator = prob.square().sum(1) + target.square().sum(1)
        else:
            denominator = prob.sum(1) + target.sum(1)
        dice = (2 * intersection + self.smooth) / (denominator + self.smooth)
        return self.loss_weight * (1 - dice).mean()
