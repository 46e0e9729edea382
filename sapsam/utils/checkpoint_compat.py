"""Safe checkpoint loading and atomic checkpoint writes for MMEngine.

A ``.pth`` file is a pickle: loading it with ``weights_only=False`` runs
whatever code it names. sapsam therefore reads local checkpoints with
``torch.load(weights_only=True)`` (tensors, plain containers and numbers
only) and refuses anything else with a :class:`CheckpointError` that names
the file and how to opt in for a file you trust: the command-line flag
:data:`TRUST_FLAG` or the environment variable :data:`TRUST_ENV` (``=1``).

MMEngine 0.10.x checkpoints are not loadable that way as written (their
message hub pickles ``HistoryBuffer`` objects, numpy arrays and bound
methods through ``getattr``), so sapsam saves them in a safe form:
:func:`to_safe_form` (called by ``SafeCheckpointHook`` before saving) turns
those objects into tagged dicts of lists, and :func:`from_safe_form` (after
loading) turns them back.

:class:`AtomicLocalBackend` (``backend_args=dict(backend='atomic_local')``)
writes checkpoints and ``last_checkpoint`` through a temp file and
``os.replace``, so a kill during a save never leaves a truncated file under
the final name.

:func:`patch_mmengine_checkpoint_loading` installs both; the tools, the
runner build (:func:`sapsam.utils.register_all_modules`) and the APIs call
it, ``import sapsam`` does not.
"""
import os
import os.path as osp
import pickle
import tempfile
import zipfile
from typing import Any, List, Optional

import numpy as np
import torch

TRUST_ENV = 'SAPSAM_TRUST_CHECKPOINTS'
TRUST_FLAG = '--trust-checkpoint'
#: Tags of the safe form of objects weights_only cannot read.
_BUFFER_TAG = '__sapsam_history_buffer__'
#: Name prefix of the temp files of :func:`atomic_write_bytes`.
TEMP_PREFIX = '.tmp_'
_ARRAY_TAG = '__sapsam_ndarray__'

_PATCHED = False


class CheckpointError(ValueError):
    """A checkpoint file is missing, truncated, not a checkpoint, or holds
    objects that only a full (code-running) unpickle could read."""


def trust_checkpoints() -> None:
    """Allow full unpickling of checkpoints in this process (the opt-in of
    :data:`TRUST_FLAG`; child processes inherit it)."""
    os.environ[TRUST_ENV] = '1'


def checkpoints_trusted() -> bool:
    """Whether :data:`TRUST_ENV` opts in to full unpickling."""
    return os.environ.get(TRUST_ENV, '').strip().lower() in ('1', 'true',
                                                             'yes')


def _unsafe_globals(filename: str) -> List[str]:
    try:
        return list(torch.serialization.get_unsafe_globals_in_checkpoint(
            filename))
    except Exception:  # noqa: BLE001 (only used to explain the refusal)
        return []


def load_local_checkpoint(filename: str, map_location=None) -> Any:
    """Read a local checkpoint with ``weights_only=True`` (the default) or,
    with the :data:`TRUST_ENV` opt-in, with full unpickling.

    Raises:
        CheckpointError: naming the file: missing, empty, truncated, not a
            PyTorch checkpoint, or holding objects that need the opt-in.
    """
    filename = osp.expanduser(str(filename))
    if not osp.isfile(filename):
        raise CheckpointError(f'checkpoint not found: {filename}')
    if osp.getsize(filename) == 0:
        raise CheckpointError(f'{filename}: empty file (0 bytes), not a '
                              'checkpoint')
    trusted = checkpoints_trusted()
    if not trusted and not zipfile.is_zipfile(filename):
        raise CheckpointError(
            f'{filename}: truncated or not a PyTorch checkpoint (no zip '
            'archive; an interrupted download, an HTML error page or a Git '
            'LFS pointer?)')
    try:
        checkpoint = torch.load(filename, map_location=map_location,
                                weights_only=not trusted)
    except pickle.UnpicklingError as err:
        if 'weights_only' not in str(err) and 'Weights only' not in str(err):
            raise CheckpointError(f'{filename}: not a PyTorch checkpoint '
                                  f'({err})') from err
        found = _unsafe_globals(filename)
        raise CheckpointError(
            f'{filename}: refusing to unpickle objects other than tensors '
            f'and plain data ({", ".join(found) or err}). A checkpoint is a '
            'pickle and loading such objects can run arbitrary code. Only if '
            f'you trust this file, rerun with {TRUST_FLAG} or set '
            f'{TRUST_ENV}=1.') from None
    except (EOFError, RuntimeError, zipfile.BadZipFile, OSError) as err:
        raise CheckpointError(
            f'{filename}: truncated or not a PyTorch checkpoint '
            f'({type(err).__name__}: {str(err).splitlines()[0][:200]})'
        ) from err
    return from_safe_form(checkpoint)


