"""Per-pair loop reference of :class:`ELCAAlign` (tests and benchmark only)."""
from typing import Tuple

import torch
import torch.nn.functional as F

from .base_alignment_head import PartMasks


def elca_loss_loop(head, image_tokens: torch.Tensor,
                   text_tokens: torch.Tensor, masks: PartMasks,
                   negatives: Tuple[torch.Tensor, torch.Tensor, torch.Tensor]
                   ) -> torch.Tensor:
    """ELCA loss computed pair by pair, as the official code does.

    Loops over samples and phrases and calls ``head.cross_attn`` once per
    positive and once per negative pair. With ``readout='cls'`` the query is
    the official ``[CLS; region patches]`` sequence read at position 0; with
    ``readout='region'`` it is the mean of the region's patch tokens, added
    back to the attention output.

    Args:
        head (ELCAAlign): The head whose modules are used.
        image_tokens (Tensor): ``(B, 1 + N, D)``.
        text_tokens (Tensor): ``(B, L, D)``.
        masks (PartMasks): From :func:`build_part_masks`.
        negatives (tuple): ``(neg_sample, neg_part, has_negative)`` from
            :func:`sample_phrase_negatives`.

    Returns:
        Tensor: scalar loss (zero when nothing is scored).
    """
    neg_sample, neg_part, has_negative = negatives
    batch, num_parts = masks.valid.shape

    def phrase_of(i: int, j: int) -> torch.Tensor:
        return text_tokens[i, masks.phrase[i, j]][None]

    features, labels = [], []
    for i in range(batch):
        for j in range(num_parts):
            if not masks.valid[i, j]:
                continue
            region = image_tokens[i, 1:][masks.region[i, j]]
            if head.readout == 'cls':
                query = torch.cat([image_tokens[i, :1], region])[None]
            else:
                query = region.mean(0, keepdim=True)[None]
            pairs = [(phrase_of(i, j), 1)]
            if has_negative[i, j]:
                pairs.append((phrase_of(int(neg_sample[i, j]),
                                        int(neg_part[i, j])), 0))
            for phrase, label in pairs:
                out = head.cross_attn(query, phrase, phrase,
                                      need_weights=False)[0][0, 0]
                if head.readout == 'region':
                    out = out + query[0, 0]
                features.append(out)
                labels.append(label)
    if not features:
        return image_tokens.sum() * 0. + text_tokens.sum() * 0.
    logits = head.classifier(torch.stack(features)).float()
    return F.cross_entropy(logits,
                           torch.tensor(labels, device=logits.device))
