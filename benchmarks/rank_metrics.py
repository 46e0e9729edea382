"""Benchmark: text-to-image evaluation at ICFG-PEDES size.

Three ways to evaluate random retrieval data (19,848 query captions x
19,848 gallery images, 512-d unit features, 1,000 identities, about 20
matching images per query as in ICFG-PEDES' test split):

* ``matmul``: the similarity matrix ``text @ image.T`` alone, the floor;
* ``production``: sapsam's evaluation path, ``TBPRMetric.process`` fed the
  way ``TextToImageRetrievalLoop`` feeds it (batches of 512 captions with
  the gallery features), then ``compute_metrics``;
* ``irra_rank``: the similarity matrix, then IRRA's ``rank`` semantics (a
  stable argsort of every row, ranked pids, cumulative matches), here in
  blocks of 1,024 rows so that it fits in memory beside the others.

Every measurement runs in a fresh subprocess that builds the same data, so
peak memory (``ru_maxrss`` above the RSS before the call) belongs to one
method. Repeats are interleaved (matmul, production, irra_rank, matmul,
...) and the medians are reported, with the machine load. The metrics of
``production`` and ``irra_rank`` must agree (R@K exactly, mAP and mINP to
1e-9), for text-to-image and, with ``--i2t``, image-to-text.

Usage::

    python benchmarks/rank_metrics.py --threads 1 --repeats 3 [--i2t]
    python benchmarks/rank_metrics.py --device cuda --repeats 2   # GPU
"""
import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from typing import Dict, Optional, Tuple

import torch

FEATURE_DIM = 512
METHODS = ('matmul', 'production', 'irra_rank')
LOOP_BATCH_SIZE = 512  # test_dataloader batch size of the ICFG configs


def make_retrieval_data(num_queries: int, num_gallery: int, num_ids: int,
                        seed: int) -> Tuple[torch.Tensor, ...]:
    """Random text-to-image retrieval data.

    Every identity gets at least one gallery image; the others go to
    identities drawn with mildly uneven (log-normal, sigma 0.3) weights.
    Query ``i`` is a caption of gallery image ``perm[i % num_gallery]``.

    Returns:
        tuple: text (Q, 512) and image (G, 512) unit features, query_pids
        (Q,) and gallery_pids (G,).
    """
    if num_ids < 1 or num_gallery < num_ids or num_queries < 1:
        raise ValueError('need num_queries >= 1 and num_gallery >= num_ids '
                         f'>= 1, got num_queries={num_queries}, '
                         f'num_gallery={num_gallery}, num_ids={num_ids}')
    generator = torch.Generator().manual_seed(seed)
    weights = torch.exp(0.3 * torch.randn(num_ids, generator=generator))
    extra = torch.multinomial(weights, num_gallery - num_ids,
                              replacement=True, generator=generator) \
        if num_gallery > num_ids else torch.zeros(0, dtype=torch.long)
    images_per_id = 1 + torch.bincount(extra, minlength=num_ids)
    gallery_pids = torch.repeat_interleave(torch.arange(num_ids),
                                           images_per_id)
    gallery_pids = gallery_pids[torch.randperm(num_gallery,
                                               generator=generator)]
    query_images = torch.randperm(num_gallery, generator=generator)[
        torch.arange(num_queries) % num_gallery]
    text = torch.randn(num_queries, FEATURE_DIM, generator=generator)
    image = torch.randn(num_gallery, FEATURE_DIM, generator=generator)
    return (torch.nn.functional.normalize(text, dim=1),
            torch.nn.functional.normalize(image, dim=1),
            gallery_pids[query_images], gallery_pids)


def irra_rank(similarity: torch.Tensor, query_pids: torch.Tensor,
              gallery_pids: torch.Tensor, topk=(1, 5, 10),
              block_rows: int = 1024) -> Dict[str, float]:
    """IRRA's ``rank`` semantics (stable argsort of every row), in blocks of
    rows; R@K, mAP and mINP in percent."""
    hits = {k: 0 for k in topk}
    ap_sum = inp_sum = 0.0
    positions = torch.arange(1, similarity.shape[1] + 1, dtype=torch.float64)
    for start in range(0, similarity.shape[0], block_rows):
        block = similarity[start:start + block_rows]
        order = torch.argsort(block, dim=1, descending=True, stable=True)
        matches = gallery_pids[order] == query_pids[start:start +
                                                    block_rows, None]
        del order
        for k in topk:
            hits[k] += int(matches[:, :k].any(1).sum())
        num_relevant = matches.sum(1)
        precision = matches.cumsum(1, dtype=torch.float64) / positions
        ap_sum += float(((precision * matches).sum(1) / num_relevant).sum())
        last = similarity.shape[1] - matches.flip(1).to(torch.uint8).argmax(1)
        inp_sum += float((num_relevant.double() / last).sum())
    num_queries = similarity.shape[0]
    results = {f'R{k}': 100.0 * hits[k] / num_queries for k in topk}
    results['mAP'] = 100.0 * ap_sum / num_queries
    results['mINP'] = 100.0 * inp_sum / num_queries
    return results


