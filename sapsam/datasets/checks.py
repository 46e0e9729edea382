"""Check a dataset folder before training and say exactly what to fix.

``check_tbpr_dataset`` validates CUHK-PEDES / ICFG-PEDES / RSTPReid folders
(annotation file name and keys, image paths, missing images, identity
numbering, split sizes against the published ones, SAP-SAM part files and
seg mask names); ``check_atr_dataset`` validates the ATR layout of
Person-SAM. Each returns a :class:`CheckReport`: errors (the loaders would
fail or silently train on the wrong data), warnings (suspicious but
loadable, e.g. split sizes of a subset) and notes. The known traps are those
of docs/fidelity.md F2 (``ICFG_PEDES.json``,
``caption_all.json``, ``img_path`` vs ``file_path``, missing image folders,
seg names with one underscore, ...).
"""
import json
import os
import os.path as osp
import re
from collections import Counter, defaultdict
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

import numpy as np
from mmengine.utils import track_parallel_progress
from PIL import Image

from sapsam.parts.formats import (ATR_CLASSES, PartFileError, official_name,
                                  read_atr_descriptions, read_atr_labels,
                                  read_data_final, read_score_dict, seg_stem,
                                  flatten_attributes)
from .atr_phrase_seg import ATRPhraseSegDataset
from .base_tbpr_dataset import duplicate_images, validate_tbpr_records
from .cuhk_pedes import CUHKPEDES
from .icfg_pedes import ICFGPEDES
from .rstp_reid import RSTPReid

__all__ = ['CheckReport', 'PUBLISHED_SIZES', 'check_tbpr_dataset',
           'check_atr_dataset', 'check_dataset', 'datasets_in_config']

TBPR_TYPES = {cls.__name__: cls for cls in (CUHKPEDES, ICFGPEDES, RSTPReid)}

#: Published split sizes (docs/fidelity.md F2): images, captions, identities.
PUBLISHED_SIZES: Dict[str, Dict[str, Tuple[int, int, int]]] = {
    'CUHK-PEDES': dict(train=(34054, 68126, 11003), val=(3078, 6158, 1000),
                       test=(3074, 6156, 1000)),
    'ICFG-PEDES': dict(train=(34674, 34674, 3102), test=(19848, 19848, 1000)),
    'RSTPReid': dict(train=(18505, 37010, 3701), val=(1000, 2000, 200),
                     test=(1000, 2000, 200)),
}
#: Records of the official ATR phrase files that were released.
ATR_PUBLISHED_RECORDS = dict(dev=2500, test=2500)
SYNTHETIC_MARKER = '.sapsam_synthetic'
# Listed examples per problem.
MAX_EXAMPLES = 3
#: Decode at most this many files of each kind (None: every file);
#: ``tools/misc/check_dataset.py --sample N`` sets it. A sample is reported
#: as a note saying what was left out.
DECODE_LIMIT: Optional[int] = None
#: Files decoded in parallel (with a progress bar) from this many on.
PARALLEL_FROM = 64


class CheckReport:
    """Findings about one dataset folder.

    Every finding has a level (``'error'``, ``'warning'`` or ``'note'``), a
    message saying what is wrong (naming the file and records) and, where
    known, the fix.
    """

    def __init__(self, dataset: str, data_root: str) -> None:
        self.dataset = dataset
        self.data_root = data_root
        self.findings: List[Tuple[str, str, Optional[str]]] = []
        self.counts: Dict[str, Dict[str, int]] = {}

    def add(self, level: str, message: str,
            fix: Optional[str] = None) -> None:
        if level not in ('error', 'warning', 'note'):
            raise ValueError(f'unknown level {level!r}')
        self.findings.append((level, message, fix))

    def error(self, message: str, fix: Optional[str] = None) -> None:
        self.add('error', message, fix)

    def warning(self, message: str, fix: Optional[str] = None) -> None:
        self.add('warning', message, fix)

    def note(self, message: str, fix: Optional[str] = None) -> None:
        self.add('note', message, fix)

    def _of(self, level: str) -> List[str]:
        return [m for lvl, m, _ in self.findings if lvl == level]

    @property
    def errors(self) -> List[str]:
        return self._of('error')

    @property
    def warnings(self) -> List[str]:
        return self._of('warning')

    @property
    def ok(self) -> bool:
        """True when there is no error."""
        return not self.errors

    def format(self) -> str:
        """The report as text."""
        status = 'OK' if self.ok else 'FAILED'
        lines = [f'== {self.dataset} at {self.data_root}: {status} '
                 f'({len(self.errors)} errors, {len(self.warnings)} '
                 f'warnings)']
        for split, counts in self.counts.items():
            lines.append(f'   {split}: ' + ', '.join(
                f'{v} {k}' for k, v in counts.items()))
        for level, message, fix in self.findings:
            lines.append(f'   {level.upper()}: {message}')
            if fix:
                lines.append(f'      fix: {fix}')
        return '\n'.join(lines)

    def __str__(self) -> str:
        return self.format()


