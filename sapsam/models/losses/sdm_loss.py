"""Similarity distribution matching loss (IRRA)."""
import torch
import torch.nn as nn
import torch.nn.functional as F

from sapsam.registry import MODELS


@MODELS.register_module()
class SDMLoss(nn.Module):
    """KL divergence between the image-text similarity distribution and the
    normalised identity-match distribution, in both directions.

    ``s_ij = cos(v_i, t_j) / temperature``; the target of row ``i`` is
    uniform over the samples sharing ``i``'s identity. The loss is
    ``KL(softmax_j(s_ij) || q_i) + KL(softmax_j(s_ji) || q_i)`` averaged over
    the batch (IRRA's ``compute_sdm`` with ``epsilon = 1e-8``).

    Args:
        temperature (float): Fixed temperature. Defaults to 0.02.
        epsilon (float): Added to the targets inside the log.
        loss_weight (float): Multiplier of the loss.
    """

    def __init__(self, temperature: float = 0.02, epsilon: float = 1e-8,
                 loss_weight: float = 1.0) -> None:
        super().__init__()
        if temperature <= 0:
            raise ValueError(f'temperature must be positive, got {temperature}')
        self.temperature = temperature
        self.epsilon = epsilon
        self.loss_weight = loss_weight

    def forward(self, image_feats: torch.Tensor, text_feats: torch.Tensor,
                pids: torch.Tensor) -> torch.Tensor:
        """
        Args:
            image_feats (Tensor): ``(B, D)`` global image features.
            text_feats (Tensor): ``(B, D)`` global text features.
            pids (Tensor): ``(B,)`` identities.

        Returns:
            Tensor: scalar loss.
        """
        image_feats = F.normalize(image_feats.float(), dim=-1)
        text_feats = F.normalize(text_feats.float(), dim=-1)
        pids = pids.reshape(-1, 1)
        same = (pids == pids.t()).float()
        target = same / same.sum(dim=1, keepdim=True)
        logits_i2t = image_feats @ text_feats.t() / self.temperature
        logits_t2i = logits_i2t.t()
        log_target = torch.log(target + self.epsilon)
        loss = 0.
        for logits in (logits_i2t, logits_t2i):
            prob = F.softmax(logits, dim=1)
            loss = loss + (prob * (F.log_softmax(logits, dim=1) - log_target)
                           ).sum(dim=1).mean()
        return self.loss_weight * loss
