"""Stage 1: describe every part group of the ATR images with a phrase.

Pairs ``JPEGImages/*.jpg`` with ``SegmentationClassAug/*.png`` by file stem,
whitens and crops each part group (method.md §1.3), asks the configured
phrase generator (BLIP-2 or the colour template) for a phrase, and writes
``atr_item_descriptions_{train,dev,test,}.json`` (records ``{name, idx,
text}``), split 8:1:1 **by image**, plus the official raw per-image list
``descriptions/description_json_0_<last>.json``.

Resumable: one JSON line per finished image is appended to
``<out_dir>/atr_descriptions_raw*.jsonl``; a rerun skips those images.
``--shard i/n`` processes every n-th image; the run that finds every image
done writes the final files.

Example::

    python tools/data/generate_atr_phrases.py \
        configs/parts/atr_phrases_template_synthetic.py
"""
import argparse
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(
    __file__)))))

import mmcv  # noqa: E402
import numpy as np  # noqa: E402
from mmengine.config import Config, DictAction  # noqa: E402
from mmengine.logging import print_log  # noqa: E402
from mmengine.utils import ProgressBar  # noqa: E402

from sapsam.parts.formats import (ATR_CROP_GROUPS,  # noqa: E402
                                  atomic_write_json, pair_by_stem,
                                  write_atr_descriptions)
from sapsam.parts.progress import (ProgressWriter, parse_shard,  # noqa: E402
                                   read_progress)
from sapsam.registry import PHRASE_GENERATORS  # noqa: E402

RAW_PATTERN = 'atr_descriptions_raw*.jsonl'


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config', help='config file (configs/parts/...)')
    parser.add_argument('--out-dir', help='overrides cfg.out_dir')
    parser.add_argument('--shard', default='0/1',
                        help='process shard i of n ("i/n")')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config settings, key=value')
    return parser.parse_args(argv)


def split_by_image(names, ratios, seed):
    """Shuffle the image names (seeded) and cut them by ``ratios``."""
    names = sorted(names)
    order = np.random.default_rng(seed).permutation(len(names))
    bounds = np.cumsum(ratios) / float(sum(ratios)) * len(names)
    cuts = [0] + [int(round(b)) for b in bounds]
    return [[names[i] for i in sorted(order[cuts[k]:cuts[k + 1]])]
            for k in range(len(ratios))]


def finalize(cfg, out_dir, raw):
    """Write the official raw list, then the flattened split files."""
    # The official script's raw output (method.md §1.4), for exchange.
    atomic_write_json(
        osp.join(out_dir, 'descriptions',
                 f'description_json_0_{len(raw) - 1}.json'),
        [dict(description=raw[name], name=name, id=i)
         for i, name in enumerate(raw)])
    records, empty = [], 0
    for name in sorted(raw):
        for key in ATR_CROP_GROUPS:
            text = raw[name].get(key)
            if text is None:
                continue
            if not text.strip():
                empty += 1
                continue
            records.append(dict(name=name, idx=key, text=text.strip()))
    splits = split_by_image(raw.keys(), cfg.split_ratios, cfg.split_seed)
    write_atr_descriptions(osp.join(out_dir, 'atr_item_descriptions.json'),
                           records)
    counts = {}
    for split_name, names in zip(cfg.split_names, splits):
        keep = set(names)
        subset = [r for r in records if r['name'] in keep]
        write_atr_descriptions(
            osp.join(out_dir, f'atr_item_descriptions_{split_name}.json'),
            subset)
        counts[split_name] = (len(names), len(subset))
    print_log(f'ATR phrases: {len(records)} records from {len(raw)} images '
              f'({empty} empty generations skipped); split (images, '
              f'records): {counts}', logger='current')
    return counts


def main(argv=None):
    args = parse_args(argv)
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    out_dir = args.out_dir or cfg.out_dir
    shard, num_shards = parse_shard(args.shard)
    pairs, unpaired = pair_by_stem(osp.join(cfg.data_root, cfg.image_dir),
                                   osp.join(cfg.data_root, cfg.mask_dir))
    if unpaired:
        print_log(f'{len(unpaired)} images without a label map skipped, '
                  f'e.g. {unpaired[:3]}', logger='current')
    if not pairs:
        raise FileNotFoundError(f'no image/label-map pairs under '
                                f'{cfg.data_root}')
    raw = {r['name']: r['description']
           for r in read_progress(osp.join(out_dir, RAW_PATTERN))}
    todo = [p for k, p in enumerate(pairs)
            if k % num_shards == shard and p[0] not in raw]
    print_log(f'ATR phrases: {len(pairs)} images, {len(raw)} already done, '
              f'{len(todo)} to do in shard {shard}/{num_shards}',
              logger='current')
    if todo:
        generator = PHRASE_GENERATORS.build(cfg.generator)
        suffix = '' if num_shards == 1 else f'.shard{shard}of{num_shards}'
        ids = {p[0]: k for k, p in enumerate(pairs)}
        bar = ProgressBar(len(todo))
        with ProgressWriter(osp.join(
                out_dir, f'atr_descriptions_raw{suffix}.jsonl')) as writer:
            for start in range(0, len(todo), cfg.batch_size):
                batch = todo[start:start + cfg.batch_size]
                images = [mmcv.imread(p[1], channel_order='rgb')
                          for p in batch]
                labels = [mmcv.imread(p[2], flag='unchanged') for p in batch]
                for (name, img_path, mask_path), img, lab in zip(
                        batch, images, labels):
                    if img is None or lab is None:
                        raise ValueError(f'cannot read {img_path} or '
                                         f'{mask_path}')
                    if lab.ndim == 3:
                        raise ValueError(f'{mask_path}: expected a one-channel'
                                         f' label map, got shape {lab.shape}')
                descriptions = generator.generate(images, labels,
                                                  [p[0] for p in batch])
                for (name, _, _), desc in zip(batch, descriptions):
                    writer.write(dict(description=desc, name=name,
                                      id=ids[name]))
                    raw[name] = desc
                    bar.update()
        sys.stdout.write('\n')
    missing = [p[0] for p in pairs if p[0] not in raw]
    if missing:
        print_log(f'{len(missing)} images still to do in other shards; the '
                  'last shard to finish writes the final files',
                  logger='current')
        return None
    return finalize(cfg, out_dir, {p[0]: raw[p[0]] for p in pairs})


if __name__ == '__main__':
    main()