def _canon(name: str) -> str:
    return re.sub(r'[^a-z0-9]', '', name.lower())


def _examples(items: Sequence, limit: int = MAX_EXAMPLES) -> str:
    shown = ', '.join(str(i) for i in list(items)[:limit])
    more = len(items) - limit
    return shown + (f' (+{more} more)' if more > 0 else '')


def _load_json(path: str, report: CheckReport):
    try:
        with open(path, encoding='utf-8') as f:
            return json.load(f)
    except json.JSONDecodeError as err:
        report.error(f'{path}: not valid JSON (line {err.lineno} column '
                     f'{err.colno}: {err.msg})',
                     'restore the file from the original download')
    except UnicodeDecodeError as err:
        report.error(f'{path}: not UTF-8 text ({err})')
    return None


def _readable(path: str) -> Optional[str]:
    """None if ``path`` decodes as an image, else why not."""
    try:
        with Image.open(path) as img:
            img.load()
        return None
    except Exception as err:  # noqa: BLE001 (PIL raises many types)
        return str(err) or type(err).__name__


def _selected(items: list, report: CheckReport, what: str) -> list:
    """``items`` to decode: all, or an evenly spaced ``DECODE_LIMIT``."""
    if DECODE_LIMIT is None or len(items) <= DECODE_LIMIT:
        return list(items)
    step = len(items) / DECODE_LIMIT
    chosen = [items[int(k * step)] for k in range(DECODE_LIMIT)]
    report.note(f'decoded {len(chosen)} of {len(items)} {what} (every '
                f'{step:.1f}-th, --sample {DECODE_LIMIT}); the others were '
                'not decoded')
    return chosen


def _map_files(func, items: list, what: str) -> list:
    """``[func(item) ...]``, in worker processes with a progress bar when
    there are many."""
    if len(items) < PARALLEL_FROM:
        return [func(item) for item in items]
    print(f'decoding {len(items)} {what}', flush=True)
    results = track_parallel_progress(func, items,
                                      nproc=min(8, os.cpu_count() or 1),
                                      chunksize=16)
    print(flush=True)
    return results


def _decode_all(paths: List[str], report: CheckReport, what: str) -> None:
    if not paths:
        return
    chosen = _selected(paths, report, what)
    bad = [(p, why) for p, why in zip(chosen, _map_files(_readable, chosen,
                                                         what))
           if why is not None]
    if bad:
        report.error(f'{len(bad)} of {len(chosen)} {what} cannot be decoded: '
                     + _examples([f'{p} ({why})' for p, why in bad]),
                     'the files are truncated or not images (a Git LFS '
                     'pointer or an HTML error page?); download them again')


def _mask_problem(paths: Tuple[str, Optional[str]]) -> Optional[str]:
    """What is wrong with a part mask (decoding, values, size), or None."""
    mask_path, img_path = paths
    why = _readable(mask_path)
    if why is not None:
        return f'{osp.basename(mask_path)} ({why})'
    mask = np.asarray(Image.open(mask_path))
    if mask.ndim != 2:
        return (f'{osp.basename(mask_path)} has shape {mask.shape} (not 1 '
                'channel)')
    values = set(np.unique(mask).tolist())
    if not values <= {0, 1} and not values <= {0, 255}:
        return f'{osp.basename(mask_path)} values {sorted(values)[:6]}'
    if img_path and osp.isfile(img_path) and _readable(img_path) is None:
        with Image.open(img_path) as img:
            size = img.size[::-1]
        if mask.shape[:2] != size:
            return (f'size: {osp.basename(mask_path)} {mask.shape[:2]} vs '
                    f'image {size}')
    return None


def _label_problem(path: str) -> Optional[str]:
    """What is wrong with an ATR label map, or None."""
    why = _readable(path)
    if why is not None:
        return f'{osp.basename(path)} ({why})'
    label = np.asarray(Image.open(path))
    if label.ndim != 2 or label.max() >= len(ATR_CLASSES):
        return f'{osp.basename(path)} (shape {label.shape}, max {label.max()})'
    return None


# ------------------------------------------------------------------ TBPR
def _describe_json(path: str) -> str:
    """What a JSON file looks like (for 'which file is this?' hints)."""
    try:
        with open(path, encoding='utf-8') as f:
            data = json.load(f)
    except (OSError, ValueError):
        return 'unreadable JSON'
    if isinstance(data, list) and data and isinstance(data[0], dict):
        return f'a list of {len(data)} records with keys {sorted(data[0])}'
    if isinstance(data, dict):
        return f'an object with {len(data)} keys'
    return f'a JSON {type(data).__name__}'


