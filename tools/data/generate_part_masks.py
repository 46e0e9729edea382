"""Stage 4: Person-SAM part masks for every phrase of every train caption.

For each record of ``<DATASET>_data_final_<N>.json`` the training image is
encoded **once** and all its phrases are decoded in batches
(``sapsam.apis.segment_phrases``; the official script re-encoded the image for
every phrase). Writes ``<out_dir>/segs/<stem>.png`` (0/1 uint8 masks at the
image's original resolution, official names, docs/fidelity.md F1, G6) and
``<out_dir>/<DATASET>_score_dict_<N-1>.json`` (``{stem: {score, text}}``).
Nested attribute lists are flattened, as the loader does.

Resumable: after a record's masks are written, one JSON line with its
scores is appended to ``<out_dir>/score_progress/*.jsonl``, keyed by the
record (name, phrases), the image bytes, the model config and the
checkpoint bytes; a rerun skips the records whose key is unchanged, so a
changed record, image or Person-SAM checkpoint redoes exactly those.
Shardable: ``--shard i/n`` in independent processes (at the same time or
one after another; the last to finish writes the score dict), or
``--launcher pytorch`` under torchrun (shard = rank, rank 0 writes it).

Example::

    python tools/data/generate_part_masks.py \
        configs/parts/part_masks_synthetic_cuhk.py \
        --checkpoint work_dirs/mca_atr_synthetic/best.pth
"""
import argparse
import os
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(
    __file__)))))

import mmcv  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from mmengine.dist import (barrier, get_dist_info, init_dist,  # noqa: E402
                           is_main_process)
from mmengine.logging import print_log  # noqa: E402
from mmengine.registry import init_default_scope  # noqa: E402
from mmengine.runner.checkpoint import (_load_checkpoint,  # noqa: E402
                                        _load_checkpoint_to_model)

from sapsam.apis.person_sam_inference import segment_phrases  # noqa: E402
from sapsam.parts.formats import (PartFileError,  # noqa: E402
                                  flatten_attributes, read_data_final,
                                  score_dict_filename, seg_stem,
                                  write_score_dict)
from sapsam.parts.progress import (LogProgressBar,  # noqa: E402
                                   ProgressWriter, parse_shard,
                                   read_progress)
from sapsam.parts.stage_keys import (content_key, file_digest,  # noqa: E402
                                     merge_lock, remove_stale_temp_files)
from sapsam.registry import MODELS  # noqa: E402
from sapsam.utils.checkpoint_compat import (TRUST_ENV,  # noqa: E402
                                            TRUST_FLAG,
                                            patch_mmengine_checkpoint_loading,
                                            trust_checkpoints)
from sapsam.utils.setup_env import (CfgOptionsAction,  # noqa: E402
                                    check_launcher, load_config)

PROGRESS_DIR = 'score_progress'


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config', help='config file (configs/parts/...)')
    parser.add_argument('--checkpoint', help='trained Person-SAM weights '
                        '(overrides cfg.checkpoint)')
    parser.add_argument(
        TRUST_FLAG, action='store_true',
        help='unpickle the checkpoint fully (runs any code it holds; only '
        f'for files you trust; same as {TRUST_ENV}=1)')
    parser.add_argument('--out-dir', help='overrides cfg.out_dir')
    parser.add_argument('--shard', default='0/1',
                        help='process shard i of n ("i/n")')
    parser.add_argument('--device', help='overrides cfg.device')
    parser.add_argument('--launcher', default='none',
                        choices=['none', 'pytorch', 'slurm', 'mpi'],
                        help='one shard per rank')
    parser.add_argument('--cfg-options', nargs='+', action=CfgOptionsAction,
                        help='override config settings, key=value')
    return parser.parse_args(argv)


