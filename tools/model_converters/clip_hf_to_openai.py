"""Convert a Hugging Face CLIP folder into the OpenAI layout of CLIPBackbone.

``python tools/model_converters/clip_hf_to_openai.py SRC_DIR DST.pth --verify``

``SRC_DIR`` is a ``save_pretrained`` folder of ``transformers.CLIPModel``
(e.g. a local copy of ``openai/clip-vit-base-patch16``: ``config.json`` +
``model.safetensors``). ``DST.pth`` is a plain state dict with OpenAI's
names (``visual.conv1.weight``,
``transformer.resblocks.0.attn.in_proj_weight``, ``text_projection``, ...),
the format of ``CLIPBackbone(pretrained=...)``. ``--verify`` loads the
result into ``CLIPBackbone`` and compares image and text features with the
Hugging Face model on random inputs.
"""
import argparse
import os
import os.path as osp
import re
import sys
from typing import Dict, Tuple

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(
    __file__)))))

import torch  # noqa: E402

#: Parameters outside the transformer layers: HF name -> (OpenAI name,
#: transpose).
_DIRECT = {
    'text_model.embeddings.token_embedding.weight':
    ('token_embedding.weight', False),
    'text_model.embeddings.position_embedding.weight':
    ('positional_embedding', False),
    'text_model.final_layer_norm.weight': ('ln_final.weight', False),
    'text_model.final_layer_norm.bias': ('ln_final.bias', False),
    'text_projection.weight': ('text_projection', True),
    'vision_model.embeddings.class_embedding':
    ('visual.class_embedding', False),
    'vision_model.embeddings.patch_embedding.weight':
    ('visual.conv1.weight', False),
    'vision_model.embeddings.position_embedding.weight':
    ('visual.positional_embedding', False),
    'vision_model.pre_layrnorm.weight': ('visual.ln_pre.weight', False),
    'vision_model.pre_layrnorm.bias': ('visual.ln_pre.bias', False),
    'vision_model.post_layernorm.weight': ('visual.ln_post.weight', False),
    'vision_model.post_layernorm.bias': ('visual.ln_post.bias', False),
    'visual_projection.weight': ('visual.proj', True),
    'logit_scale': ('logit_scale', False),
}
#: Renames inside a transformer layer (HF -> OpenAI).
_LAYER_RENAMES = (('self_attn.out_proj.', 'attn.out_proj.'),
                  ('layer_norm1.', 'ln_1.'), ('layer_norm2.', 'ln_2.'),
                  ('mlp.fc1.', 'mlp.c_fc.'), ('mlp.fc2.', 'mlp.c_proj.'))
_LAYER_KEY = re.compile(
    r'^(text_model|vision_model)\.encoder\.layers\.(\d+)\.(.+)$')
_QKV = re.compile(r'^self_attn\.([qkv])_proj\.(weight|bias)$')


def convert_hf_clip(hf_state: Dict[str, torch.Tensor]
                    ) -> Dict[str, torch.Tensor]:
    """Rename a ``transformers.CLIPModel`` state dict to OpenAI's layout.

    q/k/v projections are concatenated into ``attn.in_proj_weight`` /
    ``in_proj_bias``; the two output projections are transposed.

    Raises:
        KeyError: a key has no OpenAI counterpart (names the keys).
    """
    out: Dict[str, torch.Tensor] = {}
    qkv: Dict[Tuple[str, str], Dict[str, torch.Tensor]] = {}
    unknown = []
    for key, value in hf_state.items():
        if key.endswith('position_ids'):  # buffer of older versions
            continue
        match = _LAYER_KEY.match(key)
        if match:
            tower, layer, rest = match.groups()
            base = ('transformer' if tower == 'text_model' else
                    'visual.transformer') + f'.resblocks.{layer}'
            part = _QKV.match(rest)
            if part:
                qkv.setdefault((base, part.group(2)), {})[part.group(1)] = \
                    value
                continue
            for old, new in _LAYER_RENAMES:
                if rest.startswith(old):
                    out[f'{base}.{new}{rest[len(old):]}'] = value
                    break
            else:
                unknown.append(key)
            continue
        if key in _DIRECT:
            name, transpose = _DIRECT[key]
            out[name] = value.t().contiguous() if transpose else value
        else:
            unknown.append(key)
    if unknown:
        raise KeyError(f'keys without an OpenAI CLIP counterpart (not a '
                       f'transformers CLIPModel?): {unknown[:10]}')
    for (base, kind), parts in sorted(qkv.items()):
        if set(parts) != {'q', 'k', 'v'}:
            raise KeyError(f'{base}: incomplete q/k/v {kind} '
                           f'({sorted(parts)})')
        out[f'{base}.attn.in_proj_{kind}'] = torch.cat(
            [parts['q'], parts['k'], parts['v']])
    return out