def _find_annotation(report: CheckReport, cls, data_root: str,
                     ann_file: str) -> Optional[str]:
    """Path of the annotation file, or None with the reason reported."""
    path = osp.join(data_root, ann_file)
    if osp.isfile(path):
        return path
    name = cls.DATASET_NAME
    if not osp.isdir(data_root):
        report.error(f'data_root {data_root} does not exist',
                     f'point data_root at the folder holding {ann_file} and '
                     'imgs/')
        return None
    entries = os.listdir(data_root)
    # data_root one level too high or too low.
    if osp.isfile(osp.join(data_root, name, ann_file)):
        report.error(f'{ann_file} is in {osp.join(data_root, name)}, not in '
                     f'data_root {data_root}',
                     f'set data_root to {osp.join(data_root, name)}')
        return None
    parent = osp.dirname(osp.abspath(data_root))
    if osp.isfile(osp.join(parent, ann_file)):
        report.error(f'data_root {data_root} looks like the image folder: '
                     f'{ann_file} is in its parent {parent}',
                     f'set data_root to {parent}')
        return None
    jsons = sorted(e for e in entries if e.lower().endswith('.json'))
    # The same name spelled differently (ICFG_PEDES.json, ...).
    for entry in jsons:
        if _canon(entry) == _canon(ann_file):
            report.error(f'found {entry}; the loaders read {ann_file}',
                         f'rename it: mv {osp.join(data_root, entry)} '
                         f'{path} (or set ann_file={entry!r})')
            return None
    if name == 'CUHK-PEDES' and 'caption_all.json' in entries:
        alt = osp.join(data_root, 'caption_all.json')
        with open(alt, encoding='utf-8') as f:
            try:
                records = json.load(f)
            except ValueError:
                records = None
        has_split = isinstance(records, list) and records and all(
            isinstance(r, dict) and 'split' in r for r in records)
        if has_split:
            report.error(
                f'found caption_all.json but not {ann_file}; it has the '
                f'{ann_file} keys including "split"',
                f'rename it (mv {alt} {path}) or set '
                "ann_file='caption_all.json'")
        else:
            report.error(
                f'found caption_all.json but not {ann_file}: the raw '
                'CUHK-PEDES captions have no "split" field, and the standard '
                'train/val/test split (11,003/1,000/1,000 ids) lives in '
                f'{ann_file}',
                f'get {ann_file} (the IRRA-style file with split, captions, '
                f'file_path, id) and put it in {data_root}')
        return None
    repackaged = [e for e in jsons if re.match(
        r'(train|val|test)(_reid)?\.json$|(cuhk|icfg|rstp)_(train|val|test)',
        e)]
    if repackaged:
        report.error(
            f'{ann_file} is missing; found per-split files {repackaged}, the '
            're-packaged annotations of another codebase (TBPS-CLIP, RaSa, '
            'APTM)', f'sapsam reads the official {ann_file} (one list with '
            'a "split" field per record); use that file')
        return None
    hint = ''
    if jsons:
        hint = '; JSON files here: ' + '; '.join(
            f'{j} ({_describe_json(osp.join(data_root, j))})'
            for j in jsons[:4])
    report.error(f'annotation file {path} not found{hint}',
                 f'put the official {ann_file} of {name} in {data_root}')
    return None


def _check_records(report: CheckReport, cls, path: str,
                   records) -> List[Tuple[int, dict]]:
    """Validate per-image records; return the usable ``(index, record)``."""
    problems = validate_tbpr_records(records, cls.IMAGE_KEY,
                                     cls.OFFICIAL_SPLITS)
    key, other = cls.IMAGE_KEY, ('img_path' if cls.IMAGE_KEY == 'file_path'
                                 else 'file_path')
    whole = [p for p in problems if p.index is None]
    for problem in whole:
        report.error(f'{path}: {problem.message}',
                     'use the official annotation file')
    if whole:
        return []
    grouped: Dict[str, List[str]] = defaultdict(list)
    for problem in problems:
        rec = records[problem.index]
        name = rec.get(key) if isinstance(rec, dict) else None
        grouped[problem.kind].append(f'record {problem.index}' + (
            f' ({name!r})' if name is not None else ''))
    with_other_key = len(grouped.pop(f'other key {other}', []))
    if with_other_key:
        mv = (f"python -c \"import json; p='{path}'; d=json.load(open(p)); "
              f"[r.__setitem__('{key}', r.pop('{other}')) for r in d]; "
              f"json.dump(d, open(p, 'w'))\"")
        why = ("RSTPReid's key" if other == 'img_path' else
               "what RaSa's data_process.py writes; the official RSTPReid "
               'file says img_path')
        report.error(f'{path}: {with_other_key} records name the image '
                     f'{other!r} ({why}) but {cls.__name__} reads {key!r}',
                     f'check that this is the {cls.DATASET_NAME} file; then '
                     f'rename the key: {mv}')
    for what, messages in grouped.items():
        report.error(f'{path}: {len(messages)} records {what}: '
                     f'{_examples(messages)}',
                     'fix or remove these records (the loader stops at the '
                     'first one)')
    bad = {p.index for p in problems}
    return [(i, r) for i, r in enumerate(records) if i not in bad]


