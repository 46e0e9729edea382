"""Folder check of the ATR layout of Person-SAM training (docs/fidelity.md
F1): folders, ``atr_label.txt``, the phrase files, images and label maps.
:meth:`ATRPhraseSegDataset.check_folder` runs it.
"""
import os
import os.path as osp
from typing import Iterable, Optional

import numpy as np
from PIL import Image

from sapsam.parts.formats import (ATR_CLASSES, PartFileError,
                                  read_atr_descriptions, read_atr_labels)
from .checks import (SYNTHETIC_MARKER, CheckReport, decode_all,
                     decode_sample, examples, map_files, readable)

__all__ = ['ATR_PHRASE_FILES', 'check_atr_folder']

#: Records of the official ATR phrase files that were released.
ATR_PUBLISHED_RECORDS = dict(dev=2500, test=2500)
#: The phrase files of the official layout.
ATR_PHRASE_FILES = ('atr_item_descriptions_train.json',
                    'atr_item_descriptions_dev.json',
                    'atr_item_descriptions_test.json')


def _label_problem(path: str) -> Optional[str]:
    """What is wrong with an ATR label map, or None."""
    why = readable(path)
    if why is not None:
        return f'{osp.basename(path)} ({why})'
    label = np.asarray(Image.open(path))
    if label.ndim != 2 or label.max() >= len(ATR_CLASSES):
        return f'{osp.basename(path)} (shape {label.shape}, max {label.max()})'
    return None


def check_atr_folder(data_root: str,
                     ann_files: Iterable[str] = ATR_PHRASE_FILES,
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
                     f'missing from {image_root}: {examples(no_image)}',
                     'copy the complete ATR JPEGImages folder')
    if no_mask:
        report.error(f'{len(no_mask)} images named by the phrase files have '
                     f'no label map <stem>.png in {seg_root}: '
                     f'{examples(no_mask)}',
                     'copy the complete SegmentationClassAug folder (label '
                     'maps are paired with images by file stem)')
    sample = sorted(n for n in names_needed if n in images)
    decode_all([osp.join(image_root, n) for n in sample], report,
                'images')
    label_maps = [m for m in (osp.join(seg_root, osp.splitext(n)[0] + '.png')
                              for n in sample) if osp.isfile(m)]
    chosen = decode_sample(label_maps, report, 'label maps')
    bad = [b for b in map_files(_label_problem, chosen, 'label maps') if b]
    if bad:
        report.error(f'ATR label maps must be single-channel class ids '
                     f'0..{len(ATR_CLASSES) - 1}: {examples(bad)}',
                     'use SegmentationClassAug (index PNGs), not colour '
                     'visualisations')
    return report
