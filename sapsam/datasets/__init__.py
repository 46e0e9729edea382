from .base_tbpr_dataset import AnnotationError, BaseTBPRDataset
from .cuhk_pedes import CUHKPEDES
from .icfg_pedes import ICFGPEDES
from .rstp_reid import RSTPReid
from .samplers import *  # noqa: F401,F403
from .transforms import *  # noqa: F401,F403
