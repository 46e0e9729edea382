"""Let MMEngine 0.10.x load its own checkpoints under torch >= 2.6.

torch 2.6 made ``torch.load(weights_only=True)`` the default. MMEngine
0.10.7 calls ``torch.load`` without the argument, and its checkpoints hold
pickled ``HistoryBuffer`` objects, numpy arrays and bound methods, so
``load_from`` and ``--resume`` fail with ``UnpicklingError`` (mmengine
issue #1655; fixed only on mmengine's unreleased main branch). An allow
list cannot cover them: the message hub pickles bound methods through
``getattr``, which ``weights_only`` must never allow.

This module re-registers MMEngine's loader for local paths so it reads
them with ``weights_only=False``, as MMEngine's own fix does. Only load
checkpoints you trust: a checkpoint file is a pickle.
"""
import os.path as osp

import torch
from mmengine.runner.checkpoint import CheckpointLoader

_PATCHED = False


def load_local_checkpoint(filename: str, map_location=None):
    """Read a local MMEngine checkpoint (trusted) with full unpickling."""
    filename = osp.expanduser(filename)
    if not osp.isfile(filename):
        raise FileNotFoundError(f'checkpoint not found: {filename}')
    return torch.load(filename, map_location=map_location,
                      weights_only=False)


def patch_mmengine_checkpoint_loading() -> None:
    """Install :func:`load_local_checkpoint` for local paths (idempotent)."""
    global _PATCHED
    if _PATCHED:
        return
    CheckpointLoader.register_scheme(prefixes='', force=True)(
        load_local_checkpoint)
    _PATCHED = True
