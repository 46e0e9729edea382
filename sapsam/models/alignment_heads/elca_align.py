"""Explicit local concept alignment (ELCA), vectorised."""
from collections import OrderedDict
from typing import Dict, Optional, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from open_clip.transformer import LayerNorm, QuickGELU

from sapsam.registry import MODELS
from sapsam.utils.typing_utils import OptConfigType
from .base_alignment_head import (BaseAlignmentHead, PartMasks,
                                  gather_masked_tokens, masked_mean,
                                  sample_phrase_negatives,
                                  sample_region_matched_negatives)

#: How the matching feature of a (region, phrase) pair is read.
READOUTS = ('region', 'cls')
#: How the negative phrase of a region is drawn.
NEGATIVES = ('random', 'region_matched')


@MODELS.register_module()
class ELCAAlign(BaseAlignmentHead):
    """Cross-attention matching of image regions with caption phrases.

    For every valid part (i, j), a query built from image i attends over the
    tokens of phrase (i, j) (positive, label 1) and over the tokens of one
    phrase drawn from another identity (negative, label 0; see
    :func:`sample_phrase_negatives`). The attention output goes through a
    2-way classifier ``Linear -> QuickGELU -> LayerNorm -> Linear``; the loss
    is the cross-entropy over all positive and negative pairs (docs/fidelity.md
    section 5.4).

    Readouts:

    - ``'cls'`` (faithful, the official code): the query sequence is
      ``[CLS; region patches]`` and the output is read at the [CLS] position.
      Attention gives each query its own output, so this equals attending
      with the [CLS] token alone: the region's patches never shape the score
      nor get a gradient; the part masks only choose which phrases take part.
      It is computed that way here.
      As in the official code there is no residual: the image reaches the
      score only through the softmax weights over the phrase tokens (a
      one-token phrase is scored without looking at the image).
    - ``'region'`` (default): the query is the mean of the region's patch
      tokens and is added back to the attention output
      (``h = q + MHA(q, P, P)``), so the score depends on the region the
      phrase was segmented to, also through its own content, and the loss
      trains the patch tokens of that region. This is the alignment the
      paper describes (explicit local concepts); it is the default because
      with ``'cls'`` the Person-SAM masks only filter phrases. Only the
      ``'cls'`` readout has published numbers (supp. Table 6: 73.59 R@1 on
      CUHK-PEDES).

    Vectorised: queries, phrases and negatives are padded to ``(B, 2P, ...)``
    slots with masks; there is no loop over samples or phrases. The key/value
    projections run once per phrase token (negatives reuse the positives'
    projected phrases). The per-pair reference is in the tests.

    Args:
        embed_dim (int): Token width D. Defaults to 512.
        num_heads (int): Attention heads. Defaults to 8.
        readout (str): ``'region'`` or ``'cls'``. Defaults to ``'region'``.
        init_depth (int): Depth of the cross-modal decoder the official
            initialisation is scaled for: the output projections are drawn
            with std ``embed_dim ** -0.5 * (2 * init_depth) ** -0.5`` (IRRA's
            rule for a residual stack of that many layers). It changes only
            the initial weights. Defaults to 4, the official decoder's depth.
        negatives (str): ``'random'`` (official): a phrase of a random
            other-identity sample (:func:`sample_phrase_negatives`), most
            often about another body part, which the region's place alone
            rejects; ``'region_matched'``: the other-identity phrase whose
            region overlaps most (:func:`sample_region_matched_negatives`),
            so only the attribute (colour, garment) tells them apart.
            Defaults to ``'random'``.
        init_cfg (dict, optional): MMEngine init config.

    Examples:
        >>> from sapsam.registry import MODELS
        >>> head = MODELS.build(dict(type='ELCAAlign', embed_dim=64,
        ...                          num_heads=2, readout='cls'))
    """

    def __init__(self, embed_dim: int = 512, num_heads: int = 8,
                 readout: str = 'region',
                 init_depth: int = 4,
                 negatives: str = 'random',
                 init_cfg: OptConfigType = None) -> None:
        super().__init__(embed_dim=embed_dim, init_cfg=init_cfg)
        if readout not in READOUTS:
            raise ValueError(f'readout must be one of {READOUTS}, got '
                             f'{readout!r}')
        if negatives not in NEGATIVES:
            raise ValueError(f'negatives must be one of {NEGATIVES}, got '
                             f'{negatives!r}')
        self.negatives = negatives
        if init_depth < 1:
            raise ValueError(f'init_depth must be >= 1, got {init_depth}')
        if embed_dim % num_heads:
            raise ValueError(f'embed_dim {embed_dim} is not divisible by '
                             f'num_heads {num_heads}')
        self.readout = readout
        self.num_heads = num_heads
        self.cross_attn = nn.MultiheadAttention(embed_dim, num_heads,
                                                batch_first=True)
        self.classifier = nn.Sequential(OrderedDict([
            ('dense', nn.Linear(embed_dim, embed_dim)),
            ('gelu', QuickGELU()),
            ('ln', LayerNorm(embed_dim)),
            ('fc', nn.Linear(embed_dim, 2)),
        ]))
        # Official initialisation (IRRA widths, init_depth cross-modal
        # layers).
        proj_std = embed_dim ** -0.5 * (2 * init_depth) ** -0.5
        nn.init.normal_(self.cross_attn.in_proj_weight, std=embed_dim ** -0.5)
        nn.init.normal_(self.cross_attn.out_proj.weight, std=proj_std)
        nn.init.normal_(self.classifier.dense.weight,
                        std=(2 * embed_dim) ** -0.5)
        nn.init.normal_(self.classifier.fc.weight, std=proj_std)

    # ---------------------------------------------------------------- parts
    def region_queries(self, image_tokens: torch.Tensor,
                       masks: PartMasks) -> torch.Tensor:
        """One query token per part slot, ``(B, P, D)``.

        ``'cls'``: the image [CLS] token for every part. ``'region'``: the
        mean of the region's patch tokens (zero for empty regions).
        """
        if self.readout == 'cls':
            return image_tokens[:, :1].expand(-1, masks.valid.shape[1], -1)
        return masked_mean(image_tokens[:, 1:], masks.region)

    def match_logits(self, queries: torch.Tensor, phrases: torch.Tensor,
                     phrase_mask: torch.Tensor, neg_sample: torch.Tensor,
                     neg_part: torch.Tensor) -> torch.Tensor:
        """Matching logits of the positive and negative slots.

        Args:
            queries (Tensor): ``(B, P, D)``.
            phrases (Tensor): ``(B, P, S, D)`` padded phrase tokens.
            phrase_mask (Tensor): ``(B, P, S)`` bool, True = real token.
            neg_sample, neg_part (Tensor): ``(B, P)`` negative phrase index.

        Returns:
            Tensor: ``(B, 2P, 2)`` float logits; slot p < P pairs part p with
            its own phrase, slot P + p with its negative. The ``'region'``
            readout adds the query to the attention output.
        """
        batch, num_parts, length, dim = phrases.shape
        heads, head_dim = self.num_heads, dim // self.num_heads
        # Keep padded slots finite: let an empty phrase attend to position 0.
        empty = ~phrase_mask.any(-1, keepdim=True)
        first = torch.arange(length, device=phrase_mask.device) == 0
        phrase_mask = phrase_mask | (empty & first)

        w_q, w_k, w_v = self.cross_attn.in_proj_weight.chunk(3)
        b_q, b_k, b_v = self.cross_attn.in_proj_bias.chunk(3)
        q = F.linear(queries, w_q, b_q)
        k = F.linear(phrases, w_k, b_k)
        v = F.linear(phrases, w_v, b_v)
        slots = torch.cat([q, q], 1).reshape(batch, 2 * num_parts, heads,
                                             head_dim)
        k = torch.cat([k, k[neg_sample, neg_part]], 1)
        v = torch.cat([v, v[neg_sample, neg_part]], 1)
        key_mask = torch.cat([phrase_mask, phrase_mask[neg_sample, neg_part]],
                             1)
        # One query per slot attends over the slot's phrase tokens:
        # (B, 2P, H, 1, hd) queries, (B, 2P, H, S, hd) keys and values.
        k = k.reshape(batch, 2 * num_parts, length, heads,
                      head_dim).transpose(2, 3)
        v = v.reshape(batch, 2 * num_parts, length, heads,
                      head_dim).transpose(2, 3)
        out = F.scaled_dot_product_attention(
            slots[:, :, :, None], k, v,
            attn_mask=key_mask[:, :, None, None, :]).reshape(
                batch, 2 * num_parts, dim)
        out = self.cross_attn.out_proj(out)
        if self.readout == 'region':
            out = out + torch.cat([queries, queries], 1)
        return self.classifier(out).float()

    def loss(self, image_tokens: torch.Tensor, text_tokens: torch.Tensor,
             patch_labels: torch.Tensor, part_spans: torch.Tensor,
             part_num: torch.Tensor, pids: torch.Tensor,
             sample_names: Optional[Sequence[str]] = None,
             negatives: Optional[Tuple[torch.Tensor, ...]] = None,
             generator: Optional[torch.Generator] = None
             ) -> Dict[str, torch.Tensor]:
        """Matching loss; see :meth:`BaseAlignmentHead.loss`.

        Args:
            negatives (tuple, optional): Output of
                :func:`sample_phrase_negatives` for these masks; drawn here
                (from ``generator``) when omitted.
            generator (torch.Generator, optional): RNG of the negatives.

        Returns:
            dict: ``loss_align`` and ``align_acc`` (accuracy of the matching
            classifier over the scored pairs, logged only).
        """
        if self.cross_attn.dropout:
            raise ValueError('ELCAAlign expects attention dropout 0')
        masks = self.part_masks(image_tokens, text_tokens, patch_labels,
                                part_spans, part_num, sample_names)
        if negatives is None and self.negatives == 'region_matched':
            negatives = sample_region_matched_negatives(
                masks.region, masks.valid, pids, generator)
        elif negatives is None:
            negatives = sample_phrase_negatives(masks.valid, pids, generator)
        neg_sample, neg_part, has_negative = negatives
        phrases, phrase_mask = gather_masked_tokens(text_tokens, masks.phrase)
        logits = self.match_logits(
            self.region_queries(image_tokens, masks), phrases, phrase_mask,
            neg_sample, neg_part)
        scored = torch.cat([masks.valid, has_negative], 1)
        labels = torch.cat([torch.ones_like(masks.valid, dtype=torch.long),
                            torch.zeros_like(masks.valid, dtype=torch.long)],
                           1)
        # Keeps every parameter and both inputs in the graph (DDP).
        anchor = logits.sum() * 0.
        if not bool(scored.any()):
            return dict(loss_align=anchor, align_acc=anchor.detach())
        logits, labels = logits[scored], labels[scored]
        loss = F.cross_entropy(logits, labels) + anchor
        acc = (logits.argmax(-1) == labels).float().mean().detach()
        return dict(loss_align=loss, align_acc=acc)