def _check_identities(report: CheckReport, cls, path: str,
                      usable: List[Tuple[int, dict]]) -> None:
    ids = sorted({r['id'] for _, r in usable if r['split'] == 'train'})
    if not ids:
        report.error(f'{path}: no train records', 'use the full annotation '
                     'file (train, test and, except ICFG-PEDES, val)')
        return
    offset = cls.TRAIN_PID_OFFSET
    pids = [i - offset for i in ids]
    if pids == list(range(len(pids))):
        return
    if offset == 1 and ids[0] == 0:
        report.error(f'{path}: train ids start at 0, but CUHK-PEDES ids are '
                     '1-based (the loader uses pid = id - 1)',
                     'use the official reid_raw.json, whose ids start at 1')
    elif offset == 0 and ids[0] == 1:
        report.error(f'{path}: train ids start at 1, but {cls.DATASET_NAME} '
                     'ids are 0-based (only CUHK-PEDES subtracts 1)',
                     f'use the official {cls.ANN_FILE}')
    else:
        gaps = sorted(set(range(offset, offset + len(ids))) - set(ids))
        report.error(f'{path}: train ids must be {offset}..'
                     f'{offset + len(ids) - 1} without gaps (as the loaders '
                     f'assume); missing {_examples(gaps)}, largest '
                     f'{ids[-1]}', 'use the complete official train split')


def _check_images(report: CheckReport, data_root: str, img_prefix: str,
                  key: str, usable: List[Tuple[int, dict]],
                  decode: bool) -> None:
    img_root = osp.join(data_root, img_prefix)
    if not osp.isdir(img_root):
        firsts = sorted({r[key].split('/')[0] for _, r in usable})
        present = [d for d in firsts if osp.exists(osp.join(data_root, d))]
        alt = [d for d in ('images', 'img', 'Images', 'imgs')
               if osp.isdir(osp.join(data_root, d)) and d != img_prefix]
        if present:
            fix = (f'move {", ".join(present[:4])} into '
                   f'{img_root}/ (paths are relative to {img_prefix}/)')
        elif alt:
            fix = f'rename {osp.join(data_root, alt[0])} to {img_root}'
        else:
            fix = f'put the images under {img_root}/'
        report.error(f'image folder {img_root} not found', fix)
        return
    missing = [(i, r[key]) for i, r in usable
               if not osp.isfile(osp.join(img_root, r[key]))]
    if missing:
        referenced = Counter(rel.split('/')[0] for _, rel in missing
                             if '/' in rel)
        absent = sorted(d for d in referenced
                        if not osp.isdir(osp.join(img_root, d)))
        have = sorted(d for d in os.listdir(img_root)
                      if osp.isdir(osp.join(img_root, d)))
        detail = ''
        if absent:
            detail = (f'; folders referenced but absent from {img_root}: '
                      + ', '.join(f'{d} ({referenced[d]} images)'
                                  for d in absent) + f'; it has {have}')
        report.error(f'{len(missing)} of {len(usable)} images listed in the '
                     f'annotation file are missing under {img_root}, e.g. '
                     f'{_examples([rel for _, rel in missing])}{detail}',
                     'copy the complete image set of the official release '
                     '(all sub-folders) into ' + img_root)
    if decode:
        present = [osp.join(img_root, r[key]) for _, r in usable
                   if osp.isfile(osp.join(img_root, r[key]))]
        _decode_all(present, report, 'images')


def _split_counts(cls, usable) -> Dict[str, Dict[str, int]]:
    counts = {}
    for split in cls.OFFICIAL_SPLITS:
        recs = [r for _, r in usable if r['split'] == split]
        if recs:
            counts[split] = dict(
                images=len(recs),
                captions=sum(len(r['captions']) for r in recs),
                ids=len({r['id'] for r in recs}))
    return counts


def _check_sizes(report: CheckReport, cls, counts, synthetic: bool) -> None:
    published = PUBLISHED_SIZES[cls.DATASET_NAME]
    differs = []
    for split, (images, captions, ids) in published.items():
        got = counts.get(split)
        if got is None:
            report.error(f'no {split} records', f'use the complete official '
                         f'{cls.ANN_FILE}')
            continue
        if (got['images'], got['captions'], got['ids']) != (images, captions,
                                                           ids):
            differs.append(f'{split} {got["images"]}/{got["captions"]}/'
                           f'{got["ids"]} (published {images}/{captions}/'
                           f'{ids})')
    if differs:
        message = ('split sizes (images/captions/ids) differ from the '
                   'published ones: ' + '; '.join(differs))
        if synthetic:
            report.warning(message + ' (synthetic benchmark: expected)')
        else:
            report.warning(message, 'fine for a subset; for the paper\'s '
                           'numbers use the complete official files')


