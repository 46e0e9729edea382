"""Phrases from a region's colour and class words, without a model."""
import re
import zlib
from typing import Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

from sapsam.registry import TASK_UTILS
from ..regions import PartRegion
from .base_phrase_generator import BasePhraseGenerator

TemplateSpec = Union[str, Sequence[str]]

DEFAULT_COLOURS: Dict[str, Tuple[int, int, int]] = {
    'black': (28, 28, 30),
    'white': (235, 235, 232),
    'grey': (128, 128, 130),
    'red': (200, 32, 36),
    'green': (42, 138, 60),
    'blue': (38, 72, 190),
    'yellow': (230, 200, 44),
    'orange': (234, 120, 32),
    'pink': (234, 134, 172),
    'purple': (120, 52, 150),
    'brown': (112, 72, 42),
}

DEFAULT_HAIR_COLOURS: Dict[str, Tuple[int, int, int]] = {
    'black': (22, 20, 20),
    'brown': (96, 60, 32),
    'blonde': (214, 182, 104),
    'grey': (158, 158, 160),
    'red': (160, 58, 30),
}

# Alternatives per group: each region gets one, drawn from (seed, image
# name, group), so the class words vary like those of real captions.
DEFAULT_TEMPLATES: Dict[str, Tuple[str, ...]] = {
    '1': ('a {colour} hat', 'a {colour} cap', 'a {colour} beanie'),
    '2': ('{length}{colour} hair', ),
    '3': ('a pair of {colour} sunglasses', '{colour} glasses'),
    '4': ('a {colour} top', 'a {colour} shirt', 'a {colour} t-shirt',
          'a {colour} jacket', 'a {colour} coat', 'a {colour} sweater'),
    '5': ('a {colour} skirt', ),
    '6': ('{colour} pants', '{colour} trousers', '{colour} jeans',
          '{colour} shorts'),
    '7': ('a {colour} dress', ),
    '9': ('{colour} shoes', '{colour} sneakers', '{colour} boots'),
    '16': ('a {colour} bag', 'a {colour} backpack', 'a {colour} handbag'),
}


@TASK_UTILS.register_module()
class TemplatePhraseGenerator(BasePhraseGenerator):
    """Describe a part by its dominant colour and a class word.

    The colour is the named colour nearest to the per-channel median of the
    part's pixels (e.g. the hair without the face), allowing each anchor a
    brightness factor in ``brightness_range`` (so shadows and lighting do not
    turn pink into grey). Hair uses its own palette, and ``{length}``
    becomes ``'long '`` or ``'short '`` from the hair's height relative to
    the person. Meant for the synthetic benchmark and for users without a
    vision-language model.

    Args:
        colours (dict, optional): colour name -> RGB anchor.
        hair_colours (dict, optional): palette of group ``'2'`` (hair).
        brightness_range (tuple): allowed brightness factors of an anchor.
            Defaults to (0.5, 1.3).
        long_hair_ratio (float): hair taller than this fraction of the
            person is "long". Defaults to 0.18.
        templates (dict, optional): group key -> format string, or a
            sequence of alternatives (one is drawn per region from the seed,
            the image name and the group), with the fields ``{colour}`` and
            ``{length}``. The defaults vary the class word over common
            synonyms ("top", "shirt", "jacket", ...), so a text encoder
            trained on the phrases meets the words captions use.
        **kwargs: :class:`BasePhraseGenerator` arguments.

    Examples:
        >>> gen = TemplatePhraseGenerator()
        >>> gen.generate([image], [label_map], ['0001.jpg'])
        [{'2': 'long black hair', '4': 'a red jacket', '9': 'white shoes'}]
    """

    def __init__(self,
                 colours: Optional[Dict[str, Sequence[int]]] = None,
                 hair_colours: Optional[Dict[str, Sequence[int]]] = None,
                 brightness_range: Tuple[float, float] = (0.5, 1.3),
                 long_hair_ratio: float = 0.18,
                 templates: Optional[Dict[str, TemplateSpec]] = None,
                 **kwargs) -> None:
        super().__init__(**kwargs)
        self.palettes = {}
        for key, palette in (('default', colours or DEFAULT_COLOURS),
                             ('2', hair_colours or DEFAULT_HAIR_COLOURS)):
            if not palette:
                raise ValueError('colour palettes must not be empty')
            self.palettes[key] = (list(palette), np.asarray(
                list(palette.values()), dtype=np.float32))
        self.brightness_range = brightness_range
        self.long_hair_ratio = long_hair_ratio
        templates = dict(templates or DEFAULT_TEMPLATES)
        missing = set(self.crop_groups) - set(templates)
        if missing:
            raise ValueError(f'templates lacks the groups {sorted(missing)}')
        self.templates = {
            key: (value, ) if isinstance(value, str) else tuple(value)
            for key, value in templates.items()
        }
        for key, value in self.templates.items():
            if not value:
                raise ValueError(f'templates[{key!r}] is empty')

    def colour_name(self, pixels: np.ndarray, group_key: str = '') -> str:
        """Name of the palette colour nearest to the median of ``pixels``
        ``(N, 3)``, each anchor scaled by its best brightness factor."""
        names, anchors = self.palettes.get(group_key,
                                           self.palettes['default'])
        median = np.median(pixels.reshape(-1, 3).astype(np.float32), axis=0)
        scale = (anchors @ median) / np.maximum((anchors**2).sum(1), 1e-6)
        scale = np.clip(scale, *self.brightness_range)[:, None]
        dist = ((anchors * scale - median)**2).sum(axis=1)
        return names[int(dist.argmin())]

    def hair_length(self, region: PartRegion) -> str:
        """``'long '`` when the hair spans more than ``long_hair_ratio`` of
        the person's height, else ``'short '``."""
        rows = np.nonzero(region.part_mask.any(axis=1))[0]
        if rows.size == 0:
            return ''
        ratio = (rows.max() - rows.min() + 1) / max(region.person_height, 1)
        return 'long ' if ratio > self.long_hair_ratio else 'short '

    def describe(self, regions: Sequence[PartRegion]) -> List[str]:
        phrases = []
        for region in regions:
            mask = region.part_mask if region.part_mask.any() \
                else region.group_mask
            colour = self.colour_name(region.crop[mask], region.group_key)
            choices = self.templates[region.group_key]
            template = choices[0] if len(choices) == 1 else choices[int(
                np.random.default_rng([
                    self.seed,
                    zlib.crc32(f'{region.name}/{region.group_key}'.encode())
                ]).integers(len(choices)))]
            length = self.hair_length(region) if '{length}' in template \
                else ''
            phrase = template.format(colour=colour, length=length).strip()
            phrases.append(re.sub(r'\ba (?=[aeiou])', 'an ', phrase))
        return phrases
