"""Stage 1: describe every part group of the ATR images with a phrase.

Pairs ``JPEGImages/*.jpg`` with ``SegmentationClassAug/*.png`` by file stem,
whitens and crops each part group (docs/fidelity.md G1), asks the configured
phrase generator (BLIP-2 or the colour template) for a phrase, and writes
``atr_item_descriptions_{train,dev,test,}.json`` (records ``{name, idx,
text}``), split 8:1:1 **by image**, plus the official raw per-image list
``descriptions/description_json_0_<last>.json``.

Resumable: one JSON line per finished image, keyed by the image and label
map bytes and the generator config, is appended to
``<out_dir>/atr_descriptions_raw*.jsonl``; a rerun skips the images whose
key is unchanged. ``--shard i/n`` processes every n-th image; the last
shard to finish writes the final files.

Never overwrites an annotation file it did not write: the files it wrote
are listed with their sha256 in ``<out_dir>/.sapsam_generated.json``; an
existing ``atr_item_descriptions*.json`` that is not listed there (e.g. the
official copy in ``data/ATR``) stops the tool before any work, with the
advice to pass ``--out-dir``.

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
from mmengine.logging import print_log  # noqa: E402

from sapsam.parts.formats import (ATR_CLASSES,  # noqa: E402
                                  ATR_CROP_GROUPS, atomic_write_json,
                                  pair_by_stem, write_atr_descriptions)
from sapsam.parts.progress import (LogProgressBar,  # noqa: E402
                                   ProgressWriter, parse_shard,
                                   read_progress)
from sapsam.parts.stage_keys import (content_key, file_digest,  # noqa: E402
                                     merge_lock, refuse_foreign_files,
                                     remove_stale_temp_files, write_tracked)
from sapsam.registry import TASK_UTILS  # noqa: E402
from sapsam.utils.setup_env import CfgOptionsAction, load_config  # noqa

RAW_PATTERN = 'atr_descriptions_raw*.jsonl'


def output_files(cfg, out_dir, num_images):
    """Every final file the tool writes, relative to ``out_dir``."""
    return ([osp.join('descriptions',
                      f'description_json_0_{num_images - 1}.json'),
             'atr_item_descriptions.json'] +
            [f'atr_item_descriptions_{name}.json' for name in
             cfg.split_names])


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config', help='config file (configs/parts/...)')
    parser.add_argument('--out-dir', help='overrides cfg.out_dir')
    parser.add_argument('--shard', default='0/1',
                        help='process shard i of n ("i/n")')
    parser.add_argument('--cfg-options', nargs='+', action=CfgOptionsAction,
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
    names = output_files(cfg, out_dir, len(raw))
    refuse_foreign_files(out_dir, names, RAW_PATTERN)
    # The official script's raw output (docs/fidelity.md F1), for exchange.
    write_tracked(out_dir, names[0], atomic_write_json,
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
    write_tracked(out_dir, names[1], write_atr_descriptions, records)
    counts = {}
    for split_name, names in zip(cfg.split_names, splits):
        keep = set(names)
        subset = [r for r in records if r['name'] in keep]
        write_tracked(out_dir, f'atr_item_descriptions_{split_name}.json',
                      write_atr_descriptions, subset)
        counts[split_name] = (len(names), len(subset))
    print_log(f'ATR phrases: {len(records)} records from {len(raw)} images '
              f'({empty} empty generations skipped); split (images, '
              f'records): {counts}', logger='current')
    return counts


def read_done(out_dir, keys):
    """``{image name: description}`` of the images whose key is current."""
    return {r['name']: r['description']
            for r in read_progress(osp.join(out_dir, RAW_PATTERN))
            if keys.get(r.get('name')) == r.get('key')}


def main(argv=None):
    args = parse_args(argv)
    cfg = load_config(args.config, args.cfg_options, check_runner_keys=False)
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
    refuse_foreign_files(out_dir, output_files(cfg, out_dir, len(pairs)),
                         RAW_PATTERN)
    generator_key = content_key(cfg.generator)
    keys = {name: content_key(file_digest(img), file_digest(mask),
                              generator_key)
            for name, img, mask in pairs}
    raw = read_done(out_dir, keys)
    todo = [p for k, p in enumerate(pairs)
            if k % num_shards == shard and p[0] not in raw]
    print_log(f'ATR phrases: {len(pairs)} images, {len(raw)} already done, '
              f'{len(todo)} to do in shard {shard}/{num_shards}',
              logger='current')
    if todo:
        generator = TASK_UTILS.build(cfg.generator)
        suffix = '' if num_shards == 1 else f'.shard{shard}of{num_shards}'
        ids = {p[0]: k for k, p in enumerate(pairs)}
        bar = LogProgressBar(len(todo), what='ATR images')
        with ProgressWriter(osp.join(
                out_dir, f'atr_descriptions_raw{suffix}.jsonl')) as writer:
            for start in range(0, len(todo), cfg.batch_size):
                batch = todo[start:start + cfg.batch_size]
                images = [read_pair_image(p[1], 'image') for p in batch]
                labels = [read_pair_image(p[2], 'label map') for p in batch]
                descriptions = generator.generate(images, labels,
                                                  [p[0] for p in batch])
                for (name, _, _), desc in zip(batch, descriptions):
                    writer.write(dict(description=desc, name=name,
                                      id=ids[name], key=keys[name]))
                    bar.update()
        bar.finish()
    # The last shard to finish merges: reread every shard's progress.
    with merge_lock(out_dir, 'atr_phrases'):
        remove_stale_temp_files(out_dir, osp.join(out_dir, 'descriptions'))
        raw = read_done(out_dir, keys)
        missing = [p[0] for p in pairs if p[0] not in raw]
        if missing:
            print_log(f'{len(missing)} images still to do in other shards; '
                      'the last shard to finish writes the final files',
                      logger='current')
            return None
        return finalize(cfg, out_dir, {p[0]: raw[p[0]] for p in pairs})


def read_pair_image(path, what):
    """An RGB image or a one-channel ATR label map; errors name the file."""
    flag = dict(image='color', **{'label map': 'unchanged'})[what]
    try:
        array = mmcv.imread(path, flag=flag, channel_order='rgb')
    except Exception as err:  # noqa: BLE001 (cv2 raises several types)
        raise ValueError(f'{path}: cannot read the {what} ({err})') from err
    if array is None:
        raise ValueError(f'{path}: cannot decode the {what} (empty, '
                         'truncated or not an image)')
    if what == 'label map':
        if array.ndim == 3:
            raise ValueError(f'{path}: expected a one-channel label map, got '
                             f'shape {array.shape}')
        if array.max() >= len(ATR_CLASSES):
            raise ValueError(f'{path}: label id {int(array.max())} out of '
                             f'range (ATR ids are 0..{len(ATR_CLASSES) - 1})')
    return array


if __name__ == '__main__':
    main()