def init_distributed(launcher):
    """NCCL through MMEngine with GPUs; a gloo group on CPU (torchrun)."""
    check_launcher(launcher)
    if torch.cuda.is_available():
        init_dist(launcher)
    elif launcher == 'pytorch':
        if not torch.distributed.is_initialized():
            torch.distributed.init_process_group(backend='gloo')
    else:
        raise ValueError(f'--launcher {launcher} without GPUs: use torchrun '
                         '(--launcher pytorch) or --shard i/n')
    return get_dist_info()


def resolve_data_final(cfg, out_dir):
    path = cfg.data_final
    if path == 'auto':
        prefix = f'{cfg.dataset_name}_data_final_'
        hits = sorted(f for f in os.listdir(out_dir) if f.startswith(prefix)
                      and f.endswith('.json')
                      and f[len(prefix):-5].isdigit()) \
            if osp.isdir(out_dir) else []
        if len(hits) != 1:
            raise FileNotFoundError(
                f'data_final="auto" needs exactly one {prefix}<N>.json in '
                f'{out_dir}, found {hits}; run tools/data/split_captions.py '
                'first or set data_final')
        path = osp.join(out_dir, hits[0])
    stem = osp.splitext(osp.basename(path))[0]
    num = stem.rsplit('_', 1)[-1]
    if not num.isdigit():
        raise ValueError(f'{path}: expected a <DATASET>_data_final_<N>.json '
                         'name (N = number of train captions)')
    return path, int(num)


def build_model(cfg, checkpoint, device):
    """Person-SAM with the weights of ``checkpoint`` (read, safely, before
    the model is built so a bad file fails fast)."""
    init_default_scope(cfg.get('default_scope', 'sapsam'))
    state = None
    if checkpoint:
        patch_mmengine_checkpoint_loading()
        state = _load_checkpoint(checkpoint, map_location='cpu')
    model = MODELS.build(cfg.model)
    if state is not None:
        _load_checkpoint_to_model(model, state, strict=True)
    else:
        print_log('no --checkpoint: using the weights the model config '
                  'loads (an untrained Person-SAM gives meaningless masks)',
                  logger='current', level=30)
        model.init_weights()  # pretrained parts from their init_cfg
    return model.to(device).eval()


def record_image_path(img_dir, record, data_final):
    """The image of a data_final record, which must lie inside ``img_dir``.

    Raises:
        PartFileError: an absolute name or one leaving ``img_dir``.
    """
    rel = record['name'].lstrip('/')
    path = osp.normpath(osp.join(img_dir, rel))
    if '\\' in rel or osp.isabs(rel) or not path.startswith(
            osp.normpath(img_dir) + os.sep):
        raise PartFileError(f'{data_final}: record idx {record["idx"]}: '
                            f'name {record["name"]!r} points outside the '
                            f'image folder {img_dir}')
    return path


def read_record_image(record, image_path):
    """The RGB image of a record; errors name the record and the file."""
    where = f'record idx {record["idx"]} ({record["name"]})'
    if not osp.isfile(image_path):
        raise FileNotFoundError(f'{where}: image not found: {image_path}')
    try:
        image = mmcv.imread(image_path, channel_order='rgb')
    except Exception as err:  # noqa: BLE001 (cv2 raises several types)
        raise ValueError(f'{where}: cannot decode image {image_path} '
                         f'({err})') from err
    if image is None:
        raise ValueError(f'{where}: cannot decode image {image_path} (empty, '
                         'truncated or not an image)')
    return image


def segment_record(model, record, image_path, seg_dir, batch_size,
                   input_aspect=None):
    """Masks and scores of one record; returns ``{stem: {score, text}}``."""
    phrases = flatten_attributes(record['attribute'])
    stems = [seg_stem(record['idx'], record['name'], i)
             for i in range(len(phrases))]
    keep = [i for i, p in enumerate(phrases) if p.strip()]
    if not keep:
        return {}
    image = read_record_image(record, image_path)
    with torch.no_grad():
        masks, scores = segment_phrases(
            model, image, [phrases[i] for i in keep], batch_size=batch_size,
            input_aspect=input_aspect)
    out = {}
    for i, mask, score in zip(keep, masks, scores):
        path = osp.join(seg_dir, stems[i] + '.png')
        if not mmcv.imwrite(mask.astype(np.uint8), path):
            raise OSError(f'cannot write {path}')
        out[stems[i]] = dict(score=float(score), text=phrases[i])
    return out


