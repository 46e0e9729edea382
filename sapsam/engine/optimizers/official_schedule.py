"""The official per-epoch learning-rate schedule (IRRA / SAP-SAM)."""
import math

from mmengine.optim.scheduler.lr_scheduler import LRSchedulerMixin
from mmengine.optim.scheduler.param_scheduler import _ParamScheduler

from sapsam.registry import PARAM_SCHEDULERS


@PARAM_SCHEDULERS.register_module()
class OfficialWarmupLR(LRSchedulerMixin, _ParamScheduler):
    """Linear warm-up, then cosine or constant, in closed form per step.

    At step ``k`` (an epoch with ``by_epoch=True``, 0-based) the lr is
    ``base_lr * f(k)`` with, for ``k < warmup``,
    ``f = warmup_factor + (1 - warmup_factor) * k / warmup``, and after it
    ``f = 1`` (``'constant'``) or
    ``eta_min / base_lr + (1 - eta_min / base_lr) * (1 + cos(pi * (k -
    warmup) / (total - warmup))) / 2`` (``'cosine'``). This is the official
    schedule (docs/fidelity.md S1/S2): the retriever warms up 5 epochs from
    0.1 (0.1, 0.28, 0.46, 0.64, 0.82) then follows a cosine to 0 at epoch 60;
    Person-SAM warms up 1 epoch from 0.1 then stays constant. Unlike chained
    ``LinearLR`` + ``CosineAnnealingLR`` it reaches the base lr exactly.

    Args:
        optimizer (Optimizer): Wrapped optimizer.
        warmup (int): Warm-up steps. Defaults to 5.
        warmup_factor (float): Factor at step 0. Defaults to 0.1.
        after (str): ``'cosine'`` or ``'constant'``. Defaults to ``'cosine'``.
        total (int): Step where the cosine reaches ``eta_min``.
            Defaults to 60.
        eta_min (float): Final lr of the cosine. Defaults to 0.
        begin, end, last_step, by_epoch, verbose: See mmengine's
            ``_ParamScheduler``.
    """

    def __init__(self, optimizer, warmup: int = 5, warmup_factor: float = 0.1,
                 after: str = 'cosine', total: int = 60, eta_min: float = 0.,
                 begin: int = 0, end: int = int(1e9), last_step: int = -1,
                 by_epoch: bool = True, verbose: bool = False) -> None:
        if after not in ('cosine', 'constant'):
            raise ValueError(f"after must be 'cosine' or 'constant', got "
                             f'{after!r}')
        if warmup < 0 or (after == 'cosine' and total <= warmup):
            raise ValueError(f'need 0 <= warmup < total, got warmup={warmup}, '
                             f'total={total}')
        self.warmup, self.warmup_factor = warmup, warmup_factor
        self.after, self.total, self.eta_min = after, total, eta_min
        super().__init__(optimizer, begin=begin, end=end,
                         last_step=last_step, by_epoch=by_epoch,
                         verbose=verbose)

    @classmethod
    def build_iter_from_epoch(cls, *args, **kwargs):
        raise NotImplementedError('OfficialWarmupLR steps per epoch, as the '
                                  'official code does; use by_epoch=True')

    def factor(self, step: int, base: float) -> float:
        """lr at ``step`` of a group whose base lr is ``base``."""
        if step < self.warmup:
            alpha = step / self.warmup
            return base * (self.warmup_factor * (1 - alpha) + alpha)
        if self.after == 'constant':
            return base
        progress = min(1., (step - self.warmup) / (self.total - self.warmup))
        return self.eta_min + (base - self.eta_min) * 0.5 * (
            1 + math.cos(math.pi * progress))

    def _get_value(self):
        step = self.last_step - self.begin
        return [self.factor(step, base) for base in self.base_values]
