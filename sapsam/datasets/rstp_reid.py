from sapsam.registry import DATASETS
from .base_tbpr_dataset import BaseTBPRDataset


@DATASETS.register_module()
class RSTPReid(BaseTBPRDataset):
    """RSTPReid (``data_captions.json``; image key ``img_path``).

    Expected layout::

        data_root/data_captions.json
        data_root/imgs/0000_c14_0031.jpg ...
    """
    ANN_FILE = 'data_captions.json'
    IMAGE_KEY = 'img_path'
    DATASET_NAME = 'RSTPReid'
    PUBLISHED_SIZES = dict(train=(18505, 37010, 3701), val=(1000, 2000, 200),
                           test=(1000, 2000, 200))
