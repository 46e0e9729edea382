"""Identity attributes of the procedural pedestrians.

An identity is a JSON-serialisable dict::

    {'gender': 'female', 'skin': 2,
     'hair': {'length': 'long', 'colour': 'brown'},
     'hat': None | {'type': 'cap', 'colour': 'red'},
     'glasses': None | 'glasses' | 'sunglasses',
     'upper': None | {'type': 't-shirt', 'colour': 'red', 'pattern': None},
     'lower': {'type': 'pants', 'colour': 'black'},
     'shoes': {'type': 'sneakers', 'colour': 'white'},
     'bag': None | {'type': 'backpack', 'colour': 'blue'}}

``upper`` is ``None`` only for a sleeveless dress. Near-duplicate identities
are made by :func:`mutate_identity`, which changes exactly one visible
attribute, as counted by :func:`attribute_difference`.
"""
import copy
import json
from typing import Dict, List, Optional, Tuple

import numpy as np

# The ATR classes and, by group key, the ATR ids of each Person-SAM
# ground-truth mask (sapsam.datasets.synthetic exports both names).
from sapsam.utils.atr_vocabulary import ATR_CLASSES  # noqa: F401
from sapsam.utils.atr_vocabulary import ATR_PART_GROUPS as GROUP_LABELS

# Colour names -> RGB of garments, bags, hats and shoes.
COLOURS: Dict[str, Tuple[int, int, int]] = {
    'black': (28, 28, 32), 'white': (232, 232, 228),
    'grey': (128, 128, 132), 'red': (196, 32, 38), 'blue': (38, 72, 186),
    'green': (42, 136, 62), 'yellow': (228, 198, 44),
    'pink': (232, 132, 172), 'purple': (118, 52, 148),
    'brown': (112, 72, 42), 'orange': (232, 118, 32)}
HAIR_COLOURS: Dict[str, Tuple[int, int, int]] = {
    'black': (22, 20, 20), 'brown': (96, 60, 32), 'blonde': (214, 182, 104),
    'grey': (158, 158, 160), 'red': (160, 58, 30)}
SKIN_TONES: Tuple[Tuple[int, int, int], ...] = (
    (236, 200, 172), (212, 168, 132), (176, 124, 88), (120, 80, 56))

UPPER_TYPES = ('t-shirt', 'shirt', 'jacket', 'coat', 'sweater', 'tank top')
SHORT_SLEEVES = ('t-shirt', )
NO_SLEEVES = ('tank top', )
PATTERNS = (None, 'striped', 'checked')
LOWER_TYPES = ('pants', 'jeans', 'shorts', 'skirt', 'dress')
MALE_LOWER_TYPES = ('pants', 'jeans', 'shorts')
SHOE_TYPES = ('sneakers', 'shoes', 'boots')
BAG_TYPES = ('backpack', 'handbag', 'shoulder bag')
HAT_TYPES = ('cap', 'beanie', 'hat')
GLASSES_TYPES = ('glasses', 'sunglasses')
HAIR_LENGTHS = ('short', 'long')

# Attributes a near-duplicate may differ in (each one visible in pixels).
MUTABLE_ATTRIBUTES = (
    'upper.colour', 'upper.pattern', 'upper.type', 'lower.colour',
    'lower.type', 'shoes.colour', 'shoes.type', 'hair.colour',
    'hair.length', 'hat', 'hat.colour', 'bag', 'bag.colour', 'bag.type',
    'glasses')


def _choice(rng: np.random.Generator, options, p=None):
    """Pick one element of ``options`` (any sequence, may hold None)."""
    return options[int(rng.choice(len(options), p=p))]


def _other(rng: np.random.Generator, options, current):
    """Pick an element of ``options`` different from ``current``."""
    return _choice(rng, [o for o in options if o != current])


def _sample_upper(rng, lower_type: str) -> Optional[dict]:
    if lower_type == 'dress':
        if rng.random() < 0.6:
            return None
        types = ('jacket', )
    else:
        types = UPPER_TYPES
    return {'type': _choice(rng, types), 'colour': _choice(rng, list(COLOURS)),
            'pattern': _choice(rng, PATTERNS, p=(0.7, 0.2, 0.1))}


