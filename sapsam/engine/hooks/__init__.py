from .reproducible_epoch_hook import ReproducibleEpochHook
from .safe_checkpoint_hook import SafeCheckpointHook

__all__ = ['ReproducibleEpochHook', 'SafeCheckpointHook']
