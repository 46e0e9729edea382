"""Masked image cross-modal decoding (supp. Table 4)."""
from collections import OrderedDict
from typing import Dict, Optional, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.model import BaseModule
from open_clip.transformer import LayerNorm, QuickGELU

from sapsam.registry import MODELS
from sapsam.utils.typing_utils import OptConfigType

#: Table 4 variants -> where the patches are masked.
VARIANTS = {
    'discrete': 'patch_embed',
    'discrete_wo_background': 'patch_embed',
    'linear_after_pe': 'patch_embed',
    'linear_after_vit': 'vit_output',
}


@MODELS.register_module()
class ImageDecodingHead(BaseModule):
    """Mask image patches, decode them with the text, predict the originals.

    Variants (supp. Table 4, rows 1-4):

    - ``'discrete'``: mask the patch embeddings (before the ViT); predict
      the id of each masked patch given by a frozen image tokenizer (DALL-E
      dVAE) with an MLP and cross-entropy (BEiT-style).
    - ``'discrete_wo_background'``: same, ignoring patches whose id is
      ``background_token_id`` (0, about 31 % of the patches per supp.).
    - ``'linear_after_pe'``: mask the patch embeddings; regress the original
      ``vision_width`` patch embedding with a linear layer, MSE (official
      ``mim_part``; best row of Table 4).
    - ``'linear_after_vit'``: mask the ViT output tokens; regress the clean
      output tokens (D) with a linear layer, MSE.

    Masking is part-aware: a foreground patch (part label > 0) is masked with
    probability ``foreground_mask_rate`` (0.5), a background patch with
    ``background_mask_rate`` (0.2), both drawn with ``torch.rand``. With
    ``faithful=True`` the draw is ``torch.randn < rate`` as in the official
    code (docs/fidelity.md D1), which masks about 69 % / 58 % instead.
    Regression targets are detached (the encoder cannot shrink its own
    targets).

    The model (``SAPSAM``) owns the encoders and the cross-modal decoder; it
    calls :meth:`sample_mask`, :meth:`mask_tokens`, :meth:`targets` and
    :meth:`loss`, and masks where :attr:`mask_position` says.

    Args:
        variant (str): One of :data:`VARIANTS`.
        embed_dim (int): Decoder width D. Defaults to 512.
        vision_width (int): ViT width (patch embedding size). Defaults to 768.
        foreground_mask_rate (float): Defaults to 0.5.
        background_mask_rate (float): Defaults to 0.2.
        faithful (bool): Draw with ``randn`` (D1). Defaults to False.
        image_tokenizer (dict, optional): Tokenizer config, required by the
            discrete variants (e.g. ``dict(type='DVAEImageTokenizer',
            checkpoint=...)``).
        background_token_id (int): Id ignored by
            ``'discrete_wo_background'``. Defaults to 0.
        init_cfg (dict, optional): MMEngine init config.
    """

    def __init__(self, variant: str = 'linear_after_pe',
                 embed_dim: int = 512, vision_width: int = 768,
                 foreground_mask_rate: float = 0.5,
                 background_mask_rate: float = 0.2, faithful: bool = False,
                 image_tokenizer: OptConfigType = None,
                 background_token_id: int = 0,
                 init_cfg: OptConfigType = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if variant not in VARIANTS:
            raise ValueError(f'unknown image decoding variant {variant!r}; '
                             f'known: {sorted(VARIANTS)}')
        for name, rate in (('foreground_mask_rate', foreground_mask_rate),
                           ('background_mask_rate', background_mask_rate)):
            if not 0 <= rate <= 1:
                raise ValueError(f'{name} must lie in [0, 1], got {rate}')
        self.variant = variant
        self.mask_position = VARIANTS[variant]
        self.discrete = variant.startswith('discrete')
        self.foreground_mask_rate = foreground_mask_rate
        self.background_mask_rate = background_mask_rate
        self.faithful = faithful
        self.background_token_id = background_token_id
        mask_width = vision_width if self.mask_position == 'patch_embed' \
            else embed_dim
        self.mask_token = nn.Parameter(torch.randn(1, 1, mask_width) * 0.02)
        self.image_tokenizer = None
        if self.discrete:
            if image_tokenizer is None:
                raise ValueError(f'variant {variant!r} needs an '
                                 f'image_tokenizer config')
            self.image_tokenizer = MODELS.build(image_tokenizer)
            vocab = self.image_tokenizer.vocab_size
            self.predictor = nn.Sequential(OrderedDict([
                ('dense', nn.Linear(embed_dim, embed_dim)),
                ('gelu', QuickGELU()),
                ('ln', LayerNorm(embed_dim)),
                ('fc', nn.Linear(embed_dim, vocab)),
            ]))
        else:
            out_dim = vision_width if variant == 'linear_after_pe' \
                else embed_dim
            self.predictor = nn.Linear(embed_dim, out_dim)

    def sample_mask(self, patch_labels: torch.Tensor) -> torch.Tensor:
        """Which patches to mask.

        Args:
            patch_labels (Tensor): ``(B, N)``; > 0 = foreground.

        Returns:
            Tensor: ``(B, N)`` bool.
        """
        draw = torch.randn if self.faithful else torch.rand
        noise = draw(patch_labels.shape, device=patch_labels.device)
        rate = torch.where(patch_labels > 0,
                           noise.new_tensor(self.foreground_mask_rate),
                           noise.new_tensor(self.background_mask_rate))
        return noise < rate

    def mask_tokens(self, tokens: torch.Tensor,
                    mask: torch.Tensor) -> torch.Tensor:
        """Replace the masked tokens ``(B, N, C)`` by the mask token."""
        if tokens.shape[-1] != self.mask_token.shape[-1]:
            raise ValueError(f'{self.variant}: tokens of width '
                             f'{tokens.shape[-1]}, mask token of width '
                             f'{self.mask_token.shape[-1]}')
        return torch.where(mask[..., None], self.mask_token.to(tokens.dtype),
                           tokens)

    def targets(self, images: torch.Tensor,
                patch_embeds: Optional[torch.Tensor],
                patch_tokens: Optional[torch.Tensor],
                grid_size: Tuple[int, int]) -> torch.Tensor:
        """Prediction targets of every patch.

        Args:
            images (Tensor): ``(B, 3, H, W)`` normalised images.
            patch_embeds (Tensor, optional): ``(B, N, vision_width)`` clean
                patch embeddings (``linear_after_pe``).
            patch_tokens (Tensor, optional): ``(B, N, D)`` clean ViT output
                patch tokens (``linear_after_vit``).
            grid_size (tuple): ``(Hp, Wp)``.

        Returns:
            Tensor: ``(B, N)`` ids (discrete) or detached ``(B, N, C)``
            regression targets.
        """
        if self.discrete:
            return self.image_tokenizer(images, grid_size)
        source = patch_embeds if self.variant == 'linear_after_pe' \
            else patch_tokens
        if source is None:
            raise ValueError(f'{self.variant} needs its clean tokens')
        return source.detach()

    def loss(self, decoded: torch.Tensor, targets: torch.Tensor,
             mask: torch.Tensor) -> Dict[str, torch.Tensor]:
        """
        Args:
            decoded (Tensor): ``(B, N, D)`` decoder outputs at the patches.
            targets (Tensor): From :meth:`targets`.
            mask (Tensor): ``(B, N)`` bool masked patches.

        Returns:
            dict: ``loss_mim``; zero (attached to the graph) when nothing
            is masked or every masked patch is ignored.
        """
        selected = mask
        if self.variant == 'discrete_wo_background':
            selected = selected & (targets != self.background_token_id)
        anchor = self.predictor(decoded[:, :1]).float().sum() * 0.
        if not bool(selected.any()):
            return dict(loss_mim=anchor)
        prediction = self.predictor(decoded[selected]).float()
        if self.discrete:
            loss = F.cross_entropy(prediction, targets[selected])
        else:
            loss = F.mse_loss(prediction, targets[selected].float())
        return dict(loss_mim=loss + anchor)
