"""Split flattened ATR phrase records 8:1:1 by image.

The official ``atr_item_descriptions_{train,dev,test}.json`` were split by
record, so one image can sit in several splits (277 images are in both the
official dev and test files; docs/fidelity.md G4). This tool splits by
image: all records of an image land in the same split. ``--unit record``
reproduces the official, leaky split.

Inputs are flattened record files (``[{"name", "idx", "text"}, ...]``) or the
raw stage-1 output (``[{"name", "id", "description": {group: text}}, ...]``),
which is flattened first. Several inputs are concatenated (e.g. the official
dev and test files to re-split them).

Example::

    python tools/data/split_atr_phrases.py \
        data/ATR/atr_item_descriptions.json --out-dir data/ATR_by_image
"""
import argparse
import json
import os.path as osp
import sys
from typing import Dict, List, Sequence

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(
    __file__)))))

import numpy as np  # noqa: E402

from sapsam.parts.formats import write_atr_descriptions  # noqa: E402
from sapsam.parts.stage_keys import (refuse_foreign_files,  # noqa: E402
                                     write_tracked)


def read_records(path: str) -> List[dict]:
    """Flattened ``{name, idx, text}`` records of a flattened or raw file."""
    with open(path, encoding='utf-8') as f:
        try:
            data = json.load(f)
        except json.JSONDecodeError as err:
            raise ValueError(f'{path}: not valid JSON ({err})') from err
    if not isinstance(data, list):
        raise ValueError(f'{path}: expected a JSON list of records, got '
                         f'{type(data).__name__}')
    records = []
    for i, item in enumerate(data):
        if isinstance(item, dict) and isinstance(item.get('description'),
                                                 dict):
            for group, text in item['description'].items():
                records.append(dict(name=item.get('name'), idx=str(group),
                                    text=text))
        elif isinstance(item, dict) and {'name', 'idx', 'text'} <= set(item):
            records.append(dict(name=item['name'], idx=str(item['idx']),
                                text=item['text']))
        else:
            raise ValueError(f'{path}: record {i} is neither {{name, idx, '
                             f'text}} nor a raw {{name, description}} entry: '
                             f'{item!r}')
    return records


def _cut(num: int, ratios: Sequence[float]) -> List[int]:
    """Bounds of ``num`` items split by ``ratios`` (the last takes the rest)."""
    total = float(sum(ratios))
    bounds, start = [], 0
    for ratio in ratios[:-1]:
        start += int(round(num * ratio / total))
        bounds.append(min(start, num))
    return [0] + bounds + [num]


def split_records(records: Sequence[dict], ratios: Sequence[float] = (8, 1, 1),
                  seed: int = 0, unit: str = 'image') -> List[List[dict]]:
    """Split records by image (default) or by record.

    Args:
        records: ``{name, idx, text}`` dicts.
        ratios: Relative split sizes. Defaults to 8:1:1.
        seed: Seed of the random permutation.
        unit: ``'image'`` or ``'record'`` (official, leaks images).

    Returns:
        list[list[dict]]: One record list per ratio; records keep their input
        order within a split.
    """
    if unit not in ('image', 'record'):
        raise ValueError(f"unit must be 'image' or 'record', got {unit!r}")
    if len(ratios) < 2 or any(r < 0 for r in ratios) or sum(ratios) <= 0:
        raise ValueError(f'bad ratios {ratios}')
    rng = np.random.default_rng(seed)
    if unit == 'record':
        order = rng.permutation(len(records))
        bounds = _cut(len(records), ratios)
        split_of = np.empty(len(records), dtype=int)
        for k in range(len(ratios)):
            split_of[order[bounds[k]:bounds[k + 1]]] = k
        keys = list(range(len(records)))
    else:
        names = sorted({r['name'] for r in records})
        order = rng.permutation(len(names))
        bounds = _cut(len(names), ratios)
        by_name: Dict[str, int] = {}
        for k in range(len(ratios)):
            for j in order[bounds[k]:bounds[k + 1]]:
                by_name[names[j]] = k
        split_of = [by_name[r['name']] for r in records]
        keys = list(range(len(records)))
    splits: List[List[dict]] = [[] for _ in ratios]
    for i in keys:
        splits[split_of[i]].append(records[i])
    return splits


def main(argv=None) -> Dict[str, dict]:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('inputs', nargs='+', help='record files')
    parser.add_argument('--out-dir', required=True)
    parser.add_argument('--ratios', nargs='+', type=float,
                        default=[8, 1, 1])
    parser.add_argument('--names', nargs='+', default=['train', 'dev', 'test'],
                        help='split names (file suffixes)')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--unit', choices=['image', 'record'],
                        default='image',
                        help="'record' reproduces the official split")
    args = parser.parse_args(argv)
    if len(args.names) != len(args.ratios):
        parser.error('--names and --ratios must have the same length')
    files = [f'atr_item_descriptions_{name}.json' for name in args.names]
    # Never overwrite annotation files no sapsam tool wrote (data/ATR).
    refuse_foreign_files(args.out_dir, files)
    records = [r for path in args.inputs for r in read_records(path)]
    splits = split_records(records, args.ratios, args.seed, args.unit)
    summary, seen = {}, {}
    for name, file_name, subset in zip(args.names, files, splits):
        write_tracked(args.out_dir, file_name, write_atr_descriptions,
                      subset)
        images = {r['name'] for r in subset}
        summary[name] = dict(records=len(subset), images=len(images))
        seen[name] = images
    shared = sum(len(seen[a] & seen[b]) for i, a in enumerate(args.names)
                 for b in args.names[i + 1:])
    for name, counts in summary.items():
        print(f'{name}: {counts["records"]} records, {counts["images"]} '
              f'images')
    print(f'images in more than one split: {shared}')
    return summary


if __name__ == '__main__':
    main()
