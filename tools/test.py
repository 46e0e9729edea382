"""Evaluate a checkpoint: ``python tools/test.py CONFIG CHECKPOINT``.

The checkpoint must fit the model exactly (``--allow-partial`` loads the
matching keys only) and loads with ``weights_only=True`` unless
``--trust-checkpoint`` opts in.
"""
import argparse
import json
import os
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

from mmengine.runner import Runner  # noqa: E402

from sapsam.engine.hooks import SafeCheckpointHook  # noqa: E402
from sapsam.utils import release_distributed, setup_distributed  # noqa
from sapsam.utils.checkpoint_compat import (TRUST_ENV,  # noqa: E402
                                            TRUST_FLAG, CheckpointError,
                                            atomic_write_bytes,
                                            checkpoint_problem)
from sapsam.utils.setup_env import (add_runner_arguments,  # noqa: E402
                                    load_runner_config, parse_runner_args)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Test a sapsam model')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--out', help='write the metrics to this JSON file')
    parser.add_argument('--amp', action='store_true',
                        help='evaluate under autocast')
    parser.add_argument(
        '--allow-partial', action='store_true',
        help='load a checkpoint whose keys or shapes differ from the model '
        '(the matching keys only; by default that is an error)')
    parser.add_argument(
        TRUST_FLAG, action='store_true',
        help='unpickle the checkpoint fully (runs any code it holds; only '
        f'for files you trust; same as {TRUST_ENV}=1)')
    add_runner_arguments(parser, 'test_dataloader.batch_size=8')
    return parse_runner_args(parser, argv)


def check_inputs(args) -> None:
    """Fail before the evaluation on a bad checkpoint or ``--out``."""
    problem = checkpoint_problem(args.checkpoint)
    if problem is not None:
        raise CheckpointError(f'checkpoint {args.checkpoint}: {problem}')
    if args.out:
        folder = osp.dirname(osp.abspath(args.out))
        if not osp.isdir(folder):
            raise FileNotFoundError(f'--out {args.out}: folder {folder} does '
                                    'not exist')
        if not os.access(folder, os.W_OK):
            raise PermissionError(f'--out {args.out}: folder {folder} is not '
                                  'writable')


def main(argv=None):
    args = parse_args(argv)
    check_inputs(args)
    cfg = load_runner_config(args)
    cfg.load_from = args.checkpoint
    cfg.resume = False
    # The checkpoint must fit the model unless --allow-partial.
    hooks = cfg.setdefault('default_hooks', {})
    hooks.setdefault('safe_checkpoint',
                     dict(type=SafeCheckpointHook.__name__))
    hooks['safe_checkpoint']['strict_load'] = not args.allow_partial
    if args.amp:
        cfg.test_cfg.fp16 = True
    setup_distributed(cfg, args.launcher)
    runner = Runner.from_cfg(cfg)
    metrics = runner.test()
    if args.out and runner.rank == 0:
        text = json.dumps({k: float(v) for k, v in metrics.items()},
                          indent=2)
        atomic_write_bytes(args.out, text.encode('utf-8'))
    release_distributed()
    return metrics


if __name__ == '__main__':
    main()
