"""Write tiny random SAM and BERT weights for CPU runs of Person-SAM.

``python tools/misc/make_tiny_weights.py --out data/synthetic/weights``
writes

- ``sam_tiny.pth``: a state dict of ``segment_anything``'s ``Sam`` with the
  ``'tiny'`` sizes of ``sapsam.models.segmentors.SAM_ARCHS`` (built by
  ``sapsam.models.segmentors.build_sam``), saved like the
  official ``sam_vit_b_01ec64.pth`` (keys ``image_encoder.*``,
  ``prompt_encoder.*``, ``mask_decoder.*``);
- ``bert_tiny/``: a random ``BertModel`` (``save_pretrained``) and a
  ``BertTokenizer`` whose ``vocab.txt`` holds the special tokens and a word
  list for person phrases (colours, garments, hair, accessories, ...).

Nothing is downloaded.
"""
import argparse
import os
import os.path as osp
import sys
from typing import Dict, List

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(
    __file__)))))

import torch  # noqa: E402

SPECIAL_TOKENS = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]']

#: Words of person descriptions, grouped only for readability.
WORDS = {
    'function': (
        'a an the of and or with without in on at to for from by his her '
        'she he is are wearing wears has have it its this that pair two one '
        'some very light dark bright pale deep little big small large long '
        'short tall thin thick wide loose tight high low mid full half'
    ).split(),
    'colour': (
        'black white grey gray red blue green yellow pink purple brown '
        'orange beige navy khaki tan cream maroon burgundy teal turquoise '
        'olive gold golden silver blond blonde ginger auburn colorful '
        'multicolored coloured colored dark-colored light-colored').split(),
    'pattern': (
        'striped stripes checked checkered plaid floral print printed '
        'patterned polka dot dots solid plain graphic logo lace knit knitted '
        'denim leather cotton wool woolen woolly silk suede canvas fur '
        'furry fluffy quilted padded ripped faded shiny').split(),
    'upper': (
        'shirt t-shirt tee tshirt blouse top tank sleeveless short-sleeved '
        'long-sleeved button-up sleeve sleeves collar collared jacket coat '
        'overcoat trench parka hoodie hooded sweater jumper pullover '
        'cardigan vest waistcoat blazer suit uniform zip-up windbreaker '
        'sweatshirt polo jersey tunic crop').split(),
    'lower': (
        'pants trousers jeans slacks shorts skirt miniskirt mini '
        'knee-length leggings tights stockings dress gown jumpsuit overalls '
        'capris sweatpants joggers chinos cargo').split(),
    'shoes': (
        'shoes shoe sneakers sneaker trainers boots boot ankle heels '
        'high-heeled sandals slippers loafers flats flat tennis running '
        'leather socks').split(),
    'accessories': (
        'bag backpack rucksack handbag purse shoulder crossbody messenger '
        'tote satchel briefcase suitcase umbrella hat cap baseball beanie '
        'sun helmet scarf belt glasses eyeglasses sunglasses spectacles '
        'mask gloves watch necklace earrings headband hood').split(),
    'hair': (
        'hair hairstyle ponytail bun braid braids curly straight wavy bald '
        'bangs fringe shoulder-length medium-length beard mustache').split(),
    'person': (
        'woman man lady girl boy guy person pedestrian female male young '
        'old adult child').split(),
}
SUFFIXES = ['##s', '##es', '##ed', '##ing', '##ish', '##y', '##ly', '##er']


def build_vocab() -> List[str]:
    """Special tokens, words (deduplicated, order kept), then wordpieces."""
    vocab, seen = list(SPECIAL_TOKENS), set(SPECIAL_TOKENS)
    for words in WORDS.values():
        for word in words:
            if word not in seen:
                seen.add(word)
                vocab.append(word)
    for token in list('abcdefghijklmnopqrstuvwxyz0123456789-,.\'/&'):
        if token not in seen:
            seen.add(token)
            vocab.append(token)
    vocab += [s for s in SUFFIXES if s not in seen]
    return vocab


def make_tiny_sam(path: str, seed: int = 0) -> Dict[str, int]:
    """Save a random tiny ``segment_anything.modeling.Sam`` state dict."""
    from sapsam.models.segmentors.sam_builder import build_sam
    torch.manual_seed(seed)
    sam = build_sam('tiny')
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    torch.save(sam.state_dict(), path)
    return dict(params=sum(p.numel() for p in sam.parameters()))


def make_tiny_bert(out_dir: str, seed: int = 0, hidden_size: int = 64,
                   num_layers: int = 2, num_heads: int = 2) -> Dict[str, int]:
    """Save a random tiny ``BertModel`` and its ``BertTokenizer``."""
    from transformers import BertConfig, BertModel, BertTokenizer
    from transformers.utils import logging as hf_logging
    hf_logging.disable_progress_bar()
    os.makedirs(out_dir, exist_ok=True)
    vocab = build_vocab()
    vocab_file = osp.join(out_dir, 'vocab.txt')
    with open(vocab_file, 'w', encoding='utf-8') as f:
        f.write('\n'.join(vocab) + '\n')
    tokenizer = BertTokenizer(vocab_file, do_lower_case=True)
    tokenizer.save_pretrained(out_dir)
    torch.manual_seed(seed)
    config = BertConfig(
        vocab_size=len(vocab), hidden_size=hidden_size,
        num_hidden_layers=num_layers, num_attention_heads=num_heads,
        intermediate_size=4 * hidden_size, max_position_embeddings=64,
        pad_token_id=0)
    BertModel(config).save_pretrained(out_dir)
    return dict(vocab=len(vocab))


def make_tiny_weights(out_dir: str, seed: int = 0) -> Dict[str, str]:
    """Write ``sam_tiny.pth`` and ``bert_tiny/`` under ``out_dir``."""
    sam_path = osp.join(out_dir, 'sam_tiny.pth')
    bert_dir = osp.join(out_dir, 'bert_tiny')
    make_tiny_sam(sam_path, seed)
    make_tiny_bert(bert_dir, seed)
    return dict(sam=sam_path, bert=bert_dir)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--out', required=True, help='output directory')
    parser.add_argument('--seed', type=int, default=0)
    args = parser.parse_args(argv)
    paths = make_tiny_weights(args.out, args.seed)
    print(f'wrote {paths["sam"]} and {paths["bert"]}/')


if __name__ == '__main__':
    main()
