"""The one SAM builder: ``segment_anything``'s modules at any preset size.

``segment_anything``'s ``_build_sam`` fixes the input size, the prompt width
and the decoder sizes; this module builds the same ``Sam`` (or the parts of
it Person-SAM uses) from a preset name or a dict of overrides, so the
official ViT-B/L/H sizes and the tiny CPU size share one code path. The
parts Person-SAM configures, :class:`SAMImageEncoder` and
:class:`SAMMaskDecoder`, are ``segment_anything``'s classes (same state-dict
keys) registered in ``MODELS`` with an MMEngine ``init_cfg``. Used by
:class:`~sapsam.models.segmentors.PersonSAM`,
``tools/misc/make_tiny_weights.py`` and the tests.
"""
import os.path as osp
from functools import partial
from typing import Callable, Dict, Optional, Tuple, Union

import torch
import torch.nn as nn
from segment_anything.modeling import (ImageEncoderViT, MaskDecoder,
                                       PromptEncoder, Sam, TwoWayTransformer)
from segment_anything.modeling.prompt_encoder import PositionEmbeddingRandom

from sapsam.registry import MODELS

#: Settings shared by the presets (those of ``segment_anything.build_sam``).
SAM_DEFAULTS = dict(
    image_size=1024, patch_size=16, window_size=14, mlp_ratio=4.0,
    prompt_dim=256, decoder_depth=2, decoder_mlp_dim=2048,
    decoder_num_heads=8, iou_head_depth=3, iou_head_hidden_dim=256)

#: Architecture presets: the official SAM sizes and a tiny one for CPU
#: (the one ``tools/misc/make_tiny_weights.py`` writes).
SAM_ARCHS = {
    'vit_b': dict(embed_dim=768, depth=12, num_heads=12,
                  global_attn_indexes=(2, 5, 8, 11)),
    'vit_l': dict(embed_dim=1024, depth=24, num_heads=16,
                  global_attn_indexes=(5, 11, 17, 23)),
    'vit_h': dict(embed_dim=1280, depth=32, num_heads=16,
                  global_attn_indexes=(7, 15, 23, 31)),
    'tiny': dict(embed_dim=64, depth=2, num_heads=2, global_attn_indexes=(1, ),
                 window_size=8, image_size=256, prompt_dim=64,
                 decoder_mlp_dim=256, decoder_num_heads=4,
                 iou_head_hidden_dim=64),
}

ArchType = Union[str, dict]


def sam_arch_settings(arch: ArchType) -> dict:
    """Full SAM size settings of a preset name or a dict of overrides.

    A dict may name a preset under ``'arch'`` and override any key of
    :data:`SAM_DEFAULTS` / :data:`SAM_ARCHS`.
    """
    if isinstance(arch, str):
        arch = dict(arch=arch)
    arch = dict(arch)
    name = arch.pop('arch', None)
    settings = dict(SAM_DEFAULTS)
    if name is not None:
        if name not in SAM_ARCHS:
            raise KeyError(f'unknown SAM arch {name!r}; presets: '
                           f'{sorted(SAM_ARCHS)}')
        settings.update(SAM_ARCHS[name])
    settings.update(arch)
    required = ('embed_dim', 'depth', 'num_heads', 'global_attn_indexes')
    missing = [k for k in required if k not in settings]
    if missing:
        raise KeyError(f'SAM arch settings lack {missing}: {arch}')
    unknown = set(settings) - set(SAM_DEFAULTS) - set(required)
    if unknown:
        raise KeyError(f'unknown SAM arch settings {sorted(unknown)}')
    if settings['image_size'] % settings['patch_size']:
        raise ValueError('image_size must be a multiple of patch_size')
    return settings


def image_embedding_size(arch: ArchType) -> Tuple[int, int]:
    """``(S/16, S/16)``: the grid of the image embeddings."""
    settings = sam_arch_settings(arch)
    grid = settings['image_size'] // settings['patch_size']
    return grid, grid


