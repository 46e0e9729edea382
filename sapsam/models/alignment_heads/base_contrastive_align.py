"""InfoNCE base of the pooled local alignment heads (supp. Table 6, 1-3)."""
from abc import abstractmethod
from typing import Dict, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F

from sapsam.utils.typing_utils import OptConfigType
from .base_alignment_head import BaseAlignmentHead, PartMasks


class BaseContrastiveAlign(BaseAlignmentHead):
    """Local region feature vs local phrase feature, symmetric InfoNCE.

    Subclasses turn each region and each phrase into one feature
    (:meth:`aggregate`). The valid (region, phrase) pairs of the batch then
    form an ``M x M`` cosine-similarity matrix divided by ``temperature``;
    the loss is the mean of the region-to-phrase and phrase-to-region
    cross-entropies.

    Positives and negatives (identity-aware): the positive of region (i, j)
    is phrase (i, j) only. Phrases of *other samples with the same identity*
    are left out of the softmax: they may describe the same garment with
    other words or another phrase order, so neither a positive nor a negative
    label is reliable. The other phrases of the same caption stay negatives:
    telling apart the parts of one person is what local alignment is for.

    Args:
        embed_dim (int): Token width D.
        temperature (float): Softmax temperature. Defaults to 0.02 (the SDM
            temperature of the paper; the supplement gives none for these
            heads).
        init_cfg (dict, optional): MMEngine init config.
    """

    def __init__(self, embed_dim: int = 512, temperature: float = 0.02,
                 init_cfg: OptConfigType = None) -> None:
        super().__init__(embed_dim=embed_dim, init_cfg=init_cfg)
        if temperature <= 0:
            raise ValueError(
                f'temperature must be positive, got {temperature}')
        self.temperature = temperature

    @abstractmethod
    def aggregate(self, patch_tokens: torch.Tensor, text_tokens: torch.Tensor,
                  masks: PartMasks) -> Tuple[torch.Tensor, torch.Tensor]:
        """One feature per region and per phrase.

        Args:
            patch_tokens (Tensor): ``(B, N, D)`` (no [CLS]).
            text_tokens (Tensor): ``(B, L, D)``.
            masks (PartMasks): Region/phrase/valid masks.

        Returns:
            tuple: region and phrase features, both ``(B, P, D)``, finite
            also for invalid slots.
        """

    def loss(self, image_tokens: torch.Tensor, text_tokens: torch.Tensor,
             patch_labels: torch.Tensor, part_spans: torch.Tensor,
             part_num: torch.Tensor, pids: torch.Tensor,
             sample_names: Optional[Sequence[str]] = None
             ) -> Dict[str, torch.Tensor]:
        masks = self.part_masks(image_tokens, text_tokens, patch_labels,
                                part_spans, part_num, sample_names)
        regions, phrases = self.aggregate(image_tokens[:, 1:], text_tokens,
                                          masks)
        return dict(loss_align=self.info_nce(regions, phrases, masks.valid,
                                             pids))

    def info_nce(self, regions: torch.Tensor, phrases: torch.Tensor,
                 valid: torch.Tensor, pids: torch.Tensor) -> torch.Tensor:
        """Symmetric InfoNCE over the valid pairs.

        Args:
            regions (Tensor): ``(B, P, D)``.
            phrases (Tensor): ``(B, P, D)``.
            valid (Tensor): ``(B, P)`` bool.
            pids (Tensor): ``(B,)``.

        Returns:
            Tensor: scalar; an exact zero attached to the graph when no pair
            is valid.
        """
        # Keeps every parameter and both inputs in the graph (DDP).
        anchor = (regions.sum() + phrases.sum()).float() * 0.
        if not bool(valid.any()):
            return anchor
        owner = torch.arange(valid.shape[0], device=valid.device)
        owner = owner[:, None].expand_as(valid)[valid]
        owner_pid = pids.reshape(-1).to(valid.device)[owner]
        region_feats = F.normalize(regions[valid].float(), dim=-1)
        phrase_feats = F.normalize(phrases[valid].float(), dim=-1)
        logits = region_feats @ phrase_feats.t() / self.temperature
        same_identity_elsewhere = \
            (owner_pid[:, None] == owner_pid[None, :]) & \
            (owner[:, None] != owner[None, :])
        logits = logits.masked_fill(same_identity_elsewhere, float('-inf'))
        target = torch.arange(logits.shape[0], device=logits.device)
        return anchor + 0.5 * (F.cross_entropy(logits, target) +
                               F.cross_entropy(logits.t(), target))
