"""References of the ELCA tests: the official per-pair ELCA loss and random
part annotations of a batch (``benchmarks/elca_vectorised.py`` and
``benchmarks/gpu_train_step.py`` load them too)."""
from typing import Dict, Tuple

import numpy as np
import torch
import torch.nn.functional as F

from sapsam.models.alignment_heads import PartMasks


def make_part_annotations(batch: int, num_parts: int,
                          grid: Tuple[int, int] = (24, 8),
                          text_length: int = 77, full_parts: bool = True,
                          miss_rate: float = 0.1, seed: int = 0
                          ) -> Dict[str, torch.Tensor]:
    """Random but plausible part annotations of a batch.

    Each person occupies the middle columns of the patch grid; its rows are
    cut into one horizontal band per phrase (hair, upper body, ...). Each
    caption has 30-60 tokens with one 2-5 token span per phrase, in order;
    ``miss_rate`` of the spans are "not found" (-1).

    Returns:
        dict: ``text_ids`` ``(B, L)``, ``patch_labels`` ``(B, Hp * Wp)``,
        ``part_spans`` ``(B, P, 2)``, ``part_num`` ``(B,)``, ``pids``
        ``(B,)`` (two captions per identity).
    """
    rng = np.random.default_rng(seed)
    rows, cols = grid
    text_ids = np.zeros((batch, text_length), dtype=np.int64)
    labels = np.zeros((batch, rows, cols), dtype=np.int64)
    spans = np.full((batch, num_parts, 2), -1, dtype=np.int64)
    part_num = np.zeros(batch, dtype=np.int64)
    for b in range(batch):
        parts = num_parts if full_parts else \
            int(rng.integers(1, num_parts + 1))
        part_num[b] = parts
        cuts = np.sort(rng.choice(np.arange(1, rows), parts - 1,
                                  replace=False))
        bounds = np.concatenate([[0], cuts, [rows]])
        left = int(rng.integers(0, max(1, cols // 3)))
        right = int(rng.integers(cols - max(1, cols // 3), cols)) + 1
        for k in range(parts):
            labels[b, bounds[k]:bounds[k + 1], left:right] = k + 1
        length = int(rng.integers(30, min(60, text_length - 2) + 1))
        text_ids[b, 0] = 49406
        text_ids[b, 1:length + 1] = rng.integers(1, 49405, length)
        text_ids[b, length + 1] = 49407
        position = 1
        for k in range(parts):
            size = int(rng.integers(2, 6))
            start = position + int(rng.integers(0, 3))
            if start + size > length:
                break
            if rng.random() >= miss_rate:
                spans[b, k] = (start, start + size - 1)
            position = start + size
    return dict(text_ids=torch.from_numpy(text_ids),
                patch_labels=torch.from_numpy(labels.reshape(batch, -1)),
                part_spans=torch.from_numpy(spans),
                part_num=torch.from_numpy(part_num),
                pids=torch.arange(batch) // 2)


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
