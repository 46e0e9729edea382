"""Convert a Hugging Face SAM folder into segment_anything's layout.

``python tools/model_converters/sam_hf_to_segment_anything.py SRC_DIR DST.pth
--verify``

``SRC_DIR`` is a ``save_pretrained`` folder of ``transformers.SamModel``
(e.g. a local copy of ``facebook/sam-vit-base``). ``DST.pth`` is a state
dict with the names of ``segment_anything``'s ``Sam`` (``image_encoder.*``,
``prompt_encoder.*``, ``mask_decoder.*``), i.e. the format of the official
``sam_vit_b_01ec64.pth`` that Person-SAM configs read (``sam_checkpoint``
in ``configs/_base_/models/person_sam_vit_b.py``). ``--verify`` builds ``segment_anything``'s model with the
source's sizes, loads the result strictly and compares image embeddings and
the masks and IoU scores of a point prompt with the Hugging Face model.
"""
import argparse
import os
import os.path as osp
import re
import sys
from typing import Dict

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(
    __file__)))))

import torch  # noqa: E402
import torch.nn as nn  # noqa: E402

#: (HF pattern, segment_anything replacement), applied in order, first match
#: wins. ``{mlp_last}`` is filled per MLP head.
_RULES = (
    (r'^shared_image_embedding\.positional_embedding$',
     'prompt_encoder.pe_layer.positional_encoding_gaussian_matrix'),
    (r'^vision_encoder\.patch_embed\.projection\.', 'image_encoder.'
     'patch_embed.proj.'),
    (r'^vision_encoder\.layers\.(\d+)\.layer_norm1\.',
     r'image_encoder.blocks.\1.norm1.'),
    (r'^vision_encoder\.layers\.(\d+)\.layer_norm2\.',
     r'image_encoder.blocks.\1.norm2.'),
    (r'^vision_encoder\.layers\.(\d+)\.', r'image_encoder.blocks.\1.'),
    (r'^vision_encoder\.neck\.conv1\.', 'image_encoder.neck.0.'),
    (r'^vision_encoder\.neck\.layer_norm1\.', 'image_encoder.neck.1.'),
    (r'^vision_encoder\.neck\.conv2\.', 'image_encoder.neck.2.'),
    (r'^vision_encoder\.neck\.layer_norm2\.', 'image_encoder.neck.3.'),
    (r'^vision_encoder\.pos_embed$', 'image_encoder.pos_embed'),
    (r'^prompt_encoder\.mask_embed\.conv1\.',
     'prompt_encoder.mask_downscaling.0.'),
    (r'^prompt_encoder\.mask_embed\.layer_norm1\.',
     'prompt_encoder.mask_downscaling.1.'),
    (r'^prompt_encoder\.mask_embed\.conv2\.',
     'prompt_encoder.mask_downscaling.3.'),
    (r'^prompt_encoder\.mask_embed\.layer_norm2\.',
     'prompt_encoder.mask_downscaling.4.'),
    (r'^prompt_encoder\.mask_embed\.conv3\.',
     'prompt_encoder.mask_downscaling.6.'),
    (r'^prompt_encoder\.point_embed\.', 'prompt_encoder.point_embeddings.'),
    (r'^prompt_encoder\.(no_mask_embed|not_a_point_embed)\.',
     r'prompt_encoder.\1.'),
    (r'^mask_decoder\.transformer\.layers\.(\d+)\.layer_norm(\d)\.',
     r'mask_decoder.transformer.layers.\1.norm\2.'),
    (r'^mask_decoder\.transformer\.layer_norm_final_attn\.',
     'mask_decoder.transformer.norm_final_attn.'),
    (r'^mask_decoder\.upscale_conv1\.', 'mask_decoder.output_upscaling.0.'),
    (r'^mask_decoder\.upscale_layer_norm\.',
     'mask_decoder.output_upscaling.1.'),
    (r'^mask_decoder\.upscale_conv2\.', 'mask_decoder.output_upscaling.3.'),
    (r'^mask_decoder\.((?:output_hypernetworks_mlps\.\d+)|'
     r'iou_prediction_head)\.proj_in\.', r'mask_decoder.\1.layers.0.'),
    (r'^mask_decoder\.((?:output_hypernetworks_mlps\.\d+)|'
     r'iou_prediction_head)\.proj_out\.',
     r'mask_decoder.\1.layers.{mlp_last}.'),
    (r'^mask_decoder\.((?:output_hypernetworks_mlps\.\d+)|'
     r'iou_prediction_head)\.layers\.(\d+)\.',
     r'mask_decoder.\1.layers.{hidden:\2}.'),
    (r'^mask_decoder\.(iou_token|mask_tokens|transformer)\.',
     r'mask_decoder.\1.'),
)
#: HF keys that duplicate another one (tied weights).
_TIED = {
    'prompt_encoder.shared_embedding.positional_embedding':
    'shared_image_embedding.positional_embedding'
}
_MLP = re.compile(r'^mask_decoder\.((?:output_hypernetworks_mlps\.\d+)|'
                  r'iou_prediction_head)\.layers\.(\d+)\.')