def read_done(progress, keys):
    """``{idx: scores}`` of the records whose recorded key is current."""
    return {line['idx']: line['scores'] for line in read_progress(progress)
            if keys.get(line.get('idx')) == line.get('key')}


def main(argv=None):
    args = parse_args(argv)
    if args.trust_checkpoint:
        trust_checkpoints()
    cfg = load_config(args.config, args.cfg_options, check_runner_keys=False)
    if args.launcher != 'none':
        shard, num_shards = init_distributed(args.launcher)
    else:
        shard, num_shards = parse_shard(args.shard)
    out_dir = args.out_dir or cfg.out_dir
    seg_dir = osp.join(out_dir, 'segs')
    os.makedirs(seg_dir, exist_ok=True)
    data_final, num_captions = resolve_data_final(cfg, out_dir)
    records = read_data_final(data_final)
    img_dir = osp.join(cfg.data_root, cfg.get('img_prefix', 'imgs'))
    checkpoint = args.checkpoint or cfg.get('checkpoint')
    if checkpoint and not osp.isfile(checkpoint):
        raise FileNotFoundError(f'--checkpoint {checkpoint} not found')
    # What produced a record's masks: the model and its weights, the input
    # aspect, the record's phrases and its image.
    input_aspect = cfg.get('input_aspect')
    model_key = content_key(cfg.model, file_digest(checkpoint)) \
        if input_aspect is None else content_key(
            cfg.model, file_digest(checkpoint), input_aspect)
    paths, keys = {}, {}
    for r in records:
        paths[r['idx']] = record_image_path(img_dir, r, data_final)
        image_key = file_digest(paths[r['idx']]) \
            if osp.isfile(paths[r['idx']]) else None
        keys[r['idx']] = content_key(r['name'],
                                     flatten_attributes(r['attribute']),
                                     image_key, model_key)
    progress = osp.join(out_dir, PROGRESS_DIR, '*.jsonl')
    done = read_done(progress, keys)
    todo = [r for r in records
            if r['idx'] % num_shards == shard and r['idx'] not in done]
    print_log(f'{cfg.dataset_name}: {len(records)} records, {len(done)} '
              f'already done, {len(todo)} to do in shard '
              f'{shard}/{num_shards}', logger='current')
    if todo:
        device = args.device or cfg.get('device', 'cpu')
        model = build_model(cfg, checkpoint, device)
        bar = LogProgressBar(len(todo), what='part-mask records')
        with ProgressWriter(osp.join(
                out_dir, PROGRESS_DIR,
                f'shard{shard}of{num_shards}.jsonl')) as writer:
            for record in todo:
                scores = segment_record(model, record, paths[record['idx']],
                                        seg_dir, cfg.phrase_batch_size,
                                        input_aspect)
                writer.write(dict(idx=record['idx'], key=keys[record['idx']],
                                  scores=scores))
                bar.update()
        bar.finish()
    if args.launcher != 'none':
        barrier()
        if not is_main_process():
            return None
    # The last shard to finish merges: reread every shard's progress.
    with merge_lock(out_dir, 'score_dict'):
        remove_stale_temp_files(out_dir)
        done = read_done(progress, keys)
        if any(r['idx'] not in done for r in records):
            print_log('records still to do in other shards; the last shard '
                      'to finish writes the score dict', logger='current')
            return None
        scores = {}
        for record in records:
            scores.update(done[record['idx']])
        path = osp.join(out_dir, score_dict_filename(cfg.dataset_name,
                                                     num_captions))
        write_score_dict(path, scores)
    print_log(f'{cfg.dataset_name}: wrote {len(scores)} masks to {seg_dir} '
              f'and {path}', logger='current')
    return path


if __name__ == '__main__':
    main()
