"""Optimizer wrapper that applies each gradient more than once."""
from mmengine.optim import OptimWrapper

from sapsam.registry import OPTIM_WRAPPERS


@OPTIM_WRAPPERS.register_module()
class RepeatedStepOptimWrapper(OptimWrapper):
    """``OptimWrapper`` whose ``step`` calls ``optimizer.step()`` ``repeats``
    times with the same gradients.

    The official Person-SAM training loop calls ``optimizer.step()`` twice
    per iteration (docs/fidelity.md P1): every batch gives two AdamW updates.
    ``repeats=2`` reproduces that; ``repeats=1`` is the plain wrapper.

    Args:
        repeats (int): Optimizer steps per update. Defaults to 2.
        **kwargs: See :class:`mmengine.optim.OptimWrapper`.
    """

    def __init__(self, repeats: int = 2, **kwargs) -> None:
        if repeats < 1:
            raise ValueError(f'repeats must be >= 1, got {repeats}')
        super().__init__(**kwargs)
        self.repeats = repeats

    def step(self, **kwargs) -> None:
        super().step(**kwargs)  # clips the gradient once, then steps
        for _ in range(self.repeats - 1):
            self.optimizer.step(**kwargs)