def _production(text, image, query_pids, gallery_pids,
                i2t: bool) -> Dict[str, Dict[str, float]]:
    from sapsam.evaluation.metrics import TBPRMetric
    metric = TBPRMetric(i2t=i2t)
    for start in range(0, text.shape[0], LOOP_BATCH_SIZE):
        stop = min(start + LOOP_BATCH_SIZE, text.shape[0])
        metric.process(None, [
            dict(text_feat=text[i], query_pid=int(query_pids[i]),
                 gallery_feats=image, gallery_pids=gallery_pids)
            for i in range(start, stop)
        ])
    metrics = metric.compute_metrics(metric.results)
    grouped = {}
    for key, value in metrics.items():
        direction, name = key.split('/')
        grouped.setdefault(direction, {})[name] = value
    return grouped


def _current_rss_mb() -> float:
    with open('/proc/self/statm') as statm:
        pages = int(statm.read().split()[1])
    return pages * os.sysconf('SC_PAGE_SIZE') / 2**20


def _worker(method: str, num_queries: int, num_gallery: int, num_ids: int,
            seed: int, threads: Optional[int], i2t: bool,
            device: str = 'cpu') -> Dict:
    """Build the data, evaluate it with one method, measure."""
    if threads:
        torch.set_num_threads(threads)
    device = torch.device(device)
    text, image, query_pids, gallery_pids = (
        t.to(device) for t in make_retrieval_data(num_queries, num_gallery,
                                                  num_ids, seed))
    if method == 'production':  # import costs are not evaluation time
        _production(text[:1], image, query_pids[:1], gallery_pids, False)
    on_gpu = device.type == 'cuda'
    if on_gpu:
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        gpu_before = torch.cuda.memory_allocated(device)
    rss_before_mb = _current_rss_mb()
    start, cpu_start = time.perf_counter(), time.process_time()
    metrics = None
    if method == 'matmul':
        similarity = text @ image.T
    elif method == 'production':
        metrics = _production(text, image, query_pids, gallery_pids, i2t)
    else:
        similarity = text @ image.T
        metrics = dict(t2i=irra_rank(similarity, query_pids, gallery_pids))
        if i2t:
            metrics['i2t'] = irra_rank(similarity.T.contiguous(),
                                       gallery_pids, query_pids)
    if on_gpu:
        torch.cuda.synchronize(device)
    seconds = time.perf_counter() - start
    cpu_seconds = time.process_time() - cpu_start
    extra_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 - \
        rss_before_mb
    if on_gpu:  # device memory above the inputs
        extra_mb = (torch.cuda.max_memory_allocated(device) -
                    gpu_before) / 2**20
    matches = torch.bincount(gallery_pids)[query_pids]
    return dict(method=method, metrics=metrics, time_s=seconds,
                cpu_s=cpu_seconds, extra_rss_mb=extra_mb,
                threads=torch.get_num_threads(),
                matches_per_query=float(matches.double().mean()))


def _run_worker(method: str, args: Dict) -> Dict:
    command = [sys.executable, os.path.abspath(__file__), '--worker', method]
    for key, value in args.items():
        if value is True:
            command.append(f'--{key.replace("_", "-")}')
        elif value not in (None, False):
            command += [f'--{key.replace("_", "-")}', str(value)]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f'benchmark worker {method!r} failed (exit '
                           f'{done.returncode}):\n{done.stderr}')
    return json.loads(done.stdout.strip().splitlines()[-1])


