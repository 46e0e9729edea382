"""Optimiser constructor with ordered, overriding per-parameter rules."""
from typing import List, Optional

import torch.nn as nn
from mmengine.logging import print_log
from mmengine.optim import DefaultOptimWrapperConstructor, OptimWrapper

from sapsam.registry import (OPTIM_WRAPPER_CONSTRUCTORS, OPTIM_WRAPPERS,
                             OPTIMIZERS)
from .official_names import OFFICIAL_RULES, official_name

#: Kept for existing imports: the official rules (docs/fidelity.md O1).
SAPSAM_RULES = OFFICIAL_RULES


@OPTIM_WRAPPER_CONSTRUCTORS.register_module()
class OrderedRulesOptimWrapperConstructor(DefaultOptimWrapperConstructor):
    """One parameter group per tensor, shaped by ordered substring rules.

    ``paramwise_cfg = dict(rules=[dict(keys=[...], lr_mult=..., decay_mult=
    ...), ...])``: every rule whose key occurs in a parameter's name sets
    that parameter's lr (``base_lr * lr_mult``) and/or weight decay
    (``base_wd * decay_mult``); later rules override earlier ones. Frozen
    parameters (``requires_grad=False``) are left out. This reproduces the
    learning-rate rules of IRRA and SAP-SAM, which mmengine's
    ``custom_keys`` (longest match wins, one rule per parameter) cannot.

    ``paramwise_cfg['names'] = 'official'`` tests the rules on each
    parameter's official IRRA/SAP-SAM name (:func:`official_name`) instead
    of its sapsam name, so every parameter lands in the (lr, weight decay)
    group the official code gives it; ``rules`` then default to
    :data:`OFFICIAL_RULES`. With ``'sapsam'`` (the default) the rules see
    the module names as they are.
    """

    def __call__(self, model: nn.Module) -> OptimWrapper:
        if hasattr(model, 'module'):
            model = model.module
        paramwise_cfg = self.paramwise_cfg or {}
        names = paramwise_cfg.get('names', 'sapsam')
        if names not in ('sapsam', 'official'):
            raise ValueError(f"paramwise_cfg['names'] must be 'sapsam' or "
                             f"'official', got {names!r}")
        rules: Optional[List[dict]] = paramwise_cfg.get('rules',
                                                        OFFICIAL_RULES)
        base_lr = self.optimizer_cfg.get('lr', self.base_lr)
        base_wd = self.optimizer_cfg.get('weight_decay', self.base_wd) or 0.
        groups, counts = [], {}
        for name, param in model.named_parameters():
            if not param.requires_grad:
                continue
            key_name = official_name(name) if names == 'official' else name
            lr_mult, decay_mult, matched = 1.0, 1.0, []
            for i, rule in enumerate(rules):
                if any(key in key_name for key in rule['keys']):
                    lr_mult = rule.get('lr_mult', lr_mult)
                    decay_mult = rule.get('decay_mult', decay_mult)
                    matched.append(i)
            groups.append(dict(params=[param], lr=base_lr * lr_mult,
                               weight_decay=base_wd * decay_mult))
            key = (lr_mult, decay_mult)
            counts[key] = counts.get(key, 0) + 1
        print_log('parameter groups (lr_mult, decay_mult): count = ' +
                  ', '.join(f'{k}: {v}' for k, v in sorted(counts.items())),
                  logger='current')
        optimizer_cfg = dict(self.optimizer_cfg)
        optimizer_cfg['params'] = groups
        optimizer = OPTIMIZERS.build(optimizer_cfg)
        wrapper_cfg = dict(self.optim_wrapper_cfg)
        wrapper_cfg.setdefault('type', 'OptimWrapper')
        return OPTIM_WRAPPERS.build(wrapper_cfg,
                                    default_args=dict(optimizer=optimizer))
