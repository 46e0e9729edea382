"""Draw what a retriever ranks first for the captions of a split.

``python tools/analysis/visualize_retrieval.py CONFIG CKPT --split test
--out-dir work_dirs/vis --num-queries 20`` encodes the split's gallery, ranks
it for every caption and writes one picture per chosen query: the caption,
the top-k images (matches framed green and ticked) and, at the right, the
query's true match (its best-ranked image of the right person) with its
rank. Which queries (``--select``):

- ``failures`` (default): first match below rank 1, worst first;
- ``near-misses``: first match at rank 2..k, closest first;
- ``successes``: first match at rank 1, in query order;
- ``all``: every query in order; or ``--queries 0 17 42`` by index.

It also writes ``summary.json`` with the metrics and every query's rank of
its first match.
"""
import argparse
import json
import os
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(
    __file__)))))

import torch  # noqa: E402
from mmengine.config import DictAction  # noqa: E402

from sapsam.apis import (GalleryIndex,  # noqa: E402
                         TextToImageRetrievalInferencer)
from sapsam.evaluation.functional import (query_rank_stats,  # noqa: E402
                                          summarize_rank_stats)
from sapsam.registry import DATASETS  # noqa: E402

# Query rows scored at once (rows x gallery floats).
_ROWS_PER_CHUNK = 256


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Pictures of the top-k retrieved images per caption, '
        'failures first')
    parser.add_argument('config')
    parser.add_argument('checkpoint')
    parser.add_argument('--split', default='test',
                        choices=['train', 'val', 'test'])
    parser.add_argument('--out-dir', default='work_dirs/vis_retrieval')
    parser.add_argument('--num-queries', type=int, default=20,
                        help='pictures to write')
    parser.add_argument('--select', default='failures',
                        choices=['failures', 'near-misses', 'successes',
                                 'all'],
                        help='which queries to draw')
    parser.add_argument('--queries', type=int, nargs='+',
                        help='draw these query (caption) indices instead')
    parser.add_argument('--topk', type=int, default=10)
    parser.add_argument('--index', help='a saved index of this split built '
                        'by this model (skips encoding the gallery)')
    parser.add_argument('--batch-size', type=int, default=64)
    parser.add_argument('--num-workers', type=int, default=0)
    parser.add_argument('--device', default=None,
                        help='default: cuda if available, else cpu')
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction,
        help='override config settings, e.g. '
        'test_cfg.gallery_dataloader.dataset.data_root=DIR')
    return parser.parse_args(argv)


def split_dataset(retriever, split: str, view: str):
    """The config's test gallery dataset for ``split`` and ``view``."""
    cfg = retriever.cfg
    loader = cfg.get('test_cfg', {}).get('gallery_dataloader') or \
        cfg.get('val_cfg', {}).get('gallery_dataloader')
    if loader is None:
        raise KeyError(f'{cfg.filename} has no test_cfg.gallery_dataloader')
    return DATASETS.build(dict(loader['dataset'], split=split, view=view,
                               pipeline=[]))


def rank_queries(index: GalleryIndex, text_feats: torch.Tensor,
                 query_pids: torch.Tensor, topk: int):
    """Top-k rows and the rank of the first match of every query."""
    gallery_pids = torch.tensor(index.pids, dtype=torch.long)
    first_rank, ap, inp = [], [], []
    for start in range(0, len(text_feats), _ROWS_PER_CHUNK):
        rows = slice(start, start + _ROWS_PER_CHUNK)
        stats = query_rank_stats(index.similarity(text_feats[rows]),
                                 query_pids[rows], gallery_pids)
        first_rank.append(stats['first_rank'])
        ap.append(stats['ap'])
        inp.append(stats['inp'])
    scores, rows = index.query(text_feats, topk)
    return (torch.cat(first_rank), torch.cat(ap), torch.cat(inp), scores,
            rows)


def select_queries(first_rank: torch.Tensor, select: str, topk: int,
                   indices=None) -> list:
    """Query indices to draw, in drawing order (see the module doc).

    Raises:
        ValueError: an index in ``indices`` out of range.
    """
    ranks = [int(r) for r in first_rank]
    if indices:
        bad = [q for q in indices if not 0 <= q < len(ranks)]
        if bad:
            raise ValueError(f'--queries {bad}: the split has {len(ranks)} '
                             f'captions')
        return list(indices)
    if select == 'failures':
        return sorted((q for q, r in enumerate(ranks) if r > 1),
                      key=lambda q: (-ranks[q], q))
    if select == 'near-misses':
        return sorted((q for q, r in enumerate(ranks) if 1 < r <= topk),
                      key=lambda q: (ranks[q], q))
    if select == 'successes':
        return [q for q, r in enumerate(ranks) if r == 1]
    return list(range(len(ranks)))


