"""Stage-4 throughput: encode each image once vs once per phrase.

The official ``generate_mask.py`` runs Person-SAM once per (image, phrase),
so the frozen SAM image encoder runs once per phrase. sapsam's stage 4
(``PersonSAM.segment_phrases``) encodes each image once and decodes all its
phrases in one batch. This benchmark times both on the same random-weight
model (SAM ViT-B at 1024 by default, BERT-base-sized text encoder) and
checks that they give the same masks and scores.

Usage::

    python benchmarks/part_masks.py --arch vit_b --num-images 3 \
        --phrases-per-image 4
"""
import argparse
import json
import os.path as osp
import platform
import sys
import tempfile
import time

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

import numpy as np  # noqa: E402
import torch  # noqa: E402

PHRASES = ('a red coat', 'black pants', 'white shoes', 'a blue backpack',
           'long brown hair', 'a grey hat', 'a green skirt', 'a black bag')
TEXT_SIZES = {
    'base': dict(hidden_size=768, num_hidden_layers=12,
                 num_attention_heads=12, intermediate_size=3072),
    'tiny': dict(hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                 intermediate_size=32),
}


def write_random_bert(path, size='base', seed=0):
    """A random BERT of the given size with a small phrase vocabulary."""
    from transformers import BertConfig, BertModel, BertTokenizer
    words = sorted({w for p in PHRASES for w in p.split()})
    vocab = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]'] + words
    vocab_file = osp.join(path, 'vocab.txt')
    with open(vocab_file, 'w') as f:
        f.write('\n'.join(vocab) + '\n')
    torch.manual_seed(seed)
    BertModel(BertConfig(vocab_size=len(vocab), max_position_embeddings=64,
                         **TEXT_SIZES[size])).save_pretrained(path)
    BertTokenizer(vocab_file).save_pretrained(path)
    return path


def build_model(arch, text, workdir, seed=0):
    from mmengine.registry import init_default_scope
    from sapsam.registry import MODELS
    init_default_scope('sapsam')
    bert = write_random_bert(workdir, text, seed)
    torch.manual_seed(seed)
    from sapsam.models.segmentors import sam_arch_settings
    size = sam_arch_settings(arch)['image_size']
    model = MODELS.build(dict(
        type='PersonSAM',
        image_encoder=dict(type='SAMImageEncoder', arch=arch),
        mask_decoder=dict(type='SAMMaskDecoder', arch=arch),
        data_preprocessor=dict(type='SAMDataPreprocessor', image_size=size),
        text_encoder=dict(type='BertTextEncoder', pretrained=bert),
        prompt_encoder=dict(type='MCAPrompt'), embedding_cache=None))
    return model.eval()


def run(arch='vit_b', num_images=3, phrases_per_image=4, text='base',
        seed=0, threads=None):
    """Time both strategies; return images/s, speed-up and agreement."""
    if threads:
        torch.set_num_threads(threads)
    rng = np.random.default_rng(seed)
    # CUHK-PEDES-like sizes (small, person-shaped).
    images = [rng.integers(0, 256, (int(rng.integers(200, 300)),
                                    int(rng.integers(80, 120)), 3),
                           dtype=np.uint8) for _ in range(num_images)]
    phrases = [list(rng.choice(PHRASES, phrases_per_image, replace=False))
               for _ in range(num_images)]
    with tempfile.TemporaryDirectory() as workdir:
        model = build_model(arch, text, workdir, seed)
    results = {}
    with torch.no_grad():
        model.segment_phrases(images[0], phrases[0][:1])     # warm-up
        start = time.perf_counter()
        batched = [model.segment_phrases(img, ph)
                   for img, ph in zip(images, phrases)]
        results['batched_s'] = time.perf_counter() - start
        start = time.perf_counter()
        looped = [[model.segment_phrases(img, [p]) for p in ph]
                  for img, ph in zip(images, phrases)]
        results['per_phrase_s'] = time.perf_counter() - start
    # Batching must not change the result (up to float noise at the 0
    # threshold): fraction of equal pixels, worst phrase.
    min_mask_agreement, max_score_diff = 1.0, 0.0
    for (masks, scores), singles in zip(batched, looped):
        for k, (mask, score) in enumerate(singles):
            min_mask_agreement = min(min_mask_agreement,
                                     float((mask[0] == masks[k]).mean()))
            max_score_diff = max(max_score_diff,
                                 float(abs(score[0] - scores[k])))
    results.update(
        arch=arch, text_encoder=text, num_images=num_images,
        phrases_per_image=phrases_per_image,
        batched_images_per_s=num_images / results['batched_s'],
        per_phrase_images_per_s=num_images / results['per_phrase_s'],
        speedup=results['per_phrase_s'] / results['batched_s'],
        min_mask_agreement=min_mask_agreement,
        max_score_diff=max_score_diff,
        torch_threads=torch.get_num_threads(),
        machine=f'{platform.processor() or platform.machine()}, '
        f'{torch.get_num_threads()} torch threads')
    return results


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--arch', default='vit_b',
                        help="SAM preset: vit_b (default), vit_l, tiny")
    parser.add_argument('--text', default='base', choices=list(TEXT_SIZES))
    parser.add_argument('--num-images', type=int, default=3)
    parser.add_argument('--phrases-per-image', type=int, default=4)
    parser.add_argument('--threads', type=int, default=None)
    parser.add_argument('--seed', type=int, default=0)
    args = parser.parse_args(argv)
    results = run(args.arch, args.num_images, args.phrases_per_image,
                  args.text, args.seed, args.threads)
    print(json.dumps(results, indent=2))
    return results


if __name__ == '__main__':
    main()
