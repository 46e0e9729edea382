from .tbpr_data_sample import TBPRDataSample, stack_field

__all__ = ['TBPRDataSample', 'stack_field']
