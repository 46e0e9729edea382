"""Check a dataset folder before training and say exactly what to fix.

Every dataset class that can check its own folder has a ``check_folder``
classmethod taking the arguments of its constructor (a dataset config can
be passed as it is): :meth:`BaseTBPRDataset.check_folder` (CUHK-PEDES,
ICFG-PEDES, RSTPReid and any subclass; ``sapsam/datasets/tbpr_checks.py``)
and :meth:`ATRPhraseSegDataset.check_folder` (the ATR layout of Person-SAM;
``sapsam/datasets/atr_checks.py``). :func:`check_dataset` finds the class of
a dataset config in :data:`~sapsam.registry.DATASETS`, so a newly registered
dataset class with a ``check_folder`` is checked too; walking a config for
its datasets is ``tools/misc/check_dataset.py``'s job.

A check returns a :class:`CheckReport`: errors (the loaders would fail or
silently train on the wrong data), warnings (suspicious but loadable, e.g.
split sizes of a subset) and notes. The record rules are the loader's own
(:func:`~sapsam.datasets.base_tbpr_dataset.validate_tbpr_records` returns
every problem; the loader raises the first, the checker reports them all).
The known traps are those of docs/fidelity.md F2 (``ICFG_PEDES.json``,
``caption_all.json``, ``img_path`` vs ``file_path``, missing image folders,
seg names with one underscore, ...). This module holds the report, the
file-decoding helpers the checks share and the dispatch.
"""
import os
import re
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

from mmengine.utils import track_parallel_progress
from PIL import Image

from sapsam.registry import DATASETS
from sapsam.utils.fileio import load_json

# Written by the synthetic benchmark generator into each dataset folder:
# differing split sizes are then expected.
from .synthetic.generator import DATASET_MARKER as SYNTHETIC_MARKER

__all__ = ['CheckReport', 'check_dataset', 'check_tbpr_dataset',
           'check_atr_dataset', 'checkable_dataset_types',
           'dataset_type_name']


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


def canon(name: str) -> str:
    """``name`` lower-case without punctuation (``ICFG_PEDES.json`` and
    ``ICFG-PEDES.json`` compare equal)."""
    return re.sub(r'[^a-z0-9]', '', name.lower())


def examples(items: Sequence, limit: int = MAX_EXAMPLES) -> str:
    """The first ``limit`` items, and how many more there are."""
    shown = ', '.join(str(i) for i in list(items)[:limit])
    more = len(items) - limit
    return shown + (f' (+{more} more)' if more > 0 else '')


def load_json_reported(path: str, report: CheckReport):
    """The parsed JSON file, or None with the reason as an error."""
    try:
        return load_json(path, 'annotation')
    except (OSError, ValueError) as err:
        report.error(str(err), 'restore the file from the original download')
    return None


def readable(path: str) -> Optional[str]:
    """None if ``path`` decodes as an image, else why not."""
    try:
        with Image.open(path) as img:
            img.load()
        return None
    except Exception as err:  # noqa: BLE001 (PIL raises many types)
        return str(err) or type(err).__name__


def decode_sample(items: list, report: CheckReport, what: str) -> list:
    """``items`` to decode: all, or an evenly spaced ``DECODE_LIMIT``."""
    if DECODE_LIMIT is None or len(items) <= DECODE_LIMIT:
        return list(items)
    step = len(items) / DECODE_LIMIT
    chosen = [items[int(k * step)] for k in range(DECODE_LIMIT)]
    report.note(f'decoded {len(chosen)} of {len(items)} {what} (every '
                f'{step:.1f}-th, --sample {DECODE_LIMIT}); the others were '
                'not decoded')
    return chosen


def map_files(func, items: list, what: str) -> list:
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


def decode_all(paths: List[str], report: CheckReport, what: str) -> None:
    """Decode ``paths`` (or a sample); one error listing those that fail."""
    if not paths:
        return
    chosen = decode_sample(paths, report, what)
    bad = [(p, why) for p, why in zip(chosen, map_files(readable, chosen,
                                                        what))
           if why is not None]
    if bad:
        report.error(f'{len(bad)} of {len(chosen)} {what} cannot be decoded: '
                     + examples([f'{p} ({why})' for p, why in bad]),
                     'the files are truncated or not images (a Git LFS '
                     'pointer or an HTML error page?); download them again')


