"""Search a gallery of person images with sentences.

Examples::

    # a folder of images (encoded once; the index is cached and reused)
    python tools/search.py CONFIG CKPT --gallery my_images/ \\
        --query "a woman in a red coat with a black bag" --out result.png
    # a saved index (refused if another model built it)
    python tools/search.py CONFIG CKPT --gallery my_images.index --query ...
    # the labelled test split; --query-index takes its captions as queries
    # and marks the ground truth in the picture
    python tools/search.py CONFIG CKPT --gallery-split test \\
        --query-index 0 5 --out result.png
"""
import argparse
import hashlib
import json
import os
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

import torch  # noqa: E402
from mmengine.config import DictAction  # noqa: E402

from sapsam.apis import (GalleryIndex, IndexMismatchError,  # noqa: E402
                         TextToImageRetrievalInferencer)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Rank a gallery of images for text queries')
    parser.add_argument('config', help='config of the retriever')
    parser.add_argument('checkpoint', help='trained checkpoint')
    gallery = parser.add_mutually_exclusive_group(required=True)
    gallery.add_argument('--gallery',
                         help='a folder of images or a saved index folder')
    gallery.add_argument('--gallery-split', choices=['train', 'val', 'test'],
                         help="the config's dataset split as a labelled "
                         'gallery')
    parser.add_argument('--query', action='append', default=[],
                        help='a sentence (repeat for several)')
    parser.add_argument('--query-file',
                        help='a text file, one sentence a line')
    parser.add_argument('--query-index', type=int, nargs='+', default=[],
                        help='use these captions of --gallery-split as '
                        'queries (their identity is the ground truth)')
    parser.add_argument('--topk', type=int, default=10)
    parser.add_argument('--out', help='write a picture of the top-k here')
    parser.add_argument('--out-json', help='write the rankings as JSON')
    parser.add_argument('--index', help='where to save/reuse the index of '
                        'the gallery (default: work_dirs/search/...)')
    parser.add_argument('--rebuild', action='store_true',
                        help='encode the gallery again even if an index '
                        'exists')
    parser.add_argument('--index-dtype', default='float32',
                        choices=['float32', 'float16'])
    parser.add_argument('--gt-pid', type=int,
                        help='person id to mark as ground truth for every '
                        'query (labelled galleries)')
    parser.add_argument('--batch-size', type=int, default=64)
    parser.add_argument('--num-workers', type=int, default=0)
    parser.add_argument('--device', default=None,
                        help='default: cuda if available, else cpu')
    parser.add_argument('--threads', type=int, default=0,
                        help='torch CPU threads (0: leave the default; 1 is '
                        'fastest on a shared, busy CPU)')
    parser.add_argument('--no-progress', action='store_true')
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction,
        help='override config settings, e.g. '
        'test_cfg.gallery_dataloader.dataset.data_root=DIR')
    args = parser.parse_args(argv)
    if args.query_index and not args.gallery_split:
        parser.error('--query-index needs --gallery-split')
    if not (args.query or args.query_file or args.query_index):
        parser.error('give --query, --query-file or --query-index')
    return args


def _split_dataset_cfg(retriever, split: str, view: str) -> dict:
    """The config's test gallery dataset, switched to ``split``."""
    cfg = retriever.cfg
    loader = cfg.get('test_cfg', {}).get('gallery_dataloader') or \
        cfg.get('val_cfg', {}).get('gallery_dataloader')
    if loader is None:
        raise KeyError(f'{cfg.filename} has no test_cfg.gallery_dataloader')
    dataset = dict(loader['dataset'])
    dataset.update(split=split, view=view, pipeline=[])
    return dataset


def _default_index_dir(key: str, identity: dict) -> str:
    digest = hashlib.blake2b(key.encode(), digest_size=4).hexdigest()
    name = osp.basename(key.rstrip('/')) or 'gallery'
    return osp.join('work_dirs', 'search',
                    f'{name}-{digest}-{identity["weights_hash"][:8]}')


def get_index(retriever: TextToImageRetrievalInferencer,
              args) -> GalleryIndex:
    """Load, reuse or build the gallery index (the reuse policy is the
    inferencer's ``prepare_prototype``)."""
    if args.gallery and GalleryIndex.is_index(args.gallery):
        index = retriever.prepare_prototype(args.gallery)
        print(f'loaded index {args.gallery} ({len(index)} images)')
        return index
    if args.gallery:
        gallery = args.gallery
        key = osp.abspath(gallery)
    else:
        gallery = _split_dataset_cfg(retriever, args.gallery_split, 'images')
        key = f'{gallery.get("data_root")}/{args.gallery_split}'
    path = args.index or _default_index_dir(key, retriever.identity())
    return retriever.prepare_prototype(
        gallery, path, rebuild=args.rebuild, batch_size=args.batch_size,
        num_workers=args.num_workers, progress=not args.no_progress,
        dtype=args.index_dtype, log=print)