def convert_hf_sam(hf_state: Dict[str, torch.Tensor]
                   ) -> Dict[str, torch.Tensor]:
    """Rename a ``transformers.SamModel`` state dict to segment_anything's.

    Raises:
        KeyError: a key matches no rule (names the keys).
        ValueError: tied copies differ.
    """
    hidden_layers: Dict[str, int] = {}
    for key in hf_state:
        match = _MLP.match(key)
        if match:
            hidden_layers[match.group(1)] = max(
                hidden_layers.get(match.group(1), 0),
                int(match.group(2)) + 1)
    out, unknown = {}, []
    for key, value in hf_state.items():
        if key in _TIED:
            if not torch.equal(value, hf_state[_TIED[key]]):
                raise ValueError(f'{key} differs from its tied copy '
                                 f'{_TIED[key]}')
            continue
        for pattern, replacement in _RULES:
            match = re.match(pattern, key)
            if not match:
                continue
            new_prefix = match.expand(replacement)
            if '{' in new_prefix:
                mlp = match.group(1)
                hidden = hidden_layers.get(mlp, 0)
                new_prefix = re.sub(r'\{hidden:(\d+)\}',
                                    lambda m: str(int(m.group(1)) + 1),
                                    new_prefix)
                new_prefix = new_prefix.replace('{mlp_last}', str(hidden + 1))
            out[new_prefix + key[match.end():]] = value
            break
        else:
            unknown.append(key)
    if unknown:
        raise KeyError(f'keys without a segment_anything counterpart (not a '
                       f'transformers SamModel?): {unknown[:10]}')
    return out


def build_segment_anything(config) -> nn.Module:
    """``segment_anything``'s ``Sam`` with the sizes of a ``SamConfig``
    (built by Person-SAM's SAM builder; a ``SamConfig`` it cannot express
    is refused, as Person-SAM could not load its weights)."""
    from sapsam.models.segmentors.sam_builder import build_sam
    vision, prompt, decoder = (config.vision_config,
                               config.prompt_encoder_config,
                               config.mask_decoder_config)
    if vision.hidden_act != 'gelu' or decoder.hidden_act != 'relu':
        raise ValueError('segment_anything uses GELU in the image encoder '
                         'and ReLU in the mask decoder; the source uses '
                         f'{vision.hidden_act!r} / {decoder.hidden_act!r}')
    if vision.num_pos_feats * 2 != prompt.hidden_size:
        raise ValueError(f'num_pos_feats {vision.num_pos_feats} must be half '
                         f'the prompt size {prompt.hidden_size}')
    fixed = {  # SamConfig field: (value, the one the builder uses)
        'vision_config.qkv_bias': (vision.qkv_bias, True),
        'vision_config.use_rel_pos': (vision.use_rel_pos, True),
        'vision_config.layer_norm_eps': (vision.layer_norm_eps, 1e-6),
        'vision_config.output_channels': (vision.output_channels,
                                          prompt.hidden_size),
        'vision_config.image_size': (vision.image_size, prompt.image_size),
        'vision_config.patch_size': (vision.patch_size, prompt.patch_size),
        'mask_decoder_config.hidden_size': (decoder.hidden_size,
                                      prompt.hidden_size),
        'prompt_encoder_config.mask_input_channels': (
            prompt.mask_input_channels, 16),
        'mask_decoder_config.num_multimask_outputs': (
            decoder.num_multimask_outputs, 3),
        'mask_decoder_config.attention_downsample_rate': (
            decoder.attention_downsample_rate, 2),
    }
    odd = {k: v for k, (v, want) in fixed.items() if v != want}
    if odd:
        raise ValueError(f'SamConfig settings segment_anything\'s SAM (and '
                         f'Person-SAM) do not use: {odd}')
    return build_sam(dict(
        image_size=prompt.image_size, patch_size=prompt.patch_size,
        embed_dim=vision.hidden_size, depth=vision.num_hidden_layers,
        num_heads=vision.num_attention_heads,
        mlp_ratio=vision.mlp_dim / vision.hidden_size,
        global_attn_indexes=tuple(vision.global_attn_indexes),
        window_size=vision.window_size, prompt_dim=prompt.hidden_size,
        decoder_depth=decoder.num_hidden_layers,
        decoder_mlp_dim=decoder.mlp_dim,
        decoder_num_heads=decoder.num_attention_heads,
        iou_head_depth=decoder.iou_head_depth,
        iou_head_hidden_dim=decoder.iou_head_hidden_dim))


