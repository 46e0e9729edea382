"""Base class of the text-based person retrieval datasets."""
import logging
import os.path as osp
from typing import (TYPE_CHECKING, Dict, List, NamedTuple, Optional,
                    Sequence, Tuple)

from mmengine.dataset import BaseDataset
from mmengine.logging import print_log

from sapsam.utils.fileio import load_json as _load_json
from .sample_loading import SeededSampleMixin

if TYPE_CHECKING:
    from .checks import CheckReport

SPLITS = ('train', 'val', 'test')
VIEWS = ('pairs', 'images', 'captions')


class AnnotationError(ValueError):
    """An annotation file or record is malformed; the message names both."""


def load_json(path: str):
    """Read an annotation file (:func:`sapsam.utils.fileio.load_json`)."""
    return _load_json(path, 'annotation', AnnotationError)


class RecordProblem(NamedTuple):
    """One problem of an annotation file: the record's position (None for
    the whole file), a short kind shared by records with the same problem
    (for grouped reports) and a sentence naming the record."""
    index: Optional[int]
    kind: str
    message: str


def image_path_problem(rel_path, key: str = 'file_path'
                       ) -> Optional[Tuple[str, str]]:
    """``(kind, reason)`` of why ``rel_path`` is not a usable path relative
    to ``imgs/``, None if it is: not a non-empty string, backslashes,
    absolute, ``..`` (it would read outside the data root) or a repeated
    ``imgs/`` prefix."""
    if not isinstance(rel_path, str) or not rel_path.strip():
        return (f'have an empty or non-string {key}',
                f'{key} must be a non-empty string (a path relative to '
                f'imgs/), got {rel_path!r}')
    if '\\' in rel_path:
        return ('use backslashes in image paths (use "/")',
                f'{key} uses backslashes (use "/")')
    if osp.isabs(rel_path):
        return (f'have absolute image paths ({key} is relative to imgs/)',
                f'{key} is absolute; image paths are relative to imgs/')
    if '..' in rel_path.split('/'):
        return (f'leave the image folder with ".." in {key}',
                f'{key} leaves the image folder with ".."')
    if rel_path.startswith(('imgs/', './imgs/')):
        return (f'repeat the "imgs/" prefix in {key} (paths are relative to '
                'imgs/)', f'{key} repeats the "imgs/" prefix (paths are '
                'relative to imgs/)')
    return None


def validate_tbpr_records(records, image_key: str,
                          splits: Sequence[str]) -> List[RecordProblem]:
    """Every problem of a TBPR annotation list (the loader raises the first,
    ``tools/misc/check_dataset.py`` reports them all).

    Args:
        records: The parsed JSON (expected: a list of per-image dicts).
        image_key (str): ``'file_path'`` or ``'img_path'``.
        splits (Sequence[str]): The splits the official file has.
    """
    if not isinstance(records, list):
        return [RecordProblem(None, 'not a list', 'expected a JSON list of '
                              'per-image records, got '
                              f'{type(records).__name__}')]
    if not records:
        return [RecordProblem(None, 'empty', 'the annotation list is empty '
                              '([]); use the official annotation file')]
    other = 'img_path' if image_key == 'file_path' else 'file_path'
    problems = []
    for i, rec in enumerate(records):
        if not isinstance(rec, dict):
            problems.append(RecordProblem(i, 'are not JSON objects',
                                          f'record {i} is not an object'))
            continue
        missing = [k for k in ('split', 'captions', image_key, 'id')
                   if k not in rec]
        if missing:
            hint = (f' (it has {other!r}: is this the annotation file of '
                    'another dataset?)'
                    if image_key in missing and other in rec else '')
            kind = f'other key {other}' if hint else f'lack keys {missing}'
            problems.append(RecordProblem(
                i, kind, f'record {i} lacks key(s) {missing}; keys present: '
                f'{sorted(rec)}{hint}'))
            continue
        where = f'record {i} ({rec[image_key]!r})'
        if rec['split'] not in splits:
            problems.append(RecordProblem(
                i, f'have a split outside {list(splits)}',
                f'record {i} has unknown split {rec["split"]!r}; expected '
                f'one of {tuple(splits)}'))
            continue
        caps = rec['captions']
        if not isinstance(caps, list) or not caps or not all(
                isinstance(c, str) and c.strip() for c in caps):
            problems.append(RecordProblem(
                i, 'need a non-empty list of non-empty captions',
                f'{where} needs a non-empty list of non-empty caption '
                f'strings, got {caps!r}'))
            continue
        if not isinstance(rec['id'], int) or isinstance(rec['id'], bool):
            problems.append(RecordProblem(
                i, 'have a non-integer id',
                f'record {i} has a non-integer id {rec["id"]!r}'))
            continue
        found = image_path_problem(rec[image_key], image_key)
        if found is not None:
            problems.append(RecordProblem(i, found[0],
                                          f'{where}: {found[1]}'))
    return problems


