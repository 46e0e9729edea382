"""Save checkpoints in a form ``weights_only`` loading accepts, and refuse
checkpoints that do not fit the model."""
from typing import Dict, List, Optional, Tuple

from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper

from sapsam.registry import HOOKS
from sapsam.utils.checkpoint_compat import CheckpointError, to_safe_form


def state_dict_mismatch(model_state: Dict, checkpoint_state: Dict
                        ) -> Tuple[List[str], List[str], List[str]]:
    """Missing keys, unexpected keys and ``'key: ckpt shape vs model
    shape'`` of a checkpoint state dict against a model's (a leading
    ``module.`` of DDP-saved keys is ignored)."""
    ckpt = {(k[len('module.'):] if k.startswith('module.') else k): v
            for k, v in checkpoint_state.items()}
    missing = sorted(k for k in model_state if k not in ckpt)
    unexpected = sorted(k for k in ckpt if k not in model_state)
    shapes = sorted(
        f'{k}: {tuple(ckpt[k].shape)} in the checkpoint, '
        f'{tuple(v.shape)} in the model' for k, v in model_state.items()
        if k in ckpt and hasattr(v, 'shape') and hasattr(ckpt[k], 'shape')
        and tuple(v.shape) != tuple(ckpt[k].shape))
    return missing, unexpected, shapes


def format_mismatch(missing: List[str], unexpected: List[str],
                    shapes: List[str], limit: int = 10) -> str:
    """The findings of :func:`state_dict_mismatch` as text."""
    parts = []
    for what, keys in (('missing keys', missing),
                       ('unexpected keys', unexpected),
                       ('shape mismatches', shapes)):
        if keys:
            more = f' (+{len(keys) - limit} more)' if len(keys) > limit \
                else ''
            parts.append(f'{len(keys)} {what}: {", ".join(keys[:limit])}'
                         f'{more}')
    return '; '.join(parts)


@HOOKS.register_module()
class SafeCheckpointHook(Hook):
    """Make checkpoints loadable with ``weights_only=True`` and check that a
    loaded checkpoint fits the model.

    Before a save, the message hub (``HistoryBuffer``, numpy values) and
    the other non-tensor entries are put in the safe form of
    :func:`sapsam.utils.checkpoint_compat.to_safe_form`; the loader turns
    them back. After a load, the checkpoint's state dict is compared with
    the model's: on ``--resume`` (always) and, with ``strict_load``, on
    ``load_from``, a missing, unexpected or differently shaped key is a
    :class:`CheckpointError` that lists them.

    Args:
        strict_load (bool): Also check ``load_from`` (testing); off for
            fine-tuning from partial weights. Defaults to False.
    """

    priority = 'VERY_LOW'

    def __init__(self, strict_load: bool = False) -> None:
        self.strict_load = strict_load

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        for key in list(checkpoint):
            if key != 'state_dict':
                checkpoint[key] = to_safe_form(checkpoint[key])

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        resuming = bool(getattr(runner, '_resume', False))
        if not (resuming or self.strict_load):
            return
        model = runner.model.module if is_model_wrapper(runner.model) \
            else runner.model
        state = checkpoint.get('state_dict', checkpoint)
        source = self._source(runner)
        if not isinstance(state, dict):
            raise CheckpointError(f'{source}: no state_dict in the checkpoint')
        found = format_mismatch(*state_dict_mismatch(model.state_dict(),
                                                     state))
        if found:
            what = 'resume from' if resuming else 'load'
            hint = ('it is a checkpoint of another model or config' if
                    resuming else 'pass --allow-partial to tools/test.py to '
                    'load the matching keys only')
            raise CheckpointError(f'cannot {what} {source} into '
                                  f'{type(model).__name__}: {found}; {hint}')

    @staticmethod
    def _source(runner) -> Optional[str]:
        return getattr(runner, '_load_from', None) or 'the checkpoint'
