"""Locate each part phrase in the tokenised caption."""
from typing import Optional, Sequence, Tuple

import numpy as np
import torch
from mmcv.transforms import BaseTransform
from mmengine.logging import print_log

from sapsam.registry import TASK_UTILS, TRANSFORMS


def find_phrase_span(text_ids: Sequence[int],
                     phrase_ids: Sequence[int],
                     max_mismatch: int = 2,
                     exact_first: bool = True,
                     search_range: Tuple[int, int] = None,
                     clamp_window: bool = False) -> Tuple[int, int]:
    """Inclusive token span of a phrase in a caption, ``(-1, -1)`` if absent.

    First an exact occurrence is searched (with ``exact_first``); otherwise
    the first position where the phrase's first token matches and at most
    ``max_mismatch`` of its other tokens differ (docs/fidelity.md T3).

    Args:
        text_ids (Sequence[int]): ``(L,)`` caption ids.
        phrase_ids (Sequence[int]): phrase ids without start/end tokens.
        max_mismatch (int): tolerated mismatching tokens. Defaults to 2.
        exact_first (bool): look for an exact match first. Defaults to True.
        search_range (tuple, optional): ``(start, end)`` positions (end
            exclusive) the span must lie in; defaults to the whole sequence.
        clamp_window (bool): the official comparison: token ``j`` of a
            candidate at ``i`` is read at ``min(i + j, end - 1)``, so a window
            running past the end keeps comparing the last token, and the
            span's end is clamped to ``end - 1`` (docs/fidelity.md T3).
            Defaults to False (a window must fit).

    Returns:
        tuple: ``(start, end)`` inclusive positions in ``text_ids``.
    """
    ids = np.asarray(text_ids, dtype=np.int64)
    phrase = np.asarray(phrase_ids, dtype=np.int64)
    lo, hi = search_range if search_range is not None else (0, len(ids))
    window, n = ids[lo:hi], len(phrase)
    if n == 0 or not len(window) or (n > len(window) and not clamp_window):
        return -1, -1
    if clamp_window:
        index = np.minimum(np.arange(len(window))[:, None] + np.arange(n),
                           len(window) - 1)
        windows = window[index]
    else:
        windows = np.lib.stride_tricks.sliding_window_view(window, n)
    last = hi - 1
    mismatches = (windows != phrase).sum(axis=1)
    if exact_first:
        hits = np.nonzero(mismatches == 0)[0]
        if hits.size:
            return lo + int(hits[0]), min(lo + int(hits[0]) + n - 1, last)
    hits = np.nonzero((windows[:, 0] == phrase[0])
                      & (mismatches <= max_mismatch))[0]
    if hits.size:
        return lo + int(hits[0]), min(lo + int(hits[0]) + n - 1, last)
    return -1, -1