def sample_identity(rng: np.random.Generator) -> dict:
    """Draw a fresh identity.

    Args:
        rng: Random generator.

    Returns:
        dict: The identity's attributes (see module docstring).
    """
    gender = _choice(rng, ('female', 'male'))
    if gender == 'female':
        lower_type = _choice(rng, LOWER_TYPES, p=(0.25, 0.2, 0.1, 0.25, 0.2))
        hair_length = _choice(rng, HAIR_LENGTHS, p=(0.3, 0.7))
    else:
        lower_type = _choice(rng, MALE_LOWER_TYPES, p=(0.45, 0.4, 0.15))
        hair_length = _choice(rng, HAIR_LENGTHS, p=(0.9, 0.1))
    lower_colour = ('blue' if lower_type == 'jeans' and rng.random() < 0.6 else
                    _choice(rng, list(COLOURS)))
    return {
        'gender': gender,
        'skin': int(rng.integers(len(SKIN_TONES))),
        'hair': {'length': hair_length,
                 'colour': _choice(rng, list(HAIR_COLOURS))},
        'hat': ({'type': _choice(rng, HAT_TYPES),
                 'colour': _choice(rng, list(COLOURS))}
                if rng.random() < 0.25 else None),
        'glasses': (_choice(rng, GLASSES_TYPES) if rng.random() < 0.2
                    else None),
        'upper': _sample_upper(rng, lower_type),
        'lower': {'type': lower_type, 'colour': lower_colour},
        'shoes': {'type': _choice(rng, SHOE_TYPES),
                  'colour': _choice(rng, list(COLOURS))},
        'bag': ({'type': _choice(rng, BAG_TYPES),
                 'colour': _choice(rng, list(COLOURS))}
                if rng.random() < 0.55 else None),
    }


def _applicable(attrs: dict, key: str) -> bool:
    """Whether attribute ``key`` can be mutated on ``attrs``."""
    part = key.split('.')[0]
    if '.' in key and attrs[part] is None:
        return False
    if key == 'lower.type':
        return attrs['lower']['type'] != 'dress'
    if key in ('upper.type', 'upper.pattern'):
        return attrs['lower']['type'] != 'dress'
    return True


def mutate_identity(rng: np.random.Generator, attrs: dict) -> Tuple[dict, str]:
    """Copy ``attrs`` and change exactly one visible attribute.

    Args:
        rng: Random generator.
        attrs: Identity to copy.

    Returns:
        tuple: ``(new_attrs, changed_key)``, ``changed_key`` from
        :data:`MUTABLE_ATTRIBUTES`.
    """
    new = copy.deepcopy(attrs)
    key = _choice(rng,
                  [k for k in MUTABLE_ATTRIBUTES if _applicable(attrs, k)])
    part, _, field = key.partition('.')
    if key == 'hat':
        new['hat'] = (None if attrs['hat'] else
                      {'type': _choice(rng, HAT_TYPES),
                       'colour': _choice(rng, list(COLOURS))})
    elif key == 'bag':
        new['bag'] = (None if attrs['bag'] else
                      {'type': _choice(rng, BAG_TYPES),
                       'colour': _choice(rng, list(COLOURS))})
    elif key == 'glasses':
        new['glasses'] = _other(rng, (None, ) + GLASSES_TYPES,
                                attrs['glasses'])
    else:
        options = {
            'upper.colour': list(COLOURS), 'lower.colour': list(COLOURS),
            'shoes.colour': list(COLOURS), 'hat.colour': list(COLOURS),
            'bag.colour': list(COLOURS), 'hair.colour': list(HAIR_COLOURS),
            'upper.pattern': PATTERNS, 'upper.type': UPPER_TYPES,
            'lower.type': (('pants', 'shorts', 'skirt') if attrs['gender']
                           == 'female' else ('pants', 'shorts')),
            'shoes.type': SHOE_TYPES, 'bag.type': BAG_TYPES,
            'hair.length': HAIR_LENGTHS}[key]
        current = attrs[part][field]
        if key == 'lower.type' and current == 'jeans':
            current = 'pants'  # jeans and pants look alike: never swap them
        new[part][field] = _other(rng, options, current)
    return new, key


def attribute_difference(a: dict, b: dict) -> List[str]:
    """Names of the attributes in which two identities differ.

    A part present in one identity and absent (``None``) in the other counts
    as one difference named after the part (e.g. ``'bag'``); two present
    parts contribute one ``'part.field'`` name per differing field.

    Args:
        a: First identity.
        b: Second identity.

    Returns:
        list[str]: Sorted names of differing attributes (empty if equal).
    """
    diff = []
    for key in sorted(set(a) | set(b)):
        va, vb = a.get(key), b.get(key)
        if isinstance(va, dict) and isinstance(vb, dict):
            diff += [f'{key}.{f}' for f in sorted(set(va) | set(vb))
                     if va.get(f) != vb.get(f)]
        elif va != vb:
            diff.append(key)
    return diff


def identity_signature(attrs: dict) -> str:
    """Canonical string of an identity (equal iff the attributes are)."""
    return json.dumps(attrs, sort_keys=True)
