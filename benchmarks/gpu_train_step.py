"""Benchmark: training-step throughput of the SAP-SAM ELCA model.

Times ``model.train_step`` (data preprocessor, forward with SDM + part-aware
MLM + ELCA, backward, Adam step) of the real-size model (CLIP ViT-B/16,
cross-modal decoder 4 x 512-d, batch 64, 384x128 images) with random weights
and random data. Reports images/s and peak GPU memory.

``--config`` builds the model and the optimiser from a config through the
registries (random weights: ``pretrained`` is dropped), e.g.
``configs/sapsam/elca_cuhk_faithful.py`` for the official whole-model fp16.
``--dtype`` is the autocast dtype (MMEngine's ``AmpOptimWrapper`` on a GPU),
or ``model`` for no autocast: the weights as the config builds them. The
report says which dtype the weights actually have.

Usage::

    python benchmarks/gpu_train_step.py                 # CUDA, real size
    python benchmarks/gpu_train_step.py --device cpu --tiny   # CPU smoke run
    python benchmarks/gpu_train_step.py --dtype model \
        --config configs/sapsam/elca_cuhk_faithful.py    # faithful fp16
"""
import argparse
import contextlib
import os
import sys
import time
from typing import Dict, Optional, Sequence

import torch
from mmengine.config import Config
from mmengine.optim import AmpOptimWrapper, OptimWrapper, build_optim_wrapper
from mmengine.registry import DefaultScope

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from elca_vectorised import make_part_annotations  # noqa: E402

from sapsam.datasets.transforms import PartAwareMaskTokens  # noqa: E402
from sapsam.registry import MODELS  # noqa: E402
from sapsam.structures import TBPRDataSample  # noqa: E402


def build_model(tiny: bool, image_size: Sequence[int],
                readout: str) -> torch.nn.Module:
    """SAPSAM with ELCA: ViT-B/16 and a 4-block decoder, or tiny parts."""
    if tiny:
        decoder = dict(type='CrossModalDecoder', num_heads=2, depth=1)
        head = dict(type='ELCAAlign', num_heads=2, readout=readout)
    else:
        decoder = dict(type='CrossModalDecoder', num_heads=8, depth=4)
        head = dict(type='ELCAAlign', num_heads=8, readout=readout)
    return MODELS.build(dict(
        type='SAPSAM',
        backbone=dict(type='CLIPBackbone', arch='tiny' if tiny else
                      'ViT-B/16', image_size=tuple(image_size)),
        cross_modal_decoder=decoder, mlm_head=dict(type='MaskedLanguageHead'),
        alignment_head=head))


def build_from_config(path: str, image_size: Sequence[int]):
    """Model (random weights) and optimiser settings of a config."""
    cfg = Config.fromfile(path)
    model_cfg = cfg.model
    model_cfg.backbone.update(pretrained=None, image_size=tuple(image_size))
    with DefaultScope.overwrite_default_scope('sapsam'):
        return MODELS.build(model_cfg), cfg.optim_wrapper


def weight_dtypes(model: torch.nn.Module) -> Dict[str, float]:
    """Share of the parameters (by count) in each dtype."""
    counts: Dict[str, int] = {}
    for param in model.parameters():
        name = str(param.dtype).replace('torch.', '')
        counts[name] = counts.get(name, 0) + param.numel()
    total = sum(counts.values())
    return {name: count / total for name, count in sorted(counts.items())}


def make_batch(batch: int, image_size: Sequence[int], grid: Sequence[int],
               device: torch.device, seed: int = 0) -> dict:
    """Random uint8 images and data samples with every SAP-SAM field."""
    ann = make_part_annotations(batch, 6, tuple(grid), seed=seed)
    masking = PartAwareMaskTokens()
    generator = torch.Generator().manual_seed(seed)
    samples = []
    for i in range(batch):
        fields = masking(dict(text_ids=ann['text_ids'][i],
                              part_spans=ann['part_spans'][i]))
        sample = TBPRDataSample(metainfo=dict(img_path=f'random_{i}.jpg'))
        sample.set_field(int(ann['pids'][i]), 'pid')
        for key in ('text_ids', 'mlm_ids', 'mlm_labels'):
            sample.set_field(fields[key], key)
        sample.set_field(ann['patch_labels'][i], 'patch_labels')
        sample.set_field(ann['part_spans'][i], 'part_spans')
        sample.set_field(int(ann['part_num'][i]), 'part_num')
        samples.append(sample.to(device))
    images = torch.randint(0, 256, (batch, 3, *image_size),
                           dtype=torch.uint8, generator=generator)
    return dict(inputs=images.to(device), data_samples=samples)