def checkpoint_problem(filename: str) -> Optional[str]:
    """None if ``filename`` is a complete zip-format checkpoint (every
    member's CRC checked), else what is wrong with it."""
    if not osp.isfile(filename):
        return 'not found'
    if osp.getsize(filename) == 0:
        return 'empty file'
    try:
        with zipfile.ZipFile(filename) as archive:
            bad = archive.testzip()
    except (zipfile.BadZipFile, OSError, EOFError) as err:
        return f'truncated or not a checkpoint ({err})'
    return None if bad is None else f'corrupt member {bad}'


# ------------------------------------------------------------ safe form
def to_safe_form(obj: Any) -> Any:
    """``obj`` with ``HistoryBuffer``, numpy arrays and numpy scalars
    replaced by plain data that ``weights_only`` loading accepts."""
    from mmengine.logging import HistoryBuffer
    if isinstance(obj, HistoryBuffer):
        log, count = obj.data
        return {_BUFFER_TAG: True, 'max_length': int(obj.max_length),
                'log': log.tolist(), 'count': count.tolist()}
    if isinstance(obj, np.ndarray):
        return {_ARRAY_TAG: True, 'dtype': str(obj.dtype),
                'data': obj.tolist()}
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, dict):
        return type(obj)((k, to_safe_form(v)) for k, v in obj.items())
    if isinstance(obj, (list, tuple)) and not hasattr(obj, '_fields'):
        return type(obj)(to_safe_form(v) for v in obj)
    return obj


def from_safe_form(obj: Any) -> Any:
    """Inverse of :func:`to_safe_form`. Containers without tagged entries
    are returned as they are (a state dict keeps its ``_metadata``)."""
    if isinstance(obj, dict):
        if obj.get(_BUFFER_TAG) is True:
            from mmengine.logging import HistoryBuffer
            return HistoryBuffer(obj['log'], obj['count'], obj['max_length'])
        if obj.get(_ARRAY_TAG) is True:
            return np.asarray(obj['data'], dtype=obj['dtype'])
        items = {k: from_safe_form(v) for k, v in obj.items()}
        if all(items[k] is v for k, v in obj.items()):
            return obj
        return type(obj)(items.items())
    if isinstance(obj, (list, tuple)) and not hasattr(obj, '_fields'):
        items = [from_safe_form(v) for v in obj]
        if all(a is b for a, b in zip(items, obj)):
            return obj
        return type(obj)(items)
    return obj


# ------------------------------------------------------- atomic writes
def _umask() -> int:
    """The process umask, read without changing it where possible."""
    try:
        with open('/proc/self/status', encoding='ascii') as f:
            for line in f:
                if line.startswith('Umask:'):
                    return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def atomic_write_bytes(path: str, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temp file in the same folder and
    ``os.replace``; the file gets the mode of a normal ``open`` (0666 less
    the umask), and no temp file survives an error."""
    folder = osp.dirname(osp.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=TEMP_PREFIX,
                               suffix='_' + osp.basename(path))
    try:
        with os.fdopen(fd, 'wb') as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        if osp.exists(tmp):
            os.remove(tmp)
        raise


def _atomic_local_backend():
    from mmengine.fileio.backends import LocalBackend

    class AtomicLocalBackend(LocalBackend):
        """Local file backend whose writes are atomic."""

        def put(self, obj: bytes, filepath) -> None:
            atomic_write_bytes(str(filepath), obj)

        def put_text(self, obj: str, filepath, encoding='utf-8') -> None:
            atomic_write_bytes(str(filepath), obj.encode(encoding))

    return AtomicLocalBackend


def patch_mmengine_checkpoint_loading() -> None:
    """Route MMEngine's local checkpoint loading through
    :func:`load_local_checkpoint` and register the ``'atomic_local'`` file
    backend (idempotent)."""
    global _PATCHED
    if _PATCHED:
        return
    from mmengine.fileio.backends import register_backend
    from mmengine.runner.checkpoint import CheckpointLoader
    CheckpointLoader.register_scheme(prefixes='', force=True)(
        load_local_checkpoint)
    register_backend('atomic_local', _atomic_local_backend(), force=True)
    _PATCHED = True
