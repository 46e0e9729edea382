"""Masked-language-modelling transforms: plain and part-aware token masking.

Both follow IRRA/SAP-SAM (docs/fidelity.md T1-T4): a token is eligible
when ``0 < id < mask_id`` (not padding, not [SOT]/[EOT], not already
``<|mask|>``); each eligible token is selected with its probability; a
selected token becomes ``<|mask|>`` with probability 0.8, a random id in
``[1, mask_id - 1]`` with 0.1 and stays unchanged with 0.1; its label is the
original id (0 elsewhere). If nothing is selected, the first eligible token
is forced to ``<|mask|>``; with ``faithful=True`` position 1 is forced, as
the official code does, even when it is no longer eligible (pass 2 after
pass 1 masked it: its label becomes the mask id). Randomness
comes from NumPy's global generator, which MMEngine seeds.
"""
from typing import Optional, Tuple

import numpy as np
import torch
from mmcv.transforms import BaseTransform

from sapsam.registry import TASK_UTILS, TRANSFORMS


def _clip_mask_id() -> int:
    """``CLIPTokenizer.mask_id``: ``<|mask|>`` is defined by the tokenizer
    (looked up through the registry, so importing the transforms does not
    import the models)."""
    return TASK_UTILS.get('CLIPTokenizer').mask_id


def _sample_label(results: dict) -> str:
    return (f'sample {results.get("img_path", "?")!r} (caption_idx '
            f'{results.get("caption_idx", "?")})')