def backbone_kwargs(config) -> dict:
    """``CLIPBackbone`` arguments of a ``transformers.CLIPConfig`` at the
    model's own (square) resolution."""
    text, vision = config.text_config, config.vision_config
    for name, cfg in (('text', text), ('vision', vision)):
        if cfg.hidden_act != 'quick_gelu':
            raise ValueError(f'{name} tower uses {cfg.hidden_act!r}; '
                             'CLIPBackbone implements OpenAI CLIP '
                             '(quick_gelu) only')
    arch = dict(
        embed_dim=config.projection_dim,
        vision=dict(width=vision.hidden_size,
                    layers=vision.num_hidden_layers,
                    head_width=vision.hidden_size //
                    vision.num_attention_heads,
                    patch_size=vision.patch_size,
                    mlp_ratio=vision.intermediate_size / vision.hidden_size),
        text=dict(width=text.hidden_size, heads=text.num_attention_heads,
                  layers=text.num_hidden_layers,
                  mlp_ratio=text.intermediate_size / text.hidden_size))
    return dict(arch=arch, image_size=(vision.image_size, vision.image_size),
                context_length=text.max_position_embeddings,
                vocab_size=text.vocab_size)


def _features(output) -> torch.Tensor:
    # transformers >= 5 returns an output object, older versions a tensor.
    return output if isinstance(output, torch.Tensor) else \
        output.pooler_output


@torch.no_grad()
def verify(src_dir: str, dst: str, atol: float = 1e-4,
           seed: int = 0) -> Dict[str, float]:
    """Compare ``CLIPBackbone`` loaded from ``dst`` with the HF model.

    Returns:
        dict: max absolute differences of the projected image and text
        features.

    Raises:
        AssertionError: a difference exceeds ``atol``.
    """
    from transformers import CLIPModel

    from sapsam.models import CLIPBackbone
    hf = CLIPModel.from_pretrained(src_dir).eval()
    kwargs = backbone_kwargs(hf.config)
    backbone = CLIPBackbone(**kwargs)
    backbone.load_openai_checkpoint(dst)
    backbone.eval()
    gen = torch.Generator().manual_seed(seed)
    size = kwargs['image_size'][0]
    images = torch.randn(2, 3, size, size, generator=gen)
    length, vocab = kwargs['context_length'], kwargs['vocab_size']
    ids = torch.zeros(2, length, dtype=torch.long)
    for row, n in enumerate((5, length - 2)):
        ids[row, 0] = vocab - 2  # SOT
        ids[row, 1:n + 1] = torch.randint(1, vocab - 3, (n, ), generator=gen)
        ids[row, n + 1] = vocab - 1  # EOT: the largest id
    ours_img = backbone.encode_image(images)[:, 0]
    ours_txt = backbone.text_global(backbone.encode_text(ids), ids)
    ref_img = _features(hf.get_image_features(pixel_values=images))
    ref_txt = _features(hf.get_text_features(input_ids=ids))
    diffs = dict(image=float((ours_img - ref_img).abs().max()),
                 text=float((ours_txt - ref_txt).abs().max()))
    for name, diff in diffs.items():
        assert diff <= atol, (f'{dst}: {name} features differ from {src_dir} '
                              f'by {diff:.2e} > {atol:.0e}')
    return diffs


def convert(src_dir: str, dst: str) -> Dict[str, torch.Tensor]:
    """Read ``src_dir`` with transformers, write the OpenAI state dict."""
    from transformers import CLIPModel
    if not osp.isdir(src_dir):
        raise FileNotFoundError(f'Hugging Face CLIP folder not found: '
                                f'{src_dir}')
    hf = CLIPModel.from_pretrained(src_dir)
    backbone_kwargs(hf.config)  # fail early on unsupported variants
    state = convert_hf_clip(hf.state_dict())
    os.makedirs(osp.dirname(osp.abspath(dst)), exist_ok=True)
    torch.save(state, dst)
    return state


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Hugging Face CLIPModel folder -> OpenAI CLIP state dict')
    parser.add_argument('src', help='save_pretrained folder of a CLIPModel')
    parser.add_argument('dst', help='output .pth')
    parser.add_argument('--verify', action='store_true',
                        help='compare features with the source model')
    parser.add_argument('--atol', type=float, default=1e-4)
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    state = convert(args.src, args.dst)
    print(f'wrote {args.dst} ({len(state)} tensors, '
          f'{sum(v.numel() for v in state.values()):,} values)')
    if args.verify:
        diffs = verify(args.src, args.dst, atol=args.atol)
        print('verified: max |difference| image {image:.2e}, text '
              '{text:.2e}'.format(**diffs))


if __name__ == '__main__':
    main()
