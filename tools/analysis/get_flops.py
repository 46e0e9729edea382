"""Parameters per component and FLOPs of the encoders of a model.

    python tools/analysis/get_flops.py configs/sapsam/elca_cuhk.py
    python tools/analysis/get_flops.py configs/person_sam/mca_atr.py --no-flops

Parameters: every top-level module (and the image/text towers of a CLIP
backbone), total and trainable. FLOPs, as multiply-adds (the
convention of MMEngine's and fvcore's counters; PyTorch's ``FlopCounterMode``
does the counting) of one forward pass at the config's input
size: the image and text encoders of a retriever (what test time runs), or
Person-SAM's image encoder. Weight files are not read (random weights have
the same counts).
"""
import argparse
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(
    __file__)))))

import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
from mmengine.config import Config, DictAction  # noqa: E402

from sapsam.utils.setup_env import ConfigError, load_config  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('config')
    parser.add_argument('--no-flops', action='store_true',
                        help='count parameters only')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    return parser.parse_args(argv)


def _drop_weight_files(node):
    """Config copy without pretrained/checkpoint paths (nothing is read)."""
    if isinstance(node, dict):
        return {k: (None if k in ('pretrained', 'checkpoint') and
                    isinstance(v, str) else _drop_weight_files(v))
                for k, v in node.items() if k != 'embedding_cache'}
    if isinstance(node, list):
        return [_drop_weight_files(v) for v in node]
    return node


def build_model(cfg: Config) -> nn.Module:
    from mmengine.registry import DefaultScope

    from sapsam.registry import MODELS
    from sapsam.utils import register_all_modules
    register_all_modules(init_default_scope=False)
    model_cfg = _drop_weight_files(cfg.model.to_dict())
    text_encoder = cfg.model.get('text_encoder')
    if isinstance(text_encoder, dict):  # BERT's config/vocab folder is needed
        model_cfg['text_encoder'] = text_encoder.to_dict() if hasattr(
            text_encoder, 'to_dict') else dict(text_encoder)
    with DefaultScope.overwrite_default_scope('sapsam'):
        return MODELS.build(model_cfg).eval()


def parameter_table(model: nn.Module) -> list:
    """``(component, parameters, trainable)`` rows, then the total."""
    rows = []
    for name, child in model.named_children():
        groups = [(name, list(child.parameters()))]
        if name == 'backbone' and hasattr(child, 'visual'):
            visual = {id(p) for p in child.visual.parameters()}
            groups = [('backbone.visual', list(child.visual.parameters())),
                      ('backbone (text)', [p for p in child.parameters()
                                           if id(p) not in visual])]
        for label, params in groups:
            if params:
                rows.append((label, sum(p.numel() for p in params),
                             sum(p.numel() for p in params
                                 if p.requires_grad)))
    own = [p for n, p in model.named_parameters(recurse=False)]
    if own:
        rows.append(('(model)', sum(p.numel() for p in own),
                     sum(p.numel() for p in own if p.requires_grad)))
    everything = list(model.parameters())
    rows.append(('total', sum(p.numel() for p in everything),
                 sum(p.numel() for p in everything if p.requires_grad)))
    return rows


def count_multiply_adds(fn, inputs) -> int:
    """Multiply-adds of ``fn(inputs)`` (PyTorch's ``FlopCounterMode``
    counts 2 FLOPs per multiply-add). Run with autograd on: without it
    ``nn.MultiheadAttention`` takes a fused fast path the counter misses."""
    from torch.utils.flop_counter import FlopCounterMode, sdpa_flop_count

    def cpu_attention(query, key, value, *args, **kwargs):
        # torch has no formula for the CPU attention kernel; use its own
        # scaled-dot-product one (QK^T and AV).
        return sdpa_flop_count(query, key, value)  # shapes

    custom = {torch.ops.aten._scaled_dot_product_flash_attention_for_cpu:
              cpu_attention}
    with torch.enable_grad(), FlopCounterMode(
            display=False, custom_mapping=custom) as counter:
        fn(inputs)
    return counter.get_total_flops() // 2


def flop_table(model: nn.Module) -> list:
    """``(what, input shape, multiply-adds)`` of the encoders."""
    jobs = []
    backbone = getattr(model, 'backbone', None)
    if backbone is not None and hasattr(backbone, 'encode_image'):
        height, width = backbone.image_size
        jobs += [('image encoder', backbone.encode_image,
                  torch.zeros(1, 3, height, width)),
                 ('text encoder', backbone.encode_text,
                  torch.ones(1, backbone.context_length, dtype=torch.long))]
    elif hasattr(model, 'image_encoder'):
        size = model.sam_settings['image_size']
        jobs.append(('image encoder', model.image_encoder,
                     torch.zeros(1, 3, size, size)))
    return [(what, tuple(inputs.shape), count_multiply_adds(fn, inputs))
            for what, fn, inputs in jobs]


def _human(n: float) -> str:
    for unit, scale in (('G', 1e9), ('M', 1e6), ('K', 1e3)):
        if n >= scale:
            return f'{n / scale:.2f}{unit}'
    return str(int(n))


def main(argv=None):
    args = parse_args(argv)
    try:
        cfg = load_config(args.config, args.cfg_options)
    except ConfigError as err:  # missing file, syntax error, bad option
        raise SystemExit(f'error: {err}')
    model = build_model(cfg)
    params = parameter_table(model)
    print(f'{"component":<28} {"parameters":>12} {"trainable":>12}')
    for name, total, trainable in params:
        print(f'{name:<28} {_human(total):>12} {_human(trainable):>12}')
    flops = [] if args.no_flops else flop_table(model)
    for what, shape, count in flops:
        print(f'{what}: {_human(count)} multiply-adds (FLOPs) for input '
              f'{shape}')
    return dict(params=params, flops=flops)


if __name__ == '__main__':
    main()