@TRANSFORMS.register_module()
class RandomMaskTokens(BaseTransform):
    """Mask caption tokens uniformly at random for MLM (IRRA pass 1).

    Required keys: ``text_ids`` (LongTensor ``(L,)``).
    Added keys: ``mlm_ids``, ``mlm_labels`` (LongTensor ``(L,)``, label 0 =
    not masked). Modified keys: ``text_ids`` only with
    ``alias_text_ids=True``.

    Args:
        mask_prob (float): Selection probability of an eligible token.
            Defaults to 0.15.
        mask_id (int, optional): Id of ``<|mask|>``. Defaults to
            ``CLIPTokenizer.mask_id`` (49405, as IRRA).
        alias_text_ids (bool): Also overwrite ``text_ids`` with the masked
            ids (the official aliasing, docs/fidelity.md T1). Defaults to
            False.
        faithful (bool): Force position 1 when nothing is selected
            (docs/fidelity.md T4). Defaults to False.

    Examples:
        >>> import torch
        >>> ids = torch.tensor([49406, 320, 786, 530, 49407, 0])
        >>> out = RandomMaskTokens()(dict(text_ids=ids))
        >>> int((out['mlm_labels'] > 0).sum()) >= 1
        True
    """

    def __init__(self, mask_prob: float = 0.15,
                 mask_id: Optional[int] = None,
                 alias_text_ids: bool = False,
                 faithful: bool = False) -> None:
        if not 0 <= mask_prob <= 1:
            raise ValueError(f'mask_prob must lie in [0, 1], got {mask_prob}')
        self.mask_prob = mask_prob
        self.mask_id = _clip_mask_id() if mask_id is None else mask_id
        self.alias_text_ids = alias_text_ids
        self.faithful = faithful

    def _text_ids(self, results: dict) -> np.ndarray:
        if 'text_ids' not in results:
            raise KeyError(f'{_sample_label(results)}: {type(self).__name__} '
                           f'needs text_ids; put TokenizeCaption before it')
        ids = np.array(results['text_ids'], dtype=np.int64)
        if ids.ndim != 1:
            raise ValueError(f'{_sample_label(results)}: text_ids must be '
                             f'(L,), got shape {ids.shape}')
        return ids

    def eligible(self, ids: np.ndarray) -> np.ndarray:
        """``(L,)`` bool: tokens that may be masked."""
        return (ids > 0) & (ids < self.mask_id)

    def mask(self, ids: np.ndarray,
             select_prob: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        """Select with ``select_prob`` and apply 80/10/10 replacement.

        Args:
            ids (ndarray): ``(L,)`` int64 ids.
            select_prob (ndarray): ``(L,)`` selection probability per token
                (ineligible tokens are never selected).

        Returns:
            tuple: masked ids and labels, both ``(L,)`` int64.
        """
        eligible = self.eligible(ids)
        selected = eligible & (np.random.rand(len(ids)) < select_prob)
        action = np.random.rand(len(ids))
        if not selected.any() and (eligible.any() or self.faithful):
            first = 1 if self.faithful else int(np.flatnonzero(eligible)[0])
            selected[first] = True
            action[first] = 0.  # forced token becomes <|mask|>
        labels = np.where(selected, ids, 0)
        masked = ids.copy()
        masked[selected & (action < 0.8)] = self.mask_id
        randomised = selected & (action >= 0.8) & (action < 0.9)
        masked[randomised] = np.random.randint(1, self.mask_id,
                                               size=int(randomised.sum()))
        return masked, labels

    def _write(self, results: dict, mlm_ids: np.ndarray, labels: np.ndarray,
               alias: bool) -> dict:
        results['mlm_ids'] = torch.from_numpy(mlm_ids)
        results['mlm_labels'] = torch.from_numpy(labels)
        if alias:
            results['text_ids'] = torch.from_numpy(mlm_ids.copy())
        return results

    def transform(self, results: dict) -> dict:
        ids = self._text_ids(results)
        prob = np.full(len(ids), self.mask_prob)
        mlm_ids, labels = self.mask(ids, prob)
        return self._write(results, mlm_ids, labels, self.alias_text_ids)

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(mask_prob={self.mask_prob}, '
                f'alias_text_ids={self.alias_text_ids}, '
                f'faithful={self.faithful})')


@TRANSFORMS.register_module()
class PartAwareMaskTokens(RandomMaskTokens):
    """Part-aware MLM masking: phrase tokens are masked more often.

    Corrected (default): one masking pass on the clean caption; tokens inside
    a found phrase span (``start <= i <= end``) are selected with
    ``part_mask_prob`` (0.35), all others with ``mask_prob`` (0.15);
    ``text_ids`` stays clean.

    ``faithful=True`` is pass 2 of the official two-pass masking
    (docs/fidelity.md T1-T4). Pass 1 is ``RandomMaskTokens(mask_prob=0.15,
    alias_text_ids=True, faithful=True)`` placed before ``FindPhraseSpans``,
    so the spans are searched on the pass-1 caption as in the official code.
    This pass masks that caption again, with ``part_mask_prob`` only at the
    first and last token of each span (T2) and ``mask_prob`` elsewhere
    (tokens that pass 1 turned into ``<|mask|>`` are not eligible; tokens it
    randomised can be labelled with their random id); when nothing is
    selected position 1 is forced (T4); ``text_ids`` becomes the pass-2
    result, i.e. the caption used for SDM and alignment is the doubly masked
    one (T1).

    Required keys: ``text_ids`` (LongTensor ``(L,)``), ``part_spans``
    (``(P, 2)`` inclusive spans, ``-1`` = not found).
    Added keys: ``mlm_ids``, ``mlm_labels``. Modified keys: ``text_ids``
    (faithful only).

    Args:
        part_mask_prob (float): Selection probability in phrases.
            Defaults to 0.35.
        mask_prob (float): Selection probability elsewhere. Defaults to 0.15.
        mask_id (int, optional): Id of ``<|mask|>``. Defaults to
            ``CLIPTokenizer.mask_id``.
        faithful (bool): Official pass 2 (T1, T2, T4); needs pass 1 before.
            Defaults to False.
    """

    def __init__(self, part_mask_prob: float = 0.35, mask_prob: float = 0.15,
                 mask_id: Optional[int] = None,
                 faithful: bool = False) -> None:
        super().__init__(mask_prob=mask_prob, mask_id=mask_id,
                         alias_text_ids=faithful, faithful=faithful)
        if not 0 <= part_mask_prob <= 1:
            raise ValueError(f'part_mask_prob must lie in [0, 1], got '
                             f'{part_mask_prob}')
        self.part_mask_prob = part_mask_prob

    def _spans(self, results: dict, length: int) -> np.ndarray:
        if 'part_spans' not in results:
            raise KeyError(f'{_sample_label(results)}: PartAwareMaskTokens '
                           f'needs part_spans; put FindPhraseSpans before it')
        spans = np.array(results['part_spans'], dtype=np.int64).reshape(-1, 2)
        found = spans[:, 0] >= 0
        bad = found & ((spans[:, 1] < spans[:, 0]) | (spans[:, 1] >= length))
        if bad.any():
            raise ValueError(f'{_sample_label(results)}: part span '
                             f'{spans[bad][0].tolist()} is not inside the '
                             f'{length}-token caption')
        return spans[found]

    def in_part(self, spans: np.ndarray, length: int) -> np.ndarray:
        """``(L,)`` bool: positions that get ``part_mask_prob``.

        Corrected: every token of a span. Faithful (T2): the span's first
        and last token only.
        """
        positions = np.arange(length)
        starts, ends = spans[:, :1], spans[:, 1:]
        if self.faithful:
            hits = (positions == starts) | (positions == ends)
        else:
            hits = (positions >= starts) & (positions <= ends)
        return hits.any(0)

    def transform(self, results: dict) -> dict:
        ids = self._text_ids(results)
        spans = self._spans(results, len(ids))
        if self.faithful and 'mlm_ids' not in results:
            raise KeyError(
                f'{_sample_label(results)}: PartAwareMaskTokens(faithful=True)'
                f' is pass 2 of the official masking; put RandomMaskTokens('
                f'alias_text_ids=True, faithful=True) before FindPhraseSpans')
        prob = np.where(self.in_part(spans, len(ids)), self.part_mask_prob,
                        self.mask_prob)
        mlm_ids, labels = self.mask(ids, prob)
        return self._write(results, mlm_ids, labels, self.faithful)

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(part_mask_prob={self.part_mask_prob}, '
                f'mask_prob={self.mask_prob}, faithful={self.faithful})')
