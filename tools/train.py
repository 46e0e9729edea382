"""Train a sapsam model: ``python tools/train.py CONFIG [options]``.

``--resume`` continues bit-identically from the last intact checkpoint of
the work dir (or the given one); checkpoints load with
``weights_only=True`` unless ``--trust-checkpoint`` opts in.
"""
import argparse
import glob
import os.path as osp
import re
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

from mmengine.config import Config  # noqa: E402
from mmengine.logging import print_log  # noqa: E402
from mmengine.runner import Runner  # noqa: E402

from sapsam.utils import release_distributed, setup_distributed  # noqa
from sapsam.utils.checkpoint_compat import (TRUST_ENV,  # noqa: E402
                                            TRUST_FLAG, CheckpointError,
                                            checkpoint_problem)
from sapsam.utils.setup_env import (add_runner_arguments,  # noqa: E402
                                    load_runner_config, parse_runner_args)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Train a sapsam model')
    parser.add_argument('config', help='train config file path')
    parser.add_argument(
        '--resume', nargs='?', type=str, const='auto',
        help='resume from the given checkpoint, or from the latest one in '
        'the work dir when no path is given')
    parser.add_argument(
        TRUST_FLAG, action='store_true',
        help='unpickle checkpoints fully (runs any code they hold; only for '
        f'files you trust; same as {TRUST_ENV}=1)')
    parser.add_argument('--amp', action='store_true',
                        help='mixed precision training (GPU)')
    parser.add_argument('--amp-dtype', default='float16',
                        choices=['float16', 'bfloat16'],
                        help='autocast dtype with --amp')
    parser.add_argument('--no-validate', action='store_true',
                        help='skip validation during training')
    add_runner_arguments(parser, 'train_cfg.max_epochs=2')
    return parse_runner_args(parser, argv)


def merge_args(cfg: Config, args) -> Config:
    """Apply the training options to ``cfg`` (``--work-dir`` and the
    other shared ones: :func:`load_runner_config`)."""
    if args.amp:
        wrapper = cfg.optim_wrapper.get('type', 'OptimWrapper')
        if wrapper not in ('OptimWrapper', 'AmpOptimWrapper') and \
                getattr(wrapper, '__name__', '') not in ('OptimWrapper',
                                                         'AmpOptimWrapper'):
            raise ValueError(f'--amp needs an OptimWrapper, got {wrapper}')
        cfg.optim_wrapper.type = 'AmpOptimWrapper'
        cfg.optim_wrapper.dtype = args.amp_dtype
        cfg.optim_wrapper.setdefault('loss_scale', 'dynamic')
    if args.resume == 'auto':
        cfg.resume = True
        cfg.load_from = latest_intact_checkpoint(cfg.work_dir)
    elif args.resume is not None:
        problem = checkpoint_problem(args.resume)
        if problem is not None:
            raise CheckpointError(f'--resume {args.resume}: {problem}')
        cfg.resume = True
        cfg.load_from = args.resume
    if args.no_validate:
        cfg.val_cfg = None
        cfg.val_dataloader = None
        cfg.val_evaluator = None
    return cfg


def latest_intact_checkpoint(work_dir: str):
    """The newest checkpoint of ``work_dir`` that is complete: the one
    ``last_checkpoint`` names, else the ``epoch_*``/``iter_*`` files newest
    first, skipping (with a warning) any that is truncated. None when the
    work dir has no checkpoint (training starts from scratch)."""
    candidates = []
    pointer = osp.join(work_dir, 'last_checkpoint')
    if osp.isfile(pointer):
        with open(pointer, encoding='utf-8') as f:
            named = f.read().strip()
        if named:
            candidates.append(named if osp.isabs(named) or osp.isfile(named)
                              else osp.join(work_dir, osp.basename(named)))

    def number(path):
        found = re.search(r'(\d+)\.pth$', path)
        return int(found.group(1)) if found else -1

    for pattern in ('epoch_*.pth', 'iter_*.pth'):
        candidates += sorted(glob.glob(osp.join(work_dir, pattern)),
                             key=number, reverse=True)
    seen = set()
    for path in candidates:
        if path in seen:
            continue
        seen.add(path)
        problem = checkpoint_problem(path)
        if problem is None:
            return path
        print_log(f'--resume: skipping {path}: {problem}; trying an older '
                  'checkpoint', logger='current', level=30)
    if seen:
        raise CheckpointError(f'--resume: no intact checkpoint in {work_dir} '
                              f'(checked {sorted(seen)})')
    print_log(f'--resume: no checkpoint in {work_dir}; training from the '
              'start', logger='current', level=30)
    return None


def main(argv=None):
    args = parse_args(argv)
    cfg = merge_args(load_runner_config(args), args)
    setup_distributed(cfg, args.launcher)
    runner = Runner.from_cfg(cfg)
    runner.train()
    release_distributed()


if __name__ == '__main__':
    main()