def _check_parts(report: CheckReport, cls, data_root: str,
                 usable: List[Tuple[int, dict]], key: str, img_prefix: str,
                 seg_dir: str = 'segs', required: bool = False,
                 decode: bool = True) -> None:
    name = cls.DATASET_NAME
    entries = os.listdir(data_root)
    part_like = sorted(e for e in entries if e.endswith('.json') and (
        'data_final' in e or 'score_dict' in e))
    if not part_like:
        if required:
            report.error(f'no SAP-SAM part files ({name}_data_final_<N>.json, '
                         f'{name}_score_dict_<N-1>.json) in {data_root}',
                         'run tools/data/split_captions.py and '
                         'tools/data/generate_part_masks.py')
        return
    # Train captions in loader order (caption_idx).
    captions = []
    for _, rec in usable:
        if rec['split'] == 'train':
            captions += [rec[key]] * len(rec['captions'])
    files = {}
    for kind in ('data_final', 'score_dict'):
        pattern = re.compile(rf'^{re.escape(name)}_{kind}_(\d+)\.json$')
        exact = [e for e in part_like if pattern.match(e)]
        near = [e for e in part_like if kind in e and e not in exact]
        for e in near:
            stem = e.split(kind)[0].rstrip('_-')
            if _canon(stem) == _canon(name):
                number = re.findall(r'\d+', e.split(kind)[-1])
                good = f'{name}_{kind}_{number[0] if number else "<N>"}.json'
                report.error(f'part file {e} is misnamed; the loaders look '
                             f'for {name}_{kind}_<N>.json',
                             f'rename it to {good}')
        if len(exact) > 1:
            report.error(f'several {kind} files {exact} in {data_root}',
                         'keep one, or name it in part_files')
        if exact:
            files[kind] = exact[0]
    if 'data_final' not in files or 'score_dict' not in files:
        if 'data_final' in files or 'score_dict' in files:
            lacking = 'score_dict' if 'data_final' in files else 'data_final'
            report.error(f'{name}_{lacking}_<N>.json is missing next to '
                         f'{list(files.values())[0]}',
                         'copy both part files of the same run')
        return
    n_data = int(re.findall(r'(\d+)\.json$', files['data_final'])[0])
    n_score = int(re.findall(r'(\d+)\.json$', files['score_dict'])[0])
    if n_data != len(captions):
        report.warning(f'{files["data_final"]} is named for {n_data} train '
                       f'captions but the annotation file has '
                       f'{len(captions)}', 'the part files may come from '
                       'another version of the annotations')
    if n_score != n_data - 1:
        report.warning(f'{files["score_dict"]} should end in {n_data - 1} '
                       f'(last caption index) to match {files["data_final"]}')
    try:
        records = read_data_final(osp.join(data_root, files['data_final']))
        scores = read_score_dict(osp.join(data_root, files['score_dict']))
    except PartFileError as err:
        report.error(str(err), 'regenerate the file (tools/data/'
                     'split_captions.py, tools/data/generate_part_masks.py)')
        return
    seg_root = osp.join(data_root, seg_dir)
    if not osp.isdir(seg_root):
        report.error(f'seg mask folder {seg_root} not found',
                     'put the masks of tools/data/generate_part_masks.py '
                     f'(official s04) in {seg_root}')
        return
    seg_files = set(os.listdir(seg_root))
    bad_idx, bad_name, missing, one_underscore = [], [], [], []
    by_position, no_score, wrong_text, present = [], [], [], []
    for position, rec in enumerate(records):
        idx = rec['idx']
        if idx >= len(captions):
            bad_idx.append(f'record {position} (idx {idx})')
            continue
        expected = official_name(captions[idx])
        if rec['name'] != expected and rec['name'].lstrip('/') != \
                expected.lstrip('/'):
            bad_name.append(f'record {position}: {rec["name"]!r} vs '
                            f'{expected!r}')
            continue
        for i, phrase in enumerate(flatten_attributes(rec['attribute'])):
            if not phrase.strip():
                continue
            stem = seg_stem(idx, rec['name'], i)
            if stem + '.png' not in seg_files:
                single = stem.replace('__', '_', 1) + '.png'
                positional = seg_stem(position, rec['name'], i) + '.png'
                if single in seg_files:
                    one_underscore.append(single)
                elif position != idx and positional in seg_files:
                    by_position.append(positional)
                else:
                    missing.append(stem + '.png')
                continue
            present.append(osp.join(seg_root, stem + '.png'))
            entry = scores.get(stem)
            if entry is None:
                no_score.append(stem)
            elif entry['text'] != phrase:
                wrong_text.append(f'{stem}: {entry["text"]!r} vs {phrase!r}')
    src = files['data_final']
    if bad_idx:
        report.error(f'{src}: {len(bad_idx)} records point past the '
                     f'{len(captions)} train captions: {_examples(bad_idx)}',
                     'the part files belong to another annotation file')
    if bad_name:
        report.error(f'{src}: {len(bad_name)} records name another image '
                     f'than caption idx of the train split: '
                     f'{_examples(bad_name)}',
                     'the part files belong to another annotation file or '
                     'version')
    if one_underscore:
        report.error(f'{len(one_underscore)} seg masks are named with one '
                     f'underscore after the caption index, e.g. '
                     f'{_examples(one_underscore)} (the README spelling)',
                     'the loaders (and the official s04 writer) use two for '
                     'a leading "/" in the name: rename e.g. '
                     f'{one_underscore[0]} -> '
                     f'{one_underscore[0].replace("_", "__", 1)}')
    if by_position:
        report.error(f'{len(by_position)} seg masks are named by the record '
                     f'position in {src} instead of its idx (the official '
                     f'CUHK-PEDES loader\'s data_id, fidelity M2), e.g. '
                     f'{_examples(by_position)}',
                     'regenerate the masks keyed by idx, or load with '
                     "part_files=dict(faithful=True)")
    if missing:
        report.error(f'{len(missing)} seg masks are missing from {seg_root}, '
                     f'e.g. {_examples(missing)}',
                     'rerun tools/data/generate_part_masks.py, or set '
                     'part_files=dict(skip_missing=True) to train without '
                     'them')
    if no_score:
        report.error(f'{files["score_dict"]}: no entry for {len(no_score)} '
                     f'masks, e.g. {_examples(no_score)}',
                     'use the score dict of the same run as the masks')
    if wrong_text:
        report.error(f'{files["score_dict"]}: {len(wrong_text)} entries have '
                     f'another phrase than {src}, e.g. '
                     f'{_examples(wrong_text)}',
                     'the two part files come from different runs')
    if decode and present:
        _check_mask_sample(report, present, data_root, img_prefix, captions,
                           seg_root)


