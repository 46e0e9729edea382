"""Identity classification loss shared by both modalities."""
import torch
import torch.nn as nn
import torch.nn.functional as F

from sapsam.registry import MODELS


@MODELS.register_module()
class IDLoss(nn.Module):
    """Cross-entropy of a shared linear identity classifier on the image and
    the text global features (IRRA's ``id`` task), averaged.

    Args:
        in_channels (int): Feature size D.
        num_classes (int): Number of training identities.
        loss_weight (float): Multiplier of the loss.
    """

    def __init__(self, in_channels: int, num_classes: int,
                 loss_weight: float = 1.0) -> None:
        super().__init__()
        if num_classes <= 0:
            raise ValueError(f'num_classes must be positive, got {num_classes}')
        self.classifier = nn.Linear(in_channels, num_classes)
        nn.init.normal_(self.classifier.weight, std=0.001)
        nn.init.zeros_(self.classifier.bias)
        self.loss_weight = loss_weight

    def forward(self, image_feats: torch.Tensor, text_feats: torch.Tensor,
                pids: torch.Tensor) -> torch.Tensor:
        """``(B, D), (B, D), (B,) -> scalar``."""
        logits_img = self.classifier(image_feats.float())
        logits_txt = self.classifier(text_feats.float())
        return self.loss_weight * 0.5 * (F.cross_entropy(logits_img, pids) +
                                         F.cross_entropy(logits_txt, pids))
