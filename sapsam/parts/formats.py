"""Readers and writers of the official SAP-SAM part files.

The file formats follow the official release (docs/fidelity.md F1):

- ``atr_item_descriptions_<split>.json``: a list of ``{"name": "<ATR jpg>",
  "idx": "<group key>", "text": "<phrase>"}`` records, one per (image, group).
- ``<DATASET>_data_final_<N>.json``: a list of ``{"name": "/<image path
  relative to imgs/>", "attribute": [phrases], "idx": <caption index in the
  train list>, "sentence": <caption>}`` records; ``N`` = number of train
  captions.
- ``<DATASET>_score_dict_<N-1>.json``: ``{seg stem: {"score": float, "text":
  phrase}}``.
- ``segs/<stem>.png``: a 0/1 uint8 mask per (caption, phrase), where
  ``stem = "_".join([str(idx)] + name_without_ext.split("/") + [str(i)])``.

Every reader validates records and raises a :class:`PartFileError` that names
the file, the record and what is wrong. Writers produce byte-identical output
to the official files (``json.dump`` defaults) and write atomically, so an
interrupted run never leaves a truncated file behind.
"""
import json
import math
import os
import os.path as osp
from typing import Any, Dict, List, Optional, Sequence, Tuple

# The ATR vocabulary (re-exported: sapsam.parts names it).
from sapsam.utils.atr_vocabulary import (ATR_CLASSES,  # noqa: F401
                                        ATR_CROP_GROUPS, ATR_GROUP_NAMES,
                                        ATR_GROUP_PROMPTS, ATR_PART_GROUPS)
from sapsam.utils.checkpoint_compat import atomic_write_bytes
from sapsam.utils.fileio import load_json

TBPR_DATASET_NAMES = ('CUHK-PEDES', 'ICFG-PEDES', 'RSTPReid')


class PartFileError(ValueError):
    """A part file or one of its records is malformed."""


def atomic_write_json(path: str, obj: Any) -> None:
    """Write ``obj`` as JSON (``json.dump`` defaults) through a temp file
    and ``os.replace`` (normal file mode, no temp file left on error)."""
    atomic_write_bytes(path, json.dumps(obj).encode('utf-8'))


def atomic_write_text(path: str, text: str) -> None:
    """Write UTF-8 ``text`` atomically (see :func:`atomic_write_json`)."""
    atomic_write_bytes(path, text.encode('utf-8'))


def read_atr_labels(path: str) -> List[str]:
    """Class names of an ``atr_label.txt`` (one ``name id`` line per class).

    Raises:
        PartFileError: if a line is malformed or ids are not 0..K-1 in order.
    """
    names = []
    with open(path, encoding='utf-8') as f:
        for line_no, line in enumerate(f, 1):
            fields = line.split()
            if not fields:
                continue
            if len(fields) != 2 or not fields[1].isdigit():
                raise PartFileError(f'{path}:{line_no}: expected "name id", '
                                    f'got {line.rstrip()!r}')
            if int(fields[1]) != len(names):
                raise PartFileError(f'{path}:{line_no}: id {fields[1]} out of '
                                    f'order, expected {len(names)}')
            names.append(fields[0])
    return names


# --------------------------------------------------------------------------
# Stage 1: ATR phrases.


def _check_atr_record(rec: Any, path: str, i: int) -> None:
    where = f'{path}: record {i}'
    if not isinstance(rec, dict):
        raise PartFileError(f'{where}: expected a dict, got {rec!r}')
    missing = {'name', 'idx', 'text'} - set(rec)
    if missing:
        raise PartFileError(f'{where}: missing keys {sorted(missing)} in '
                            f'{rec}')
    if not isinstance(rec['name'], str) or not rec['name']:
        raise PartFileError(f'{where}: "name" must be a non-empty string, '
                            f'got {rec["name"]!r}')
    if '/' in rec['name'] or '\\' in rec['name'] or rec['name'] in ('.',
                                                                   '..'):
        raise PartFileError(f'{where}: "name" must be a file name in '
                            f'JPEGImages/, got the path {rec["name"]!r}')
    if not isinstance(rec['idx'], str) or rec['idx'] not in ATR_CROP_GROUPS:
        raise PartFileError(
            f'{where} ({rec["name"]}): "idx" must be a group key string '
            f'among {list(ATR_CROP_GROUPS)}, got {rec["idx"]!r}')
    if not isinstance(rec['text'], str) or not rec['text'].strip():
        raise PartFileError(f'{where} ({rec["name"]}): "text" must be a '
                            f'non-empty string, got {rec["text"]!r}')


def read_atr_descriptions(path: str) -> List[dict]:
    """Read an ``atr_item_descriptions_*.json`` file (validated)."""
    records = load_json(path, 'ATR phrase', PartFileError, list)
    for i, rec in enumerate(records):
        _check_atr_record(rec, path, i)
    return records