def _check_mask_sample(report: CheckReport, present: List[str],
                       data_root: str, img_prefix: str, captions: List[str],
                       seg_root: str) -> None:
    """Decode the masks: one channel, 0/1 values, the size of the image."""
    chosen = _selected(present, report, 'seg masks')

    def image_of(path):
        idx = int(osp.basename(path).split('_', 1)[0])
        return osp.join(data_root, img_prefix, captions[idx]) \
            if idx < len(captions) else None

    found = _map_files(_mask_problem, [(p, image_of(p)) for p in chosen],
                       'seg masks')
    bad_size = [f[len('size: '):] for f in found if f and
                f.startswith('size: ')]
    bad_values = [f for f in found if f and not f.startswith('size: ')]
    if bad_values:
        report.error(f'seg masks in {seg_root} must be single-channel 0/1 '
                     f'(or 0/255) PNGs: {len(bad_values)} are not: '
                     f'{_examples(bad_values)}',
                     'regenerate them with tools/data/generate_part_masks.py')
    if bad_size:
        report.error(f'seg masks must have the size of their image: '
                     f'{_examples(bad_size)}',
                     'masks are written at the original image resolution; '
                     'regenerate them for these images')


def check_tbpr_dataset(data_root: str,
                       dataset_type: str = 'CUHKPEDES',
                       ann_file: Optional[str] = None,
                       img_prefix: str = 'imgs',
                       check_images: bool = True,
                       parts: Optional[bool] = None,
                       seg_dir: str = 'segs') -> CheckReport:
    """Check a CUHK-PEDES, ICFG-PEDES or RSTPReid folder.

    Args:
        data_root (str): The dataset folder (annotation file + ``imgs/``).
        dataset_type (str): ``'CUHKPEDES'``, ``'ICFGPEDES'`` or
            ``'RSTPReid'``.
        ann_file (str, optional): Annotation file name if not the official.
        img_prefix (str): Image folder under ``data_root``.
        check_images (bool): Check that every image exists and decode a
            sample.
        parts (bool, optional): Check SAP-SAM part files: None checks them
            when present, True requires them, False skips them.
        seg_dir (str): Mask folder of the part files.
    """
    if dataset_type not in TBPR_TYPES:
        raise KeyError(f'unknown TBPR dataset type {dataset_type!r}; use '
                       f'one of {sorted(TBPR_TYPES)}')
    cls = TBPR_TYPES[dataset_type]
    report = CheckReport(cls.DATASET_NAME, data_root)
    path = _find_annotation(report, cls, data_root, ann_file or cls.ANN_FILE)
    if path is None:
        return report
    records = _load_json(path, report)
    if records is None:
        return report
    usable = _check_records(report, cls, path, records)
    if not usable:
        return report
    dups = [records[again][cls.IMAGE_KEY]
            for _, again in duplicate_images(records, cls.IMAGE_KEY)]
    if dups:
        report.warning(f'{path}: {len(dups)} image paths occur in several '
                       f'records of a split, e.g. {_examples(dups)}',
                       'each record is one image; duplicates are counted '
                       'twice in the gallery')
    _check_identities(report, cls, path, usable)
    report.counts = _split_counts(cls, usable)
    synthetic = osp.isfile(osp.join(data_root, SYNTHETIC_MARKER))
    _check_sizes(report, cls, report.counts, synthetic)
    if check_images:
        _check_images(report, data_root, img_prefix, cls.IMAGE_KEY, usable,
                      decode=True)
    if parts is not False:
        _check_parts(report, cls, data_root, usable, cls.IMAGE_KEY,
                     img_prefix, seg_dir=seg_dir, required=bool(parts),
                     decode=check_images)
    return report


