"""The ATR vocabulary: label names and the body-part groups of SAP-SAM.

Defined here once (as ``mmseg.utils.class_names`` holds mmseg's class
names) and imported by the datasets, the offline part stages and the
evaluation. Importing this module imports nothing else.

- :data:`ATR_CLASSES`: the 18 ATR labels by id, named as in the official
  ``atr_label.txt``.
- :data:`ATR_GROUPS`: the groups a phrase describes, keyed by their first ATR
  id (a string, as in the official JSON files), one row each: the name (the
  ATR label name; ``shoes`` for the left and right shoe), the ATR ids of the
  Person-SAM ground-truth mask (the official training code's merges,
  docs/fidelity.md G3: hair without face, glasses without face, shoes
  without legs), the ATR ids kept in the crop given to the VLM in stage 1
  (supplement Table 1) and the BLIP-2 prompt of stage 1 (supplement Table 3;
  the generated continuation is the phrase).

The per-column dicts below are views of :data:`ATR_GROUPS` by another name.
"""
from typing import Dict, NamedTuple, Tuple

ATR_CLASSES: Tuple[str, ...] = (
    'background', 'hat', 'hair', 'sunglass', 'upper-clothes', 'skirt',
    'pants', 'dress', 'belt', 'left-shoe', 'right-shoe', 'face', 'left-leg',
    'right-leg', 'left-arm', 'right-arm', 'bag', 'scarf')


class ATRGroup(NamedTuple):
    """One body-part group (see the module docstring)."""
    name: str
    mask_ids: Tuple[int, ...]
    crop_ids: Tuple[int, ...]
    prompt: str


_IT_IS = 'Answer: It is'
ATR_GROUPS: Dict[str, ATRGroup] = {
    '1': ATRGroup('hat', (1, ), (1, ),
                  f'Question: What kind of hat is this? {_IT_IS}'),
    '2': ATRGroup('hair', (2, ), (2, 11),
                  'Question: What kind of hair is she? Answer: She has'),
    '3': ATRGroup('sunglass', (3, ), (3, 11),
                  f'Question: What kind of glasses is this? {_IT_IS}'),
    '4': ATRGroup('upper-clothes', (4, ), (4, ),
                  f'Question: What kind of clothes is this? {_IT_IS}'),
    '5': ATRGroup('skirt', (5, ), (5, ),
                  f'Question: What kind of skirt is this? {_IT_IS}'),
    '6': ATRGroup('pants', (6, ), (6, ),
                  f'Question: What kind of pants is this? {_IT_IS}'),
    '7': ATRGroup('dress', (7, ), (7, ),
                  f'Question: What kind of dress is this? {_IT_IS}'),
    '9': ATRGroup('shoes', (9, 10), (9, 10, 12, 13),
                  'Question: What shoes is she wearing? '
                  'Answer: She is wearing'),
    '16': ATRGroup('bag', (16, ), (16, ),
                   f'Question: What kind of bag is this? {_IT_IS}'),
}

#: Group key -> name.
ATR_GROUP_NAMES: Dict[str, str] = {
    k: g.name for k, g in ATR_GROUPS.items()}
#: Group key -> ATR ids of the Person-SAM ground-truth mask.
ATR_PART_GROUPS: Dict[str, Tuple[int, ...]] = {
    k: g.mask_ids for k, g in ATR_GROUPS.items()}
#: Group key -> ATR ids kept in the stage-1 crop (supplement Table 1).
ATR_CROP_GROUPS: Dict[str, Tuple[int, ...]] = {
    k: g.crop_ids for k, g in ATR_GROUPS.items()}
#: Group key -> BLIP-2 prompt (supplement Table 3).
ATR_GROUP_PROMPTS: Dict[str, str] = {
    k: g.prompt for k, g in ATR_GROUPS.items()}

__all__ = ['ATR_CLASSES', 'ATRGroup', 'ATR_GROUPS', 'ATR_GROUP_NAMES',
           'ATR_PART_GROUPS', 'ATR_CROP_GROUPS', 'ATR_GROUP_PROMPTS']
