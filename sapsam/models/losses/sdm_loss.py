"""Similarity distribution matching loss (IRRA)."""
import warnings

import torch
import torch.distributed as dist
import torch.nn as nn
import torch.nn.functional as F
from torch.distributed.nn.functional import all_gather as all_gather_grad

from sapsam.registry import MODELS


def _gather(tensor: torch.Tensor, with_grad: bool) -> torch.Tensor:
    """Concatenate ``tensor`` from every rank along dim 0 (rank order)."""
    if with_grad:
        with warnings.catch_warnings():  # deprecated, no public successor
            warnings.simplefilter('ignore', FutureWarning)
            return torch.cat(all_gather_grad(tensor), dim=0)
    parts = [torch.empty_like(tensor) for _ in range(dist.get_world_size())]
    dist.all_gather(parts, tensor.contiguous())
    return torch.cat(parts, dim=0)


@MODELS.register_module()
class SDMLoss(nn.Module):
    """KL divergence between the image-text similarity distribution and the
    normalised identity-match distribution, in both directions.

    ``s_ij = cos(v_i, t_j) / temperature``; the target of row ``i`` is
    uniform over the samples sharing ``i``'s identity. The loss is
    ``KL(softmax_j(s_ij) || q_i) + KL(softmax_j(s_ji) || q_i)`` averaged over
    the batch (IRRA's ``compute_sdm`` with ``epsilon = 1e-8``).

    In distributed training with ``gather=True`` each rank scores its own
    images (texts) against the texts (images) of *all* ranks, with gradients
    flowing back through the gather. Because DDP averages gradients over
    ranks and every rank averages over its own rows, the update equals that
    of one process on the global batch: N GPUs with batch B each behave like
    one GPU with batch N*B (IRRA compares each rank's batch only).

    Args:
        temperature (float): Fixed temperature. Defaults to 0.02.
        epsilon (float): Added to the targets inside the log.
        loss_weight (float): Multiplier of the loss.
        gather (bool): Use the negatives of every rank. Defaults to True.
    """

    def __init__(self, temperature: float = 0.02, epsilon: float = 1e-8,
                 loss_weight: float = 1.0, gather: bool = True) -> None:
        super().__init__()
        if temperature <= 0:
            raise ValueError(f'temperature must be positive, got {temperature}')
        self.temperature = temperature
        self.epsilon = epsilon
        self.loss_weight = loss_weight
        self.gather = gather

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
        all_images, all_texts, all_pids = image_feats, text_feats, pids
        if self.gather and dist.is_available() and dist.is_initialized() \
                and dist.get_world_size() > 1:
            all_images = _gather(image_feats, with_grad=True)
            all_texts = _gather(text_feats, with_grad=True)
            all_pids = _gather(pids, with_grad=False)
        same = (pids.reshape(-1, 1) == all_pids.reshape(1, -1)).float()
        log_target = torch.log(same / same.sum(dim=1, keepdim=True) +
                               self.epsilon)
        loss = 0.
        for logits in (image_feats @ all_texts.t() / self.temperature,
                       text_feats @ all_images.t() / self.temperature):
            prob = F.softmax(logits, dim=1)
            loss = loss + (prob * (F.log_softmax(logits, dim=1) - log_target)
                           ).sum(dim=1).mean()
        return self.loss_weight * loss
