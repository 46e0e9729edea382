"""Generate sapsam's procedural synthetic benchmark (official file formats).

Example::

    python tools/dataset_converters/generate_synthetic.py \
        --out data/synthetic --seed 0 --scale 1.0

Skips the work when ``--out`` already holds a complete generation with the
same arguments (``synthetic_manifest.json``); ``--force`` regenerates.
"""
import argparse
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(
    __file__)))))

from sapsam.datasets.synthetic import (DATASETS,  # noqa: E402
                                       generate_synthetic_benchmark,
                                       is_generated)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Generate the synthetic CUHK-PEDES / ICFG-PEDES / '
        'RSTPReid / ATR benchmark in the official formats')
    parser.add_argument('--out', default='data/synthetic',
                        help='output root (default: data/synthetic)')
    parser.add_argument('--seed', type=int, default=0, help='random seed')
    parser.add_argument('--scale', type=float, default=1.0,
                        help='multiplies the number of identities/images')
    parser.add_argument('--datasets', nargs='+', default=list(DATASETS),
                        choices=DATASETS, help='data sets to write')
    parser.add_argument('--force', action='store_true',
                        help='regenerate even if a complete output exists')
    parser.add_argument('--no-progress', action='store_true',
                        help='do not show progress bars')
    return parser.parse_args(argv)


def main(argv=None) -> bool:
    """Run the CLI; returns True if data was generated, False if skipped."""
    args = parse_args(argv)
    if not args.force and is_generated(args.out, args.seed, args.scale,
                                       args.datasets):
        print(f'{args.out} already holds the synthetic benchmark for seed '
              f'{args.seed}, scale {args.scale}, datasets {args.datasets}; '
              'nothing to do (use --force to regenerate)')
        return False
    summary = generate_synthetic_benchmark(
        args.out, seed=args.seed, scale=args.scale, datasets=args.datasets,
        progress=not args.no_progress)
    for name, splits in summary.items():
        print(f'{name}: {splits}')
    return True


if __name__ == '__main__':
    main()