class _PretrainedSAMPart:
    """``init_weights`` of a SAM part: ``init_cfg=dict(type='Pretrained',
    checkpoint=PATH, prefix=...)`` loads (strictly) the part of an
    official-format SAM checkpoint under ``prefix``; ``None`` keeps the
    random weights ``segment_anything`` initialised."""

    default_prefix = ''

    def _setup(self, arch: ArchType, init_cfg: Optional[dict]) -> None:
        if init_cfg is not None:
            init_cfg = dict(init_cfg)
            if init_cfg.get('type') != 'Pretrained' or \
                    not init_cfg.get('checkpoint'):
                raise ValueError(
                    f'{type(self).__name__}.init_cfg must be '
                    "dict(type='Pretrained', checkpoint=PATH[, prefix]) or "
                    f'None, got {init_cfg}')
            init_cfg.setdefault('prefix', self.default_prefix)
        self.init_cfg = init_cfg
        self.arch_settings = sam_arch_settings(arch)
        self.is_init = False

    def init_weights(self, read_checkpoint: Optional[
            Callable[[str], Dict[str, torch.Tensor]]] = None) -> None:
        """Load the pretrained part; ``read_checkpoint(path)`` (defaults to
        :func:`read_sam_checkpoint`) lets a caller read a shared file once."""
        if self.init_cfg is not None:
            path = self.init_cfg['checkpoint']
            state = (read_checkpoint or read_sam_checkpoint)(path)
            load_sam_part(state, path, self.init_cfg['prefix'], self,
                          self.arch_settings)
        self.is_init = True


@MODELS.register_module()
class SAMImageEncoder(_PretrainedSAMPart, ImageEncoderViT):
    """``segment_anything``'s ViT image encoder with the sizes of ``arch``
    (a :data:`SAM_ARCHS` name or a dict, see :func:`sam_arch_settings`).

    Shapes: ``(B, 3, S, S)`` -> ``(B, prompt_dim, S/16, S/16)``.

    Args:
        arch (str | dict): SAM sizes. Defaults to ``'vit_b'``.
        init_cfg (dict, optional): ``dict(type='Pretrained', checkpoint=
            'sam_vit_b_01ec64.pth')`` (prefix ``'image_encoder.'``).
    """

    default_prefix = 'image_encoder.'

    def __init__(self, arch: ArchType = 'vit_b',
                 init_cfg: Optional[dict] = None) -> None:
        s = sam_arch_settings(arch)
        ImageEncoderViT.__init__(
            self, img_size=s['image_size'], patch_size=s['patch_size'],
            embed_dim=s['embed_dim'], depth=s['depth'],
            num_heads=s['num_heads'], mlp_ratio=s['mlp_ratio'],
            out_chans=s['prompt_dim'], qkv_bias=True,
            norm_layer=partial(nn.LayerNorm, eps=1e-6), use_rel_pos=True,
            global_attn_indexes=tuple(s['global_attn_indexes']),
            window_size=s['window_size'])
        self._setup(s, init_cfg)


@MODELS.register_module()
class SAMMaskDecoder(_PretrainedSAMPart, MaskDecoder):
    """``segment_anything``'s mask decoder (two-way transformer) with the
    sizes of ``arch``.

    Args:
        arch (str | dict): SAM sizes. Defaults to ``'vit_b'``.
        init_cfg (dict, optional): ``dict(type='Pretrained', checkpoint=
            'sam_vit_b_01ec64.pth')`` (prefix ``'mask_decoder.'``).
    """

    default_prefix = 'mask_decoder.'

    def __init__(self, arch: ArchType = 'vit_b',
                 init_cfg: Optional[dict] = None) -> None:
        s = sam_arch_settings(arch)
        MaskDecoder.__init__(
            self, num_multimask_outputs=3,
            transformer=TwoWayTransformer(
                depth=s['decoder_depth'], embedding_dim=s['prompt_dim'],
                mlp_dim=s['decoder_mlp_dim'],
                num_heads=s['decoder_num_heads']),
            transformer_dim=s['prompt_dim'],
            iou_head_depth=s['iou_head_depth'],
            iou_head_hidden_dim=s['iou_head_hidden_dim'])
        self._setup(s, init_cfg)


def build_sam_image_encoder(arch: ArchType) -> SAMImageEncoder:
    """``segment_anything``'s ViT image encoder with the sizes of ``arch``."""
    return SAMImageEncoder(arch)


def build_sam_prompt_encoder(arch: ArchType) -> PromptEncoder:
    """``segment_anything``'s point/box/mask prompt encoder."""
    s = sam_arch_settings(arch)
    return PromptEncoder(embed_dim=s['prompt_dim'],
                         image_embedding_size=image_embedding_size(s),
                         input_image_size=(s['image_size'], ) * 2,
                         mask_in_chans=16)


