"""Check datasets before training and print what to fix.

Examples::

    # every dataset a config reads (train, val, test, galleries)
    python tools/misc/check_dataset.py configs/baseline/clip_sdm_cuhk.py
    # one folder
    python tools/misc/check_dataset.py --type ICFGPEDES \
        --data-root data/ICFG-PEDES
    python tools/misc/check_dataset.py --type ATR --data-root data/ATR

Every image, mask and label map is decoded (in parallel, with a progress
bar); ``--sample N`` decodes N evenly spaced files of each kind instead and
says so in the report.

Exit status: 0 when no dataset has errors (warnings allowed), 1 otherwise.
"""
import argparse
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(
    __file__)))))

from sapsam.datasets import checks  # noqa: E402
from sapsam.datasets.checks import (TBPR_TYPES, check_atr_dataset,  # noqa
                                    check_dataset, check_tbpr_dataset,
                                    datasets_in_config)
from sapsam.utils.setup_env import CfgOptionsAction, load_config  # noqa


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Validate dataset layouts and annotation files')
    parser.add_argument('config', nargs='?',
                        help='check every dataset of this config')
    parser.add_argument('--type', choices=sorted(TBPR_TYPES) + ['ATR'],
                        help='dataset type (without a config)')
    parser.add_argument('--data-root', help='dataset folder (with --type)')
    parser.add_argument('--ann-file', help='annotation file name if not the '
                        'official one (TBPR)')
    parser.add_argument('--parts', action='store_true',
                        help='require the SAP-SAM part files (TBPR)')
    parser.add_argument('--no-parts', action='store_true',
                        help='skip the part files (TBPR)')
    parser.add_argument('--no-images', action='store_true',
                        help='skip checking that every image exists')
    parser.add_argument('--sample', type=int, metavar='N',
                        help='decode only N evenly spaced files of each '
                        'kind (default: all)')
    parser.add_argument('--cfg-options', nargs='+', action=CfgOptionsAction,
                        help='override config settings')
    args = parser.parse_args(argv)
    if bool(args.config) == bool(args.type):
        parser.error('give a CONFIG or --type with --data-root')
    if args.type and not args.data_root:
        parser.error('--type needs --data-root')
    if args.sample is not None and args.sample < 1:
        parser.error('--sample needs N >= 1')
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    parts = True if args.parts else (False if args.no_parts else None)
    checks.DECODE_LIMIT = args.sample
    if args.config:
        cfg = load_config(args.config, args.cfg_options,
                          check_runner_keys=False)
        dataset_cfgs = datasets_in_config(cfg)
        if not dataset_cfgs:
            print(f'{args.config}: no dataset found in its dataloaders')
            return 1
        reports = [check_dataset(d, check_images=not args.no_images,
                                 parts=parts) for d in dataset_cfgs]
    elif args.type == 'ATR':
        reports = [check_atr_dataset(args.data_root,
                                     check_images=not args.no_images)]
    else:
        reports = [check_tbpr_dataset(args.data_root, args.type,
                                      ann_file=args.ann_file,
                                      check_images=not args.no_images,
                                      parts=parts)]
    for report in reports:
        print(report.format())
    failed = [r for r in reports if not r.ok]
    print(f'\n{len(reports) - len(failed)} of {len(reports)} datasets OK' +
          (f'; fix the errors above ({sum(len(r.errors) for r in failed)})'
           if failed else ''))
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
