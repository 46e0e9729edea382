from .official_names import OFFICIAL_NAME_MAP, OFFICIAL_RULES, official_name
from .ordered_rules_constructor import (SAPSAM_RULES,
                                        OrderedRulesOptimWrapperConstructor)

__all__ = ['OrderedRulesOptimWrapperConstructor', 'SAPSAM_RULES']
__all__ += ['OFFICIAL_NAME_MAP', 'OFFICIAL_RULES', 'official_name']
from .official_schedule import OfficialWarmupLR  # noqa: E402

__all__ += ['OfficialWarmupLR']
from .repeated_step_optim_wrapper import RepeatedStepOptimWrapper  # noqa: E402

__all__ += ['RepeatedStepOptimWrapper']
