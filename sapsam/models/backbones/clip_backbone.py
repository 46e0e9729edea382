"""CLIP image and text encoders (OpenAI layout) built from open_clip."""
import copy
import os
import warnings
from typing import Dict, Optional, Sequence, Tuple, Union

import torch
import torch.nn.functional as F
from mmengine.logging import print_log
from mmengine.model import BaseModule
from open_clip.model import CLIP, CLIPTextCfg, CLIPVisionCfg

from sapsam.registry import MODELS

#: Architecture presets. ``embed_dim`` is the joint embedding size D.
CLIP_ARCHS: Dict[str, dict] = {
    'ViT-B/16': dict(embed_dim=512,
                     vision=dict(width=768, layers=12, head_width=64,
                                 patch_size=16),
                     text=dict(width=512, heads=8, layers=12)),
    'ViT-B/32': dict(embed_dim=512,
                     vision=dict(width=768, layers=12, head_width=64,
                                 patch_size=32),
                     text=dict(width=512, heads=8, layers=12)),
    'ViT-L/14': dict(embed_dim=768,
                     vision=dict(width=1024, layers=24, head_width=64,
                                 patch_size=14),
                     text=dict(width=768, heads=12, layers=12)),
    # CPU-sized presets for tests and the synthetic benchmark. Patch 8 on a
    # 192x64 input gives the same 24x8 grid as ViT-B/16 on 384x128.
    'tiny': dict(embed_dim=64,
                 vision=dict(width=64, layers=2, head_width=32, patch_size=8),
                 text=dict(width=64, heads=2, layers=2)),
    'small': dict(embed_dim=128,
                  vision=dict(width=128, layers=4, head_width=32,
                              patch_size=8),
                  text=dict(width=128, heads=4, layers=4)),
}

#: Keys of OpenAI checkpoints that carry no weights of the encoders (the
#: causal mask is rebuilt from the context length).
_NON_ENCODER_KEYS = ('input_resolution', 'context_length', 'vocab_size',
                     'logit_scale', 'attn_mask')