@TRANSFORMS.register_module()
class FindPhraseSpans(BaseTransform):
    """``part_spans``/``part_num`` from ``part_phrases`` and ``text_ids``.

    Each phrase is BPE-encoded (no start/end token) and searched in the
    caption's tokens between the start and end tokens with
    :func:`find_phrase_span`. Phrases that are not found get the span
    ``(-1, -1)`` and their label is set to 0 in ``patch_labels`` (when
    present), so neither their region nor their tokens are used downstream.
    Rows ``part_num..max_parts-1`` are ``-1``. Misses are counted: the first
    few are logged with their caption, then a running total every
    ``log_interval`` samples (per data-loader worker).

    ``faithful=True`` reproduces the official search (docs/fidelity.md T3):
    no exact pass, the whole 77-token sequence is scanned with the window
    clamped at the last token (``min(i + j, L - 1)``, so a phrase starting
    just before the [EOT] of a truncated caption is found), and the phrase
    list is padded to ``max_parts`` with copies of phrase 0 whose spans are
    filled in too (``part_num`` keeps the true count). In the faithful
    pipeline it runs on the pass-1-masked caption (``RandomMaskTokens(
    alias_text_ids=True)`` before it), as the official code does.

    Required keys: ``text_ids`` (LongTensor ``(L,)``), ``part_phrases``
    (list[str], may be absent or empty), optionally ``patch_labels``.

    Added keys: ``part_spans`` (LongTensor ``(max_parts, 2)``), ``part_num``
    (int). Modified keys: ``patch_labels``.

    Args:
        max_parts (int): Defaults to 6.
        max_mismatch (int): Defaults to 2.
        tokenizer (dict, optional): config of the caption tokenizer: the
            one the pipeline's ``TokenizeCaption`` uses (the configs pass
            the same ``tokenizer`` to both). Defaults to ``CLIPTokenizer``
            with its own defaults.
        faithful (bool): official search behaviour. Defaults to False.
        log_interval (int): samples between miss summaries. Defaults to 1000.
        max_logged_misses (int): misses logged one by one. Defaults to 5.
    """

    def __init__(self,
                 max_parts: int = 6,
                 max_mismatch: int = 2,
                 tokenizer: Optional[dict] = None,
                 faithful: bool = False,
                 log_interval: int = 1000,
                 max_logged_misses: int = 5) -> None:
        if max_parts < 1:
            raise ValueError(f'max_parts must be >= 1, got {max_parts}')
        self.max_parts = max_parts
        self.max_mismatch = max_mismatch
        self.tokenizer = TASK_UTILS.build(
            dict(type='CLIPTokenizer') if tokenizer is None else tokenizer)
        self.faithful = faithful
        self.log_interval = log_interval
        self.max_logged_misses = max_logged_misses
        self.num_samples = self.num_phrases = self.num_missed = 0
        self._cache = {}

    def _encode(self, phrase: str):
        ids = self._cache.get(phrase)
        if ids is None:
            ids = self.tokenizer.encode(phrase)
            if len(self._cache) < 100000:
                self._cache[phrase] = ids
        return ids

    def _content_range(self, ids: np.ndarray) -> Tuple[int, int]:
        if self.faithful:
            return 0, len(ids)
        eot = np.nonzero(ids == self.tokenizer.eot_id)[0]
        end = int(eot[0]) if eot.size else int(np.count_nonzero(ids))
        start = 1 if len(ids) and ids[0] == self.tokenizer.sot_id else 0
        return start, end

    def transform(self, results: dict) -> dict:
        if 'text_ids' not in results:
            raise KeyError('FindPhraseSpans needs "text_ids": put '
                           'TokenizeCaption before it')
        ids = torch.as_tensor(results['text_ids']).numpy()
        phrases = list(results.get('part_phrases') or [])[:self.max_parts]
        part_num = len(phrases)
        if self.faithful and phrases:
            phrases += [phrases[0]] * (self.max_parts - part_num)
        search = self._content_range(ids)
        spans = torch.full((self.max_parts, 2), -1, dtype=torch.long)
        missed = []
        for k, phrase in enumerate(phrases):
            span = find_phrase_span(ids, self._encode(phrase),
                                    self.max_mismatch,
                                    exact_first=not self.faithful,
                                    search_range=search,
                                    clamp_window=self.faithful)
            spans[k] = torch.tensor(span)
            if span[0] < 0 and k < part_num:
                missed.append(k)
        labels = results.get('patch_labels')
        if labels is not None and (missed or part_num < self.max_parts):
            labels = labels.clone()
            for k in missed:
                labels[labels == k + 1] = 0
            labels[labels > part_num] = 0
            results['patch_labels'] = labels
        results['part_spans'] = spans
        results['part_num'] = part_num
        self._count(results, phrases, missed, part_num)
        return results

    def _count(self, results, phrases, missed, part_num) -> None:
        self.num_samples += 1
        self.num_phrases += part_num
        for k in missed:
            self.num_missed += 1
            if self.num_missed <= self.max_logged_misses:
                print_log(
                    f'FindPhraseSpans: phrase {phrases[k]!r} not found in '
                    f'caption {results.get("caption", "")!r} (caption_idx '
                    f'{results.get("caption_idx", "?")}); its part is '
                    'ignored', logger='current')
        if self.log_interval and self.num_samples % self.log_interval == 0:
            print_log(
                f'FindPhraseSpans: {self.num_missed} of {self.num_phrases} '
                f'phrases not found in {self.num_samples} samples',
                logger='current')

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(max_parts={self.max_parts}, '
                f'max_mismatch={self.max_mismatch}, '
                f'faithful={self.faithful})')
