from .sam_data_preprocessor import SAMDataPreprocessor
from .tbpr_data_preprocessor import TBPRDataPreprocessor

__all__ = ['TBPRDataPreprocessor']
__all__ += ['SAMDataPreprocessor']
