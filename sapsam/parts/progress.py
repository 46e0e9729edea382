"""Resumable progress files, sharding and log-friendly progress bars shared
by the part tools and the search API.

Each tool appends one JSON line per finished unit of work (an image, a
caption, a caption's masks) and flushes it, so an interrupted run resumes
where it stopped: a rerun reads the lines back and skips what they cover.
A truncated last line (a crash mid-write) is ignored and redone.
"""
import glob
import json
import os
import os.path as osp
import sys
import time
from typing import Iterator, List, Tuple

from mmengine.logging import print_log
from mmengine.utils import ProgressBar


def parse_shard(text: str) -> Tuple[int, int]:
    """``'i/n'`` -> ``(i, n)`` with ``0 <= i < n``.

    Raises:
        ValueError: naming the bad value.
    """
    try:
        index, total = (int(v) for v in text.split('/'))
    except ValueError as err:
        raise ValueError(f'--shard must look like "i/n", got {text!r}') \
            from err
    if not 0 <= index < total:
        raise ValueError(f'--shard {text!r}: need 0 <= i < n')
    return index, total


def read_jsonl(path: str) -> List[dict]:
    """Records of a progress file; a truncated last line is dropped."""
    if not osp.isfile(path):
        return []
    records = []
    with open(path, encoding='utf-8') as f:
        lines = f.read().split('\n')
    for line_no, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            if line_no >= len(lines) - 1:
                print_log(f'{path}: ignoring a truncated last line '
                          '(interrupted run)', logger='current')
                break
            raise ValueError(f'{path}:{line_no}: corrupt progress line; '
                             'delete the file to start over')
    return records


def read_progress(pattern: str) -> Iterator[dict]:
    """Records of every progress file matching the glob ``pattern``."""
    for path in sorted(glob.glob(pattern)):
        yield from read_jsonl(path)


class ProgressWriter:
    """Append JSON lines to a progress file, flushed after each line."""

    def __init__(self, path: str) -> None:
        os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
        # Drop a truncated tail left by a crash so the next line is valid.
        if osp.isfile(path):
            with open(path, 'rb+') as f:
                data = f.read()
                keep = data.rfind(b'\n') + 1
                if keep != len(data):
                    f.truncate(keep)
        self._file = open(path, 'a', encoding='utf-8')

    def write(self, record: dict) -> None:
        self._file.write(json.dumps(record) + '\n')
        self._file.flush()

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> 'ProgressWriter':
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class LogProgressBar(ProgressBar):
    """MMEngine's progress bar on a terminal; interval lines in a log.

    On a TTY this is :class:`mmengine.utils.ProgressBar` (one ``\\r`` update
    per call). Elsewhere (a log file, a pipe, CI) it writes one line per
    ``percent_step`` percent or per ``interval_s`` seconds, whichever comes
    first, and a final line, e.g.
    ``gallery images: 5000/20000 (25%), 41.2/s, elapsed 121 s, ETA 364 s``.

    Args:
        task_num (int): Number of items.
        what (str): What is counted (starts each log line).
        interval_s (float): Longest time between two log lines.
        percent_step (float): Progress between two log lines.
        file: Output stream. Defaults to ``sys.stdout``.
    """

    def __init__(self, task_num: int, what: str = 'progress',
                 interval_s: float = 60.0, percent_step: float = 10.0,
                 file=None) -> None:
        file = sys.stdout if file is None else file
        self.what = what
        self.interval_s = interval_s
        self.percent_step = percent_step
        isatty = getattr(file, 'isatty', None)
        self.is_tty = bool(isatty and isatty())
        self._last_time = time.monotonic()
        self._last_percent = 0.0
        self._finished = False
        super().__init__(task_num, file=file, start=self.is_tty)
        if not self.is_tty:
            self.completed = 0
            self._start = self._last_time

    def update(self, num_tasks: int = 1) -> None:
        if self.is_tty:
            super().update(num_tasks)
            return
        self.completed += num_tasks
        now = time.monotonic()
        percent = 100.0 * self.completed / max(1, self.task_num)
        if self.completed >= self.task_num or \
                percent - self._last_percent >= self.percent_step or \
                now - self._last_time >= self.interval_s:
            self._log_line(now)
            self._last_time, self._last_percent = now, percent

    def _log_line(self, now: float) -> None:
        elapsed = now - self._start
        rate = self.completed / elapsed if elapsed > 0 else float('inf')
        line = f'{self.what}: {self.completed}/{self.task_num}'
        if self.task_num > 0:
            line += f' ({100.0 * self.completed / self.task_num:.0f}%)'
        line += f', {rate:.1f}/s, elapsed {elapsed:.0f} s'
        if 0 < self.completed < self.task_num and rate > 0:
            line += f', ETA {(self.task_num - self.completed) / rate:.0f} s'
        self.file.write(line + '\n')
        self.file.flush()
        self._finished = self.completed >= self.task_num

    def finish(self) -> None:
        """End the bar: a newline on a TTY, a last line in a log."""
        if self.is_tty:
            self.file.write('\n')
            self.file.flush()
        elif not self._finished:
            self._log_line(time.monotonic())
