"""Shared base of the region-phrase alignment heads and their batch helpers.

Every alignment head receives the same padded batch:

- ``image_tokens`` ``(B, 1 + N, D)``: [CLS] then the N patch tokens,
- ``text_tokens`` ``(B, L, D)``: all caption tokens,
- ``patch_labels`` ``(B, N)``: 0 = background, k = region of phrase k,
- ``part_spans`` ``(B, P, 2)``: inclusive token span of phrase k (row k-1),
  ``-1`` where the phrase was not found in the caption,
- ``part_num`` ``(B,)``: number of real phrases,
- ``pids`` ``(B,)``: identities.

Phrase k of sample b takes part ("is valid") when k <= part_num[b], its span
was found and its region holds at least one patch. The helpers here turn the
batch into boolean masks and padded sequences so that no head loops over
samples or phrases.
"""
from abc import ABCMeta, abstractmethod
from typing import Dict, NamedTuple, Optional, Sequence, Tuple

import torch
from mmengine.model import BaseModule

from sapsam.utils.typing_utils import OptConfigType


class PartMasks(NamedTuple):
    """Boolean masks of a batch of parts.

    Attributes:
        region (Tensor): ``(B, P, N)``; patch n belongs to region p.
        phrase (Tensor): ``(B, P, L)``; token l belongs to phrase p.
        valid (Tensor): ``(B, P)``; the (region, phrase) pair takes part.
    """
    region: torch.Tensor
    phrase: torch.Tensor
    valid: torch.Tensor


def _sample_name(index: int, sample_names: Optional[Sequence[str]]) -> str:
    if sample_names is not None and index < len(sample_names):
        return f'sample {index} ({sample_names[index]})'
    return f'sample {index}'


def build_part_masks(patch_labels: torch.Tensor,
                     part_spans: torch.Tensor,
                     part_num: torch.Tensor,
                     text_length: int,
                     sample_names: Optional[Sequence[str]] = None
                     ) -> PartMasks:
    """Check a batch of part annotations and build its masks.

    Args:
        patch_labels (Tensor): ``(B, N)`` int labels in ``[0, P]``.
        part_spans (Tensor): ``(B, P, 2)`` inclusive spans, ``-1`` = absent.
        part_num (Tensor): ``(B,)`` number of real phrases, in ``[0, P]``.
        text_length (int): L, the caption length the spans index into.
        sample_names (sequence of str, optional): Names (image paths) used in
            error messages.

    Returns:
        PartMasks: region ``(B, P, N)``, phrase ``(B, P, L)`` and valid
        ``(B, P)`` masks.

    Raises:
        ValueError: naming the sample and the offending value.
    """
    if patch_labels.dim() != 2:
        raise ValueError(f'patch_labels must be (B, N), got '
                         f'{tuple(patch_labels.shape)}')
    if part_spans.dim() != 3 or part_spans.shape[-1] != 2 or \
            part_spans.shape[0] != patch_labels.shape[0]:
        raise ValueError(f'part_spans must be (B, P, 2) with B = '
                         f'{patch_labels.shape[0]}, got '
                         f'{tuple(part_spans.shape)}')
    num_parts = part_spans.shape[1]
    part_num = part_num.reshape(-1)
    if part_num.numel() != patch_labels.shape[0]:
        raise ValueError(f'part_num must have one entry per sample, got '
                         f'{part_num.numel()} for {patch_labels.shape[0]} '
                         f'samples')
    starts, ends = part_spans[..., 0], part_spans[..., 1]
    found = starts >= 0
    checks = [
        (((patch_labels < 0) | (patch_labels > num_parts)).any(1),
         f'patch_labels outside [0, {num_parts}]'),
        ((part_num < 0) | (part_num > num_parts),
         f'part_num outside [0, {num_parts}]'),
        ((found & ((ends < starts) | (ends >= text_length))).any(1),
         f'a found part span (start >= 0) must satisfy start <= end < '
         f'{text_length}'),
    ]
    for bad, what in checks:
        if bad.any():
            index = int(bad.nonzero()[0, 0])
            raise ValueError(
                f'{_sample_name(index, sample_names)}: {what}; '
                f'patch_labels max {int(patch_labels[index].max())}, '
                f'part_num {int(part_num[index])}, part_spans '
                f'{part_spans[index].tolist()}')

    part_ids = torch.arange(1, num_parts + 1, device=patch_labels.device)
    region = patch_labels[:, None, :] == part_ids[None, :, None]
    positions = torch.arange(text_length, device=part_spans.device)
    phrase = (positions >= starts[..., None]) & \
        (positions <= ends[..., None]) & found[..., None]
    listed = part_ids[None, :] <= part_num[:, None]
    valid = listed & found & region.any(-1)
    return PartMasks(region, phrase, valid)


