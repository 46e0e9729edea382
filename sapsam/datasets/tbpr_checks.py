"""Folder checks of the TBPR datasets (CUHK-PEDES, ICFG-PEDES, RSTPReid):
annotation file name and keys, image paths, missing images, identity
numbering, split sizes against the published ones, SAP-SAM part files and
seg mask names. :meth:`BaseTBPRDataset.check_folder` runs them; the record
rules are :func:`~sapsam.datasets.base_tbpr_dataset.validate_tbpr_records`,
the loader's own.
"""
import os
import os.path as osp
import re
from collections import Counter, defaultdict
from typing import Dict, List, Optional, Tuple

import numpy as np
from PIL import Image

from sapsam.parts.formats import (PartFileError, flatten_attributes,
                                  official_name, part_file_candidates,
                                  read_data_final, read_score_dict, seg_stem)
from sapsam.utils.fileio import load_json
from .base_tbpr_dataset import duplicate_images, validate_tbpr_records
from .checks import (SYNTHETIC_MARKER, CheckReport, canon, decode_all,
                     decode_sample, examples, load_json_reported, map_files,
                     readable)

__all__ = ['check_tbpr_folder']


def _mask_problem(paths: Tuple[str, Optional[str]]) -> Optional[str]:
    """What is wrong with a part mask (decoding, values, size), or None."""
    mask_path, img_path = paths
    why = readable(mask_path)
    if why is not None:
        return f'{osp.basename(mask_path)} ({why})'
    mask = np.asarray(Image.open(mask_path))
    if mask.ndim != 2:
        return (f'{osp.basename(mask_path)} has shape {mask.shape} (not 1 '
                'channel)')
    values = set(np.unique(mask).tolist())
    if not values <= {0, 1} and not values <= {0, 255}:
        return f'{osp.basename(mask_path)} values {sorted(values)[:6]}'
    if img_path and osp.isfile(img_path) and readable(img_path) is None:
        with Image.open(img_path) as img:
            size = img.size[::-1]
        if mask.shape[:2] != size:
            return (f'size: {osp.basename(mask_path)} {mask.shape[:2]} vs '
                    f'image {size}')
    return None


def _describe_json(path: str) -> str:
    """What a JSON file looks like (for 'which file is this?' hints)."""
    try:
        data = load_json(path)
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
        if canon(entry) == canon(ann_file):
            report.error(f'found {entry}; the loaders read {ann_file}',
                         f'rename it: mv {osp.join(data_root, entry)} '
                         f'{path} (or set ann_file={entry!r})')
            return None
    if name == 'CUHK-PEDES' and 'caption_all.json' in entries:
        alt = osp.join(data_root, 'caption_all.json')
        try:
            records = load_json(alt)
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
                     f'{examples(messages)}',
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
                     f'assume); missing {examples(gaps)}, largest '
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
                     f'{examples([rel for _, rel in missing])}{detail}',
                     'copy the complete image set of the official release '
                     '(all sub-folders) into ' + img_root)
    if decode:
        present = [osp.join(img_root, r[key]) for _, r in usable
                   if osp.isfile(osp.join(img_root, r[key]))]
        decode_all(present, report, 'images')


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
    published = cls.PUBLISHED_SIZES
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
    for kind, exact in part_file_candidates(data_root, name).items():
        near = [e for e in part_like if kind in e and e not in exact]
        for e in near:
            stem = e.split(kind)[0].rstrip('_-')
            if canon(stem) == canon(name):
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
                     f'{len(captions)} train captions: {examples(bad_idx)}',
                     'the part files belong to another annotation file')
    if bad_name:
        report.error(f'{src}: {len(bad_name)} records name another image '
                     f'than caption idx of the train split: '
                     f'{examples(bad_name)}',
                     'the part files belong to another annotation file or '
                     'version')
    if one_underscore:
        report.error(f'{len(one_underscore)} seg masks are named with one '
                     f'underscore after the caption index, e.g. '
                     f'{examples(one_underscore)} (the README spelling)',
                     'the loaders (and the official s04 writer) use two for '
                     'a leading "/" in the name: rename e.g. '
                     f'{one_underscore[0]} -> '
                     f'{one_underscore[0].replace("_", "__", 1)}')
    if by_position:
        report.error(f'{len(by_position)} seg masks are named by the record '
                     f'position in {src} instead of its idx (the official '
                     f'CUHK-PEDES loader\'s data_id, fidelity M2), e.g. '
                     f'{examples(by_position)}',
                     'regenerate the masks keyed by idx, or load with '
                     "part_files=dict(faithful=True)")
    if missing:
        report.error(f'{len(missing)} seg masks are missing from {seg_root}, '
                     f'e.g. {examples(missing)}',
                     'rerun tools/data/generate_part_masks.py, or set '
                     'part_files=dict(skip_missing=True) to train without '
                     'them')
    if no_score:
        report.error(f'{files["score_dict"]}: no entry for {len(no_score)} '
                     f'masks, e.g. {examples(no_score)}',
                     'use the score dict of the same run as the masks')
    if wrong_text:
        report.error(f'{files["score_dict"]}: {len(wrong_text)} entries have '
                     f'another phrase than {src}, e.g. '
                     f'{examples(wrong_text)}',
                     'the two part files come from different runs')
    if decode and present:
        _check_mask_sample(report, present, data_root, img_prefix, captions,
                           seg_root)


