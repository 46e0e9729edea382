"""Convert the official Person-SAM ``best.pth`` into a sapsam ``PersonSAM``.

``python tools/model_converters/person_sam_official_to_sapsam.py best.pth
person_sam.pth --config configs/person_sam/mca_atr_faithful.py --verify``

The official model (SAP-SAM ``s02_personsam_training``) is a
``transformers`` ``SamPreTrainedModel`` whose state dict holds SAM under the
Hugging Face names (``shared_image_embedding``, ``vision_encoder.*``,
``mask_decoder.*``; ``prompt_encoder.*``/``no_mask_embed`` are unused), the
BERT phrase encoder ``text_prompt_encoder.*`` and the MCA prompt
(``text_proj``, ``transform_linear``, ``fixed_query``,
``transform_attention``). The output is an MMEngine checkpoint of the
config's ``PersonSAM`` for ``tools/test.py`` and stage 4
(``tools/data/generate_part_masks.py --checkpoint``).

The official MCA attends to [PAD] tokens and stretches masks
(``docs/fidelity.md`` P3, P6): ``configs/person_sam/mca_atr_faithful.py``
sets both. ``--verify``
recomputes the official forward pass (Hugging Face SAM modules, BERT, the
MCA prompt written out from the official module names) from the source
weights and compares image embeddings, mask logits and IoU scores with the
converted model on a random image and phrases.
"""
import argparse
import os
import os.path as osp
import re
import sys
from typing import Dict, Optional, Sequence

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(
    __file__)))))
sys.path.insert(0, osp.dirname(osp.abspath(__file__)))

import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
from sam_hf_to_segment_anything import convert_hf_sam  # noqa: E402

#: Official non-SAM keys -> sapsam PersonSAM keys.
_TEXT_RULES = (
    (r'^text_prompt_encoder\.', 'text_encoder.bert.'),
    (r'^text_proj\.', 'prompt_encoder.text_proj.'),
    (r'^transform_linear\.', 'prompt_encoder.key_proj.'),
    (r'^fixed_query$', 'prompt_encoder.queries'),
    (r'^transform_attention\.', 'prompt_encoder.attention.'),
)
_SAM_PREFIXES = ('shared_image_embedding.', 'vision_encoder.',
                 'mask_decoder.', 'prompt_encoder.')
#: Official weights nothing reads (docs/fidelity.md P9).
_UNUSED = re.compile(r'^(no_mask_embed\.|prompt_encoder\.)')


def read_official_state_dict(path: str) -> Dict[str, torch.Tensor]:
    """The state dict of an official Person-SAM ``best.pth`` (float32),
    read through MMEngine's checkpoint loader.

    Raises:
        FileNotFoundError: no such file.
        ValueError: not an official Person-SAM checkpoint (names the file).
    """
    from mmengine.runner.checkpoint import CheckpointLoader
    if not osp.isfile(path):
        raise FileNotFoundError(f'Person-SAM checkpoint not found: {path}')
    state = CheckpointLoader.load_checkpoint(path, map_location='cpu')
    if isinstance(state, dict) and isinstance(state.get('state_dict'), dict):
        state = state['state_dict']
    needed = ('vision_encoder.', 'mask_decoder.', 'text_prompt_encoder.',
              'fixed_query')
    if not isinstance(state, dict) or not all(
            any(str(k).startswith(p) for k in state) for p in needed):
        raise ValueError(f'{path}: not an official Person-SAM checkpoint '
                         f'(expected keys {", ".join(needed)}...)')
    return {k: v.float() if v.is_floating_point() else v
            for k, v in state.items() if isinstance(v, torch.Tensor)}


def convert_person_sam(state: Dict[str, torch.Tensor]
                       ) -> Dict[str, torch.Tensor]:
    """Rename official keys to sapsam's ``PersonSAM`` keys.

    Raises:
        KeyError: keys that match no rule (names them).
    """
    sam = {k: v for k, v in state.items() if k.startswith(_SAM_PREFIXES)
           and not k.startswith('prompt_encoder.')}
    out = {}
    for key, value in convert_hf_sam(sam).items():
        if key.startswith('prompt_encoder.pe_layer.'):
            out[key[len('prompt_encoder.'):]] = value
        elif not key.startswith('prompt_encoder.'):
            out[key] = value
    unknown = []
    for key, value in state.items():
        if key in sam or _UNUSED.match(key):
            continue
        for pattern, replacement in _TEXT_RULES:
            match = re.match(pattern, key)
            if match:
                out[match.expand(replacement) + key[match.end():]] = value
                break
        else:
            unknown.append(key)
    if unknown:
        raise KeyError(f'official Person-SAM keys without a sapsam '
                       f'counterpart: {unknown[:10]}')
    return out


