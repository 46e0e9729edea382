"""Stage 3: split every training caption into appearance phrases.

Reads the caption-level train list of a TBPR dataset (IRRA order), splits
the captions with the configured caption splitter (an LLM or the rule
splitter) and writes ``<DATASET>_data_final_<N>.json`` (records ``{name,
attribute, idx, sentence}``, ``name`` with the official leading slash) plus
``<DATASET>_err_list.txt`` (``idx<TAB>name<TAB>caption<TAB>reason``) for the
captions that could not be split. Nothing is lost silently: every caption
is either in the data_final file or in the error list.

Resumable: one JSON line per caption, keyed by the caption text and the
splitter config, is appended to ``<out_dir>/<DATASET>_split_progress*.jsonl``;
a rerun skips the captions whose key is unchanged (an edited caption or
another splitter is split again; ``--retry-errors`` redoes the failed ones).
``--shard i/n`` splits the work across processes, at the same time or one
after another; the last shard to finish writes the final files.

Example::

    python tools/data/split_captions.py \
        configs/parts/split_captions_rule_synthetic_cuhk.py
"""
import argparse
import os
import os.path as osp
import sys
import time

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(
    __file__)))))

from mmengine.logging import print_log  # noqa: E402

from sapsam.parts.formats import (atomic_write_text,  # noqa: E402
                                  data_final_filename, official_name,
                                  write_data_final)
from sapsam.parts.progress import (LogProgressBar,  # noqa: E402
                                   ProgressWriter, parse_shard,
                                   read_progress)
from sapsam.parts.stage_keys import (content_key, merge_lock,  # noqa: E402
                                     remove_stale_temp_files)
from sapsam.registry import DATASETS, TASK_UTILS  # noqa: E402
from sapsam.utils.setup_env import CfgOptionsAction, load_config  # noqa


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config', help='config file (configs/parts/...)')
    parser.add_argument('--out-dir', help='overrides cfg.out_dir')
    parser.add_argument('--shard', default='0/1',
                        help='process shard i of n ("i/n")')
    parser.add_argument('--retry-errors', action='store_true',
                        help='split again the captions that failed before')
    parser.add_argument('--cfg-options', nargs='+', action=CfgOptionsAction,
                        help='override config settings, key=value')
    return parser.parse_args(argv)


def load_captions(cfg):
    """``(dataset name, [info dict, ...])`` of the caption-level train list."""
    dataset_cfg = dict(cfg.dataset)
    dataset_cfg.setdefault('pipeline', [])
    dataset = DATASETS.build(dataset_cfg)
    name = cfg.get('dataset_name') or getattr(dataset, 'DATASET_NAME', None)
    if not name:
        raise ValueError('set dataset_name in the config')
    infos = [dataset.get_data_info(i) for i in range(len(dataset))]
    for position, info in enumerate(infos):
        if info.get('caption_idx', position) != position:
            raise ValueError(f'{name}: caption_idx {info["caption_idx"]} at '
                             f'position {position}; the train list must be '
                             'caption-level in IRRA order')
    return name, infos


def finalize(out_dir, name, infos, done):
    records, errors = [], []
    for info in infos:
        idx = info['caption_idx']
        result = done[idx]
        record_name = official_name(info['rel_path'])
        if 'attribute' in result:
            records.append(dict(name=record_name,
                                attribute=result['attribute'], idx=idx,
                                sentence=info['caption']))
        else:
            reason = ' '.join(result['error'].split())
            caption = ' '.join(info['caption'].split())
            errors.append(f'{idx}\t{record_name}\t{caption}\t{reason}')
    path = osp.join(out_dir, data_final_filename(name, len(infos)))
    err_path = osp.join(out_dir, f'{name}_err_list.txt')
    # The error list first: data_final marks the stage as finished.
    atomic_write_text(err_path, ''.join(line + '\n' for line in errors))
    write_data_final(path, records)
    print_log(f'{name}: {len(records)} captions split, {len(errors)} failed '
              f'(listed in {err_path}); wrote {path}', logger='current')
    return path, err_path


def read_done(out_dir, name, keys, retry_errors=False):
    """``{caption_idx: progress record}`` of the captions whose recorded key
    is their current key (several files may hold a caption: the latest
    wins)."""
    done = {}
    for rec in sorted(read_progress(osp.join(
            out_dir, f'{name}_split_progress*.jsonl')),
            key=lambda r: r.get('time', 0)):
        if keys.get(rec.get('idx')) == rec.get('key'):
            done[rec['idx']] = rec
    if retry_errors:
        done = {k: v for k, v in done.items() if 'attribute' in v}
    return done


def main(argv=None):
    args = parse_args(argv)
    cfg = load_config(args.config, args.cfg_options, check_runner_keys=False)
    out_dir = args.out_dir or cfg.out_dir
    os.makedirs(out_dir, exist_ok=True)
    shard, num_shards = parse_shard(args.shard)
    name, infos = load_captions(cfg)
    splitter_key = content_key(cfg.splitter)
    keys = {info['caption_idx']: content_key(info['caption'], splitter_key)
            for info in infos}
    done = read_done(out_dir, name, keys, args.retry_errors)
    todo = [info for info in infos if info['caption_idx'] % num_shards == shard
            and info['caption_idx'] not in done]
    print_log(f'{name}: {len(infos)} train captions, {len(done)} already '
              f'done, {len(todo)} to do in shard {shard}/{num_shards}',
              logger='current')
    if todo:
        splitter = TASK_UTILS.build(cfg.splitter)
        suffix = '' if num_shards == 1 else f'.shard{shard}of{num_shards}'
        failed = 0
        bar = LogProgressBar(len(todo), what='captions')
        with ProgressWriter(osp.join(
                out_dir, f'{name}_split_progress{suffix}.jsonl')) as writer:
            for start in range(0, len(todo), cfg.batch_size):
                batch = todo[start:start + cfg.batch_size]
                results = splitter.split([info['caption'] for info in batch])
                for info, result in zip(batch, results):
                    idx = info['caption_idx']
                    if result.ok:
                        rec = dict(idx=idx, attribute=result.phrases)
                    else:
                        failed += 1
                        rec = dict(idx=idx, error=result.error, raw=result.raw)
                        print_log(f'{name}: caption {idx} '
                                  f'{info["caption"]!r} not split: '
                                  f'{result.error}', logger='current')
                    rec['key'] = keys[idx]
                    rec['time'] = time.time()
                    writer.write(rec)
                bar.update(len(batch))
        bar.finish()
        print_log(f'{name}: {failed} of {len(todo)} captions failed in this '
                  'run', logger='current')
    # The last shard to finish merges: reread every shard's progress.
    with merge_lock(out_dir, f'{name}_split'):
        remove_stale_temp_files(out_dir)
        done = read_done(out_dir, name, keys)
        if any(info['caption_idx'] not in done for info in infos):
            print_log(f'{name}: captions still to do in other shards; the '
                      'last shard to finish writes the final files',
                      logger='current')
            return None
        return finalize(out_dir, name, infos, done)


if __name__ == '__main__':
    main()
