"""Helpers shared by test modules (import as ``from tests.helpers import
...``; ``tests/conftest.py`` puts the repository root on ``sys.path``).

- ``load_script``: a script of the checkout (``tools/``, ``benchmarks/``)
  imported by path;
- drawn people and tiny folders of the part-pipeline tests
  (``draw_person``, ``write_atr``, ``write_cuhk``) and tiny random models
  (``build_tiny_blip2``, ``build_tiny_bert``, ``tiny_person_sam_options``).

Shared fixtures (tiny Person-SAM weights and model, ``load_tool``,
``one_thread``) are in ``tests/conftest.py``.
"""
import importlib.util
import json
import os
import os.path as osp
from types import ModuleType

import numpy as np

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))


def load_script(relative_path: str) -> ModuleType:
    """Import a script of the checkout (``tools/search.py``,
    ``benchmarks/x.py``) by path, as a fresh module named
    ``sapsam_test_<stem>``."""
    path = osp.join(REPO, relative_path)
    spec = importlib.util.spec_from_file_location(
        'sapsam_test_' + osp.splitext(osp.basename(path))[0], path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# Tiny synthetic data and models of the part-pipeline tests.
RED, BLUE, WHITE, GREEN, BLACK = ((200, 32, 36), (38, 72, 190),
                                  (235, 235, 232), (42, 138, 60), (28, 28, 30))
SKIN = (212, 168, 132)


def draw_person(height=64, width=32, long_hair=False, shade=1.0, seed=0):
    """A blocky pedestrian: ``(image (H, W, 3) uint8 RGB, ATR labels)``.

    Hair (black) over a face, a red top, blue pants, white shoes (left and
    right), legs visible between pants and shoes, a green bag at the side.
    """
    rng = np.random.default_rng(seed)
    labels = np.zeros((height, width), np.uint8)
    labels[2:10, 10:22] = 2          # hair
    labels[6:14, 12:20] = 11         # face (overlaps the hair rows)
    if long_hair:
        labels[6:22, 9:12] = 2
    labels[14:34, 8:24] = 4          # upper clothes
    labels[34:52, 9:23] = 6          # pants
    labels[52:56, 10:15] = 12        # left leg
    labels[52:56, 17:22] = 13        # right leg
    labels[56:60, 9:15] = 9          # left shoe
    labels[56:60, 17:23] = 10        # right shoe
    labels[20:32, 25:30] = 16        # bag
    colours = {0: (120, 160, 120), 2: BLACK, 11: SKIN, 4: RED, 6: BLUE,
               12: SKIN, 13: SKIN, 9: WHITE, 10: WHITE, 16: GREEN}
    image = np.zeros((height, width, 3), np.float32)
    for label, colour in colours.items():
        image[labels == label] = np.asarray(colour) * (shade if label else 1)
    image += rng.normal(0, 3, image.shape)
    return np.clip(image, 0, 255).astype(np.uint8), labels


def write_atr(root, num_images=3):
    """An ATR-layout folder with ``num_images`` drawn people."""
    import mmcv
    os.makedirs(osp.join(root, 'JPEGImages'), exist_ok=True)
    os.makedirs(osp.join(root, 'SegmentationClassAug'), exist_ok=True)
    names = []
    for i in range(num_images):
        image, labels = draw_person(long_hair=bool(i % 2), seed=i)
        name = f'dataset10k_{i}.jpg'
        mmcv.imwrite(image[..., ::-1], osp.join(root, 'JPEGImages', name))
        mmcv.imwrite(labels, osp.join(root, 'SegmentationClassAug',
                                      f'dataset10k_{i}.png'))
        names.append(name)
    return names


def write_cuhk(root, captions_per_image=(2, 2, 3)):
    """A CUHK-PEDES folder (``reid_raw.json`` + ``imgs/``) with drawn people.

    Returns the caption-level train list ``[(rel_path, caption), ...]``.
    """
    import mmcv
    records, flat = [], []
    texts = ['A woman wearing a red coat, blue pants and white shoes.',
             'She carries a green bag and has short black hair.',
             'A person in a red top and blue pants with a green bag.']
    for i, n in enumerate(captions_per_image):
        rel = f'CUHK01/{i:07d}.png'
        image, _ = draw_person(seed=10 + i)
        mmcv.imwrite(image[..., ::-1], osp.join(root, 'imgs', rel))
        caps = [texts[(i + k) % len(texts)] for k in range(n)]
        records.append(dict(split='train', captions=caps, file_path=rel,
                            processed_tokens=[c.lower().split() for c in caps],
                            id=i // 2 + 1))
        flat += [(rel, c) for c in caps]
    records.append(dict(split='test', captions=['x'], file_path='t/0.png',
                        processed_tokens=[['x']], id=100))
    with open(osp.join(root, 'reid_raw.json'), 'w') as f:
        json.dump(records, f)
    return flat


def build_tiny_blip2(path, seed=0):
    """A random BLIP-2 (OPT) with a word-level tokenizer, saved to ``path``."""
    import torch
    from tokenizers import (Tokenizer, decoders, models, normalizers,
                            pre_tokenizers)
    from transformers import (Blip2Config, Blip2ForConditionalGeneration,
                              Blip2Processor, BlipImageProcessor,
                              PreTrainedTokenizerFast)
    from sapsam.parts import ATR_GROUP_PROMPTS
    words = sorted({w for p in ATR_GROUP_PROMPTS.values()
                    for w in p.lower().replace('?', ' ? ').replace(
                        ':', ' : ').split()} | set(
                        'a red blue black white green long short hair hat '
                        'bag shoes pants dress skirt top'.split()))
    vocab = {'<pad>': 0, '</s>': 1, '<unk>': 2}
    for w in words:
        vocab[w] = len(vocab)
    backend = Tokenizer(models.WordLevel(vocab, unk_token='<unk>'))
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    backend.normalizer = normalizers.Lowercase()
    backend.decoder = decoders.WordPiece(prefix='##')
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend, bos_token='</s>', eos_token='</s>',
        pad_token='<pad>', unk_token='<unk>')
    processor = Blip2Processor(
        BlipImageProcessor(size=dict(height=32, width=32)), tokenizer,
        num_query_tokens=4)
    config = Blip2Config(
        vision_config=dict(hidden_size=32, intermediate_size=64,
                           num_hidden_layers=1, num_attention_heads=2,
                           image_size=32, patch_size=8),
        qformer_config=dict(hidden_size=32, intermediate_size=64,
                            num_hidden_layers=1, num_attention_heads=2,
                            encoder_hidden_size=32, vocab_size=64),
        text_config=dict(model_type='opt', vocab_size=len(tokenizer),
                         hidden_size=32, ffn_dim=64, num_hidden_layers=1,
                         num_attention_heads=2, word_embed_proj_dim=32,
                         max_position_embeddings=128, pad_token_id=0,
                         bos_token_id=1, eos_token_id=1),
        num_query_tokens=4,
        image_token_index=tokenizer.convert_tokens_to_ids('<image>'))
    torch.manual_seed(seed)
    Blip2ForConditionalGeneration(config).save_pretrained(path)
    processor.save_pretrained(path)
    return path


def build_tiny_bert(path, seed=0):
    """A random 1-layer BERT + ``vocab.txt`` in ``save_pretrained`` layout."""
    import torch
    from transformers import BertConfig, BertModel, BertTokenizer
    os.makedirs(path, exist_ok=True)
    words = ('a an the of and with in red blue black white green grey top '
             'coat pants shoes bag hair short long person woman man').split()
    vocab = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]'] + words
    with open(osp.join(path, 'vocab.txt'), 'w') as f:
        f.write('\n'.join(vocab) + '\n')
    torch.manual_seed(seed)
    BertModel(BertConfig(vocab_size=len(vocab), hidden_size=16,
                         num_hidden_layers=1, num_attention_heads=2,
                         intermediate_size=32, max_position_embeddings=32)
              ).save_pretrained(path)
    BertTokenizer(osp.join(path, 'vocab.txt')).save_pretrained(path)
    return path


def tiny_person_sam_options(bert_dir):
    """``--cfg-options`` turning the synthetic part-mask config into a
    random tiny Person-SAM that needs no weight files."""
    return [f'model.text_encoder.pretrained={bert_dir}',
            'model.image_encoder.init_cfg=None',
            'model.mask_decoder.init_cfg=None']
