"""ATR phrase segmentation: (image, phrase, binary mask of its part)."""
import os.path as osp
from typing import (TYPE_CHECKING, Dict, List, Mapping, Optional, Sequence,
                    Tuple, Union)

from mmengine.dataset import BaseDataset

from sapsam.registry import DATASETS
from sapsam.utils.atr_vocabulary import (ATR_CLASSES, ATR_CROP_GROUPS,
                                        ATR_GROUP_NAMES, ATR_PART_GROUPS)
from .base_tbpr_dataset import AnnotationError, load_json
from .sample_loading import SeededSampleMixin

if TYPE_CHECKING:
    from .checks import CheckReport

#: Ground-truth tables by name: the official Person-SAM training's merges
#: (fidelity.md G3: hair without face, shoes without legs) and supplement
#: Table 1's (used there for the BLIP-2 crops).
GROUP_TABLES = dict(official=ATR_PART_GROUPS, supplement=ATR_CROP_GROUPS)


@DATASETS.register_module()
class ATRPhraseSegDataset(SeededSampleMixin, BaseDataset):
    """Phrase records of ATR for training/evaluating Person-SAM.

    Reads the official layout::

        data_root/JPEGImages/<name>.jpg
        data_root/SegmentationClassAug/<stem>.png   # ATR label map, uint8
        data_root/atr_item_descriptions_{train,dev,test}.json

    where each JSON record ``{"name", "idx", "text"}`` is one (image, group,
    phrase) triple (fidelity.md F1). One sample is one record: the image, the
    phrase (``text``) and, through :class:`LoadPhraseMask`, the binary mask of
    the ATR ids of the record's group. Images and masks are paired by file
    stem. Every record is checked when the dataset is built: a malformed
    record, an empty phrase, a group id missing from the table or a missing
    image/mask file raises an error naming the file and the record.

    Args:
        ann_file (str): Record file, relative to ``data_root``.
        group_table (str | dict): ``'official'`` (default; {2}, {3}, {9, 10},
            the masks the official model was trained on), ``'supplement'``
            (supplement Table 1's merges: hair+face, sunglass+face,
            shoes+legs) or a dict ``{group key: [ATR ids]}``.
        seg_map_suffix (str): Suffix of the label maps. Defaults to '.png'.
        check_files (bool): Check that every image and mask exists.
            Defaults to True.
        data_prefix (dict): ``img_path`` and ``seg_map_path`` folders.
        **kwargs: Other :class:`mmengine.dataset.BaseDataset` arguments.

    Data info keys: ``img_path``, ``seg_map_path``, ``text``, ``group_id``
    (str), ``mask_class_ids`` (tuple[int]), ``record_idx``, ``record``
    (``'<ann_file> record <i> (<name>)'``, used in error messages).
    """

    METAINFO = dict(classes=('background', 'foreground'),
                    palette=[[0, 0, 0], [255, 255, 255]],
                    group_names=ATR_GROUP_NAMES)

    def __init__(self,
                 ann_file: str,
                 group_table: Union[str, Mapping[str, Sequence[int]]] =
                 'official',
                 seg_map_suffix: str = '.png',
                 check_files: bool = True,
                 data_prefix: Optional[dict] = None,
                 **kwargs) -> None:
        self.group_table = self._resolve_groups(group_table)
        self.seg_map_suffix = seg_map_suffix
        self.check_files = check_files
        if data_prefix is None:
            data_prefix = dict(img_path='JPEGImages',
                               seg_map_path='SegmentationClassAug')
        super().__init__(ann_file=ann_file, data_prefix=data_prefix,
                         **kwargs)

    @classmethod
    def check_folder(cls,
                     data_root: str,
                     ann_file: Optional[str] = None,
                     data_prefix: Optional[dict] = None,
                     check_images: bool = True,
                     **unused) -> 'CheckReport':
        """Check the ATR folder this dataset would read and say what to fix
        (``tools/misc/check_dataset.py``; ``sapsam/datasets/atr_checks.py``).

        Takes the constructor's arguments, so a dataset config can be
        passed as it is; the others (``group_table``, ``pipeline``, ...,
        and ``parts``, which only TBPR folders have) are ignored.

        Args:
            data_root (str): The ATR folder.
            ann_file (str, optional): The one phrase file to check; by
                default the train, dev and test files.
            data_prefix (dict, optional): ``img_path`` and
                ``seg_map_path`` folders, as in the constructor.
            check_images (bool): Check images and label maps and decode
                them.
        """
        from .atr_checks import ATR_PHRASE_FILES, check_atr_folder
        prefix = data_prefix or {}
        return check_atr_folder(
            data_root, ann_files=[ann_file] if ann_file else ATR_PHRASE_FILES,
            img_dir=prefix.get('img_path', 'JPEGImages'),
            seg_dir=prefix.get('seg_map_path', 'SegmentationClassAug'),
            check_images=check_images)

    @staticmethod
    def _resolve_groups(
            group_table: Union[str, Mapping]) -> Dict[str, Tuple[int, ...]]:
        if isinstance(group_table, str):
            if group_table not in GROUP_TABLES:
                raise KeyError(f'unknown group_table {group_table!r}; use '
                               f'{sorted(GROUP_TABLES)} or a dict')
            return dict(GROUP_TABLES[group_table])
        table = {}
        for key, ids in dict(group_table).items():
            ids = tuple(int(i) for i in ids)
            if not ids or any(not 0 < i < len(ATR_CLASSES) for i in ids):
                raise ValueError(f'group {key!r}: ATR ids must be in '
                                 f'1..{len(ATR_CLASSES) - 1}, got {ids}')
            table[str(key)] = ids
        return table

    def load_data_list(self) -> List[dict]:
        records = load_json(self.ann_file)
        if not isinstance(records, list):
            raise AnnotationError(f'{self.ann_file}: expected a JSON list of '
                                  f'{{name, idx, text}} records, got '
                                  f'{type(records).__name__}')
        if not records:
            raise AnnotationError(f'{self.ann_file}: no records (an empty '
                                  'list)')
        img_dir = self.data_prefix.get('img_path', '')
        seg_dir = self.data_prefix.get('seg_map_path', '')
        exists: Dict[str, bool] = {}

        def is_file(path: str) -> bool:
            if path not in exists:
                exists[path] = osp.isfile(path)
            return exists[path]

        data_list = []
        for i, record in enumerate(records):
            where = f'{self.ann_file} record {i}'
            if not isinstance(record, dict) or not {'name', 'idx', 'text'} \
                    <= set(record):
                raise AnnotationError(f'{where}: expected keys name, idx, '
                                      f'text, got {record!r}')
            name, text = record['name'], record['text']
            where = f'{where} ({name})'
            if not isinstance(name, str) or not name:
                raise AnnotationError(f'{where}: bad image name {name!r}')
            if osp.isabs(name) or '..' in name.replace('\\', '/').split('/'):
                raise AnnotationError(f'{where}: image name {name!r} leaves '
                                      'the image folder')
            if not isinstance(text, str) or not text.strip():
                raise AnnotationError(f'{where}: empty phrase {text!r}')
            group = str(record['idx'])
            if group not in self.group_table:
                raise AnnotationError(
                    f'{where}: group id {record["idx"]!r} is not in the group '
                    f'table (known: {sorted(self.group_table, key=int)})')
            img_path = osp.join(img_dir, name)
            seg_map_path = osp.join(
                seg_dir, osp.splitext(name)[0] + self.seg_map_suffix)
            if self.check_files:
                if not is_file(img_path):
                    raise FileNotFoundError(f'{where}: image not found: '
                                            f'{img_path}')
                if not is_file(seg_map_path):
                    raise FileNotFoundError(f'{where}: mask PNG not found: '
                                            f'{seg_map_path}')
            data_list.append(dict(
                img_path=img_path, seg_map_path=seg_map_path,
                text=text.strip(), group_id=group,
                mask_class_ids=self.group_table[group], record_idx=i,
                record=where, reduce_zero_label=False, seg_fields=[]))
        return data_list
