"""Captions and attribute phrases of the procedural pedestrians.

Captions read like CUHK-PEDES ones ("A woman wearing a red coat, black pants
and white shoes. She carries a blue backpack and has long brown hair."),
with synonyms, varying attribute order and omitted attributes. Every
caption keeps the phrases it mentions, in order of appearance, with the
ATR group key of each (the oracle output of the s03 caption splitter).
Each phrase occurs verbatim in its caption.
"""
import re
from typing import List, Sequence, Tuple

import numpy as np

# Parts that can be described, with the group key of their Person-SAM mask.
PART_GROUPS = {'hat': '1', 'hair': '2', 'glasses': '3', 'upper': '4',
               'shoes': '9', 'bag': '16'}
LOWER_GROUPS = {'skirt': '5', 'pants': '6', 'jeans': '6', 'shorts': '6',
                'dress': '7'}
GROUP_PARTS = {'1': 'hat', '2': 'hair', '3': 'glasses', '4': 'upper',
               '5': 'lower', '6': 'lower', '7': 'lower', '9': 'shoes',
               '16': 'bag'}

_TYPE_WORDS = {
    'upper': {'t-shirt': ('t-shirt', 'tee', 'short-sleeved shirt'),
              'shirt': ('shirt', 'long-sleeved shirt', 'button-up shirt'),
              'jacket': ('jacket', 'zip-up jacket'),
              'coat': ('coat', 'long coat', 'overcoat'),
              'sweater': ('sweater', 'jumper', 'pullover'),
              'tank top': ('tank top', 'sleeveless top')},
    'hat': {'cap': ('cap', 'baseball cap'), 'beanie': ('beanie', 'knit hat'),
            'hat': ('hat', 'sun hat')},
    'shoes': {'sneakers': ('sneakers', 'trainers', 'tennis shoes'),
              'shoes': ('shoes', 'flat shoes'),
              'boots': ('boots', 'ankle boots')},
    'bag': {'backpack': ('backpack', 'rucksack'),
            'handbag': ('handbag', 'purse'),
            'shoulder bag': ('shoulder bag', 'messenger bag',
                             'crossbody bag')},
    'lower': {'pants': ('pants', 'trousers', 'slacks'),
              'jeans': ('jeans', 'denim jeans'),
              'shorts': ('shorts', ), 'skirt': ('skirt', 'knee-length skirt'),
              'dress': ('dress', 'knee-length dress')},
}
_GLASSES_WORDS = {'glasses': ('glasses', 'a pair of glasses', 'eyeglasses'),
                  'sunglasses': ('sunglasses', 'a pair of sunglasses',
                                 'dark sunglasses')}
_SUBJECTS = {'female': ('a woman', 'the woman', 'a young woman',
                        'this woman', 'a lady', 'the lady', 'a girl',
                        'the female pedestrian'),
             'male': ('a man', 'the man', 'a young man', 'this man', 'a guy',
                      'the male pedestrian', 'a boy')}
_PRONOUNS = {'female': ('she', 'her'), 'male': ('he', 'his')}
_PLURAL_TYPES = ('pants', 'jeans', 'shorts', 'sneakers', 'shoes', 'boots',
                 'glasses', 'sunglasses')


def _pick(rng: np.random.Generator, options: Sequence):
    return options[int(rng.integers(len(options)))]


def _article(word: str) -> str:
    return 'an' if word[0] in 'aeiou' else 'a'


def _colour_word(rng, colour: str) -> str:
    if colour == 'grey':
        return _pick(rng, ('grey', 'gray'))
    if colour == 'blonde':
        return _pick(rng, ('blonde', 'blond'))
    return colour


def part_group(attrs: dict, part: str) -> str:
    """Group key ('1'...'16') of the mask of ``part`` of an identity."""
    if part == 'lower':
        return LOWER_GROUPS[attrs['lower']['type']]
    return PART_GROUPS[part]


def describe_part(attrs: dict, part: str, rng: np.random.Generator,
                  style: str = 'caption') -> str:
    """A short noun phrase for one part of an identity.

    Args:
        attrs: Identity attributes.
        part: 'hat', 'hair', 'glasses', 'upper', 'lower', 'shoes' or 'bag'.
        rng: Random generator (wording choices).
        style: 'caption' (CUHK-PEDES wording) or 'atr' (BLIP-2 answer
            wording, e.g. "a pair of jeans", "long hair").

    Returns:
        str: Lower-case phrase, e.g. "a red and white striped t-shirt".
    """
    atr = style == 'atr'
    if part == 'hair':
        hair = attrs['hair']
        colour = _colour_word(rng, hair['colour'])
        forms = ((f'{hair["length"]} hair', f'{hair["length"]} {colour} hair',
                  f'a {hair["length"]} hair') if atr else
                 (f'{hair["length"]} {colour} hair', f'{colour} hair',
                  f'{hair["length"]} hair', f'{hair["length"]} {colour} hair'))
        return _pick(rng, forms)
    if part == 'glasses':
        return _pick(rng, _GLASSES_WORDS[attrs['glasses']])
    item = attrs[part]
    noun = _pick(rng, _TYPE_WORDS[part][item['type']])
    colour = _colour_word(rng, item['colour'])
    if part == 'upper' and item.get('pattern'):
        if item['pattern'] == 'striped':
            contrast = 'black' if item['colour'] in ('white', 'yellow') \
                else 'white'
            colour = _pick(rng, (f'{colour} striped',
                                 f'{colour} and {contrast} striped'))
        else:
            colour = _pick(rng, (f'{colour} checked', f'{colour} plaid'))
    omit_colour = rng.random() < (0.25 if atr else 0.08)
    words = noun if omit_colour else f'{colour} {noun}'
    plural = item['type'] in _PLURAL_TYPES
    if plural:
        pair = rng.random() < (0.6 if atr else 0.3)
        return f'a pair of {words}' if pair else words
    return f'{_article(words)} {words}'