def get_queries(retriever, args):
    """``[(text, ground-truth pid or None)]``."""
    queries = [(q, args.gt_pid) for q in args.query]
    if args.query_file:
        if not osp.isfile(args.query_file):
            raise FileNotFoundError(f'query file not found: '
                                    f'{args.query_file}')
        try:
            with open(args.query_file, encoding='utf-8') as f:
                lines = [line.strip() for line in f]
        except UnicodeDecodeError as err:
            raise ValueError(f'{args.query_file}: not UTF-8 text ({err})') \
                from err
        if not any(lines):
            raise ValueError(f'{args.query_file}: no sentences (the file is '
                             f'empty or all its {len(lines)} lines are '
                             f'blank); write one sentence a line')
        queries += [(line, args.gt_pid) for line in lines if line]
    if args.query_index:
        from sapsam.registry import DATASETS
        captions = DATASETS.build(
            _split_dataset_cfg(retriever, args.gallery_split, 'captions'))
        for i in args.query_index:
            if not 0 <= i < len(captions):
                raise IndexError(f'--query-index {i}: the {args.gallery_split}'
                                 f' split has {len(captions)} captions')
            info = captions.get_data_info(i)
            queries.append((info['caption'], int(info['pid'])))
    return queries


def print_ranking(text, gt_pid, hits, stream=sys.stdout) -> None:
    gt = '' if gt_pid is None else f' [ground truth id {gt_pid}]'
    print(f'\nquery: {text}{gt}', file=stream)
    print(f'{"rank":>4}  {"score":>7}  {"id":>6}  match  path', file=stream)
    for hit in hits:
        pid = '-' if hit['pid'] is None else str(hit['pid'])
        match = '  -  ' if gt_pid is None or hit['pid'] is None else (
            ' yes ' if hit['pid'] == gt_pid else ' no  ')
        print(f'{hit["rank"]:>4}  {hit["score"]:7.4f}  {pid:>6}  {match}  '
              f'{hit["path"]}', file=stream)


def main(argv=None):
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        for path, what in ((args.config, 'config'),
                           (args.checkpoint, 'checkpoint')):
            if not osp.isfile(path):
                raise FileNotFoundError(f'{what} not found: {path}')
        if args.gallery and not osp.isdir(args.gallery):
            raise FileNotFoundError(f'gallery folder not found: '
                                    f'{args.gallery}')
        queries = get_queries(None, args) if not args.query_index else None
        retriever = TextToImageRetrievalInferencer(
            args.config, args.checkpoint, device=args.device,
            cfg_options=args.cfg_options)
        index = get_index(retriever, args)
        if queries is None:
            queries = get_queries(retriever, args)
    except (FileNotFoundError, ValueError, KeyError, IndexError,
            IndexMismatchError) as err:
        # One line, no traceback: these are the user's files, not bugs.
        message = err.args[0] if isinstance(err, KeyError) and err.args \
            else err
        print(f'error: {message}', file=sys.stderr)
        raise SystemExit(2)
    skipped = index.source.get('skipped') or []
    if skipped:
        print(f'skipped {len(skipped)} unreadable images:')
        for item in skipped:
            print(f'  {item["path"]}: {item["reason"]}')
    results = retriever.search([q for q, _ in queries], topk=args.topk,
                               index=index, check=False)
    for (text, gt_pid), hits in zip(queries, results):
        print_ranking(text, gt_pid, hits)
    if args.out:
        from sapsam.visualization import RetrievalVisualizer
        rows = [dict(text=text, query_pid=gt_pid, hits=hits)
                for (text, gt_pid), hits in zip(queries, results)]
        RetrievalVisualizer().add_retrieval('search', rows,
                                            out_file=args.out)
        print(f'\nwrote {args.out}')
    if args.out_json:
        os.makedirs(osp.dirname(osp.abspath(args.out_json)), exist_ok=True)
        with open(args.out_json, 'w', encoding='utf-8') as f:
            json.dump([dict(query=text, gt_pid=gt_pid, hits=hits)
                       for (text, gt_pid), hits in zip(queries, results)],
                      f, indent=1)
    return results


if __name__ == '__main__':
    main()
