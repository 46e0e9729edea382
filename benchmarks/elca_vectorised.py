"""Benchmark: vectorised ELCA alignment head vs the per-pair loop.

Forward + backward of :class:`sapsam.models.ELCAAlign` and of the official
loop ``elca_loss_loop`` (in ``tests/test_models/test_alignment_heads/elca_reference.py``: one
``nn.MultiheadAttention`` call per positive and per negative pair) on the
same random inputs and the same negatives. Default size: batch 64, 6 parts, D = 512,
193 image tokens (24x8 patches + [CLS]), 77 text tokens.

Usage::

    python benchmarks/elca_vectorised.py [--batch-size 64] [--repeats 5]
"""
import argparse
import importlib.util
import os
import statistics
import time
from typing import Dict, List, Optional, Sequence, Tuple

import torch

from sapsam.models.alignment_heads import (ELCAAlign, build_part_masks,
                                           sample_phrase_negatives)

# The official per-pair loss and the batch generator are the references of
# tests/test_models/test_alignment_heads/test_alignment_heads.py; the
# benchmark uses the same.
_REFERENCE = os.path.join(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))), 'tests', 'test_models', 'test_alignment_heads',
    'elca_reference.py')
_spec = importlib.util.spec_from_file_location('elca_reference', _REFERENCE)
_reference = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_reference)
elca_loss_loop = _reference.elca_loss_loop
make_part_annotations = _reference.make_part_annotations


def _timed(fn, repeats: int) -> Tuple[float, torch.Tensor]:
    """Median seconds of ``repeats`` calls after one warm-up call."""
    times, loss = [], fn()
    for _ in range(repeats):
        start = time.perf_counter()
        loss = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), loss


def compare(readout: str, batch: int = 64, num_parts: int = 6,
            embed_dim: int = 512, num_heads: int = 8,
            grid: Tuple[int, int] = (24, 8), text_length: int = 77,
            repeats: int = 5, loop_repeats: int = 1,
            seed: int = 0) -> Dict[str, float]:
    """Time forward + backward of both implementations on one batch.

    The vectorised head is timed ``repeats`` times and the loop
    ``loop_repeats`` times (it is slow), each after one warm-up call.

    Returns:
        dict: ``readout``, ``pairs`` (scored pairs), ``vectorised_s`` and
        ``loop_s`` (median seconds), ``speedup``, ``loss_vectorised``,
        ``loss_loop``, ``abs_diff``, ``max_grad_diff`` (image and text
        token gradients).
    """
    torch.manual_seed(seed)
    head = ELCAAlign(embed_dim=embed_dim, num_heads=num_heads,
                     readout=readout)
    ann = make_part_annotations(batch, num_parts, grid, text_length,
                                seed=seed)
    image_tokens = torch.randn(batch, 1 + grid[0] * grid[1], embed_dim,
                               requires_grad=True)
    text_tokens = torch.randn(batch, text_length, embed_dim,
                              requires_grad=True)
    masks = build_part_masks(ann['patch_labels'], ann['part_spans'],
                             ann['part_num'], text_length)
    negatives = sample_phrase_negatives(
        masks.valid, ann['pids'], torch.Generator().manual_seed(seed))

    def step(loss_fn):
        def run():
            head.zero_grad()
            image_tokens.grad = text_tokens.grad = None
            loss = loss_fn()
            loss.backward()
            return loss.detach()
        return run

    def vectorised():
        return head.loss(image_tokens, text_tokens, ann['patch_labels'],
                         ann['part_spans'], ann['part_num'], ann['pids'],
                         negatives=negatives)['loss_align']

    def loop():
        return elca_loss_loop(head, image_tokens, text_tokens, masks,
                              negatives)

    vec_s, vec_loss = _timed(step(vectorised), repeats)
    vec_grads = (image_tokens.grad.clone(), text_tokens.grad.clone())
    loop_s, loop_loss = _timed(step(loop), loop_repeats)
    grad_diff = max(float((a - b).abs().max()) for a, b in
                    zip(vec_grads, (image_tokens.grad, text_tokens.grad)))
    pairs = int(masks.valid.sum() + negatives[2].sum())
    return dict(readout=readout, pairs=pairs, vectorised_s=vec_s,
                loop_s=loop_s, speedup=loop_s / vec_s,
                loss_vectorised=float(vec_loss), loss_loop=float(loop_loss),
                abs_diff=abs(float(vec_loss) - float(loop_loss)),
                max_grad_diff=grad_diff)


def main(argv: Optional[Sequence[str]] = None) -> List[Dict[str, float]]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--batch-size', type=int, default=64)
    parser.add_argument('--num-parts', type=int, default=6)
    parser.add_argument('--embed-dim', type=int, default=512)
    parser.add_argument('--num-heads', type=int, default=8)
    parser.add_argument('--grid', type=int, nargs=2, default=(24, 8))
    parser.add_argument('--text-length', type=int, default=77)
    parser.add_argument('--repeats', type=int, default=5,
                        help='timed runs of the vectorised head')
    parser.add_argument('--loop-repeats', type=int, default=1,
                        help='timed runs of the per-pair loop')
    parser.add_argument('--threads', type=int, default=None)
    parser.add_argument('--readouts', nargs='+', default=['cls', 'region'])
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    rows = [compare(readout, args.batch_size, args.num_parts, args.embed_dim,
                    args.num_heads, tuple(args.grid), args.text_length,
                    args.repeats, args.loop_repeats)
            for readout in args.readouts]
    print(f'batch {args.batch_size}, {args.num_parts} parts, D '
          f'{args.embed_dim}, {1 + args.grid[0] * args.grid[1]} image tokens, '
          f'{args.text_length} text tokens, {torch.get_num_threads()} CPU '
          f'threads, forward + backward, median of {args.repeats} '
          f'(vectorised) / {args.loop_repeats} (loop) runs after a warm-up')
    print('| readout | scored pairs | loop (s) | vectorised (s) | speedup '
          '| loss loop | loss vectorised | abs diff | max grad diff |')
    print('|---|---|---|---|---|---|---|---|---|')
    for r in rows:
        print(f"| {r['readout']} | {r['pairs']} | {r['loop_s']:.4f} | "
              f"{r['vectorised_s']:.4f} | {r['speedup']:.1f}x | "
              f"{r['loss_loop']:.6f} | {r['loss_vectorised']:.6f} | "
              f"{r['abs_diff']:.1e} | {r['max_grad_diff']:.1e} |")
    return rows


if __name__ == '__main__':
    main()