def read_openai_clip_state_dict(path: str) -> Dict[str, torch.Tensor]:
    """Read an OpenAI CLIP checkpoint from ``path``.

    Accepts the official TorchScript archives (``ViT-B-16.pt``) and plain
    state dicts (optionally nested under ``'state_dict'`` with a
    ``'module.'`` prefix). Tensors are returned as float32.
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(f'CLIP checkpoint not found: {path}')
    try:
        with warnings.catch_warnings():
            warnings.simplefilter('ignore', FutureWarning)
            state = torch.jit.load(path, map_location='cpu').state_dict()
    except RuntimeError:
        state = torch.load(path, map_location='cpu', weights_only=True)
    if not isinstance(state, dict):
        raise TypeError(f'{path}: expected a state dict, got {type(state)}')
    if 'state_dict' in state and isinstance(state['state_dict'], dict):
        state = state['state_dict']
    if state and all(k.startswith('module.') for k in state):
        state = {k[len('module.'):]: v for k, v in state.items()}
    return {k: v.float() if v.is_floating_point() else v
            for k, v in state.items() if isinstance(v, torch.Tensor)}


def resize_pos_embed(pos_embed: torch.Tensor, new_grid: Tuple[int, int],
                     num_extra_tokens: int = 1) -> torch.Tensor:
    """Bilinearly resize a ViT position embedding to ``new_grid``.

    Args:
        pos_embed (Tensor): ``(E + Ho * Wo, C)``; the old grid must be square
            (OpenAI checkpoints) or match ``new_grid`` already.
        new_grid (tuple): ``(Hn, Wn)``.

    Returns:
        Tensor: ``(E + Hn * Wn, C)``.
    """
    extra, grid = pos_embed[:num_extra_tokens], pos_embed[num_extra_tokens:]
    if grid.shape[0] == new_grid[0] * new_grid[1]:
        return pos_embed
    side = int(round(grid.shape[0] ** 0.5))
    if side * side != grid.shape[0]:
        raise ValueError(f'cannot infer the grid of a position embedding with '
                         f'{grid.shape[0]} patch tokens')
    grid = grid.reshape(1, side, side, -1).permute(0, 3, 1, 2)
    grid = F.interpolate(grid, size=new_grid, mode='bilinear',
                         align_corners=False)
    grid = grid.permute(0, 2, 3, 1).reshape(new_grid[0] * new_grid[1], -1)
    return torch.cat([extra, grid], dim=0)


@MODELS.register_module()
class CLIPBackbone(BaseModule):
    """CLIP image and text encoders with token-level outputs.

    The module keeps OpenAI's parameter names (``visual.*``,
    ``token_embedding.weight``, ``transformer.*``, ``ln_final.*``,
    ``text_projection``, ...), so OpenAI checkpoints load as they are; the
    image position embedding is interpolated from the checkpoint's grid to
    ``image_size / patch_size`` (24x8 for 384x128 and patch 16).

    Args:
        arch (str | dict): A key of :data:`CLIP_ARCHS` or a dict of the same
            form. Defaults to ``'ViT-B/16'``.
        image_size (tuple): ``(H, W)`` of the input images.
        context_length (int): Text length L. Defaults to 77.
        vocab_size (int): Token vocabulary. Defaults to 49408.
        pretrained (str, optional): Local path of an OpenAI checkpoint.
        init_cfg (dict, optional): MMEngine init config.
    """

    def __init__(self,
                 arch: Union[str, dict] = 'ViT-B/16',
                 image_size: Sequence[int] = (384, 128),
                 context_length: int = 77,
                 vocab_size: int = 49408,
                 pretrained: Optional[str] = None,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if isinstance(arch, str):
            if arch not in CLIP_ARCHS:
                raise KeyError(f'unknown CLIP arch {arch!r}; '
                               f'known: {sorted(CLIP_ARCHS)}')
            arch = CLIP_ARCHS[arch]
        arch = copy.deepcopy(dict(arch))
        self.image_size = tuple(image_size)
        self.embed_dim = arch['embed_dim']
        self.context_length = context_length
        self.vocab_size = vocab_size
        clip = CLIP(
            self.embed_dim,
            vision_cfg=CLIPVisionCfg(image_size=self.image_size,
                                     **arch['vision']),
            text_cfg=CLIPTextCfg(context_length=context_length,
                                 vocab_size=vocab_size, **arch['text']),
            quick_gelu=True)
        # Keep OpenAI's names; drop the unused logit scale so every parameter
        # receives a gradient (DDP without find_unused_parameters).
        self.visual = clip.visual
        self.token_embedding = clip.token_embedding
        self.positional_embedding = clip.positional_embedding
        self.transformer = clip.transformer
        self.ln_final = clip.ln_final
        self.text_projection = clip.text_projection
        self.register_buffer('attn_mask', clip.attn_mask, persistent=False)
        self.vision_width = self.visual.conv1.out_channels
        self.patch_size = self.visual.conv1.kernel_size
        self.grid_size = tuple(self.visual.grid_size)
        self.pretrained = pretrained
        if pretrained is not None:
            self.load_openai_checkpoint(pretrained)

    # ------------------------------------------------------------------ io
    def load_openai_checkpoint(self, path: str) -> None:
        """Load OpenAI CLIP weights from ``path`` (TorchScript or state dict).

        Raises:
            RuntimeError: naming the missing and unexpected keys when the
                checkpoint does not fit the architecture.
        """
        state = read_openai_clip_state_dict(path)
        for key in _NON_ENCODER_KEYS:
            state.pop(key, None)
        if 'visual.positional_embedding' in state:
            state['visual.positional_embedding'] = resize_pos_embed(
                state['visual.positional_embedding'], self.grid_size)
        if 'positional_embedding' in state:
            pos = state['positional_embedding']
            if pos.shape[0] < self.context_length:
                raise RuntimeError(
                    f'{path}: text position embedding has {pos.shape[0]} '
                    f'positions, context_length is {self.context_length}')
            state['positional_embedding'] = pos[:self.context_length]
        own = self.state_dict()
        missing = sorted(set(own) - set(state))
        unexpected = sorted(set(state) - set(own))
        mismatched = sorted(k for k in set(own) & set(state)
                            if own[k].shape != state[k].shape)
        if missing or unexpected or mismatched:
            details = [f'missing keys: {missing[:10]}' if missing else '',
                       f'unexpected keys: {unexpected[:10]}' if unexpected
                       else '',
                       'shape mismatch: ' + ', '.join(
                           f'{k} {tuple(state[k].shape)} vs '
                           f'{tuple(own[k].shape)}' for k in mismatched[:10])
                       if mismatched else '']
            raise RuntimeError(
                f'{path} does not fit CLIPBackbone(arch with embed_dim='
                f'{self.embed_dim}, image_size={self.image_size}): ' +
                '; '.join(d for d in details if d))
        self.load_state_dict(state, strict=True)
        self._is_init = True  # keep init_weights from overwriting them
        print_log(f'loaded OpenAI CLIP weights from {path}', logger='current')

    def openai_state_dict(self) -> Dict[str, torch.Tensor]:
        """State dict in OpenAI's layout (with a fixed ``logit_scale``)."""
        state = {k: v.detach().clone() for k, v in self.state_dict().items()}
        state['logit_scale'] = torch.tensor(4.6052)
        return state

    # ------------------------------------------------------------- image
    def embed_patches(self, images: torch.Tensor) -> torch.Tensor:
        """Patch embeddings before the class token and position embedding.

        Args:
            images (Tensor): ``(B, 3, H, W)`` normalised images.

        Returns:
            Tensor: ``(B, Hp * Wp, vision_width)``.
        """
        x = self.visual.conv1(images.to(self.visual.conv1.weight.dtype))
        return x.flatten(2).transpose(1, 2)

    def encode_image(self, images: Optional[torch.Tensor],
                     patch_embeds: Optional[torch.Tensor] = None
                     ) -> torch.Tensor:
        """All image tokens after ``ln_post`` and the projection.

        Args:
            images (Tensor, optional): ``(B, 3, H, W)``.
            patch_embeds (Tensor, optional): ``(B, Hp * Wp, vision_width)``
                replacing the patch embedding of ``images`` (masked image
                modelling).

        Returns:
            Tensor: ``(B, 1 + Hp * Wp, D)``; index 0 is the [CLS] token.
        """
        visual = self.visual
        x = self.embed_patches(images) if patch_embeds is None \
            else patch_embeds
        cls = visual.class_embedding.to(x.dtype).view(1, 1, -1)
        x = torch.cat([cls.expand(x.shape[0], -1, -1), x], dim=1)
        x = x + visual.positional_embedding.to(x.dtype)
        x = visual.ln_pre(visual.patch_dropout(x))
        x = visual.transformer(x)
        x = visual.ln_post(x)
        return x @ visual.proj

    # -------------------------------------------------------------- text
    def encode_text(self, text_ids: torch.Tensor) -> torch.Tensor:
        """All text tokens after ``ln_final`` and the projection.

        Args:
            text_ids (Tensor): ``(B, L)`` int64 CLIP token ids.

        Returns:
            Tensor: ``(B, L, D)``.
        """
        length = text_ids.shape[1]
        if length > self.context_length:
            raise ValueError(f'text length {length} exceeds context_length '
                             f'{self.context_length}')
        # The embedding stays fp32 in the official fp16 model: cast to the
        # weights' dtype (a no-op otherwise).
        x = self.token_embedding(text_ids).to(self.text_projection.dtype)
        x = x + self.positional_embedding[:length].to(x.dtype)
        x = self.transformer(x, attn_mask=self.attn_mask[:length, :length])
        x = self.ln_final(x)
        return x @ self.text_projection

    @staticmethod
    def trim_to_longest(text_ids: torch.Tensor) -> torch.Tensor:
        """``(B, L) -> (B, L')`` token ids cut after the batch's last EOT
        token (the largest id of a row, as in :meth:`text_global`).

        The text tower is causal, so the tokens up to each EOT, and the
        sentence features, are the same with and without the cut.
        """
        length = int(text_ids.argmax(dim=-1).max()) + 1
        return text_ids[:, :length]

    @staticmethod
    def text_global(text_tokens: torch.Tensor,
                    text_ids: torch.Tensor) -> torch.Tensor:
        """Sentence feature: the token at the EOT (largest id) position.

        Args:
            text_tokens (Tensor): ``(B, L, D)``.
            text_ids (Tensor): ``(B, L)``.

        Returns:
            Tensor: ``(B, D)``.
        """
        index = text_ids.argmax(dim=-1)
        return text_tokens[torch.arange(text_tokens.shape[0],
                                        device=text_tokens.device), index]