def masked_mean(tokens: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of the tokens selected by each mask row.

    Args:
        tokens (Tensor): ``(B, T, D)``.
        mask (Tensor): ``(B, P, T)`` bool.

    Returns:
        Tensor: ``(B, P, D)``; rows with an empty mask are zero.
    """
    weights = mask.to(tokens.dtype)
    counts = weights.sum(-1, keepdim=True).clamp(min=1)
    return torch.einsum('bpt,btd->bpd', weights / counts, tokens)


def gather_masked_tokens(tokens: torch.Tensor, mask: torch.Tensor
                         ) -> Tuple[torch.Tensor, torch.Tensor]:
    """Pack the tokens selected by each mask row into a padded sequence.

    The selected tokens keep their order (raster order for patches).

    Args:
        tokens (Tensor): ``(B, T, D)``.
        mask (Tensor): ``(B, P, T)`` bool.

    Returns:
        tuple: ``(B, P, S, D)`` sequences and their ``(B, P, S)`` bool
        padding masks (True = real token), S = the largest row count (>= 1).
    """
    batch, num_parts, _ = mask.shape
    counts = mask.sum(-1)
    length = max(int(counts.max()) if counts.numel() else 0, 1)
    # Stable sort of (not selected) puts the selected positions first, in
    # their original order.
    order = torch.argsort((~mask).to(torch.uint8), dim=-1, stable=True)
    order = order[..., :length]
    dim = tokens.shape[-1]
    sequences = tokens.gather(
        1, order.reshape(batch, num_parts * length, 1).expand(-1, -1, dim))
    sequences = sequences.reshape(batch, num_parts, length, dim)
    seq_mask = torch.arange(length, device=mask.device) < counts[..., None]
    return sequences, seq_mask


def sample_phrase_negatives(valid: torch.Tensor, pids: torch.Tensor,
                            generator: Optional[torch.Generator] = None
                            ) -> Tuple[torch.Tensor, torch.Tensor,
                                       torch.Tensor]:
    """Draw one cross-identity phrase negative for every part slot.

    For the part slot (i, j) a sample k is drawn uniformly among the samples
    with another identity that have at least one valid part (official ELCA,
    docs/fidelity.md E2), then one of k's valid phrases uniformly. The draw
    uses ``2 * B * P`` uniforms from ``generator`` (or the global RNG), so any
    implementation given the output sees the same negatives.

    Args:
        valid (Tensor): ``(B, P)`` bool valid parts.
        pids (Tensor): ``(B,)`` identities.
        generator (torch.Generator, optional): Source of randomness.

    Returns:
        tuple: ``neg_sample`` ``(B, P)`` and ``neg_part`` ``(B, P)`` int64
        indices of the negative phrase, and ``has_negative`` ``(B, P)`` bool
        (valid slot whose sample has at least one candidate).
    """
    batch, num_parts = valid.shape
    device = valid.device
    draw_device = generator.device if generator is not None else device
    uniforms = torch.rand((2, batch, num_parts), generator=generator,
                          device=draw_device).to(device)
    pids = pids.reshape(-1).to(device)
    sample_ok = valid.any(1)
    candidates = (pids[:, None] != pids[None, :]) & sample_ok[None, :] & \
        sample_ok[:, None]

    def nth_true(flags: torch.Tensor, counts: torch.Tensor,
                 uniform: torch.Tensor) -> torch.Tensor:
        # Index of the r-th True of each row of ``flags`` (B, P, T) with
        # r = floor(uniform * count).
        rank = (uniform * counts).long()
        rank = torch.minimum(rank, (counts - 1).clamp(min=0))
        index = (flags.cumsum(-1) <= rank[..., None]).sum(-1)
        return index.clamp(max=flags.shape[-1] - 1)

    counts = candidates.sum(1)
    neg_sample = nth_true(candidates[:, None, :].expand(-1, num_parts, -1),
                          counts[:, None], uniforms[0])
    part_flags = valid[neg_sample]  # (B, P, P)
    neg_part = nth_true(part_flags, part_flags.sum(-1), uniforms[1])
    has_negative = valid & (counts > 0)[:, None]
    return neg_sample, neg_part, has_negative


def sample_region_matched_negatives(
        region: torch.Tensor, valid: torch.Tensor, pids: torch.Tensor,
        generator: Optional[torch.Generator] = None, jitter: float = 0.1
) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Draw, for every part slot, the phrase of another identity whose
    region overlaps the slot's region most: a hard negative about the same
    body part (another colour or garment), not one that the part's place
    alone rules out (shoes for a hair region).

    Candidates are the valid slots of samples with another identity; the
    score is the patch IoU of the two regions plus ``jitter`` times a
    uniform draw (``B * P * B * P`` uniforms from ``generator``), so ties
    and near-ties are broken at random.

    Args:
        region (Tensor): ``(B, P, N)`` bool patch masks.
        valid (Tensor): ``(B, P)`` bool valid parts.
        pids (Tensor): ``(B,)`` identities.
        generator (torch.Generator, optional): Source of randomness.
        jitter (float): Weight of the random term. Defaults to 0.1.

    Returns:
        tuple: ``neg_sample``, ``neg_part`` and ``has_negative``, as
        :func:`sample_phrase_negatives`.
    """
    batch, num_parts, _ = region.shape
    device = region.device
    draw_device = generator.device if generator is not None else device
    uniforms = torch.rand((batch * num_parts, batch * num_parts),
                          generator=generator, device=draw_device).to(device)
    flat = region.reshape(batch * num_parts, -1).float()
    inter = flat @ flat.t()
    area = flat.sum(-1)
    iou = inter / (area[:, None] + area[None, :] - inter).clamp(min=1.)
    pids = pids.reshape(-1).to(device)
    other = (pids[:, None] != pids[None, :]).repeat_interleave(
        num_parts, 0).repeat_interleave(num_parts, 1)
    allowed = other & valid.reshape(1, -1)
    score = torch.where(allowed, iou + jitter * uniforms,
                        torch.full_like(iou, -1.))
    best = score.argmax(-1).reshape(batch, num_parts)
    has_negative = valid & allowed.any(-1).reshape(batch, num_parts)
    return best // num_parts, best % num_parts, has_negative


class BaseAlignmentHead(BaseModule, metaclass=ABCMeta):
    """Base of the heads that align image regions with caption phrases.

    Subclasses implement :meth:`loss`; they must return a finite loss that
    depends on every one of their parameters and on both token inputs even
    when no part is valid (so DDP sees no unused parameter).

    Args:
        embed_dim (int): Token width D; inputs of another width are rejected.
        init_cfg (dict, optional): MMEngine init config.
    """

    def __init__(self, embed_dim: int = 512,
                 init_cfg: OptConfigType = None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.embed_dim = embed_dim

    def part_masks(self, image_tokens: torch.Tensor,
                   text_tokens: torch.Tensor, patch_labels: torch.Tensor,
                   part_spans: torch.Tensor, part_num: torch.Tensor,
                   sample_names: Optional[Sequence[str]] = None
                   ) -> PartMasks:
        """Check the token shapes against the annotations; build the masks."""
        if image_tokens.shape[-1] != self.embed_dim or \
                text_tokens.shape[-1] != self.embed_dim:
            raise ValueError(
                f'{type(self).__name__}(embed_dim={self.embed_dim}) got image '
                f'tokens {tuple(image_tokens.shape)} and text tokens '
                f'{tuple(text_tokens.shape)}')
        if image_tokens.shape[1] != patch_labels.shape[1] + 1:
            raise ValueError(
                f'image_tokens {tuple(image_tokens.shape)} must hold [CLS] '
                f'plus one token per patch label ({patch_labels.shape[1]})')
        return build_part_masks(patch_labels, part_spans, part_num,
                                text_tokens.shape[1], sample_names)

    @abstractmethod
    def loss(self, image_tokens: torch.Tensor, text_tokens: torch.Tensor,
             patch_labels: torch.Tensor, part_spans: torch.Tensor,
             part_num: torch.Tensor, pids: torch.Tensor,
             sample_names: Optional[Sequence[str]] = None
             ) -> Dict[str, torch.Tensor]:
        """Alignment loss of a batch.

        Args:
            image_tokens (Tensor): ``(B, 1 + N, D)``.
            text_tokens (Tensor): ``(B, L, D)``.
            patch_labels (Tensor): ``(B, N)``.
            part_spans (Tensor): ``(B, P, 2)``.
            part_num (Tensor): ``(B,)``.
            pids (Tensor): ``(B,)``.
            sample_names (sequence of str, optional): For error messages.

        Returns:
            dict: ``loss_align`` (scalar) and optional logged metrics.
        """
