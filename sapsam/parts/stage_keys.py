"""Content keys of finished stage work and the merge protocol of shards.

A stage tool records, with every finished item, the key of what produced
it: the item's input content (caption text, image and mask bytes, the
phrases of a record) and the fingerprint of the model / config that
processed it. A rerun reuses an item only when its key is unchanged, so an
edited caption, a changed record or another checkpoint redoes exactly the
affected items.

Shards merge under :func:`merge_lock`: each shard, when it finishes, takes
the lock, rereads every shard's progress and, if nothing is left, writes
the final files; the last one to finish therefore merges, and two shards
finishing together never both write. Final files are written atomically
(:func:`sapsam.parts.formats.atomic_write_json`) under the lock, which is
also when temp files left by a killed run are removed
(:func:`remove_stale_temp_files`).
"""
import contextlib
import fcntl
import glob
import hashlib
import json
import os
import os.path as osp
from typing import Any, Iterator, Optional

from mmengine.logging import print_log

from sapsam.utils.checkpoint_compat import TEMP_PREFIX


def _plain(obj: Any) -> Any:
    """JSON-able form of config values (classes by their qualified name)."""
    if isinstance(obj, dict):
        return {str(k): _plain(v)
                for k, v in sorted(obj.items(), key=lambda kv: str(kv[0]))}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    if isinstance(obj, (str, int, float, bool)) or obj is None:
        return obj
    if isinstance(obj, type) or callable(obj):
        return f'{getattr(obj, "__module__", "")}.' \
               f'{getattr(obj, "__qualname__", repr(obj))}'
    return repr(obj)


def content_key(*parts: Any) -> str:
    """A short hex digest of ``parts`` (JSON-able values, config dicts)."""
    text = json.dumps(_plain(list(parts)), sort_keys=True,
                      separators=(',', ':'), ensure_ascii=False)
    return hashlib.sha256(text.encode('utf-8')).hexdigest()[:20]


def file_digest(path: Optional[str], chunk: int = 1 << 20) -> Optional[str]:
    """sha256 of a file's bytes (None for no path)."""
    if not path:
        return None
    digest = hashlib.sha256()
    with open(path, 'rb') as f:
        for block in iter(lambda: f.read(chunk), b''):
            digest.update(block)
    return digest.hexdigest()


@contextlib.contextmanager
def merge_lock(out_dir: str, name: str) -> Iterator[None]:
    """Hold the exclusive lock ``<out_dir>/.<name>.lock`` (blocking)."""
    os.makedirs(out_dir, exist_ok=True)
    with open(osp.join(out_dir, f'.{name}.lock'), 'a') as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def remove_stale_temp_files(*folders: str) -> int:
    """Remove the atomic-write temp files in ``folders`` (call under
    :func:`merge_lock`, when no write of the stage is in flight)."""
    removed = 0
    for folder in folders:
        for path in glob.glob(osp.join(folder, TEMP_PREFIX + '*')):
            if osp.isfile(path):
                os.remove(path)
                removed += 1
    if removed:
        print_log(f'removed {removed} temp file(s) of an interrupted run in '
                  f'{", ".join(folders)}', logger='current')
    return removed


# ------------------------------------------------- files a stage wrote
#: Per output folder: the files the stage tools wrote, with their sha256.
MANIFEST = '.sapsam_generated.json'


def _read_manifest(out_dir: str) -> dict:
    path = osp.join(out_dir, MANIFEST)
    if not osp.isfile(path):
        return {}
    with open(path, encoding='utf-8') as f:
        return json.load(f)


def refuse_foreign_files(out_dir: str, names,
                         legacy_progress: Optional[str] = None) -> None:
    """Raise if a file to write exists but no stage tool wrote it (official
    annotations) or it changed since (edited by hand).

    Args:
        out_dir (str): The output folder.
        names: File names to write, relative to ``out_dir``.
        legacy_progress (str, optional): Glob of the tool's progress files:
            a folder holding them but no manifest is the tool's output of a
            version that wrote no manifest, and may be overwritten.

    Raises:
        FileExistsError: naming the files and how to write elsewhere.
    """
    manifest = _read_manifest(out_dir)
    if not manifest and legacy_progress and glob.glob(
            osp.join(out_dir, legacy_progress)):
        return
    foreign = [osp.join(out_dir, n) for n in names
               if osp.isfile(osp.join(out_dir, n)) and
               manifest.get(n) != file_digest(osp.join(out_dir, n))]
    if foreign:
        raise FileExistsError(
            f'refusing to overwrite {", ".join(foreign)}: not written by '
            'this tool (official annotations or edited by hand). Write the '
            'generated files elsewhere with --out-dir DIR (or --cfg-options '
            'out_dir=DIR), or move these files away.')


def write_tracked(out_dir: str, name: str, writer, payload) -> None:
    """``writer(out_dir/name, payload)`` and record the file's digest in the
    folder's manifest (so a rerun may overwrite it)."""
    from sapsam.parts.formats import atomic_write_json
    path = osp.join(out_dir, name)
    writer(path, payload)
    manifest = _read_manifest(out_dir)
    manifest[name] = file_digest(path)
    atomic_write_json(osp.join(out_dir, MANIFEST), manifest)
