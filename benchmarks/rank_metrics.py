"""Benchmark: chunked ``rank_metrics`` vs the full-argsort reference.

Random retrieval data at ICFG-PEDES test size by default: 19,848 query
captions x 19,848 gallery images, 1,000 identities with an uneven number of
images each, one caption per image. Text and image features are random unit
vectors of dimension 512, so the similarity matrix is their product (cosine).

Each implementation runs in its own fresh subprocess, which builds the same
data from the seed and reports the wall time of the ranking call and the
peak resident set size (``resource.getrusage``; torch allocations are not
seen by ``tracemalloc``). The metrics of both must agree.

Usage::

    python benchmarks/rank_metrics.py [--num-queries 19848] \
        [--num-gallery 19848] [--num-ids 1000] [--seed 0] [--threads N]

``--threads`` sets ``torch.set_num_threads`` in the workers (default: torch's
default). On a machine shared with other jobs, one thread per worker gives
steadier timings: oversubscribed OpenMP threads wait at every parallel op.
"""
import argparse
import importlib.util
import json
import os
import platform
import resource
import subprocess
import sys
import time
from typing import Dict, Optional, Tuple

import torch

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RANK_METRICS_FILE = os.path.join(REPO_ROOT, 'sapsam', 'evaluation',
                                 'functional', 'rank_metrics.py')
# implementation name -> function name in sapsam.evaluation.functional
IMPLEMENTATIONS = dict(chunked='rank_metrics',
                       full_argsort='rank_metrics_full_argsort')
FEATURE_DIM = 512


def _load_rank_metrics_module():
    """Load ``rank_metrics.py`` by path. It needs only torch, so a worker
    process holds torch and the data and nothing else (importing the
    ``sapsam.evaluation`` package would also load mmengine)."""
    spec = importlib.util.spec_from_file_location('_bench_rank_metrics',
                                                  RANK_METRICS_FILE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def make_retrieval_data(num_queries: int, num_gallery: int, num_ids: int,
                        seed: int) -> Tuple[torch.Tensor, torch.Tensor,
                                            torch.Tensor]:
    """Random text-to-image retrieval data.

    Every identity gets at least one gallery image; the remaining images go
    to identities drawn with log-normal weights, so images per identity are
    uneven (as in ICFG-PEDES). Query ``i`` is a caption of gallery image
    ``perm[i % num_gallery]``.

    Returns:
        tuple: similarity (Q, G) float32 cosine scores of random unit
        vectors, query_pids (Q,) and gallery_pids (G,).
    """
    if num_ids < 1 or num_gallery < num_ids or num_queries < 1:
        raise ValueError('need num_queries >= 1 and num_gallery >= num_ids '
                         f'>= 1, got num_queries={num_queries}, '
                         f'num_gallery={num_gallery}, num_ids={num_ids}')
    generator = torch.Generator().manual_seed(seed)
    weights = torch.exp(0.75 * torch.randn(num_ids, generator=generator))
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
    query_pids = gallery_pids[query_images]

    text = torch.randn(num_queries, FEATURE_DIM, generator=generator)
    image = torch.randn(num_gallery, FEATURE_DIM, generator=generator)
    text = torch.nn.functional.normalize(text, dim=1)
    image = torch.nn.functional.normalize(image, dim=1)
    return text @ image.T, query_pids, gallery_pids


def _current_rss_mb() -> float:
    with open('/proc/self/statm') as statm:
        pages = int(statm.read().split()[1])
    return pages * os.sysconf('SC_PAGE_SIZE') / 2**20


def _worker(impl: str, num_queries: int, num_gallery: int, num_ids: int,
            seed: int, threads: Optional[int]) -> Dict:
    """Build the data, rank it with one implementation, measure."""
    if threads:
        torch.set_num_threads(threads)
    similarity, query_pids, gallery_pids = make_retrieval_data(
        num_queries, num_gallery, num_ids, seed)
    function = getattr(_load_rank_metrics_module(), IMPLEMENTATIONS[impl])
    rss_before_mb = _current_rss_mb()
    start = time.perf_counter()
    metrics = function(similarity, query_pids, gallery_pids)
    seconds = time.perf_counter() - start
    peak_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return dict(impl=impl, metrics=metrics, time_s=seconds,
                rss_before_mb=rss_before_mb, peak_rss_mb=peak_rss_mb,
                threads=torch.get_num_threads())


def _run_in_subprocess(impl: str, num_queries: int, num_gallery: int,
                       num_ids: int, seed: int,
                       threads: Optional[int]) -> Dict:
    command = [
        sys.executable,
        os.path.abspath(__file__), '--worker', impl, '--num-queries',
        str(num_queries), '--num-gallery',
        str(num_gallery), '--num-ids',
        str(num_ids), '--seed',
        str(seed)
    ] + (['--threads', str(threads)] if threads else [])
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f'benchmark worker {impl!r} failed '
                           f'(exit {done.returncode}):\n{done.stderr}')
    return json.loads(done.stdout.strip().splitlines()[-1])


