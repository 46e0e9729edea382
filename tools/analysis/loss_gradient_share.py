"""How much of the backbone's gradient each training loss contributes.

``python tools/analysis/loss_gradient_share.py configs/lab/elca.py``
builds the config's model (its pretrained weights, or ``--checkpoint``),
draws ``--batches`` training batches and prints, per loss, the norm of its
gradient on the image and the text towers (each loss alone, times its
weight, as the optimiser receives it), averaged over the batches. The
auxiliary losses of SAP-SAM (part MLM, alignment) can shape the global
features only through this gradient.
"""
import argparse
import os.path as osp
import sys
from typing import Dict, List

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(
    __file__)))))

import torch  # noqa: E402
from mmengine.config import DictAction  # noqa: E402

TOWERS = {'image tower': 'backbone.visual.',
          'text tower': ('backbone.transformer.', 'backbone.token_embedding',
                         'backbone.ln_final', 'backbone.text_projection',
                         'backbone.positional_embedding')}


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('config')
    parser.add_argument('--checkpoint', help='weights to analyse (default: '
                        'the config\'s initial weights)')
    parser.add_argument('--batches', type=int, default=4)
    parser.add_argument('--batch-size', type=int, default=None)
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        default={}, help='config overrides, key=value')
    return parser.parse_args(argv)


def gradient_norms(model, data: dict) -> Dict[str, Dict[str, float]]:
    """Per loss, the gradient norm on each tower (weighted loss alone)."""
    params = {tower: [p for n, p in model.named_parameters()
                      if n.startswith(prefix) and p.requires_grad]
              for tower, prefix in TOWERS.items()}
    losses = model(**data, mode='loss')
    names = [k for k in losses if k.startswith('loss')]
    norms = {}
    for i, name in enumerate(names):
        for p in model.parameters():
            p.grad = None
        losses[name].backward(retain_graph=i < len(names) - 1)
        norms[name] = {
            tower: float(torch.sqrt(sum((p.grad.float() ** 2).sum()
                                        for p in ps if p.grad is not None)))
            for tower, ps in params.items()}
    return norms


def main(argv=None) -> Dict[str, Dict[str, float]]:
    from mmengine.config import Config
    from mmengine.runner import Runner, load_checkpoint

    from sapsam.utils import register_all_modules
    args = parse_args(argv)
    register_all_modules()
    cfg = Config.fromfile(args.config)
    cfg.merge_from_dict(args.cfg_options)
    cfg.work_dir = osp.join('work_dirs', 'gradient_share')
    loader_cfg = cfg.train_dataloader
    loader_cfg.num_workers = 0
    loader_cfg.pop('persistent_workers', None)
    if args.batch_size:
        loader_cfg.batch_size = args.batch_size
    runner = Runner.from_cfg(cfg)
    model = runner.model
    if args.checkpoint:
        load_checkpoint(model, args.checkpoint, map_location='cpu')
    model.train()
    loader = runner.build_dataloader(loader_cfg)
    totals: Dict[str, Dict[str, List[float]]] = {}
    for _, batch in zip(range(args.batches), loader):
        data = model.data_preprocessor(batch, True)
        for name, towers in gradient_norms(model, data).items():
            for tower, value in towers.items():
                totals.setdefault(name, {}).setdefault(tower, []).append(
                    value)
    means = {name: {t: sum(v) / len(v) for t, v in towers.items()}
             for name, towers in totals.items()}
    print(f'\ngradient norm per loss ({args.config}, {args.batches} '
          f'batches of {loader_cfg.batch_size}):')
    print(f'{"loss":<12}' + ''.join(f'{t:>14}' for t in TOWERS))
    for name, towers in means.items():
        print(f'{name:<12}' + ''.join(f'{towers[t]:>14.4f}'
                                      for t in TOWERS))
    return means


if __name__ == '__main__':
    main()
