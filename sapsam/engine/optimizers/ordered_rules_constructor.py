"""Optimiser constructor with ordered, overriding per-parameter rules."""
from typing import List, Optional

import torch.nn as nn
from mmengine.logging import print_log
from mmengine.optim import DefaultOptimWrapperConstructor, OptimWrapper

from sapsam.registry import (OPTIM_WRAPPER_CONSTRUCTORS, OPTIM_WRAPPERS,
                             OPTIMIZERS)

#: IRRA/SAP-SAM parameter groups (method.md §5.6): new modules at 5x the
#: base lr, biases at 2x without weight decay, applied in this order so a
#: later rule overrides an earlier one.
SAPSAM_RULES = [
    dict(keys=['cross'], lr_mult=5.0),
    dict(keys=['bias'], lr_mult=2.0, decay_mult=0.0),
    dict(keys=['classifier', 'mlm_head', 'alignment_head',
               'image_decoding_head'], lr_mult=5.0),
]


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
    """

    def __call__(self, model: nn.Module) -> OptimWrapper:
        if hasattr(model, 'module'):
            model = model.module
        rules: Optional[List[dict]] = (self.paramwise_cfg or {}).get(
            'rules', SAPSAM_RULES)
        base_lr = self.optimizer_cfg.get('lr', self.base_lr)
        base_wd = self.optimizer_cfg.get('weight_decay', self.base_wd) or 0.
        groups, counts = [], {}
        for name, param in model.named_parameters():
            if not param.requires_grad:
                continue
            lr_mult, decay_mult, matched = 1.0, 1.0, []
            for i, rule in enumerate(rules):
                if any(key in name for key in rule['keys']):
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