# --------------------------------------------------------------- dispatch
def checkable_dataset_types() -> Dict[str, type]:
    """Registered dataset classes (:data:`~sapsam.registry.DATASETS`) that
    can check their folder (have a ``check_folder`` classmethod), by
    registry name."""
    DATASETS.import_from_location()
    return {name: cls for name, cls in sorted(DATASETS.module_dict.items())
            if callable(getattr(cls, 'check_folder', None))}


def dataset_type_name(ds_type) -> str:
    """The registry name of a config's dataset ``type`` (a name, a dotted
    name or a class)."""
    name = ds_type if isinstance(ds_type, str) else getattr(
        ds_type, '__name__', str(ds_type))
    return name.rsplit('.', 1)[-1]


def check_dataset(dataset_cfg: dict, check_images: bool = True,
                  parts: Optional[bool] = None) -> CheckReport:
    """Check the folder of one dataset config (``type`` + ``data_root`` and
    the other constructor arguments), with its class's ``check_folder``.

    Args:
        dataset_cfg (dict): A dataset config; ``type`` is a registry name
            or a class.
        check_images (bool): Check that every image exists and decode it.
        parts (bool, optional): SAP-SAM part files (TBPR): None checks them
            when present, True requires them, False skips them.
    """
    types = checkable_dataset_types()
    name = dataset_type_name(dataset_cfg['type'])
    if name not in types:
        raise KeyError(f'no checker for dataset type '
                       f'{dataset_cfg["type"]!r}; supported: {sorted(types)}')
    args = {k: v for k, v in dataset_cfg.items() if k != 'type'}
    args['data_root'] = args.get('data_root') or ''
    return types[name].check_folder(check_images=check_images, parts=parts,
                                    **args)


def check_tbpr_dataset(data_root: str,
                       dataset_type: str = 'CUHKPEDES',
                       ann_file: Optional[str] = None,
                       img_prefix: str = 'imgs',
                       check_images: bool = True,
                       parts: Optional[bool] = None,
                       seg_dir: str = 'segs') -> CheckReport:
    """Check a CUHK-PEDES, ICFG-PEDES or RSTPReid folder (or one of another
    registered :class:`BaseTBPRDataset` subclass): its ``check_folder``.

    Args:
        data_root (str): The dataset folder (annotation file + ``imgs/``).
        dataset_type (str): ``'CUHKPEDES'``, ``'ICFGPEDES'``,
            ``'RSTPReid'``, ...
        ann_file (str, optional): Annotation file name if not the official.
        img_prefix (str): Image folder under ``data_root``.
        check_images (bool): Check that every image exists and decode it.
        parts (bool, optional): Check SAP-SAM part files: None checks them
            when present, True requires them, False skips them.
        seg_dir (str): Mask folder of the part files.
    """
    from .base_tbpr_dataset import BaseTBPRDataset
    tbpr = {name: cls for name, cls in checkable_dataset_types().items()
            if issubclass(cls, BaseTBPRDataset)}
    if dataset_type not in tbpr:
        raise KeyError(f'unknown TBPR dataset type {dataset_type!r}; use '
                       f'one of {sorted(tbpr)}')
    return tbpr[dataset_type].check_folder(
        data_root, ann_file=ann_file, img_prefix=img_prefix,
        check_images=check_images, parts=parts, seg_dir=seg_dir)


def check_atr_dataset(data_root: str,
                      ann_files: Optional[Iterable[str]] = None,
                      img_dir: str = 'JPEGImages',
                      seg_dir: str = 'SegmentationClassAug',
                      check_images: bool = True) -> CheckReport:
    """Check the ATR layout of Person-SAM training (docs/fidelity.md F1):
    :func:`sapsam.datasets.atr_checks.check_atr_folder` (``ann_files``
    defaults to the train, dev and test phrase files)."""
    from .atr_checks import ATR_PHRASE_FILES, check_atr_folder
    return check_atr_folder(data_root, ann_files=ann_files or ATR_PHRASE_FILES,
                            img_dir=img_dir, seg_dir=seg_dir,
                            check_images=check_images)