# ------------------------------------------------------------------- ATR
def check_atr_dataset(data_root: str,
                      ann_files: Iterable[str] = (
                          'atr_item_descriptions_train.json',
                          'atr_item_descriptions_dev.json',
                          'atr_item_descriptions_test.json'),
                      img_dir: str = 'JPEGImages',
                      seg_dir: str = 'SegmentationClassAug',
                      check_images: bool = True) -> CheckReport:
    """Check the ATR layout of Person-SAM training (docs/fidelity.md F1)."""
    report = CheckReport('ATR', data_root)
    if not osp.isdir(data_root):
        report.error(f'data_root {data_root} does not exist',
                     f'point data_root at the folder holding {img_dir}/ and '
                     f'{seg_dir}/')
        return report
    for sub in ('humanparsing', 'ATR'):
        nested = osp.join(data_root, sub)
        if not osp.isdir(osp.join(data_root, img_dir)) and \
                osp.isdir(osp.join(nested, img_dir)):
            report.error(f'{img_dir}/ is in {nested}, not in {data_root}',
                         f'set data_root to {nested}')
            return report
    folders_ok = True
    for folder, alts in ((img_dir, ('JPEGImages', 'images', 'Images')),
                         (seg_dir, ('SegmentationClass',
                                    'SegmentationClassAug', 'labels',
                                    'masks'))):
        if osp.isdir(osp.join(data_root, folder)):
            continue
        folders_ok = False
        found = [a for a in alts if a != folder
                 and osp.isdir(osp.join(data_root, a))]
        fix = (f'rename {osp.join(data_root, found[0])} to '
               f'{osp.join(data_root, folder)}' if found else
               f'put the ATR {folder} folder in {data_root}')
        report.error(f'{osp.join(data_root, folder)} not found', fix)
    label_file = osp.join(data_root, 'atr_label.txt')
    if osp.isfile(label_file):
        try:
            names = read_atr_labels(label_file)
            if tuple(names) != ATR_CLASSES:
                report.error(f'{label_file}: classes {names} differ from the '
                             f'18 ATR classes {list(ATR_CLASSES)}',
                             'use the official atr_label.txt (class ids '
                             'define the phrase groups)')
        except PartFileError as err:
            report.error(str(err), 'use the official atr_label.txt')
    else:
        report.warning(f'{label_file} not found (only used to name classes)',
                       'copy s01_atr_transfer/atr_label.txt of the official '
                       'release')
    synthetic = osp.isfile(osp.join(data_root, SYNTHETIC_MARKER))
    names_needed = set()
    for ann in ann_files:
        path = osp.join(data_root, ann)
        split = ann.rsplit('_', 1)[-1].split('.')[0]
        if not osp.isfile(path):
            if split == 'train':
                fix = ('the official release lacks it (docs/fidelity.md G4): '
                       'generate it with tools/data/generate_atr_phrases.py '
                       'and tools/data/split_atr_phrases.py')
            else:
                fix = f'copy {ann} of the official release into {data_root}'
            report.error(f'{path} not found', fix)
            continue
        try:
            records = read_atr_descriptions(path)
        except PartFileError as err:
            report.error(str(err), f'fix the record or regenerate {ann}')
            continue
        if not records:
            report.error(f'{path}: no records (an empty list)',
                         f'regenerate {ann} or copy the official one')
            continue
        report.counts[split] = dict(
            records=len(records), images=len({r['name'] for r in records}))
        names_needed |= {r['name'] for r in records}
        published = ATR_PUBLISHED_RECORDS.get(split)
        if published and len(records) != published:
            message = (f'{ann} has {len(records)} records; the official file '
                       f'has {published}')
            report.warning(message + (' (synthetic benchmark: expected)'
                                      if synthetic else ''))
    if not folders_ok or not check_images:
        return report
    image_root, seg_root = osp.join(data_root, img_dir), osp.join(data_root,
                                                                  seg_dir)
    images = set(os.listdir(image_root))
    masks = {osp.splitext(f)[0] for f in os.listdir(seg_root)}
    no_image = sorted(n for n in names_needed if n not in images)
    no_mask = sorted(n for n in names_needed
                     if osp.splitext(n)[0] not in masks)
    if no_image:
        report.error(f'{len(no_image)} images named by the phrase files are '
                     f'missing from {image_root}: {_examples(no_image)}',
                     'copy the complete ATR JPEGImages folder')
    if no_mask:
        report.error(f'{len(no_mask)} images named by the phrase files have '
                     f'no label map <stem>.png in {seg_root}: '
                     f'{_examples(no_mask)}',
                     'copy the complete SegmentationClassAug folder (label '
                     'maps are paired with images by file stem)')
    sample = sorted(n for n in names_needed if n in images)
    _decode_all([osp.join(image_root, n) for n in sample], report,
                'images')
    label_maps = [m for m in (osp.join(seg_root, osp.splitext(n)[0] + '.png')
                              for n in sample) if osp.isfile(m)]
    chosen = _selected(label_maps, report, 'label maps')
    bad = [b for b in _map_files(_label_problem, chosen, 'label maps') if b]
    if bad:
        report.error(f'ATR label maps must be single-channel class ids '
                     f'0..{len(ATR_CLASSES) - 1}: {_examples(bad)}',
                     'use SegmentationClassAug (index PNGs), not colour '
                     'visualisations')
    return report


