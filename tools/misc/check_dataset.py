"""Check datasets before training and print what to fix.

Examples::

    # every dataset a config reads (train, val, test, galleries)
    python tools/misc/check_dataset.py configs/baseline/clip_sdm_cuhk.py
    # one folder
    python tools/misc/check_dataset.py --type ICFGPEDES \
        --data-root data/ICFG-PEDES
    python tools/misc/check_dataset.py --type ATR --data-root data/ATR

``--type`` is any registered dataset class with a ``check_folder``
classmethod (``ATR`` is ``ATRPhraseSegDataset``); a config's datasets are
found in its dataloaders (wrappers unwrapped) or, for a part-pipeline
config, in its ``dataset``/``dataset_name``.

Every image, mask and label map is decoded (in parallel, with a progress
bar); ``--sample N`` decodes N evenly spaced files of each kind instead and
says so in the report.

Exit status: 0 when no dataset has errors (warnings allowed), 1 otherwise.
"""
import argparse
import os.path as osp
import sys
from typing import Iterable, List, Optional

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(
    __file__)))))

from sapsam.datasets import checks  # noqa: E402
from sapsam.datasets.checks import (check_dataset,  # noqa: E402
                                    checkable_dataset_types,
                                    dataset_type_name)
from sapsam.utils.setup_env import CfgOptionsAction, load_config  # noqa


# ----------------------------------------------------------------- config
def _dataset_cfgs(node) -> Iterable[dict]:
    """Dataset configs inside a dataloader's dataset (wrappers unwrapped)."""
    if isinstance(node, dict):
        if 'datasets' in node:
            for sub in node['datasets']:
                yield from _dataset_cfgs(sub)
        elif 'dataset' in node and not node.get('data_root'):
            yield from _dataset_cfgs(node['dataset'])
        else:
            yield node


def _stage_dataset(cfg) -> Optional[dict]:
    """The dataset of a part-pipeline config (``dataset = dict(...)`` or
    ``dataset_name`` + ``data_root``), which has no dataloaders."""
    if isinstance(cfg.get('dataset'), dict):
        return cfg['dataset']
    names = {getattr(cls, 'DATASET_NAME', None): name
             for name, cls in checkable_dataset_types().items()}
    if cfg.get('dataset_name') in names and cfg.get('data_root'):
        return dict(type=names[cfg['dataset_name']],
                    data_root=cfg['data_root'])
    return None


def datasets_in_config(cfg) -> List[dict]:
    """The distinct dataset configs of a config's dataloaders (or of a
    part-pipeline config's ``dataset``), ``type`` as a registry name."""
    found, seen = [], set()
    loaders = [cfg.get(k) for k in ('train_dataloader', 'val_dataloader',
                                    'test_dataloader')]
    for loop in ('val_cfg', 'test_cfg'):
        if isinstance(cfg.get(loop), dict):
            loaders.append(cfg[loop].get('gallery_dataloader'))
    loaders = [loader for loader in loaders
               if isinstance(loader, dict) and 'dataset' in loader]
    if not loaders and _stage_dataset(cfg) is not None:
        loaders = [dict(dataset=_stage_dataset(cfg))]
    for loader in loaders:
        for ds in _dataset_cfgs(loader['dataset']):
            name = dataset_type_name(ds.get('type'))
            key = (name, ds.get('data_root'), ds.get('ann_file'),
                   bool(ds.get('part_files')))
            if key not in seen:
                seen.add(key)
                found.append(dict(ds, type=name))
    return found


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Validate dataset layouts and annotation files')
    parser.add_argument('config', nargs='?',
                        help='check every dataset of this config')
    parser.add_argument('--type',
                        choices=sorted(checkable_dataset_types()) + ['ATR'],
                        help='dataset type (without a config): a registered '
                        'dataset class with a check_folder, or ATR')
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
    else:
        cls = checkable_dataset_types()[
            'ATRPhraseSegDataset' if args.type == 'ATR' else args.type]
        reports = [cls.check_folder(args.data_root, ann_file=args.ann_file,
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
