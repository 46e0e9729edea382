"""Benchmark: text search latency and gallery index build throughput (CPU).

1. Query latency: one sentence against gallery indexes of 20,000 and
   100,000 random unit features (the model's feature size): encoding the
   sentence, ranking the index (top-10) and the whole ``search_gallery``
   call; medians over ``--repeats`` runs. Also the size and save/load time
   of the index on disk (float32 and float16).
2. Build throughput: ``build_gallery_index`` over a folder of
   ``--build-images`` JPEGs (random person-sized pictures) in batches,
   images per second and the peak resident memory of the process.

Weights are random (nothing is downloaded): timings depend on the sizes
only. Usage::

    python benchmarks/search_latency.py \
        [--config configs/baseline/clip_sdm_cuhk.py] \
        [--gallery-sizes 20000 100000] [--build-images 64] [--repeats 20]
"""
import argparse
import json
import os
import os.path as osp
import platform
import resource
import shutil
import statistics
import sys
import tempfile
import time
from typing import Dict, Sequence

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, REPO_ROOT)

import numpy as np  # noqa: E402
import torch  # noqa: E402
from PIL import Image  # noqa: E402

from sapsam.apis import (GalleryIndex, build_gallery_index,  # noqa: E402
                         encode_captions, gallery_preprocessing,
                         init_retriever, model_identity, search_gallery)

SENTENCE = ('A young woman with long black hair is wearing a white blouse, '
            'blue jeans and black shoes. She carries a red handbag.')


def _median_seconds(fn, repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def random_index(model, size: int, seed: int = 0) -> GalleryIndex:
    """An index of ``size`` random unit features made for ``model`` (a
    :class:`TextToImageRetrievalInferencer`)."""
    dim = model.feature_dim
    gen = torch.Generator().manual_seed(seed)
    feats = torch.nn.functional.normalize(
        torch.randn(size, dim, generator=gen), dim=1)
    return GalleryIndex(feats, [f'img_{i:06d}.jpg' for i in range(size)],
                        model_identity(model), gallery_preprocessing(model))


def bench_queries(model, sizes: Sequence[int], repeats: int,
                  work_dir: str) -> Dict[str, dict]:
    results = {}
    encode = _median_seconds(lambda: encode_captions(model, [SENTENCE]),
                             repeats)
    text_feat = encode_captions(model, [SENTENCE])
    for size in sizes:
        index = random_index(model, size)
        rank = _median_seconds(lambda: index.query(text_feat, 10), repeats)
        total = _median_seconds(
            lambda: search_gallery(model, index, SENTENCE, topk=10), repeats)
        disk = {}
        for dtype in ('float32', 'float16'):
            path = osp.join(work_dir, f'index_{size}_{dtype}')
            start = time.perf_counter()
            index.save(path, dtype=dtype)
            saved = time.perf_counter() - start
            start = time.perf_counter()
            GalleryIndex.load(path)
            loaded = time.perf_counter() - start
            mib = sum(os.path.getsize(osp.join(path, f))
                      for f in os.listdir(path)) / 2**20
            disk[dtype] = dict(mib=round(mib, 1), save_s=round(saved, 3),
                               load_s=round(loaded, 3))
            shutil.rmtree(path)
        results[str(size)] = dict(
            encode_sentence_ms=round(1e3 * encode, 2),
            rank_top10_ms=round(1e3 * rank, 2),
            search_gallery_ms=round(1e3 * total, 2), disk=disk)
    return results


def bench_build(model, num_images: int, batch_size: int,
                work_dir: str) -> dict:
    folder = osp.join(work_dir, 'gallery')
    os.makedirs(folder, exist_ok=True)
    rng = np.random.default_rng(0)
    for i in range(num_images):
        height = int(rng.integers(180, 300))
        pixels = rng.integers(0, 256, (height, height * 2 // 5, 3),
                              dtype=np.uint8)
        Image.fromarray(pixels).save(osp.join(folder, f'{i:05d}.jpg'))
    build_gallery_index(model, folder, batch_size=batch_size,
                        progress=False)  # warm-up (and page cache)
    start = time.perf_counter()
    index = build_gallery_index(model, folder, batch_size=batch_size,
                                progress=False)
    seconds = time.perf_counter() - start
    assert len(index) == num_images
    return dict(images=num_images, batch_size=batch_size,
                seconds=round(seconds, 2),
                images_per_s=round(num_images / seconds, 1),
                peak_rss_mib=round(_peak_rss_mib(), 0))


def run(config: str = 'configs/baseline/clip_sdm_cuhk.py',
        gallery_sizes: Sequence[int] = (20000, 100000),
        build_images: int = 64,
        batch_size: int = 32,
        repeats: int = 20,
        threads: int = 0) -> dict:
    """Run both parts; returns the measurements as a dict."""
    if threads:
        torch.set_num_threads(threads)
    model = init_retriever(config, cfg_options={
        'model.backbone.pretrained': None})
    backbone = model.model.backbone
    work_dir = tempfile.mkdtemp(prefix='sapsam_search_bench_')
    try:
        result = dict(
            config=config, embed_dim=backbone.embed_dim,
            image_size=list(backbone.image_size),
            torch_threads=torch.get_num_threads(),
            cpu=platform.processor() or platform.machine(),
            queries=bench_queries(model, gallery_sizes, repeats, work_dir),
            build=bench_build(model, build_images, batch_size, work_dir))
    finally:
        shutil.rmtree(work_dir, ignore_errors=True)
    return result


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--config',
                        default=osp.join(REPO_ROOT,
                                         'configs/baseline/clip_sdm_cuhk.py'))
    parser.add_argument('--gallery-sizes', type=int, nargs='+',
                        default=[20000, 100000])
    parser.add_argument('--build-images', type=int, default=64)
    parser.add_argument('--batch-size', type=int, default=32)
    parser.add_argument('--repeats', type=int, default=20)
    parser.add_argument('--threads', type=int, default=0,
                        help='torch threads (0: leave the default)')
    args = parser.parse_args(argv)
    result = run(args.config, args.gallery_sizes, args.build_images,
                 args.batch_size, args.repeats, args.threads)
    print(json.dumps(result, indent=1))
    return result


if __name__ == '__main__':
    main()
