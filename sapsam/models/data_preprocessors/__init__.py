from .tbpr_data_preprocessor import TBPRDataPreprocessor

__all__ = ['TBPRDataPreprocessor']
