"""Person-SAM per-epoch training time with and without the embedding cache.

The SAM image encoder is frozen, so :class:`ImageEmbeddingCache` lets every
epoch after the first skip it. This benchmark trains the same random-weight
Person-SAM (SAM ViT-B at 1024 by default, a tiny text encoder so the image
encoder dominates) for a few epochs over a few random ATR-sized images, once
without and once with a memory cache, and reports each epoch's wall time.
An epoch = SAM preprocessing (resize, normalise, pad) + loss + backward +
AdamW step for every (image, phrase) sample.

Usage::

    python benchmarks/person_sam_cache.py --arch vit_b --num-images 4 \
        --epochs 3
"""
import argparse
import json
import os.path as osp
import platform
import sys
import tempfile
import time
from typing import Dict, List, Optional

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

import mmcv  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from mmengine.structures import PixelData  # noqa: E402
from mmseg.structures import SegDataSample  # noqa: E402

PHRASES = ('long hair', 'a red coat', 'black pants', 'white sneakers',
           'a blue backpack', 'a grey hat')


def _tiny_bert(path: str) -> str:
    from transformers import BertConfig, BertModel, BertTokenizer
    from transformers.utils import logging as hf_logging
    hf_logging.disable_progress_bar()
    vocab = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]'] + sorted(
        {w for p in PHRASES for w in p.split()})
    with open(osp.join(path, 'vocab.txt'), 'w') as f:
        f.write('\n'.join(vocab) + '\n')
    BertTokenizer(osp.join(path, 'vocab.txt')).save_pretrained(path)
    BertModel(BertConfig(vocab_size=len(vocab), hidden_size=32,
                         num_hidden_layers=1, num_attention_heads=2,
                         intermediate_size=64,
                         max_position_embeddings=32)).save_pretrained(path)
    return path


def _build(arch: str, bert: str, cache: bool, seed: int):
    from sapsam.registry import MODELS
    torch.manual_seed(seed)
    return MODELS.build(dict(
        type='PersonSAM',
        image_encoder=dict(type='SAMImageEncoder', arch=arch),
        mask_decoder=dict(type='SAMMaskDecoder', arch=arch),
        text_encoder=dict(type='BertTextEncoder', pretrained=bert),
        prompt_encoder=dict(type='MCAPrompt'),
        losses=[dict(type='DiceLoss'), dict(type='BinaryCELoss')],
        embedding_cache=dict(type='ImageEmbeddingCache') if cache else None))


def _epoch(model, optimizer, images, masks, batch_size) -> float:
    size = model.data_preprocessor.image_size
    start = time.perf_counter()
    for first in range(0, len(images), batch_size):
        inputs, samples = [], []
        for k in range(first, min(first + batch_size, len(images))):
            img = mmcv.imrescale(images[k], (size, size), backend='pillow')
            gt = mmcv.imrescale(masks[k], (size, size),
                                interpolation='nearest', backend='pillow')
            inputs.append(torch.from_numpy(img.transpose(2, 0, 1).copy()))
            sample = SegDataSample(gt_sem_seg=PixelData(
                data=torch.from_numpy(gt.astype(np.int64))[None]))
            sample.set_metainfo(dict(text=PHRASES[k % len(PHRASES)],
                                     img_shape=img.shape[:2],
                                     ori_shape=images[k].shape[:2]))
            samples.append(sample)
        data = model.data_preprocessor(dict(inputs=inputs,
                                            data_samples=samples), True)
        losses = model(**data, mode='loss')
        loss = sum(v for k, v in losses.items() if 'loss' in k)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return time.perf_counter() - start


def run(arch: str = 'vit_b', num_images: int = 4, epochs: int = 3,
        batch_size: int = 2, seed: int = 0,
        threads: Optional[int] = None) -> Dict:
    """Epoch times (s) without and with the cache, and their ratio."""
    if threads:
        torch.set_num_threads(threads)
    rng = np.random.default_rng(seed)
    # ATR-like portrait images (~600 x 400) with a random part mask.
    images = [rng.integers(0, 256, (600, 400, 3), dtype=np.uint8)
              for _ in range(num_images)]
    masks = [(rng.random((600, 400)) < 0.2).astype(np.uint8)
             for _ in range(num_images)]
    times: Dict[str, List[float]] = {}
    with tempfile.TemporaryDirectory() as workdir:
        bert = _tiny_bert(workdir)
        for name, cache in (('no_cache', False), ('cache', True)):
            model = _build(arch, bert, cache, seed).train()
            optimizer = torch.optim.AdamW(
                [p for p in model.parameters() if p.requires_grad], 1e-4)
            times[name] = [_epoch(model, optimizer, images, masks,
                                  batch_size) for _ in range(epochs)]
            if cache:
                hits = model.embedding_cache.hits
                misses = model.embedding_cache.misses
    later = slice(1, None) if epochs > 1 else slice(None)
    return dict(
        arch=arch, num_images=num_images, epochs=epochs,
        batch_size=batch_size,
        epoch_s_no_cache=[round(t, 3) for t in times['no_cache']],
        epoch_s_cache=[round(t, 3) for t in times['cache']],
        cache_hits=hits, cache_misses=misses,
        later_epoch_speedup=float(np.mean(times['no_cache'][later]) /
                                  np.mean(times['cache'][later])),
        torch_threads=torch.get_num_threads(),
        machine=platform.processor() or platform.machine())


def main(argv=None) -> Dict:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--arch', default='vit_b',
                        help='SAM preset (vit_b, vit_l, vit_h, tiny)')
    parser.add_argument('--num-images', type=int, default=4)
    parser.add_argument('--epochs', type=int, default=3)
    parser.add_argument('--batch-size', type=int, default=2)
    parser.add_argument('--threads', type=int, default=None)
    parser.add_argument('--seed', type=int, default=0)
    args = parser.parse_args(argv)
    results = run(args.arch, args.num_images, args.epochs, args.batch_size,
                  args.seed, args.threads)
    print(json.dumps(results, indent=2))
    return results


if __name__ == '__main__':
    main()