def _check_mask_sample(report: CheckReport, present: List[str],
                       data_root: str, img_prefix: str, captions: List[str],
                       seg_root: str) -> None:
    """Decode the masks: one channel, 0/1 values, the size of the image."""
    chosen = decode_sample(present, report, 'seg masks')

    def image_of(path):
        idx = int(osp.basename(path).split('_', 1)[0])
        return osp.join(data_root, img_prefix, captions[idx]) \
            if idx < len(captions) else None

    found = map_files(_mask_problem, [(p, image_of(p)) for p in chosen],
                       'seg masks')
    bad_size = [f[len('size: '):] for f in found if f and
                f.startswith('size: ')]
    bad_values = [f for f in found if f and not f.startswith('size: ')]
    if bad_values:
        report.error(f'seg masks in {seg_root} must be single-channel 0/1 '
                     f'(or 0/255) PNGs: {len(bad_values)} are not: '
                     f'{examples(bad_values)}',
                     'regenerate them with tools/data/generate_part_masks.py')
    if bad_size:
        report.error(f'seg masks must have the size of their image: '
                     f'{examples(bad_size)}',
                     'masks are written at the original image resolution; '
                     'regenerate them for these images')


def check_tbpr_folder(cls,
                      data_root: str,
                      ann_file: Optional[str] = None,
                      img_prefix: str = 'imgs',
                      check_images: bool = True,
                      parts: Optional[bool] = None,
                      seg_dir: str = 'segs') -> CheckReport:
    """Check the folder of a TBPR dataset class (``cls``: a
    :class:`BaseTBPRDataset` subclass; its ``ANN_FILE``, ``IMAGE_KEY``,
    ``DATASET_NAME``, ``TRAIN_PID_OFFSET``, ``OFFICIAL_SPLITS`` and
    ``PUBLISHED_SIZES`` say what to expect). See
    :meth:`BaseTBPRDataset.check_folder` for the arguments.
    """
    report = CheckReport(cls.DATASET_NAME, data_root)
    path = _find_annotation(report, cls, data_root, ann_file or cls.ANN_FILE)
    if path is None:
        return report
    records = load_json_reported(path, report)
    if records is None:
        return report
    usable = _check_records(report, cls, path, records)
    if not usable:
        return report
    dups = [records[again][cls.IMAGE_KEY]
            for _, again in duplicate_images(records, cls.IMAGE_KEY)]
    if dups:
        report.warning(f'{path}: {len(dups)} image paths occur in several '
                       f'records of a split, e.g. {examples(dups)}',
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
