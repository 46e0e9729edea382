from sapsam.registry import DATASETS
from .base_tbpr_dataset import BaseTBPRDataset


@DATASETS.register_module()
class ICFGPEDES(BaseTBPRDataset):
    """ICFG-PEDES (``ICFG-PEDES.json``, train/test only).

    The official README says ``ICFG_PEDES.json``; the loaders of IRRA and
    SAP-SAM open ``ICFG-PEDES.json``, which is the default here. There is
    no val split: use ``val_from_train`` for model selection.

    Expected layout::

        data_root/ICFG-PEDES.json
        data_root/imgs/train/0001/0001_c1_0001.jpg ...
    """
    ANN_FILE = 'ICFG-PEDES.json'
    IMAGE_KEY = 'file_path'
    DATASET_NAME = 'ICFG-PEDES'
    OFFICIAL_SPLITS = ('train', 'test')
    PUBLISHED_SIZES = dict(train=(34674, 34674, 3102),
                           test=(19848, 19848, 1000))
