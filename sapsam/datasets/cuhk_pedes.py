from sapsam.registry import DATASETS
from .base_tbpr_dataset import BaseTBPRDataset


@DATASETS.register_module()
class CUHKPEDES(BaseTBPRDataset):
    """CUHK-PEDES (``reid_raw.json``; ids are 1-based, train pid = id - 1).

    Expected layout::

        data_root/reid_raw.json
        data_root/imgs/CUHK01/0363004.png ...
    """
    ANN_FILE = 'reid_raw.json'
    IMAGE_KEY = 'file_path'
    DATASET_NAME = 'CUHK-PEDES'
    TRAIN_PID_OFFSET = 1
    PUBLISHED_SIZES = dict(train=(34054, 68126, 11003),
                           val=(3078, 6158, 1000), test=(3074, 6156, 1000))
