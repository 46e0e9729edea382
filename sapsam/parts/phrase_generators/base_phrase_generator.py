"""Base class of the stage-1 phrase generators."""
import zlib
from abc import ABCMeta, abstractmethod
from typing import Dict, List, Optional, Sequence

import numpy as np

from sapsam.utils.atr_vocabulary import ATR_CROP_GROUPS, ATR_PART_GROUPS
from ..regions import PartRegion, extract_part_region


class BasePhraseGenerator(metaclass=ABCMeta):
    """Describe every part group of an ATR image with a short phrase.

    Subclasses implement :meth:`describe` on whitened crops
    (:class:`~sapsam.parts.regions.PartRegion`). The crop margins are drawn
    from a generator seeded by ``(seed, image name)``, so an image always
    gets the same crops whatever the batch, shard or resume point.

    Args:
        crop_groups (dict, optional): group key -> ATR ids kept in the crop.
            Defaults to supplement Table 1 (:data:`ATR_CROP_GROUPS`).
        part_groups (dict, optional): group key -> ATR ids the phrase
            describes. Defaults to :data:`ATR_PART_GROUPS`.
        max_margin (int): random box margin per side in ``[0, max_margin)``.
            Defaults to 20 (the official value).
        fill (int): value outside the group. Defaults to 255 (white).
        seed (int): seed of the crop margins. Defaults to 0.
    """

    def __init__(self,
                 crop_groups: Optional[Dict[str, Sequence[int]]] = None,
                 part_groups: Optional[Dict[str, Sequence[int]]] = None,
                 max_margin: int = 20,
                 fill: int = 255,
                 seed: int = 0) -> None:
        self.crop_groups = dict(crop_groups or ATR_CROP_GROUPS)
        self.part_groups = dict(part_groups or ATR_PART_GROUPS)
        unknown = set(self.crop_groups) - set(self.part_groups)
        if unknown:
            raise ValueError(f'part_groups lacks the groups {sorted(unknown)}')
        self.max_margin = max_margin
        self.fill = fill
        self.seed = seed

    def regions(self, image: np.ndarray, label_map: np.ndarray,
                name: str) -> List[PartRegion]:
        """Whitened crops of the groups present in one image.

        Args:
            image (np.ndarray): ``(H, W, 3)`` uint8 RGB.
            label_map (np.ndarray): ``(H, W)`` ATR labels.
            name (str): image file name (seeds the crop margins).
        """
        rng = np.random.default_rng([self.seed, zlib.crc32(name.encode())])
        regions = []
        for key, ids in self.crop_groups.items():
            region = extract_part_region(image, label_map, key, ids,
                                         self.part_groups[key], rng,
                                         self.max_margin, self.fill)
            if region is not None:
                regions.append(region._replace(name=name))
        return regions

    def generate(self, images: Sequence[np.ndarray],
                 label_maps: Sequence[np.ndarray],
                 names: Sequence[str]) -> List[Dict[str, str]]:
        """Phrases of a batch of images.

        Returns:
            list[dict]: per image, ``{group key: phrase}`` for every group
            present (the raw stage-1 ``description`` dict, §1.4).
        """
        if not len(images) == len(label_maps) == len(names):
            raise ValueError('images, label_maps and names differ in length')
        regions, owners = [], []
        for i, (img, lab, name) in enumerate(zip(images, label_maps, names)):
            try:
                found = self.regions(img, lab, name)
            except ValueError as err:
                raise ValueError(f'{name}: {err}') from err
            regions.extend(found)
            owners.extend([i] * len(found))
        phrases = self.describe(regions) if regions else []
        if len(phrases) != len(regions):
            raise RuntimeError(f'{type(self).__name__}.describe returned '
                               f'{len(phrases)} phrases for {len(regions)} '
                               'regions')
        out = [dict() for _ in images]
        for owner, region, phrase in zip(owners, regions, phrases):
            out[owner][region.group_key] = phrase
        return out

    @abstractmethod
    def describe(self, regions: Sequence[PartRegion]) -> List[str]:
        """One phrase per region (may be empty when nothing was produced)."""