def build_sam_pe_layer(arch: ArchType) -> PositionEmbeddingRandom:
    """The random-Fourier positional encoding of SAM's prompt encoder
    (``prompt_encoder.pe_layer``), alone."""
    return PositionEmbeddingRandom(
        sam_arch_settings(arch)['prompt_dim'] // 2)


def build_sam_mask_decoder(arch: ArchType) -> SAMMaskDecoder:
    """``segment_anything``'s mask decoder (two-way transformer)."""
    return SAMMaskDecoder(arch)


def read_sam_checkpoint(path: str) -> Dict[str, torch.Tensor]:
    """The state dict of an official-format SAM checkpoint
    (``sam_vit_b_01ec64.pth``: keys ``image_encoder.*``,
    ``prompt_encoder.*``, ``mask_decoder.*``; a ``state_dict`` wrapper is
    unwrapped)."""
    if not osp.isfile(path):
        raise FileNotFoundError(
            f'SAM checkpoint not found: {path} (the official '
            f'sam_vit_b_01ec64.pth, or tiny weights written by '
            f'tools/misc/make_tiny_weights.py)')
    state = torch.load(path, map_location='cpu', weights_only=True)
    if isinstance(state, dict) and isinstance(state.get('state_dict'), dict):
        state = state['state_dict']
    if not isinstance(state, dict):
        raise TypeError(f'{path}: expected a SAM state dict, got '
                        f'{type(state).__name__}')
    return state


def load_sam_part(state: Dict[str, torch.Tensor], source: str, prefix: str,
                  module: nn.Module, settings: dict) -> None:
    """Load the ``prefix*`` weights of a SAM state dict into ``module``
    (strict); errors name ``source``, the part and the sizes."""
    part = {k[len(prefix):]: v for k, v in state.items()
            if k.startswith(prefix)}
    if not part:
        raise KeyError(f'{source}: no "{prefix}*" weights; not a '
                       f'segment_anything SAM checkpoint')
    try:
        module.load_state_dict(part, strict=True)
    except RuntimeError as err:
        raise RuntimeError(f'{source}: its {prefix.rstrip(".")} does not fit '
                           f'SAM arch {settings}: {err}') from err


def load_sam_modules(state: Dict[str, torch.Tensor], source: str,
                     settings: dict, image_encoder: nn.Module,
                     pe_layer: nn.Module, mask_decoder: nn.Module) -> None:
    """Load a SAM state dict's ``image_encoder.*``, ``mask_decoder.*`` and
    ``prompt_encoder.pe_layer.*`` into the modules (strict)."""
    load_sam_part(state, source, 'image_encoder.', image_encoder, settings)
    load_sam_part(state, source, 'mask_decoder.', mask_decoder, settings)
    load_sam_part(state, source, 'prompt_encoder.pe_layer.', pe_layer,
                  settings)


def build_sam_modules(arch: ArchType, checkpoint: Optional[str] = None
                      ) -> Tuple[ImageEncoderViT, PositionEmbeddingRandom,
                                 MaskDecoder]:
    """SAM without its point/box/mask prompts: image encoder, positional
    encoding and mask decoder (built in this order), optionally loaded from
    an official-format ``checkpoint``."""
    settings = sam_arch_settings(arch)
    modules = (build_sam_image_encoder(settings),
               build_sam_pe_layer(settings),
               build_sam_mask_decoder(settings))
    if checkpoint is not None:
        load_sam_modules(read_sam_checkpoint(checkpoint), checkpoint,
                         settings, *modules)
    return modules


def build_sam(arch: ArchType = 'vit_b',
              checkpoint: Optional[str] = None) -> Sam:
    """``segment_anything``'s whole ``Sam`` (``sam_model_registry[arch]``
    for the official presets), optionally loaded (strict) from
    ``checkpoint``. In eval mode, as ``segment_anything`` builds it."""
    settings = sam_arch_settings(arch)
    sam = Sam(image_encoder=build_sam_image_encoder(settings),
              prompt_encoder=build_sam_prompt_encoder(settings),
              mask_decoder=build_sam_mask_decoder(settings))
    sam.eval()
    if checkpoint is not None:
        sam.load_state_dict(read_sam_checkpoint(checkpoint))
    return sam