def run(num_queries: int = 19848,
        num_gallery: int = 19848,
        num_ids: int = 1000,
        seed: int = 0,
        threads: Optional[int] = None,
        repeats: int = 3,
        i2t: bool = False,
        device: str = 'cpu') -> Dict:
    """Interleaved repeats of the three methods in fresh subprocesses.

    Returns:
        dict: ``timings`` (per method: median ``time_s``, ``cpu_s`` and
        ``extra_rss_mb`` and the lists behind them), ``metrics`` (of
        ``production``: ``t2i`` and with ``i2t`` ``i2t``), the sizes, the
        mean matches per query and ``machine`` (CPU, threads, load).

    Raises:
        AssertionError: If production and irra_rank disagree.
    """
    args = dict(num_queries=num_queries, num_gallery=num_gallery,
                num_ids=num_ids, seed=seed, threads=threads, i2t=i2t,
                device=device)
    load_before = os.getloadavg()
    runs = {method: [] for method in METHODS}
    for _ in range(repeats):
        for method in METHODS:
            runs[method].append(_run_worker(method, args))
    production = runs['production'][0]['metrics']
    reference = runs['irra_rank'][0]['metrics']
    assert production.keys() == reference.keys()
    for direction, values in production.items():
        for key, value in values.items():
            expected = reference[direction][key]
            if key.startswith('R'):
                assert value == expected, (direction, key, value, expected)
            else:
                assert abs(value - expected) <= 1e-9 * max(1.0, expected), \
                    (direction, key, value, expected)
    timings = {}
    for method, results in runs.items():
        timings[method] = {
            key: statistics.median(r[key] for r in results)
            for key in ('time_s', 'cpu_s', 'extra_rss_mb')
        }
        timings[method]['all_time_s'] = [r['time_s'] for r in results]
    return dict(args, metrics=production, timings=timings,
                matches_per_query=runs['production'][0]['matches_per_query'],
                machine=dict(cpu=_cpu_name(), cpu_count=os.cpu_count(),
                             torch_threads=runs['matmul'][0]['threads'],
                             torch=torch.__version__,
                             python=platform.python_version(),
                             load_before=load_before,
                             load_after=os.getloadavg()))


def _cpu_name() -> str:
    try:
        with open('/proc/cpuinfo') as cpuinfo:
            for line in cpuinfo:
                if line.startswith('model name'):
                    return line.split(':', 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or 'unknown'


def format_report(result: Dict) -> str:
    timings = result['timings']
    floor = timings['matmul']
    lines = [
        f"data: {result['num_queries']} queries x {result['num_gallery']} "
        f"gallery, {result['num_ids']} ids, "
        f"{result['matches_per_query']:.1f} matches per query, seed "
        f"{result['seed']}",
    ]
    for direction, values in result['metrics'].items():
        lines.append(f'{direction}: ' + ', '.join(
            f'{k} {v:.4f}' for k, v in values.items()) +
            ' (production == irra_rank)')
    lines += [
        '',
        '| method | wall (s), median | CPU (s), median | wall / matmul | '
        'CPU / matmul | peak memory above input (MB) |',
        '| --- | --- | --- | --- | --- | --- |',
    ]
    for method in METHODS:
        t = timings[method]
        lines.append(
            f"| {method} | {t['time_s']:.2f} | {t['cpu_s']:.2f} | "
            f"{t['time_s'] / floor['time_s']:.2f} | "
            f"{t['cpu_s'] / floor['cpu_s']:.2f} | {t['extra_rss_mb']:.0f} |")
    machine = result['machine']
    ratio = timings['production']['time_s'] / floor['time_s']
    lines += [
        '',
        f'production / matmul (wall): {ratio:.2f}x; all wall times: ' +
        '; '.join(f"{m} {', '.join(f'{s:.2f}' for s in t['all_time_s'])}"
                  for m, t in timings.items()),
        f"device {result['device']}; "
        f"machine: {machine['cpu']}, {machine['cpu_count']} cores, torch "
        f"{machine['torch']} ({machine['torch_threads']} threads), load "
        f"average before {machine['load_before'][0]:.2f} / after "
        f"{machine['load_after'][0]:.2f}",
    ]
    return '\n'.join(lines)


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--num-queries', type=int, default=19848)
    parser.add_argument('--num-gallery', type=int, default=19848)
    parser.add_argument('--num-ids', type=int, default=1000)
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--threads', type=int, default=None,
                        help='torch threads per worker (default: torch\'s)')
    parser.add_argument('--repeats', type=int, default=3)
    parser.add_argument('--i2t', action='store_true',
                        help='also image-to-text (each image ranks the '
                        'captions)')
    parser.add_argument('--device', default='cpu',
                        help="e.g. cuda: features, products and ranking on "
                        "the GPU; memory is then the GPU's")
    parser.add_argument('--worker', choices=METHODS, help=argparse.SUPPRESS)
    return parser.parse_args()


def main():
    args = parse_args()
    if args.worker:
        print(json.dumps(_worker(args.worker, args.num_queries,
                                 args.num_gallery, args.num_ids, args.seed,
                                 args.threads, args.i2t, args.device)))
        return
    print(format_report(run(args.num_queries, args.num_gallery, args.num_ids,
                            args.seed, args.threads, args.repeats,
                            args.i2t, args.device)))


if __name__ == '__main__':
    main()