# ----------------------------------------------------------------- config
def _dataset_cfgs(node) -> Iterable[dict]:
    """Dataset configs inside a dataloader's dataset (wrappers unwrapped)."""
    if isinstance(node, dict):
        if 'datasets' in node:
            for sub in node['datasets']:
                yield from _dataset_cfgs(sub)
        elif 'dataset' in node and not node.get('data_root'):
            yield from _dataset_cfgs(node['dataset'])
        else:
            yield node


def _stage_dataset(cfg) -> Optional[dict]:
    """The dataset of a part-pipeline config (``dataset = dict(...)`` or
    ``dataset_name`` + ``data_root``), which has no dataloaders."""
    if isinstance(cfg.get('dataset'), dict):
        return cfg['dataset']
    names = {cls.DATASET_NAME: name for name, cls in TBPR_TYPES.items()}
    if cfg.get('dataset_name') in names and cfg.get('data_root'):
        return dict(type=names[cfg['dataset_name']],
                    data_root=cfg['data_root'])
    return None


def datasets_in_config(cfg) -> List[dict]:
    """The distinct dataset configs of a config's dataloaders (or of a
    part-pipeline config's ``dataset``)."""
    found, seen = [], set()
    loaders = [cfg.get(k) for k in ('train_dataloader', 'val_dataloader',
                                    'test_dataloader')]
    for loop in ('val_cfg', 'test_cfg'):
        if isinstance(cfg.get(loop), dict):
            loaders.append(cfg[loop].get('gallery_dataloader'))
    loaders = [loader for loader in loaders
               if isinstance(loader, dict) and 'dataset' in loader]
    if not loaders and _stage_dataset(cfg) is not None:
        loaders = [dict(dataset=_stage_dataset(cfg))]
    for loader in loaders:
        for ds in _dataset_cfgs(loader['dataset']):
            ds_type = ds.get('type')
            name = ds_type if isinstance(ds_type, str) else getattr(
                ds_type, '__name__', str(ds_type))
            name = name.rsplit('.', 1)[-1]
            key = (name, ds.get('data_root'), ds.get('ann_file'),
                   bool(ds.get('part_files')))
            if key not in seen:
                seen.add(key)
                found.append(dict(ds, type=name))
    return found


def check_dataset(dataset_cfg: dict, check_images: bool = True,
                  parts: Optional[bool] = None) -> CheckReport:
    """Check the dataset of one dataset config (``type`` + ``data_root``)."""
    ds_type = dataset_cfg['type']
    data_root = dataset_cfg.get('data_root') or ''
    if ds_type in TBPR_TYPES:
        part_files = dataset_cfg.get('part_files') or {}
        return check_tbpr_dataset(
            data_root, ds_type, ann_file=dataset_cfg.get('ann_file'),
            img_prefix=dataset_cfg.get('img_prefix', 'imgs'),
            check_images=check_images,
            parts=True if part_files else parts,
            seg_dir=part_files.get('seg_dir', 'segs'))
    if ds_type == ATRPhraseSegDataset.__name__:
        prefix = dataset_cfg.get('data_prefix') or {}
        ann = dataset_cfg.get('ann_file')
        return check_atr_dataset(
            data_root, ann_files=[ann] if ann else (
                'atr_item_descriptions_train.json',
                'atr_item_descriptions_dev.json',
                'atr_item_descriptions_test.json'),
            img_dir=prefix.get('img_path', 'JPEGImages'),
            seg_dir=prefix.get('seg_map_path', 'SegmentationClassAug'),
            check_images=check_images)
    raise KeyError(f'no checker for dataset type {ds_type!r}; supported: '
                   f'{sorted(TBPR_TYPES) + [ATRPhraseSegDataset.__name__]}')