def write_atr_descriptions(path: str, records: Sequence[dict]) -> None:
    """Write ATR phrase records ``{name, idx, text}`` (validated first)."""
    records = [dict(name=r['name'], idx=r['idx'], text=r['text'])
               for r in records]
    for i, rec in enumerate(records):
        _check_atr_record(rec, path, i)
    atomic_write_json(path, records)


# --------------------------------------------------------------------------
# Stage 3: caption phrases.


def data_final_filename(dataset_name: str, num_captions: int) -> str:
    """``<DATASET>_data_final_<N>.json`` (N = number of train captions)."""
    return f'{dataset_name}_data_final_{num_captions}.json'


def score_dict_filename(dataset_name: str, num_captions: int) -> str:
    """``<DATASET>_score_dict_<N-1>.json`` (the last caption index)."""
    return f'{dataset_name}_score_dict_{num_captions - 1}.json'


def official_name(rel_path: str) -> str:
    """``name`` field of a data_final record: the path under ``imgs/`` with
    the official leading slash (``"CUHK01/0363004.png"`` ->
    ``"/CUHK01/0363004.png"``)."""
    return '/' + rel_path.replace(os.sep, '/').lstrip('/')


def flatten_attributes(attribute: Any) -> List[str]:
    """Phrases of a record's ``attribute`` field, nested lists flattened.

    The official files contain ``[["a", "b"]]`` and list elements
    (``["a", ["b"]]``); both give ``["a", "b"]``. Blank strings are kept so
    phrase indices (and hence seg file names) stay aligned with the file.
    """
    if isinstance(attribute, str):
        return [attribute]
    phrases = []
    for item in attribute:
        phrases.extend(flatten_attributes(item))
    return phrases


def _check_data_final_record(rec: Any, path: str, i: int) -> None:
    where = f'{path}: record {i}'
    if not isinstance(rec, dict):
        raise PartFileError(f'{where}: expected a dict, got {rec!r}')
    missing = {'name', 'attribute', 'idx', 'sentence'} - set(rec)
    if missing:
        raise PartFileError(f'{where}: missing keys {sorted(missing)}')
    if not isinstance(rec['idx'], int) or isinstance(rec['idx'], bool) \
            or rec['idx'] < 0:
        raise PartFileError(f'{where}: "idx" must be a caption index >= 0, '
                            f'got {rec["idx"]!r}')
    where = f'{where} (idx {rec["idx"]})'
    if not isinstance(rec['name'], str) or not rec['name']:
        raise PartFileError(f'{where}: "name" must be a non-empty string, '
                            f'got {rec["name"]!r}')
    if not isinstance(rec['sentence'], str):
        raise PartFileError(f'{where}: "sentence" must be a string')

    def valid(attr):
        return isinstance(attr, str) or (isinstance(attr, list)
                                         and all(valid(a) for a in attr))

    if not isinstance(rec['attribute'], list) or not valid(rec['attribute']):
        raise PartFileError(f'{where}: "attribute" must be a (possibly '
                            f'nested) list of strings, got '
                            f'{rec["attribute"]!r}')


def read_data_final(path: str) -> List[dict]:
    """Read a ``<DATASET>_data_final_<N>.json`` file (validated).

    Raises:
        PartFileError: malformed records or two records with the same idx.
    """
    records = load_json(path, 'caption phrase', PartFileError, list)
    seen = {}
    for i, rec in enumerate(records):
        _check_data_final_record(rec, path, i)
        if rec['idx'] in seen:
            raise PartFileError(f'{path}: records {seen[rec["idx"]]} and {i} '
                                f'both have idx {rec["idx"]}')
        seen[rec['idx']] = i
    return records


def write_data_final(path: str, records: Sequence[dict]) -> None:
    """Write data_final records ``{name, attribute, idx, sentence}``."""
    records = [
        dict(name=r['name'], attribute=r['attribute'], idx=r['idx'],
             sentence=r['sentence']) for r in records
    ]
    for i, rec in enumerate(records):
        _check_data_final_record(rec, path, i)
    atomic_write_json(path, records)


# --------------------------------------------------------------------------
# Stage 4: seg masks and scores.


def seg_stem(caption_idx: int, name: str, phrase_idx: int) -> str:
    """Official seg file stem of phrase ``phrase_idx`` of a caption.

    Examples:
        >>> seg_stem(0, '/CUHK01/0363004.png', 0)
        '0__CUHK01_0363004_0'
    """
    stem = osp.splitext(name)[0]
    return '_'.join([str(caption_idx)] + stem.split('/') + [str(phrase_idx)])