def _join(rng, phrases: List[str]) -> str:
    if len(phrases) == 1:
        return phrases[0]
    comma = ',' if len(phrases) > 2 and rng.random() < 0.3 else ''
    return ', '.join(phrases[:-1]) + f'{comma} and {phrases[-1]}'


def compose_caption(attrs: dict, visible_parts: Sequence[str],
                    rng: np.random.Generator
                    ) -> Tuple[str, List[str], List[str]]:
    """Write one caption about the visible parts of an identity.

    Args:
        attrs: Identity attributes.
        visible_parts: Parts whose mask is visible in the image (a caption
            mentions only these, so every phrase has a non-empty mask).
        rng: Random generator.

    Returns:
        tuple: ``(caption, phrases, groups)``; ``phrases`` in order of
        appearance, ``groups`` their group keys.
    """
    keep = {'upper': 0.95, 'lower': 0.95, 'shoes': 0.8, 'hair': 0.75,
            'bag': 0.9, 'hat': 0.9, 'glasses': 0.8}
    parts = [p for p in visible_parts if rng.random() < keep[p]]
    if len(parts) < min(2, len(visible_parts)):
        parts = list(visible_parts)[:max(2, len(parts))]
    phrase = {p: describe_part(attrs, p, rng) for p in parts}
    worn = [p for p in ('upper', 'lower', 'hat', 'shoes', 'glasses')
            if p in parts]
    if len(worn) > 2 and rng.random() < 0.4:
        rest = worn[1:]
        rng.shuffle(rest)
        worn = worn[:1] + rest
    gender = attrs['gender']
    subject = _pick(rng, _SUBJECTS[gender])
    pron, poss = _PRONOUNS[gender]
    sentences: List[Tuple[str, List[str]]] = []  # (text, parts in order)

    hair_first = 'hair' in parts and rng.random() < 0.3
    opening_parts = worn[:int(rng.integers(2, 4))] if worn else []
    later_worn = worn[len(opening_parts):]
    head = subject + (f' with {phrase["hair"]}' if hair_first else '')
    head_parts = ['hair'] if hair_first else []
    if opening_parts:
        verb = _pick(rng, ('is wearing', 'wearing', 'dressed in', 'in',
                           'walks by in', 'wears'))
        sentences.append((f'{head} {verb} ' +
                          _join(rng, [phrase[p] for p in opening_parts]),
                          head_parts + opening_parts))
    else:
        sentences.append((f'{head} is walking', head_parts))
    if later_worn:
        if later_worn == ['shoes'] and rng.random() < 0.5:
            text = f'{pron} has {phrase["shoes"]} on {poss} feet'
        else:
            verb = _pick(rng, ('is also wearing', 'also wears', 'has on'))
            text = f'{pron} {verb} ' + _join(
                rng, [phrase[p] for p in later_worn])
        sentences.append((text, later_worn))
    carried = []
    if 'bag' in parts:
        bag_type = attrs['bag']['type']
        where = {'backpack': f' on {poss} back', 'handbag': f' in {poss} hand',
                 'shoulder bag': f' over {poss} shoulder'}[bag_type]
        verb = _pick(rng, ('carries', 'is carrying', 'has'))
        carried.append((f'{verb} {phrase["bag"]}' +
                        (where if rng.random() < 0.5 or verb == 'has'
                         else ''), ['bag']))
    if 'hair' in parts and not hair_first:
        carried.append((f'has {phrase["hair"]}', ['hair']))
    if carried:
        if len(carried) == 2 and rng.random() < 0.5:
            carried = carried[::-1]
        text = f'{pron} ' + ' and '.join(c[0] for c in carried)
        sentences.append((text, [p for c in carried for p in c[1]]))
    caption = ' '.join(text[0].upper() + text[1:] + '.'
                       for text, _ in sentences)
    order = [p for _, ps in sentences for p in ps]
    return (caption, [phrase[p] for p in order],
            [part_group(attrs, p) for p in order])


def processed_tokens(caption: str) -> List[str]:
    """Lower-case word tokens of a caption (CUHK-PEDES ``processed_tokens``).

    Args:
        caption: Caption text.

    Returns:
        list[str]: Words without punctuation, hyphenated words kept whole.
    """
    return re.findall(r"[a-z0-9]+(?:[-'][a-z0-9]+)*", caption.lower())
