"""Convert an IRRA (or official SAP-SAM) ``best.pth`` into a sapsam checkpoint.

``python tools/model_converters/irra_to_sapsam.py best.pth converted.pth
--config configs/baseline/clip_sdm_cuhk.py --verify``

IRRA's ``Checkpointer`` saves ``{'model': state_dict, ...}`` of its ``IRRA``
module: CLIP under ``base_model.*`` (OpenAI names), the cross-modal decoder
as ``cross_attn``, ``cross_modal_transformer``, ``ln_pre_t``, ``ln_pre_i``,
``ln_post``, the MLM head ``mlm_head.{dense,ln,fc}`` and, with the ID loss,
``classifier``. The official SAP-SAM release adds the ELCA matching head
(``cross_attn_matching``, ``classifier_matching``). The output is an
MMEngine checkpoint (``state_dict`` + ``meta``) of the ``--config`` model,
for ``tools/test.py``, ``tools/search.py`` and ``init_retriever``.

Every key of the config's model must come from the source, except with
``--init-missing`` (e.g. IRRA weights in a SAP-SAM config: the ELCA head is
left at its initialisation; test and search use the global features only).
``--verify`` recomputes IRRA's image and text features with open_clip's own
CLIP forward (and the MLM logits with IRRA's cross-former written out here)
from the source weights and compares them with the converted sapsam model.
"""
import argparse
import os
import os.path as osp
import re
import sys
from typing import Dict, List, Tuple

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(
    __file__)))))

import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

#: (IRRA pattern, sapsam replacement), first match wins.
_RULES: Tuple[Tuple[str, str], ...] = (
    (r'^base_model\.(input_resolution|context_length|vocab_size|'
     r'logit_scale)$', ''),
    (r'^base_model\.', 'backbone.'),
    (r'^cross_attn_matching\.', 'alignment_head.cross_attn.'),
    (r'^classifier_matching\.(?:dense|0)\.', 'alignment_head.classifier.'
     'dense.'),
    (r'^classifier_matching\.(?:ln|2)\.', 'alignment_head.classifier.ln.'),
    (r'^classifier_matching\.(?:fc|3)\.', 'alignment_head.classifier.fc.'),
    (r'^cross_attn\.', 'cross_modal_decoder.cross_attn.'),
    (r'^cross_modal_transformer\.', 'cross_modal_decoder.transformer.'),
    (r'^ln_pre_t\.', 'cross_modal_decoder.ln_query.'),
    (r'^ln_pre_i\.', 'cross_modal_decoder.ln_context.'),
    (r'^ln_post\.', 'cross_modal_decoder.ln_post.'),
    (r'^mlm_head\.(dense|ln|fc)\.', r'mlm_head.mlp.\1.'),
    (r'^classifier\.', 'id_loss.classifier.'),
)
#: Buffers some CLIP copies save (rebuilt by sapsam from the context length).
_DROPPED = re.compile(r'(^|\.)attn_mask$')


def read_irra_state_dict(path: str) -> Dict[str, torch.Tensor]:
    """The model state dict of an IRRA/SAP-SAM ``best.pth`` (float32).

    Read through MMEngine's checkpoint loader (the project's safe loader).

    Raises:
        FileNotFoundError: no such file.
        ValueError: not an IRRA checkpoint (names the file).
    """
    from mmengine.runner.checkpoint import CheckpointLoader
    if not osp.isfile(path):
        raise FileNotFoundError(f'IRRA checkpoint not found: {path}')
    data = CheckpointLoader.load_checkpoint(path, map_location='cpu')
    state = data.get('model', data) if isinstance(data, dict) else None
    if not isinstance(state, dict) or not any(
            str(k).startswith(('base_model.', 'module.base_model.'))
            for k in state):
        raise ValueError(f'{path}: not an IRRA/SAP-SAM checkpoint (expected '
                         f"{{'model': state_dict}} with base_model.* keys)")
    state = {k[len('module.'):] if k.startswith('module.') else k: v
             for k, v in state.items()}
    return {k: v.float() if v.is_floating_point() else v
            for k, v in state.items() if isinstance(v, torch.Tensor)}