def _tensor(output, name: str) -> torch.Tensor:
    return output if isinstance(output, torch.Tensor) else getattr(
        output, name)


@torch.no_grad()
def verify(src_dir: str, dst: str, atol: float = 1e-4,
           seed: int = 0) -> Dict[str, float]:
    """Compare segment_anything loaded from ``dst`` with the HF model.

    Returns:
        dict: max absolute differences of the image embeddings, the
        low-resolution mask logits and the IoU scores of a point prompt.

    Raises:
        AssertionError: a difference exceeds ``atol``.
    """
    from transformers import SamModel
    hf = SamModel.from_pretrained(src_dir).eval()
    sam = build_segment_anything(hf.config).eval()
    state = torch.load(dst, map_location='cpu', weights_only=True)
    sam.load_state_dict(state, strict=True)
    gen = torch.Generator().manual_seed(seed)
    size = hf.config.vision_config.image_size
    pixels = torch.randn(1, 3, size, size, generator=gen)
    ref_emb = _tensor(hf.get_image_embeddings(pixels), 'image_embeddings')
    ours_emb = sam.image_encoder(pixels)
    points = torch.tensor([[[0.35 * size, 0.6 * size],
                            [0.7 * size, 0.2 * size]]])
    labels = torch.tensor([[1, 0]])
    ref = hf(image_embeddings=ref_emb, input_points=points[:, None],
             input_labels=labels[:, None], multimask_output=False)
    sparse, dense = sam.prompt_encoder(points=(points, labels), boxes=None,
                                       masks=None)
    masks, iou = sam.mask_decoder(
        image_embeddings=ref_emb, image_pe=sam.prompt_encoder.get_dense_pe(),
        sparse_prompt_embeddings=sparse, dense_prompt_embeddings=dense,
        multimask_output=False)
    diffs = dict(
        image_embeddings=float((ours_emb - ref_emb).abs().max()),
        masks=float((masks - ref.pred_masks[:, 0]).abs().max()),
        iou_scores=float((iou - ref.iou_scores[:, 0]).abs().max()))
    for name, diff in diffs.items():
        assert diff <= atol, (f'{dst}: {name} differ from {src_dir} by '
                              f'{diff:.2e} > {atol:.0e}')
    return diffs


def convert(src_dir: str, dst: str) -> Dict[str, torch.Tensor]:
    """Read ``src_dir`` with transformers, write the segment_anything
    state dict."""
    from transformers import SamModel
    if not osp.isdir(src_dir):
        raise FileNotFoundError(f'Hugging Face SAM folder not found: '
                                f'{src_dir}')
    hf = SamModel.from_pretrained(src_dir)
    state = convert_hf_sam(hf.state_dict())
    os.makedirs(osp.dirname(osp.abspath(dst)), exist_ok=True)
    torch.save(state, dst)
    return state


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Hugging Face SamModel folder -> segment_anything state '
        'dict')
    parser.add_argument('src', help='save_pretrained folder of a SamModel')
    parser.add_argument('dst', help='output .pth')
    parser.add_argument('--verify', action='store_true',
                        help='compare outputs with the source model')
    parser.add_argument('--atol', type=float, default=1e-4)
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    state = convert(args.src, args.dst)
    print(f'wrote {args.dst} ({len(state)} tensors, '
          f'{sum(v.numel() for v in state.values()):,} values)')
    if args.verify:
        diffs = verify(args.src, args.dst, atol=args.atol)
        print('verified: max |difference| ' + ', '.join(
            f'{k} {v:.2e}' for k, v in diffs.items()))


if __name__ == '__main__':
    main()