def true_match(index: GalleryIndex, text_feat: torch.Tensor, pid: int,
               gallery_pids: torch.Tensor) -> dict:
    """The best-ranked gallery image of ``pid`` with its 1-based rank
    (descending score, ties by gallery order, as the metrics rank)."""
    scores = index.similarity(text_feat[None])[0]
    order = torch.sort(scores, descending=True, stable=True).indices
    position = int((gallery_pids[order] == pid).nonzero()[0, 0])
    row = int(order[position])
    return dict(rank=position + 1, path=index.paths[row], pid=pid,
                score=float(scores[row]))


def main(argv=None):
    args = parse_args(argv)
    retriever = TextToImageRetrievalInferencer(
        args.config, args.checkpoint, device=args.device,
        cfg_options=args.cfg_options)
    gallery = split_dataset(retriever, args.split, 'images')
    if args.index:
        index = retriever.load_index(args.index)
        paths = [gallery.get_data_info(i)['img_path']
                 for i in range(len(gallery))]
        if index.pids is None or index.paths != paths:
            raise ValueError(f'{args.index} is not an index of the '
                             f'{args.split} split of {gallery.data_root}')
    else:
        index = retriever.build_index(gallery, batch_size=args.batch_size,
                                      num_workers=args.num_workers)
    captions = split_dataset(retriever, args.split, 'captions')
    infos = [captions.get_data_info(i) for i in range(len(captions))]
    texts = [info['caption'] for info in infos]
    query_pids = torch.tensor([int(info['pid']) for info in infos])
    text_feats = retriever.encode_text(texts)
    first_rank, ap, inp, scores, rows = rank_queries(
        index, text_feats, query_pids, args.topk)
    metrics = summarize_rank_stats(first_rank, ap, inp)

    # Failures first (worst first), then the correct ones; stable in query
    # order (the order of summary.json).
    order = sorted(range(len(texts)),
                   key=lambda q: (first_rank[q] == 1, -int(first_rank[q]),
                                  q))
    chosen = select_queries(first_rank, args.select, args.topk, args.queries)
    from sapsam.visualization import RetrievalVisualizer
    visualizer = RetrievalVisualizer()
    os.makedirs(args.out_dir, exist_ok=True)
    records = []
    for q in range(len(texts)):
        hits = [dict(rank=r + 1, path=index.paths[g], score=float(s),
                     pid=index.pids[g])
                for r, (s, g) in enumerate(zip(scores[q].tolist(),
                                               rows[q].tolist()))]
        records.append(dict(query=q, caption=texts[q],
                            pid=int(query_pids[q]),
                            first_match_rank=int(first_rank[q]),
                            topk_pids=[h['pid'] for h in hits],
                            picture=None, _hits=hits))
    gallery_pids = torch.tensor(index.pids, dtype=torch.long)
    for position, q in enumerate(chosen[:args.num_queries]):
        rec = records[q]
        name = (f'{position:04d}_query{q}_rank{rec["first_match_rank"]}.png')
        visualizer.add_retrieval(
            name, [dict(text=rec['caption'], query_pid=rec['pid'],
                        hits=rec['_hits'],
                        truth=true_match(index, text_feats[q],
                                         int(query_pids[q]), gallery_pids),
                        title=f'query {q}, id {rec["pid"]}, first match at '
                        f'rank {rec["first_match_rank"]}: ')],
            out_file=osp.join(args.out_dir, name))
        rec['picture'] = name
    for rec in records:
        rec.pop('_hits')
    summary = dict(split=args.split, num_queries=len(texts),
                   num_gallery=len(index), metrics=metrics,
                   failures=int((first_rank > 1).sum()),
                   queries=[records[q] for q in order])
    with open(osp.join(args.out_dir, 'summary.json'), 'w',
              encoding='utf-8') as f:
        json.dump(summary, f, indent=1)
    print(' '.join(f'{k}: {v:.2f}' for k, v in metrics.items()))
    print(f'{summary["failures"]} of {len(texts)} queries miss at rank 1; '
          f'wrote {min(args.num_queries, len(chosen))} pictures '
          f'({args.select if not args.queries else "chosen queries"}) and '
          f'summary.json to {args.out_dir}')
    return summary


if __name__ == '__main__':
    main()