def run(device: str = 'cuda', tiny: bool = False, batch_size: int = 64,
        image_size: Sequence[int] = (384, 128), steps: int = 10,
        warmup: int = 3, dtype: str = 'bfloat16',
        readout: str = 'region',
        config: Optional[str] = None) -> Dict[str, float]:
    """Build, warm up and time ``steps`` training steps.

    Args:
        dtype (str): Autocast dtype (``'bfloat16'``, ``'float16'``),
            ``'float32'`` or ``'model'`` (no autocast, the weights' dtype).
        config (str, optional): Build model and optimiser from this config
            instead of the built-in ViT-B/16 (or tiny) ELCA model.

    Returns:
        dict: ``device``, ``params_m`` (millions), ``weight_dtypes`` (share
        of parameters per dtype), ``step_s`` (mean seconds),
        ``images_per_s``, ``peak_memory_gib`` (CUDA only, else 0) and the
        last step's losses.
    """
    device = torch.device(device)
    if config is not None:
        model, optim_cfg = build_from_config(config, image_size)
    else:
        with DefaultScope.overwrite_default_scope('sapsam'):
            model = build_model(tiny, image_size, readout)
        optim_cfg = dict(type=OptimWrapper, optimizer=dict(
            type=torch.optim.Adam, lr=1e-5, eps=1e-3, weight_decay=4e-5))
    model = model.to(device)
    model.train()
    optim_cfg = dict(optim_cfg)
    context = contextlib.nullcontext()
    if dtype in ('float32', 'model'):
        optim_cfg['type'] = OptimWrapper
    elif device.type == 'cuda':
        # The wrapper's optim_context enables autocast inside train_step.
        optim_cfg.update(type=AmpOptimWrapper, dtype=dtype)
    else:
        # AmpOptimWrapper needs a GPU: autocast around train_step instead.
        optim_cfg['type'] = OptimWrapper
        context = torch.autocast(device.type, dtype=getattr(torch, dtype))
    with DefaultScope.overwrite_default_scope('sapsam'):
        optim_wrapper = build_optim_wrapper(model, optim_cfg)
    grid = model.backbone.grid_size
    data = make_batch(batch_size, image_size, grid, device)

    def sync():
        if device.type == 'cuda':
            torch.cuda.synchronize(device)

    log_vars = {}
    with context:
        for _ in range(warmup):
            log_vars = model.train_step(data, optim_wrapper)
        sync()
        if device.type == 'cuda':
            torch.cuda.reset_peak_memory_stats(device)
        start = time.perf_counter()
        for _ in range(steps):
            log_vars = model.train_step(data, optim_wrapper)
        sync()
        elapsed = time.perf_counter() - start
    peak = torch.cuda.max_memory_allocated(device) / 2**30 \
        if device.type == 'cuda' else 0.
    result = dict(device=torch.cuda.get_device_name(device)
                  if device.type == 'cuda' else 'cpu',
                  params_m=sum(p.numel() for p in model.parameters()) / 1e6,
                  weight_dtypes=weight_dtypes(model),
                  step_s=elapsed / steps,
                  images_per_s=batch_size * steps / elapsed,
                  peak_memory_gib=peak)
    result.update({k: float(torch.as_tensor(v).detach())
                   for k, v in log_vars.items()})
    return result


def main(argv: Optional[Sequence[str]] = None) -> Dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--device', default='cuda' if torch.cuda.is_available()
                        else 'cpu')
    parser.add_argument('--tiny', action='store_true',
                        help='tiny CLIP and decoder, batch 4, 64x32 images')
    parser.add_argument('--batch-size', type=int, default=None)
    parser.add_argument('--image-size', type=int, nargs=2, default=None)
    parser.add_argument('--steps', type=int, default=None)
    parser.add_argument('--warmup', type=int, default=None)
    parser.add_argument('--dtype', default='bfloat16',
                        choices=['bfloat16', 'float16', 'float32', 'model'],
                        help='autocast dtype, or model: no autocast')
    parser.add_argument('--config', default=None,
                        help='build model and optimiser from this config')
    parser.add_argument('--readout', default='region',
                        choices=['region', 'cls'])
    args = parser.parse_args(argv)
    small = dict(batch_size=4, image_size=(64, 32), steps=2, warmup=1)
    full = dict(batch_size=64, image_size=(384, 128), steps=10, warmup=3)
    sizes = small if args.tiny else full
    for key in sizes:
        if getattr(args, key) is not None:
            sizes[key] = getattr(args, key)
    result = run(device=args.device, tiny=args.tiny, dtype=args.dtype,
                 readout=args.readout, config=args.config, **sizes)
    model = args.config or (f"{'tiny' if args.tiny else 'ViT-B/16'} SAP-SAM "
                            f'(SDM + part MLM + ELCA {args.readout})')
    autocast = 'no autocast' if args.dtype in ('model', 'float32') \
        else f'{args.dtype} autocast'
    print(f"{model}, batch {sizes['batch_size']}, "
          f"{sizes['image_size'][0]}x{sizes['image_size'][1]}, {autocast}, "
          f"{result['device']}")
    weights = ', '.join(f'{share:.0%} {name}'
                        for name, share in result['weight_dtypes'].items())
    print(f'weights: {weights}')
    if args.dtype == 'model' and 'float16' not in result['weight_dtypes']:
        print('NOTE: the config builds no float16 weights; this is NOT the '
              'faithful fp16 figure')
    print(f"{result['params_m']:.1f} M parameters, "
          f"{result['step_s'] * 1000:.1f} ms/step, "
          f"{result['images_per_s']:.1f} images/s, peak memory "
          f"{result['peak_memory_gib']:.2f} GiB")
    return result


if __name__ == '__main__':
    main()
