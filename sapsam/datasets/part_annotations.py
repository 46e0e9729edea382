"""Attach SAP-SAM part annotations (phrases, masks, scores) to a train list.

The TBPR train datasets call :func:`attach_parts` when they are given part
files. See docs/fidelity.md M2 for the official behaviour and
what the default mode corrects.
"""
import logging
import os
import os.path as osp
from typing import List, Optional, Set, Tuple

from mmengine.logging import print_log

from sapsam.parts.formats import (PartFileError, find_part_files as _find,
                                  flatten_attributes, read_data_final,
                                  read_score_dict, seg_stem)

__all__ = ['attach_parts', 'find_part_files']


def find_part_files(dataset_dir: str, dataset_name: str) -> Tuple[str, str]:
    """:func:`sapsam.parts.formats.find_part_files` with ``required=True``:
    both files must exist (``FileNotFoundError`` naming the pattern)."""
    return _find(dataset_dir, dataset_name, required=True)


def _normalised(text: str) -> str:
    return ' '.join(text.lower().split())


def attach_parts(data_list: List[dict],
                 data_final_file: str,
                 score_dict_file: str,
                 seg_dir: str,
                 dataset_name: str,
                 faithful: bool = False,
                 skip_missing: bool = False,
                 held_out: Optional[Set[int]] = None) -> List[dict]:
    """Add ``part_phrases``, ``part_seg_paths`` and ``part_scores`` to every
    caption of a train list.

    Records are matched to captions by their ``idx`` == ``caption_idx``
    (never by position, docs/fidelity.md M2). Nested attribute lists are
    flattened; captions without a record, or with an empty one, are kept
    with empty lists (they train without parts).

    ``faithful=True`` reproduces the official loaders: captions without a
    record (or with ``[]``) are dropped, records whose first attribute is a
    list are skipped, list elements are replaced by their first item
    (ICFG-PEDES' rule), and CUHK-PEDES seg names use the record's position
    in the file (``data_id``) instead of ``idx``.

    Args:
        data_list (list[dict]): caption-level train list with ``caption_idx``
            and ``rel_path`` (path under ``imgs/``).
        data_final_file (str): ``<NAME>_data_final_<N>.json``.
        score_dict_file (str): ``<NAME>_score_dict_<N-1>.json``.
        seg_dir (str): directory of the ``<stem>.png`` masks.
        dataset_name (str): ``'CUHK-PEDES'``, ``'ICFG-PEDES'`` or
            ``'RSTPReid'``.
        faithful (bool): official behaviour, see above.
        skip_missing (bool): skip phrases whose mask file or score is
            missing (counted in the log) instead of raising.
        held_out (set[int], optional): ``caption_idx`` of captions of the
            official train list that the dataset left out on purpose
            (``val_from_train``); their records are skipped.

    Returns:
        list[dict]: new info dicts (the input is not modified).

    Raises:
        FileNotFoundError: a mask file is missing (names file and record).
        PartFileError: a record does not match its caption (names both), a
            score entry is missing, or a record points past the train list.
    """
    for path, what in ((data_final_file, 'data_final'),
                       (score_dict_file, 'score_dict')):
        if not path or not osp.isfile(path):
            raise FileNotFoundError(f'{dataset_name} {what} file not found: '
                                    f'{path}')
    if not osp.isdir(seg_dir):
        raise FileNotFoundError(f'{dataset_name} seg directory not found: '
                                f'{seg_dir}')
    records = read_data_final(data_final_file)
    scores = read_score_dict(score_dict_file)
    by_idx = {}
    for info in data_list:
        if info['caption_idx'] in by_idx:
            raise ValueError(f'{dataset_name}: two captions with caption_idx '
                             f'{info["caption_idx"]} in the train list')
        by_idx[info['caption_idx']] = info
    seg_files = set(os.listdir(seg_dir))

    parts = {}
    counts = dict(records=len(records), skipped_nested=0, empty=0,
                  missing_masks=0, phrases=0, blank=0)
    for position, rec in enumerate(records):
        idx, name = rec['idx'], rec['name']
        where = f'{data_final_file}: record {position} (idx {idx}, {name!r})'
        info = by_idx.get(idx)
        if info is None and held_out and idx in held_out:
            counts['held_out'] = counts.get('held_out', 0) + 1
            continue
        if info is None:
            raise PartFileError(f'{where}: no caption with caption_idx {idx} '
                                f'in the {dataset_name} train list '
                                f'({len(data_list)} captions); are the part '
                                'files from another dataset or version?')
        rel_path = info['rel_path'].replace('\\', '/').lstrip('/')
        if name.lstrip('/') != rel_path:
            raise PartFileError(f'{where}: name {name!r} does not match the '
                                f'caption\'s image {rel_path!r}')
        if _normalised(rec['sentence']) != _normalised(info['caption']):
            message = (f'{where}: sentence {rec["sentence"][:60]!r} is not '
                       f'caption {idx} {info["caption"][:60]!r}: the part '
                       'files are from another version of the annotations')
            if not faithful:
                raise PartFileError(message + ' (regenerate them with '
                                    'tools/data/split_captions.py)')
            counts['other_sentence'] = counts.get('other_sentence', 0) + 1
            if counts['other_sentence'] == 1:
                print_log(message, logger='current', level=logging.WARNING)
        attrs = rec['attribute']
        if faithful:
            if attrs and isinstance(attrs[0], list):
                counts['skipped_nested'] += 1
                continue
            # ICFG's rule (``atr = atr[0]``); the other official loaders
            # would pass the list on and fail later.
            attrs = [a[0] if isinstance(a, list) else a for a in attrs]
            key = position if dataset_name == 'CUHK-PEDES' else idx
        else:
            attrs = flatten_attributes(attrs)
            key = idx
        if not attrs:
            counts['empty'] += 1
            if faithful:
                continue
        phrases, paths, part_scores = [], [], []
        for i, phrase in enumerate(attrs):
            if not phrase.strip():  # stage 4 writes no mask for blanks
                counts['blank'] += 1
                continue
            stem = seg_stem(key, name, i)
            entry = scores.get(stem)
            error = None
            if stem + '.png' not in seg_files:
                error = FileNotFoundError(
                    f'mask {osp.join(seg_dir, stem + ".png")} not found')
            elif entry is None:
                error = PartFileError(f'no entry {stem!r} in '
                                      f'{score_dict_file}')
            if error is not None:
                if skip_missing:
                    counts['missing_masks'] += 1
                    continue
                raise type(error)(f'{where}, phrase {i} {phrase!r}: {error} '
                                  '(pass skip_missing=True to skip such '
                                  'phrases)')
            if not faithful and entry['text'] != phrase:
                raise PartFileError(
                    f'{where}, phrase {i}: {score_dict_file} has text '
                    f'{entry["text"]!r} for {stem!r} but the record says '
                    f'{phrase!r}; the files are from different runs')
            phrases.append(phrase)
            paths.append(osp.join(seg_dir, stem + '.png'))
            part_scores.append(float(entry['score']))
        parts[idx] = (phrases, paths, part_scores)
        counts['phrases'] += len(phrases)

    out = []
    no_record = 0
    for info in data_list:
        found = parts.get(info['caption_idx'])
        if found is None:
            no_record += 1
            if faithful:
                continue
            found = ([], [], [])
        out.append(dict(info, part_phrases=found[0], part_seg_paths=found[1],
                        part_scores=found[2]))
    with_parts = sum(1 for d in out if d['part_phrases'])
    msg = (f'{dataset_name}: attached {counts["phrases"]} part phrases from '
           f'{counts["records"]} records to {with_parts}/{len(data_list)} '
           f'captions; {no_record} captions without a record '
           f'({"dropped" if faithful else "kept without parts"}), '
           f'{counts["empty"]} empty records, {counts["blank"]} blank '
           'phrases ignored')
    if faithful:
        msg += f', {counts["skipped_nested"]} nested records skipped'
    if skip_missing:
        msg += f', {counts["missing_masks"]} phrases skipped (missing mask)'
    print_log(msg, logger='current')
    return out