def _check_score_entry(key: Any, value: Any, path: str) -> None:
    if not isinstance(value, dict) or 'score' not in value \
            or 'text' not in value:
        raise PartFileError(f'{path}: entry {key!r} must be a dict with '
                            f'"score" and "text", got {value!r}')
    if not isinstance(value['score'], (int, float)) \
            or isinstance(value['score'], bool) \
            or not math.isfinite(value['score']):
        raise PartFileError(f'{path}: entry {key!r}: "score" must be a '
                            f'finite number, got {value["score"]!r}')
    if not isinstance(value['text'], str):
        raise PartFileError(f'{path}: entry {key!r}: "text" must be a string')


def read_score_dict(path: str) -> Dict[str, dict]:
    """Read a ``<DATASET>_score_dict_<N-1>.json`` file (validated)."""
    scores = load_json(path, 'score', PartFileError, dict)
    for key, value in scores.items():
        _check_score_entry(key, value, path)
    return scores


def write_score_dict(path: str, scores: Dict[str, dict]) -> None:
    """Write ``{stem: {"score": float, "text": str}}``."""
    scores = {k: dict(score=float(v['score']), text=v['text'])
              for k, v in scores.items()}
    for key, value in scores.items():
        _check_score_entry(key, value, path)
    atomic_write_json(path, scores)


def pair_by_stem(image_dir: str,
                 mask_dir: str,
                 image_exts: Sequence[str] = ('.jpg', '.jpeg', '.png'),
                 mask_ext: str = '.png') -> Tuple[List[Tuple[str, str, str]],
                                                  List[str]]:
    """Pair images with their label maps by file stem, sorted by name.

    The official stage-1 script paired two unsorted directory listings
    (docs/fidelity.md G2), which mis-pairs on most file systems.

    Returns:
        tuple: ``[(image file name, image path, mask path), ...]`` and the
        image file names that have no mask.
    """
    for d in (image_dir, mask_dir):
        if not osp.isdir(d):
            raise FileNotFoundError(f'directory not found: {d}')
    masks = {osp.splitext(f)[0]: f for f in os.listdir(mask_dir)
             if f.lower().endswith(mask_ext)}
    pairs, unpaired = [], []
    for fname in sorted(os.listdir(image_dir)):
        stem, ext = osp.splitext(fname)
        if ext.lower() not in image_exts:
            continue
        if stem in masks:
            pairs.append((fname, osp.join(image_dir, fname),
                          osp.join(mask_dir, masks[stem])))
        else:
            unpaired.append(fname)
    return pairs, unpaired


PART_FILE_KINDS = ('data_final', 'score_dict')


def part_file_candidates(dataset_dir: str,
                         dataset_name: str) -> Dict[str, List[str]]:
    """File names in ``dataset_dir`` of the form ``<DATASET>_<kind>_<N>.json``
    for each kind (``'data_final'``, ``'score_dict'``), sorted; an empty
    list where there is none (also when ``dataset_dir`` does not exist).

    The one definition of which files are part files: the loader
    (:func:`find_part_files`) and ``tools/misc/check_dataset.py`` both use
    it.
    """
    entries = os.listdir(dataset_dir) if osp.isdir(dataset_dir) else []
    found = {}
    for kind in PART_FILE_KINDS:
        prefix = f'{dataset_name}_{kind}_'
        found[kind] = sorted(
            f for f in entries if f.startswith(prefix)
            and f.endswith('.json') and f[len(prefix):-5].isdigit())
    return found


def find_part_files(dataset_dir: str,
                    dataset_name: str,
                    required: bool = False
                    ) -> Tuple[Optional[str], Optional[str]]:
    """Paths of ``<DATASET>_data_final_*.json`` and ``_score_dict_*.json``
    inside ``dataset_dir`` (``None`` where absent).

    Args:
        dataset_dir (str): The dataset folder.
        dataset_name (str): ``'CUHK-PEDES'``, ``'ICFG-PEDES'``, ...
        required (bool): Raise instead of returning ``None``.

    Raises:
        PartFileError: if several candidates exist for either file.
        FileNotFoundError: (``required``) naming the directory and the
            missing pattern.
    """
    candidates = part_file_candidates(dataset_dir, dataset_name)
    for kind, hits in candidates.items():
        if len(hits) > 1:
            raise PartFileError(f'{dataset_dir}: several {kind} files {hits}; '
                                f'pass the one to use explicitly')
    for kind, hits in candidates.items():
        if not hits and required:
            raise FileNotFoundError(
                f'no {dataset_name}_{kind}_<N>.json in {dataset_dir}; run '
                'tools/data/split_captions.py and '
                'tools/data/generate_part_masks.py, or give the file names '
                'in part_files')
    data_final, score_dict = (
        osp.join(dataset_dir, candidates[kind][0]) if candidates[kind]
        else None for kind in PART_FILE_KINDS)
    return data_final, score_dict