def run(num_queries: int = 19848,
        num_gallery: int = 19848,
        num_ids: int = 1000,
        seed: int = 0,
        threads: Optional[int] = None) -> Dict:
    """Run both implementations in fresh subprocesses and compare them.

    Args:
        num_queries, num_gallery, num_ids, seed (int): Data size and seed,
            see :func:`make_retrieval_data`.
        threads (int, optional): Torch threads of the workers.

    Returns:
        dict: ``metrics`` (chunked result), ``chunked`` and ``full_argsort``
        (``time_s``, ``peak_rss_mb``, ``rss_before_mb``, ``metrics``),
        ``speedup`` (argsort time / chunked time), ``peak_ratio`` and
        ``extra_ratio`` (chunked / argsort peak RSS, total and above the
        RSS held before ranking), ``max_abs_diff`` of the metrics, the sizes
        and a ``machine`` description.

    Raises:
        AssertionError: If the implementations disagree (R@K must be equal,
            mAP/mINP equal up to float64 summation order, 1e-9 relative).
    """
    load_before = os.getloadavg()
    results = {
        impl: _run_in_subprocess(impl, num_queries, num_gallery, num_ids,
                                 seed, threads)
        for impl in IMPLEMENTATIONS
    }
    chunked, full = results['chunked'], results['full_argsort']
    assert chunked['metrics'].keys() == full['metrics'].keys()
    max_abs_diff = 0.0
    for key, value in chunked['metrics'].items():
        reference = full['metrics'][key]
        if key.startswith('R'):
            assert value == reference, (key, value, reference)
        else:
            assert abs(value - reference) <= 1e-9 * max(1.0, abs(reference)), \
                (key, value, reference)
        max_abs_diff = max(max_abs_diff, abs(value - reference))

    def extra(result):
        return max(result['peak_rss_mb'] - result['rss_before_mb'], 1e-9)

    return dict(
        num_queries=num_queries,
        num_gallery=num_gallery,
        num_ids=num_ids,
        seed=seed,
        metrics=chunked['metrics'],
        chunked=chunked,
        full_argsort=full,
        speedup=full['time_s'] / chunked['time_s'],
        peak_ratio=chunked['peak_rss_mb'] / full['peak_rss_mb'],
        extra_ratio=extra(chunked) / extra(full),
        max_abs_diff=max_abs_diff,
        machine=dict(
            cpu=_cpu_name(),
            cpu_count=os.cpu_count(),
            torch_threads=chunked['threads'],
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


def _format_report(result: Dict) -> str:
    lines = [
        f"data: {result['num_queries']} queries x {result['num_gallery']} "
        f"gallery, {result['num_ids']} ids, seed {result['seed']}",
        'metrics: ' + ', '.join(f'{k} {v:.4f}'
                                for k, v in result['metrics'].items()),
        f"max |chunked - full_argsort| over metrics: "
        f"{result['max_abs_diff']:.3g}",
        '',
        '| implementation | time (s) | peak RSS (MB) | RSS above input (MB) |',
        '| --- | --- | --- | --- |',
    ]
    for impl in IMPLEMENTATIONS:
        r = result[impl]
        lines.append(f"| {impl} | {r['time_s']:.2f} | {r['peak_rss_mb']:.0f} "
                     f"| {r['peak_rss_mb'] - r['rss_before_mb']:.0f} |")
    machine = result['machine']
    lines += [
        '',
        f"speedup {result['speedup']:.1f}x, peak RSS ratio "
        f"{result['peak_ratio']:.3f}, RSS-above-input ratio "
        f"{result['extra_ratio']:.4f}",
        f"machine: {machine['cpu']}, {machine['cpu_count']} cores, "
        f"torch {machine['torch']} ({machine['torch_threads']} threads), "
        f"load average before {machine['load_before'][0]:.2f} / after "
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
    parser.add_argument('--worker', choices=sorted(IMPLEMENTATIONS),
                        help=argparse.SUPPRESS)
    return parser.parse_args()


def main():
    args = parse_args()
    if args.worker:
        print(json.dumps(_worker(args.worker, args.num_queries,
                                 args.num_gallery, args.num_ids, args.seed,
                                 args.threads)))
        return
    print(_format_report(run(args.num_queries, args.num_gallery, args.num_ids,
                             args.seed, args.threads)))


if __name__ == '__main__':
    main()
