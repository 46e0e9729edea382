"""Per-sample seeded augmentation and errors that name the sample.

:class:`SeededSampleMixin` sits in front of :class:`mmengine.dataset.
BaseDataset` in the sapsam datasets. Once :meth:`set_augmentation_epoch`
was called (by ``ReproducibleEpochHook`` before each training epoch), the
pipeline of sample ``i`` in epoch ``e`` runs with python, numpy and torch
seeded from ``(seed, e, i)`` and the caller's random states restored
afterwards: the augmentation of a sample no longer depends on which
dataloader worker (or the main process) draws it, nor on what was drawn
before, so a resumed run repeats the draws of an uninterrupted one.

When the pipeline fails, :class:`SampleError` names the annotation file,
the sample and, where a file it reads is missing, empty or not decodable,
that file and what is wrong with it (mmcv's own messages name no record
and, under ``python -O``, its ``assert`` on a failed decode becomes an
``AttributeError`` without a path).
"""
import contextlib
import os.path as osp
import random
from typing import Iterator, Optional

import numpy as np
import torch

#: Keys of a data info dict that name files the pipeline reads.
_FILE_KEYS = ('img_path', 'seg_map_path')
_LIST_FILE_KEYS = ('part_seg_paths', )


class SampleError(RuntimeError):
    """A sample cannot be loaded; the message names the file and record."""


def _same_kind(err: Exception, message: str) -> Exception:
    """An exception of ``err``'s type (so callers can still catch e.g.
    ``FileNotFoundError``) carrying ``message``; a :class:`SampleError` for
    types that cannot be built from a message, or that a failed decode
    raises for want of a check (``AssertionError``, ``AttributeError`` on
    ``None`` under ``python -O``)."""
    if isinstance(err, (OSError, ValueError, KeyError, TypeError)):
        try:
            return type(err)(message)
        except Exception:  # noqa: BLE001 (odd constructors)
            pass
    return SampleError(message)


def file_problem(path: str) -> Optional[str]:
    """None if ``path`` is a decodable image, else what is wrong with it."""
    if not isinstance(path, str) or not path:
        return f'bad file name {path!r}'
    if not osp.isfile(path):
        return f'{path} not found'
    if osp.getsize(path) == 0:
        return f'{path} is empty (0 bytes)'
    from PIL import Image
    try:
        with Image.open(path) as img:
            img.load()
    except Exception as err:  # noqa: BLE001 (PIL raises many types)
        return (f'{path} is not a decodable image (truncated, or not an '
                f'image: {str(err) or type(err).__name__})')
    return None


def sample_seed(seed: int, epoch: int, index: int) -> int:
    """A 32-bit seed of ``(seed, epoch, index)`` (statistically independent
    streams for neighbouring values)."""
    return int(np.random.SeedSequence([seed, epoch, index]).generate_state(
        1)[0])


@contextlib.contextmanager
def seeded_rngs(seed: int) -> Iterator[None]:
    """Seed python, numpy and torch (CPU) with ``seed`` inside the block and
    restore the previous states afterwards."""
    py_state, np_state = random.getstate(), np.random.get_state()
    with torch.random.fork_rng(devices=[]):
        random.seed(seed)
        np.random.seed(seed)
        torch.manual_seed(seed)
        try:
            yield
        finally:
            random.setstate(py_state)
            np.random.set_state(np_state)


class SeededSampleMixin:
    """Seeded per-sample augmentation and sample-naming errors for a
    :class:`mmengine.dataset.BaseDataset` subclass (put it first)."""

    def set_augmentation_epoch(self, seed: int, epoch: int) -> None:
        """Draw the augmentation of epoch ``epoch`` from ``seed``.

        The values live in shared memory, so persistent dataloader workers
        see them too.
        """
        state = getattr(self, '_augmentation_state', None)
        if state is None:
            state = torch.zeros(2, dtype=torch.int64).share_memory_()
            self._augmentation_state = state
        state[0], state[1] = int(seed), int(epoch)

    def prepare_data(self, idx: int):
        state = getattr(self, '_augmentation_state', None)
        try:
            if state is None:
                return super().prepare_data(idx)
            seed, epoch = (int(v) for v in state.tolist())
            with seeded_rngs(sample_seed(seed, epoch, idx)):
                return super().prepare_data(idx)
        except SampleError:
            raise
        except Exception as err:  # noqa: BLE001 (re-raised with context)
            raise _same_kind(err, self._describe_failure(idx, err)) from err

    def _describe_failure(self, idx: int, err: Exception) -> str:
        """The error's message with the sample named and, for files it
        reads that are missing, empty or undecodable, what is wrong."""
        info = self.get_data_info(idx)
        files = [info[k] for k in _FILE_KEYS if info.get(k) is not None]
        for key in _LIST_FILE_KEYS:
            files += list(info.get(key) or [])
        original = str(err) or type(err).__name__
        problems = [p for p in map(file_problem, files) if p is not None]
        if str(self.ann_file) in original:   # our transforms name it already
            where = ''
        else:
            record = info.get('record_idx', info.get('caption_idx', idx))
            where = (f'{self.ann_file}: sample {idx} (record {record}' +
                     (f', image {info["img_path"]}' if info.get('img_path')
                      else '') + '): ')
        return where + '; '.join(problems + [original])