def duplicate_images(records, image_key: str) -> List[Tuple[int, int]]:
    """``(first, repeat)`` record positions naming the same image in the
    same split (valid records only)."""
    seen, repeats = {}, []
    for i, rec in enumerate(records):
        if isinstance(rec, dict) and isinstance(rec.get(image_key), str):
            key = (rec.get('split'), rec[image_key])
            if key in seen:
                repeats.append((seen[key], i))
            else:
                seen[key] = i
    return repeats


class BaseTBPRDataset(SeededSampleMixin, BaseDataset):
    """Image-caption person dataset read from an official annotation file.

    The annotation file is a JSON list of per-image records with a ``split``,
    an identity ``id``, a relative image path and a list of ``captions``.
    Parsing follows IRRA:

    - ``train`` is caption-level: one sample per caption with ``pid`` (for
      CUHK-PEDES ``id - 1``; the train pids must be ``0..N-1``),
      ``image_id`` (index of the image within the split), ``caption_idx``
      (index of the caption in the train list, used to key part masks).
    - ``val``/``test`` keep the raw ``id`` as ``pid`` and are read either as
      a gallery of images (``view='images'``) or as query captions
      (``view='captions'``).

    Args:
        data_root (str): Dataset folder (holding the annotation file and
            ``imgs/``).
        split (str): ``'train'``, ``'val'`` or ``'test'``.
        view (str, optional): ``'pairs'`` (image + caption per sample),
            ``'images'`` or ``'captions'``. Defaults to ``'pairs'`` for
            train and ``'images'`` otherwise.
        ann_file (str, optional): Annotation file relative to ``data_root``;
            defaults to the official name.
        img_prefix (str): Image folder relative to ``data_root``.
        val_from_train (int): Hold out this many train identities (the
            largest pids) for model selection on a dataset without a val
            split: ``split='train'`` drops them and ``split='val'`` reads
            them (image/caption views). 0 disables it.
        part_files (dict, optional): SAP-SAM part annotations for the train
            split: ``data_final`` and ``score_dict`` file names (``'auto'``
            finds ``<NAME>_data_final_*.json``) and ``seg_dir``; extra keys
            are passed to :func:`attach_parts`.
        check_images (bool): Check that every image file exists.
        pipeline (list): Data transforms.
        **kwargs: Passed to :class:`mmengine.dataset.BaseDataset`.
    """

    #: Official annotation file name.
    ANN_FILE: str = ''
    #: Record key holding the relative image path.
    IMAGE_KEY: str = 'file_path'
    #: Dataset name as in the official part files.
    DATASET_NAME: str = ''
    #: Subtracted from the raw id of train records to get the pid.
    TRAIN_PID_OFFSET: int = 0
    #: Splits present in the official file.
    OFFICIAL_SPLITS: Sequence[str] = SPLITS
    #: Published split sizes ``{split: (images, captions, identities)}``
    #: (docs/fidelity.md F2), compared by :meth:`check_folder`; empty: not
    #: compared.
    PUBLISHED_SIZES: Dict[str, Tuple[int, int, int]] = {}

    def __init__(self,
                 data_root: str,
                 split: str = 'train',
                 view: Optional[str] = None,
                 ann_file: Optional[str] = None,
                 img_prefix: str = 'imgs',
                 val_from_train: int = 0,
                 part_files: Optional[dict] = None,
                 check_images: bool = True,
                 pipeline: Sequence = (),
                 **kwargs) -> None:
        if split not in SPLITS:
            raise ValueError(f'unknown split {split!r} for '
                             f'{type(self).__name__}; use one of {SPLITS}')
        view = view or ('pairs' if split == 'train' else 'images')
        if view not in VIEWS:
            raise ValueError(f'unknown view {view!r}; use one of {VIEWS}')
        if part_files and split != 'train':
            raise ValueError('part_files only apply to the train split')
        self.split = split
        self.view = view
        self.img_prefix = img_prefix
        self.val_from_train = int(val_from_train)
        self.part_files = dict(part_files) if part_files else None
        self.check_images = check_images
        self.num_classes = 0
        super().__init__(ann_file=ann_file or self.ANN_FILE,
                         data_root=data_root, pipeline=list(pipeline),
                         **kwargs)

    # ----------------------------------------------------------- parsing
    def _read_records(self) -> List[dict]:
        records = load_json(self.ann_file)
        problems = validate_tbpr_records(records, self.IMAGE_KEY,
                                         self.OFFICIAL_SPLITS)
        if problems:
            more = (f' ({len(problems) - 1} more problems: run '
                    'tools/misc/check_dataset.py for the list)'
                    if len(problems) > 1 else '')
            raise AnnotationError(f'{self.ann_file}: {problems[0].message}'
                                  f'{more}')
        repeats = duplicate_images(records, self.IMAGE_KEY)
        if repeats:
            first, again = repeats[0]
            print_log(f'{self.ann_file}: {len(repeats)} records repeat an '
                      f'image of their split, e.g. record {again} repeats '
                      f'record {first} ({records[first][self.IMAGE_KEY]!r})',
                      logger='current', level=logging.WARNING)
        return records

    def _image_path(self, rel_path: str, index: int) -> str:
        path = osp.join(self.data_root, self.img_prefix, rel_path)
        if self.check_images and not osp.isfile(path):
            raise FileNotFoundError(
                f'{self.ann_file}: image of record {index} not found: {path}')
        return path

    def _select(self, records: List[dict]) -> List[dict]:
        """Records of the requested split, with the held-out identities."""
        source = 'train' if (self.split == 'val' and self.val_from_train) \
            else self.split
        if source not in self.OFFICIAL_SPLITS:
            raise ValueError(
                f'{self.DATASET_NAME} has no {source!r} split in '
                f'{self.ann_file}; set val_from_train=N to hold out N train '
                f'identities for model selection')
        chosen = [(i, r) for i, r in enumerate(records)
                  if r['split'] == source]
        if self.val_from_train and source == 'train':
            ids = sorted({r['id'] for _, r in chosen})
            if self.val_from_train >= len(ids):
                raise ValueError(f'val_from_train={self.val_from_train} '
                                 f'leaves no train identity ({len(ids)})')
            held = set(ids[len(ids) - self.val_from_train:])
            keep = (lambda r: r['id'] in held) if self.split == 'val' \
                else (lambda r: r['id'] not in held)
            chosen = [(i, r) for i, r in chosen if keep(r)]
        if not chosen:
            raise ValueError(f'{self.ann_file}: no record in split '
                             f'{self.split!r}')
        return chosen

    def load_data_list(self) -> List[dict]:
        records = self._read_records()
        chosen = self._select(records)
        train_like = self.split == 'train'
        offset = self.TRAIN_PID_OFFSET if (
            train_like or self.val_from_train) else 0
        # caption_idx indexes the caption-level list of the *whole* official
        # split (what the part files are keyed by), even when identities
        # are held out with val_from_train.
        first_caption, count = {}, 0
        for index, rec in enumerate(records):
            if rec['split'] == records[chosen[0][0]]['split']:
                first_caption[index] = count
                count += len(rec['captions'])
        chosen_indices = {index for index, _ in chosen}
        self._held_out_captions = {
            first_caption[index] + k for index, rec in enumerate(records)
            if index in first_caption and index not in chosen_indices
            for k in range(len(rec['captions']))}
        data_list: List[dict] = []
        for image_id, (index, rec) in enumerate(chosen):
            caption_idx = first_caption[index]
            pid = rec['id'] - offset
            rel_path = rec[self.IMAGE_KEY]
            img_path = None if self.view == 'captions' \
                else self._image_path(rel_path, index)
            if self.view == 'images':
                data_list.append(dict(img_path=img_path, rel_path=rel_path,
                                      pid=pid, image_id=image_id))
                continue
            for caption in rec['captions']:
                info = dict(caption=caption, pid=pid, image_id=image_id,
                            caption_idx=caption_idx, rel_path=rel_path)
                if img_path is not None:
                    info['img_path'] = img_path
                data_list.append(info)
                caption_idx += 1
        if train_like:
            pids = sorted({d['pid'] for d in data_list})
            if pids != list(range(len(pids))):
                raise AnnotationError(
                    f'{self.ann_file}: train identities must map to '
                    f'0..{len(pids) - 1} (CUHK-PEDES: id - 1), got '
                    f'{pids[:5]}...{pids[-3:]}')
            self.num_classes = len(pids)
            if self.part_files:
                data_list = self._attach_parts(data_list)
        self._metainfo.update(dataset_name=self.DATASET_NAME,
                              split=self.split, view=self.view,
                              num_classes=self.num_classes)
        return data_list

    def _attach_parts(self, data_list: List[dict]) -> List[dict]:
        from .part_annotations import attach_parts, find_part_files
        cfg = dict(self.part_files)
        data_final = cfg.pop('data_final', 'auto')
        score_dict = cfg.pop('score_dict', 'auto')
        seg_dir = cfg.pop('seg_dir', 'segs')
        join = (lambda p: p if osp.isabs(p) else osp.join(self.data_root, p))
        data_final, score_dict, seg_dir = (join(p) if p != 'auto' else p
                                           for p in (data_final, score_dict,
                                                     seg_dir))
        if data_final == 'auto' or score_dict == 'auto':
            found = find_part_files(self.data_root, self.DATASET_NAME)
            data_final = found[0] if data_final == 'auto' else data_final
            score_dict = found[1] if score_dict == 'auto' else score_dict
        return attach_parts(data_list, data_final, score_dict, seg_dir,
                            self.DATASET_NAME,
                            held_out=self._held_out_captions, **cfg)

    # ------------------------------------------------------------ checking
    @classmethod
    def check_folder(cls,
                     data_root: str,
                     ann_file: Optional[str] = None,
                     img_prefix: str = 'imgs',
                     part_files: Optional[dict] = None,
                     check_images: bool = True,
                     parts: Optional[bool] = None,
                     seg_dir: str = 'segs',
                     **unused) -> 'CheckReport':
        """Check the folder this dataset would read and say what to fix
        (``tools/misc/check_dataset.py``; see ``sapsam/datasets/
        tbpr_checks.py`` for what is checked).

        Takes the constructor's arguments, so a dataset config can be
        passed as it is: those that do not change what is on disk
        (``split``, ``view``, ``pipeline``, ...) are ignored.

        Args:
            data_root (str): The dataset folder (annotation file +
                ``imgs/``).
            ann_file (str, optional): Annotation file name if not the
                official one.
            img_prefix (str): Image folder under ``data_root``.
            part_files (dict, optional): The dataset's part files; given,
                they are required and their ``seg_dir`` is checked.
            check_images (bool): Check that every image exists and decode
                it.
            parts (bool, optional): Check SAP-SAM part files: None checks
                them when present, True requires them, False skips them.
            seg_dir (str): Mask folder of the part files.

        Returns:
            CheckReport: errors, warnings and notes, each with its fix.
        """
        from .tbpr_checks import check_tbpr_folder
        if part_files:
            parts = True
            seg_dir = part_files.get('seg_dir', seg_dir)
        return check_tbpr_folder(cls, data_root, ann_file=ann_file,
                                 img_prefix=img_prefix,
                                 check_images=check_images, parts=parts,
                                 seg_dir=seg_dir)