def convert_irra(state: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
    """Rename IRRA keys to sapsam's ``CLIPRetriever``/``SAPSAM`` keys.

    Raises:
        KeyError: keys that match no rule (names them).
    """
    out, unknown = {}, []
    for key, value in state.items():
        if _DROPPED.search(key):
            continue
        for pattern, replacement in _RULES:
            match = re.match(pattern, key)
            if match:
                if replacement:
                    out[match.expand(replacement) + key[match.end():]] = value
                break
        else:
            unknown.append(key)
    if unknown:
        raise KeyError(f'IRRA keys without a sapsam counterpart: '
                       f'{unknown[:10]}')
    return out


def _prefixes(keys: List[str]) -> List[str]:
    """Top two levels of ``keys`` (``alignment_head.cross_attn``), sorted."""
    return sorted({'.'.join(k.split('.')[:2]) for k in keys})


def fit_to_model(state: Dict[str, torch.Tensor], model: nn.Module,
                 init_missing: bool = False, src: str = 'source'
                 ) -> Tuple[Dict[str, torch.Tensor], List[str], List[str]]:
    """Check ``state`` against ``model``; return the full state dict, the
    keys left at initialisation and the source keys the model lacks.

    Raises:
        RuntimeError: shape mismatches, or missing keys without
            ``init_missing`` (names the modules and what to do).
    """
    from sapsam.models.backbones.clip_backbone import resize_pos_embed
    own = model.state_dict()
    key = 'backbone.visual.positional_embedding'
    if key in state and key in own and state[key].shape != own[key].shape:
        state[key] = resize_pos_embed(state[key], model.backbone.grid_size)
    mismatched = [f'{k} {tuple(state[k].shape)} vs {tuple(own[k].shape)}'
                  for k in sorted(set(state) & set(own))
                  if state[k].shape != own[k].shape]
    if mismatched:
        raise RuntimeError(f'{src} does not fit the config model (another '
                           f'architecture?): ' + ', '.join(mismatched[:8]))
    missing = sorted(set(own) - set(state))
    unused = sorted(set(state) - set(own))
    if missing and not init_missing:
        raise RuntimeError(
            f'{src} has no weights for {_prefixes(missing)} of the config '
            f'model; convert into a config without them (e.g. the baseline '
            f'for IRRA) or pass --init-missing to leave them at '
            f'initialisation (they are training-only)')
    full = {k: state.get(k, own[k]) for k in own}
    return full, missing, unused


class IRRACrossFormer(nn.Module):
    """IRRA's ``cross_former`` and ``mlm_head`` with IRRA's module names
    (the reference ``--verify`` compares sapsam's decoder with)."""

    def __init__(self, width: int, heads: int, depth: int, vocab: int):
        super().__init__()
        from collections import OrderedDict

        from open_clip.transformer import LayerNorm, QuickGELU, Transformer
        self.cross_attn = nn.MultiheadAttention(width, heads,
                                                batch_first=True)
        self.cross_modal_transformer = Transformer(
            width, depth, heads, act_layer=QuickGELU, batch_first=True)
        self.ln_pre_t = LayerNorm(width)
        self.ln_pre_i = LayerNorm(width)
        self.ln_post = LayerNorm(width)
        self.mlm_head = nn.Sequential(OrderedDict([
            ('dense', nn.Linear(width, width)), ('gelu', QuickGELU()),
            ('ln', LayerNorm(width)), ('fc', nn.Linear(width, vocab))]))

    def forward(self, text_tokens, image_tokens):
        """``(B, L, D)``, ``(B, 1+N, D)`` -> MLM logits ``(B, L, vocab)``."""
        k = v = self.ln_pre_i(image_tokens)
        x = self.cross_attn(self.ln_pre_t(text_tokens), k, v,
                            need_weights=False)[0]
        return self.mlm_head(self.ln_post(self.cross_modal_transformer(x)))


def reference_clip(state: Dict[str, torch.Tensor], retriever) -> nn.Module:
    """open_clip's ``CLIP`` with the sizes of the config's backbone (of
    ``retriever``, a :class:`TextToImageRetrievalInferencer`), loaded
    strictly from the ``base_model.*`` weights of an IRRA state dict."""
    from open_clip.model import CLIP, CLIPTextCfg, CLIPVisionCfg

    from sapsam.models.backbones.clip_backbone import CLIP_ARCHS
    cfg, backbone = retriever.cfg.model.backbone, retriever.model.backbone
    arch = cfg.get('arch', 'ViT-B/16')
    arch = CLIP_ARCHS[arch] if isinstance(arch, str) else arch
    clip = CLIP(backbone.embed_dim,
                vision_cfg=CLIPVisionCfg(image_size=backbone.image_size,
                                         **arch['vision']),
                text_cfg=CLIPTextCfg(context_length=backbone.context_length,
                                     vocab_size=backbone.vocab_size,
                                     **arch['text']),
                quick_gelu=True)
    clip_state = {k[len('base_model.'):]: v for k, v in state.items()
                  if k.startswith('base_model.') and not _DROPPED.search(k)}
    clip_state.setdefault('logit_scale', clip.logit_scale.detach())
    for name in ('input_resolution', 'context_length', 'vocab_size'):
        clip_state.pop(name, None)
    clip.load_state_dict(clip_state, strict=True)
    return clip.eval()


@torch.no_grad()
def verify(src: str, retriever, atol: float = 1e-4,
           seed: int = 0) -> Dict[str, float]:
    """Compare the converted model (``retriever.model``, ``retriever`` a
    :class:`TextToImageRetrievalInferencer`) with IRRA's computation on
    random inputs: global image and text features (and MLM logits when both
    have the decoder).

    Returns:
        dict: max absolute differences.

    Raises:
        AssertionError: a difference exceeds ``atol``.
    """
    state = read_irra_state_dict(src)
    model = retriever.model.float().eval()
    backbone = model.backbone
    clip = reference_clip(state, retriever)
    gen = torch.Generator().manual_seed(seed)
    images = torch.randn(2, 3, *backbone.image_size, generator=gen)
    length = backbone.context_length
    ids = torch.randint(1, backbone.vocab_size - 3, (2, length),
                        generator=gen)
    ids[:, 0] = backbone.vocab_size - 2  # SOT
    ids[:, -1] = ids[0, 10] = backbone.vocab_size - 1  # EOT
    ids[0, 11:] = 0
    ref_img = F.normalize(clip.encode_image(images), dim=-1)
    ref_txt = F.normalize(clip.encode_text(ids), dim=-1)
    diffs = dict(
        image_features=float((model.extract_image_feat(images) -
                              ref_img).abs().max()),
        text_features=float((model.extract_text_feat(ids) -
                             ref_txt).abs().max()))
    decoder = getattr(model, 'cross_modal_decoder', None)
    if decoder is not None and getattr(model, 'mlm_head', None) is not None \
            and 'cross_attn.in_proj_weight' in state:
        width = backbone.embed_dim
        cross = IRRACrossFormer(width, decoder.cross_attn.num_heads,
                                len(decoder.transformer.resblocks),
                                backbone.vocab_size)
        cross.load_state_dict({k: v for k, v in state.items()
                               if k.split('.')[0] in dict(
                                   cross.named_children())}, strict=True)
        text_tokens = backbone.encode_text(ids)
        image_tokens = backbone.encode_image(images)
        ours = model.mlm_head(decoder(text_tokens, image_tokens))
        diffs['mlm_logits'] = float(
            (ours - cross(text_tokens, image_tokens)).abs().max())
    for name, diff in diffs.items():
        assert diff <= atol, (f'{src}: converted {name} differ from IRRA '
                              f'by {diff:.2e} > {atol:.0e}')
    return diffs


def build_model(config: str):
    """The config's retriever (a :class:`TextToImageRetrievalInferencer`;
    the model is ``.model``) without reading its pretrained CLIP file."""
    from sapsam.apis import init_retriever
    return init_retriever(config, None, cfg_options={
        'model.backbone.pretrained': None})


def convert(src: str, dst: str, config: str, init_missing: bool = False):
    """Write ``dst``; return ``(retriever, missing, unused)`` (the
    converted model is ``retriever.model``)."""
    retriever = build_model(config)
    state = convert_irra(read_irra_state_dict(src))
    full, missing, unused = fit_to_model(state, retriever.model,
                                         init_missing, src)
    retriever.model.load_state_dict(full, strict=True)
    os.makedirs(osp.dirname(osp.abspath(dst)), exist_ok=True)
    torch.save(dict(state_dict=full,
                    meta=dict(converted_from=osp.abspath(src),
                              converter='irra_to_sapsam', config=config,
                              initialised=missing)), dst)
    return retriever, missing, unused


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='IRRA / SAP-SAM best.pth -> sapsam checkpoint')
    parser.add_argument('src', help="IRRA's best.pth")
    parser.add_argument('dst', help='output .pth (MMEngine checkpoint)')
    parser.add_argument('--config', required=True,
                        help='sapsam config of the target model')
    parser.add_argument('--init-missing', action='store_true',
                        help='leave modules the source lacks at '
                        'initialisation instead of failing')
    parser.add_argument('--verify', action='store_true',
                        help="compare features with IRRA's computation")
    parser.add_argument('--atol', type=float, default=1e-4)
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    try:
        retriever, missing, unused = convert(args.src, args.dst,
                                             args.config, args.init_missing)
    except (FileNotFoundError, ValueError, KeyError, RuntimeError) as err:
        raise SystemExit(f'error: {err}')
    print(f'wrote {args.dst}')
    if missing:
        print(f'left at initialisation (not in the source): '
              f'{_prefixes(missing)}')
    if unused:
        print(f'source weights the config model does not have (dropped): '
              f'{_prefixes(unused)}')
    if args.verify:
        diffs = verify(args.src, retriever, atol=args.atol)
        print('verified: max |difference| ' + ', '.join(
            f'{k} {v:.2e}' for k, v in diffs.items()))


if __name__ == '__main__':
    main()
