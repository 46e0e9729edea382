"""Resumable progress files and sharding shared by the part tools.

Each tool appends one JSON line per finished unit of work (an image, a
caption, a caption's masks) and flushes it, so an interrupted run resumes
where it stopped: a rerun reads the lines back and skips what they cover.
A truncated last line (a crash mid-write) is ignored and redone.
"""
import glob
import json
import os
import os.path as osp
from typing import Iterator, List, Tuple

from mmengine.logging import print_log


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
