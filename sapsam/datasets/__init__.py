from .atr_phrase_seg import ATRPhraseSegDataset
from .base_tbpr_dataset import AnnotationError, BaseTBPRDataset
from .checks import CheckReport, check_atr_dataset, check_dataset, check_tbpr_dataset  # noqa: E501
from .cuhk_pedes import CUHKPEDES
from .icfg_pedes import ICFGPEDES
from .part_annotations import attach_parts, find_part_files
from .rstp_reid import RSTPReid
from .samplers import *  # noqa: F401,F403
from .transforms import *  # noqa: F401,F403
