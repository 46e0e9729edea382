from .ordered_rules_constructor import (SAPSAM_RULES,
                                        OrderedRulesOptimWrapperConstructor)

__all__ = ['OrderedRulesOptimWrapperConstructor', 'SAPSAM_RULES']
