"""DALL-E dVAE encoder as a frozen image tokenizer (BEiT-style targets)."""
import os
import pickle
from collections import OrderedDict
from typing import Dict, Optional, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.logging import print_log
from mmengine.model import BaseModule

from sapsam.registry import MODELS

#: OpenAI CLIP normalisation (0-1 range) of the images the model receives.
CLIP_MEAN_01 = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD_01 = (0.26862954, 0.26130258, 0.27577711)


class _EncoderBlock(nn.Module):
    """DALL-E encoder bottleneck: ``id_path(x) + gain * res_path(x)``."""

    def __init__(self, in_channels: int, out_channels: int,
                 num_layers: int) -> None:
        super().__init__()
        hidden = out_channels // 4
        self.post_gain = 1. / num_layers ** 2
        self.id_path = nn.Identity() if in_channels == out_channels else \
            nn.Conv2d(in_channels, out_channels, 1)
        self.res_path = nn.Sequential(OrderedDict([
            ('relu_1', nn.ReLU()),
            ('conv_1', nn.Conv2d(in_channels, hidden, 3, padding=1)),
            ('relu_2', nn.ReLU()),
            ('conv_2', nn.Conv2d(hidden, hidden, 3, padding=1)),
            ('relu_3', nn.ReLU()),
            ('conv_3', nn.Conv2d(hidden, hidden, 3, padding=1)),
            ('relu_4', nn.ReLU()),
            ('conv_4', nn.Conv2d(hidden, out_channels, 1)),
        ]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.id_path(x) + self.post_gain * self.res_path(x)


@MODELS.register_module()
class DVAEImageTokenizer(BaseModule):
    """Frozen DALL-E dVAE encoder mapping images to discrete token ids.

    The module layout and parameter names follow OpenAI's DALL-E encoder
    (``blocks.input``, ``blocks.group_{1..G}.block_{k}.{id_path,res_path}``,
    ``blocks.output.conv``), so its state dict loads directly; DALL-E's own
    ``.w``/``.b`` parameter names are accepted too. Each group but the last
    halves the resolution, so one id covers ``2 ** (G - 1)`` pixels: the
    images are resized to ``grid * 2 ** (G - 1)`` (192x64 for a 24x8 ViT
    grid) and the ids line up with the ViT patches.

    The official ``encoder.pkl`` is a pickled module of the ``dall_e``
    package; save its ``state_dict()`` once (where ``dall_e`` is installed)
    and point ``checkpoint`` at that file.

    Args:
        checkpoint (str, optional): Local path of the encoder state dict.
        vocab_size (int): Number of image token ids. Defaults to 8192.
        hidden_dim (int): Width of the first group (DALL-E ``n_hid``).
            Defaults to 256.
        blocks_per_group (int): Defaults to 2.
        group_count (int): Defaults to 4.
        mean (sequence): Per-channel mean (0-1 range) used to normalise the
            input images; undone before tokenising. Defaults to CLIP's.
        std (sequence): Per-channel std (0-1 range). Defaults to CLIP's.
        logit_laplace_eps (float): DALL-E's pixel mapping
            ``x -> (1 - 2 eps) x + eps``. Defaults to 0.1.
        init_cfg (dict, optional): MMEngine init config.
    """

    def __init__(self, checkpoint: Optional[str] = None,
                 vocab_size: int = 8192, hidden_dim: int = 256,
                 blocks_per_group: int = 2, group_count: int = 4,
                 mean: Sequence[float] = CLIP_MEAN_01,
                 std: Sequence[float] = CLIP_STD_01,
                 logit_laplace_eps: float = 0.1,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if hidden_dim % 4:
            raise ValueError(f'hidden_dim must be divisible by 4, got '
                             f'{hidden_dim}')
        self.vocab_size = vocab_size
        self.downsample = 2 ** (group_count - 1)
        self.logit_laplace_eps = logit_laplace_eps
        num_layers = group_count * blocks_per_group
        layers = [('input', nn.Conv2d(3, hidden_dim, 7, padding=3))]
        in_width = hidden_dim
        for group in range(1, group_count + 1):
            width = hidden_dim * 2 ** (group - 1)
            blocks = []
            for k in range(1, blocks_per_group + 1):
                blocks.append((f'block_{k}',
                               _EncoderBlock(in_width, width, num_layers)))
                in_width = width
            if group < group_count:
                blocks.append(('pool', nn.MaxPool2d(2)))
            layers.append((f'group_{group}',
                           nn.Sequential(OrderedDict(blocks))))
        layers.append(('output', nn.Sequential(OrderedDict([
            ('relu', nn.ReLU()),
            ('conv', nn.Conv2d(in_width, vocab_size, 1))]))))
        self.blocks = nn.Sequential(OrderedDict(layers))
        self.register_buffer('mean', torch.tensor(mean).view(1, 3, 1, 1),
                             persistent=False)
        self.register_buffer('std', torch.tensor(std).view(1, 3, 1, 1),
                             persistent=False)
        self.requires_grad_(False)
        self.checkpoint = checkpoint
        if checkpoint is not None:
            self.load_checkpoint(checkpoint)

    def train(self, mode: bool = True) -> 'DVAEImageTokenizer':
        """The tokenizer is frozen: it always stays in eval mode."""
        return super().train(False)

    def load_checkpoint(self, path: str) -> None:
        """Load encoder weights from a local state dict file.

        Raises:
            FileNotFoundError: if ``path`` does not exist.
            RuntimeError: naming the file and the missing, unexpected or
                mis-shaped keys, or explaining how to convert a pickled
                ``dall_e`` module.
        """
        if not os.path.isfile(path):
            raise FileNotFoundError(f'dVAE encoder checkpoint not found: '
                                    f'{path}')
        try:
            state = torch.load(path, map_location='cpu', weights_only=True)
        except (pickle.UnpicklingError, RuntimeError, AttributeError) as err:
            raise RuntimeError(
                f'{path} is not a plain state dict ({type(err).__name__}). '
                f'The official DALL-E encoder.pkl pickles a dall_e module: '
                f'save its state_dict() with torch.save where dall_e is '
                f'installed and load that file') from err
        for key in ('state_dict', 'model'):
            if isinstance(state, dict) and isinstance(state.get(key), dict):
                state = state[key]
        state = self._rename_dalle_keys(state)
        own = self.state_dict()
        missing = sorted(set(own) - set(state))
        unexpected = sorted(set(state) - set(own))
        mismatched = [f'{k} {tuple(state[k].shape)} vs {tuple(own[k].shape)}'
                      for k in sorted(set(own) & set(state))
                      if state[k].shape != own[k].shape]
        if missing or unexpected or mismatched:
            raise RuntimeError(
                f'{path} does not fit DVAEImageTokenizer(vocab_size='
                f'{self.vocab_size}): missing {missing[:5]}, unexpected '
                f'{unexpected[:5]}, shape mismatch {mismatched[:5]}')
        self.load_state_dict(state, strict=True)
        self._is_init = True
        print_log(f'loaded dVAE encoder from {path}', logger='current')

    @staticmethod
    def _rename_dalle_keys(state: Dict[str, torch.Tensor]
                           ) -> Dict[str, torch.Tensor]:
        """Map DALL-E's ``.w``/``.b`` names to ``.weight``/``.bias``."""
        renamed = {}
        for key, value in state.items():
            if not isinstance(value, torch.Tensor):
                continue
            if key.startswith('encoder.'):
                key = key[len('encoder.'):]
            if key.endswith('.w'):
                key = key[:-2] + '.weight'
            elif key.endswith('.b'):
                key = key[:-2] + '.bias'
            renamed[key] = value.float()
        return renamed

    @torch.no_grad()
    def forward(self, images: torch.Tensor,
                grid_size: Tuple[int, int]) -> torch.Tensor:
        """Token id of every patch.

        Args:
            images (Tensor): ``(B, 3, H, W)`` images normalised with
                ``mean``/``std``.
            grid_size (tuple): ``(Hp, Wp)`` ViT patch grid.

        Returns:
            Tensor: ``(B, Hp * Wp)`` int64 ids in ``[0, vocab_size)``, raster
            order (the order of the ViT patch tokens).
        """
        height, width = (g * self.downsample for g in grid_size)
        with torch.autocast(images.device.type, enabled=False):
            x = (images.float() * self.std + self.mean).clamp(0, 1)
            if x.shape[-2:] != (height, width):
                x = F.interpolate(x, size=(height, width), mode='bilinear',
                                  align_corners=False)
            eps = self.logit_laplace_eps
            x = (1 - 2 * eps) * x + eps
            logits = self.blocks(x.to(self.blocks.input.weight.dtype))
        return logits.argmax(1).flatten(1)