def build_model(config: str, cfg_options: Optional[dict] = None):
    """The config's ``PersonSAM`` without reading its SAM file or cache."""
    from mmengine.config import Config
    from mmengine.registry import DefaultScope

    from sapsam.registry import MODELS
    from sapsam.utils import register_all_modules
    cfg = Config.fromfile(config)
    cfg.merge_from_dict({'model.image_encoder.init_cfg': None,
                         'model.mask_decoder.init_cfg': None,
                         'model.embedding_cache': None,
                         **(cfg_options or {})})
    register_all_modules(init_default_scope=False)
    with DefaultScope.overwrite_default_scope('sapsam'):
        model = MODELS.build(cfg.model)
    return model.eval()


def hf_sam_config(settings: dict):
    """A ``transformers`` ``SamConfig`` with sapsam's SAM sizes."""
    from transformers import SamConfig
    return SamConfig(
        vision_config=dict(
            hidden_size=settings['embed_dim'],
            num_hidden_layers=settings['depth'],
            num_attention_heads=settings['num_heads'],
            global_attn_indexes=list(settings['global_attn_indexes']),
            window_size=settings['window_size'],
            image_size=settings['image_size'],
            patch_size=settings['patch_size'],
            output_channels=settings['prompt_dim'],
            mlp_dim=int(settings['embed_dim'] * settings['mlp_ratio']),
            num_pos_feats=settings['prompt_dim'] // 2),
        prompt_encoder_config=dict(hidden_size=settings['prompt_dim'],
                                   image_size=settings['image_size'],
                                   patch_size=settings['patch_size']),
        mask_decoder_config=dict(
            hidden_size=settings['prompt_dim'],
            num_hidden_layers=settings['decoder_depth'],
            mlp_dim=settings['decoder_mlp_dim'],
            num_attention_heads=settings['decoder_num_heads'],
            iou_head_depth=settings['iou_head_depth'],
            iou_head_hidden_dim=settings['iou_head_hidden_dim']))


class OfficialPersonSAM(nn.Module):
    """The official forward pass (MCA path, ``docs/fidelity.md`` P6) on
    Hugging Face SAM modules, with the official module names."""

    def __init__(self, settings: dict, bert: nn.Module, num_heads: int):
        super().__init__()
        from transformers import SamModel
        sam = SamModel(hf_sam_config(settings))
        dim, grid = settings['prompt_dim'], \
            settings['image_size'] // settings['patch_size']
        self.sam = sam  # holds the HF-named SAM parts
        self.text_prompt_encoder = bert
        width = bert.config.hidden_size
        self.text_proj = nn.Linear(width, dim)
        self.transform_linear = nn.Linear(width, dim)
        self.fixed_query = nn.Parameter(torch.zeros(1, grid, dim))
        self.transform_attention = nn.MultiheadAttention(dim, num_heads,
                                                         batch_first=True)

    def load_official(self, state: Dict[str, torch.Tensor]) -> None:
        """Load the official weights strictly (the unused SAM prompt
        encoder excepted)."""
        sam = {k: v for k, v in state.items()
               if k.startswith(_SAM_PREFIXES[:3])}
        missing, unexpected = self.sam.load_state_dict(sam, strict=False)
        missing = [k for k in missing if not k.startswith('prompt_encoder.')]
        if missing or unexpected:
            raise RuntimeError(f'SAM weights do not fit: missing {missing[:5]}'
                               f', unexpected {unexpected[:5]}')
        own = {k: v for k, v in self.state_dict().items()
               if not k.startswith('sam.')}
        rest = {k: v for k, v in state.items()
                if not k.startswith(_SAM_PREFIXES) and not _UNUSED.match(k)
                and (k in own or '.pooler.' not in k)}
        bert_missing = set(own) - set(rest)
        if bert_missing:
            raise RuntimeError(f'missing official keys {sorted(bert_missing)}')
        self.load_state_dict({**self.state_dict(), **{
            k: v for k, v in rest.items() if k in own}}, strict=True)

    def image_embeddings(self, pixels: torch.Tensor) -> torch.Tensor:
        return self.sam.vision_encoder(pixels).last_hidden_state

    def forward(self, embeddings: torch.Tensor, tokens: dict):
        """Mask logits ``(B, 1, 4h, 4w)`` and IoU scores ``(B,)``."""
        feats = self.text_prompt_encoder(**tokens).last_hidden_state
        batch = feats.shape[0]
        sparse = self.text_proj(feats[:, 0])[:, None, None, :]
        keys = self.transform_linear(feats[:, 1:])
        query = self.fixed_query.repeat(batch, 1, 1)
        attended = self.transform_attention(query, keys, keys)[0]
        grid = attended.shape[1]
        dense = attended[:, None].repeat(1, grid, 1, 1).permute(0, 3, 1, 2)
        pe = self.sam.get_image_wide_positional_embeddings().repeat(
            batch, 1, 1, 1)
        masks, iou = self.sam.mask_decoder(
            image_embeddings=embeddings, image_positional_embeddings=pe,
            sparse_prompt_embeddings=sparse, dense_prompt_embeddings=dense,
            multimask_output=False)[:2]
        return masks[:, 0], iou[:, 0, 0]


@torch.no_grad()
def verify(src: str, model: nn.Module,
           phrases: Sequence[str] = ('long black hair', 'a red coat'),
           atol: float = 1e-4, seed: int = 0) -> Dict[str, float]:
    """Compare ``model`` (converted) with the official forward pass.

    Returns:
        dict: max absolute differences of the image embeddings, the mask
        logits and the IoU scores.

    Raises:
        AssertionError: a difference exceeds ``atol``.
    """
    import copy
    state = read_official_state_dict(src)
    bert = copy.deepcopy(model.text_encoder.bert)
    ref = OfficialPersonSAM(model.sam_settings, bert,
                            model.prompt_encoder.attention.num_heads)
    ref.load_official(state)
    ref.eval()
    size = model.sam_settings['image_size']
    gen = torch.Generator().manual_seed(seed)
    pixels = torch.randn(1, 3, size, size, generator=gen)
    ours_emb = model.image_encoder(pixels)
    ref_emb = ref.image_embeddings(pixels)
    embeddings = ref_emb.expand(len(phrases), -1, -1, -1)
    ours_logits, ours_iou = model.decode(ref_emb, list(phrases),
                                         torch.zeros(len(phrases),
                                                     dtype=torch.long))
    tokens = model.text_encoder.tokenize(list(phrases))
    ref_logits, ref_iou = ref(embeddings, dict(tokens))
    diffs = dict(
        image_embeddings=float((ours_emb - ref_emb).abs().max()),
        mask_logits=float((ours_logits - ref_logits).abs().max()),
        iou_scores=float((ours_iou - ref_iou).abs().max()))
    for name, diff in diffs.items():
        assert diff <= atol, (f'{src}: converted {name} differ from the '
                              f'official model by {diff:.2e} > {atol:.0e}')
    return diffs


def convert(src: str, dst: str, config: str,
            cfg_options: Optional[dict] = None) -> nn.Module:
    """Write ``dst``; return the converted model."""
    model = build_model(config, cfg_options)
    state = convert_person_sam(read_official_state_dict(src))
    own = model.state_dict()
    # BERT's pooler (never used, P9) and old position_ids buffers.
    state = {k: v for k, v in state.items() if k in own or not (
        k.endswith('position_ids') or '.bert.pooler.' in k)}
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    mismatched = [f'{k} {tuple(state[k].shape)} vs {tuple(own[k].shape)}'
                  for k in sorted(set(own) & set(state))
                  if own[k].shape != state[k].shape]
    if missing or unexpected or mismatched:
        raise RuntimeError(
            f'{src} does not fit the PersonSAM of {config}: missing '
            f'{missing[:6]}, unexpected {unexpected[:6]}, shapes '
            f'{mismatched[:4]} (the official model is SAM ViT-B + '
            f'bert-base-uncased + MCAPrompt(num_heads=8))')
    model.load_state_dict(state, strict=True)
    if getattr(model.prompt_encoder, 'use_key_padding_mask', False):
        print('note: the config hides [PAD] tokens from the MCA prompt; the '
              'official model attends to them (use '
              'configs/person_sam/mca_atr_faithful.py to reproduce it)')
    os.makedirs(osp.dirname(osp.abspath(dst)), exist_ok=True)
    torch.save(dict(state_dict=state,
                    meta=dict(converted_from=osp.abspath(src),
                              converter='person_sam_official_to_sapsam',
                              config=config)), dst)
    return model


def parse_args(argv=None):
    from mmengine.config import DictAction
    parser = argparse.ArgumentParser(
        description='official Person-SAM best.pth -> sapsam PersonSAM')
    parser.add_argument('src', help="the official Person-SAM best.pth")
    parser.add_argument('dst', help='output .pth (MMEngine checkpoint)')
    parser.add_argument('--config', required=True,
                        help='sapsam Person-SAM config of the target model')
    parser.add_argument('--verify', action='store_true',
                        help='compare masks with the official forward pass')
    parser.add_argument('--atol', type=float, default=1e-4)
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config settings (e.g. '
                        'model.text_encoder.pretrained=DIR)')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    try:
        model = convert(args.src, args.dst, args.config, args.cfg_options)
    except (FileNotFoundError, ValueError, KeyError, RuntimeError) as err:
        raise SystemExit(f'error: {err}')
    print(f'wrote {args.dst}')
    if args.verify:
        diffs = verify(args.src, model, atol=args.atol)
        print('verified: max |difference| ' + ', '.join(
            f'{k} {v:.2e}' for k, v in diffs.items()))


if __name__ == '__main__':
    main()
