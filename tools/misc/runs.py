"""Run training and testing as the command-line tools do (for scripts that
chain them: the demo and the ablation tables).

Tools-side, not part of the installed package: it launches ``tools/*.py``
from the repository checkout it lives in. Scripts import it after putting
the repository root on ``sys.path`` (``from tools.misc.runs import ...``).
"""
import json
import os
import os.path as osp
import re
import shlex
import subprocess
import sys
import time
from typing import Callable, Dict, List, Optional, Sequence

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))

#: Dataloaders of a TBPR config whose ``dataset.data_root`` names the data.
TBPR_LOADERS = ('train_dataloader', 'val_dataloader', 'test_dataloader',
                'val_cfg.gallery_dataloader', 'test_cfg.gallery_dataloader')


#: MMEngine's log-line prefix (``12/01 21:44:16 - mmengine - INFO - ``).
_LOG_PREFIX = re.compile(r'^\d\d/\d\d \d\d:\d\d:\d\d - \S+ - (\w+) - ')
#: ``Epoch(train) [3][40/40]`` / ``Epoch(val) [3][12/12]`` / ``Epoch(test)``.
_EPOCH = re.compile(r'Epoch\((train|val|test)\)\s*(?:\[(\d+)\])?\s*'
                    r'\[\s*(\d+)/(\d+)\]\s*(.*)$')
#: ``Iter(train) [100/1000]`` (iteration-based loops).
_ITER = re.compile(r'Iter\((train|val|test)\)\s*\[\s*(\d+)/(\d+)\]\s*(.*)$')
#: Fields of a training line that a reader of a report does not need.
_NOISE_FIELDS = ('eta', 'time', 'data_time', 'memory', 'grad_norm',
                 'base_lr')
#: MMEngine notices that say nothing about the run (API deprecations, one
#: line per frozen parameter from the optimiser constructor).
_LIBRARY_NOTICES = ('will be deprecated', 'is the alias of',
                    'The prefix is not set in metric class',
                    'is skipped since its requires_grad=False')
_FIELD = re.compile(r'([\w/@.\-]+): (\S+)')


def summarize_log_line(line: str) -> Optional[str]:
    """A short, complete report line for a tool's log line, or None.

    Kept: the end of each training epoch (epoch, lr, losses), validation
    and test results, warnings and errors, and the ``$ command`` lines of
    driver scripts. Dropped: per-iteration progress, environment and build
    information, config dumps, tables (the report prints its own).
    """
    line = line.rstrip()
    level = None
    match = _LOG_PREFIX.match(line)
    if match:
        level, line = match.group(1), line[match.end():]
    if level in ('WARNING', 'ERROR', 'CRITICAL'):
        if level == 'WARNING' and any(n in line for n in _LIBRARY_NOTICES):
            return None
        return f'{level.lower()}: {line}'
    if line.startswith(('Traceback', 'RuntimeError', 'ValueError',
                        'FileNotFoundError')):
        return line
    if line.startswith('$ '):
        return line
    epoch = _EPOCH.search(line)
    if epoch:
        mode, num, step, total, rest = epoch.groups()
        if mode == 'train' and step != total:
            return None
        fields = [(k, v) for k, v in _FIELD.findall(rest)
                  if k not in _NOISE_FIELDS]
        text = '  '.join(f'{k} {v}' for k, v in fields)
        where = f'epoch {num} {mode}' if num else mode
        return f'{where}: {text}' if text else None
    iteration = _ITER.search(line)
    if iteration:
        mode, step, total, rest = iteration.groups()
        if mode == 'train' and int(step) % max(1, int(total) // 10):
            return None
        fields = [(k, v) for k, v in _FIELD.findall(rest)
                  if k not in _NOISE_FIELDS]
        return f'iter {step}/{total} {mode}: ' + '  '.join(
            f'{k} {v}' for k, v in fields)
    return None


def run_command(cmd: Sequence[str], log_path: str,
                label: Optional[str] = None,
                summarize: Callable[[str], Optional[str]] = summarize_log_line,
                env: Optional[Dict[str, str]] = None) -> float:
    """Run ``cmd`` in the repository, write its output to ``log_path`` and
    print the report line ``summarize`` makes of each output line (if any),
    prefixed with ``[label]``; return the wall time. ``env`` adds
    environment variables.

    Raises:
        RuntimeError: naming the log file when the command fails.
    """
    tag = f'[{label}] ' if label else ''
    print(f'{tag}$ {command_line(cmd)}', flush=True)
    env = dict(os.environ, **(env or {}), PYTHONPATH=REPO_ROOT + os.pathsep +
               os.environ.get('PYTHONPATH', ''))
    start = time.time()
    with open(log_path, 'w', encoding='utf-8') as log:
        proc = subprocess.Popen(list(cmd), cwd=REPO_ROOT, env=env,
                                stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True)
        for line in proc.stdout:
            log.write(line)
            report = summarize(line)
            if report:
                print(f'{tag}   {report}', flush=True)
        proc.wait()
    if proc.returncode != 0:
        raise RuntimeError(f'{tag}{cmd[1] if len(cmd) > 1 else cmd[0]} '
                           f'failed (exit {proc.returncode}); see {log_path}')
    return time.time() - start


def command_line(cmd: Sequence[str]) -> str:
    """``cmd`` as a shell line to copy (``python`` for this interpreter)."""
    cmd = ['python' if c == sys.executable else c for c in cmd]
    return shlex.join(cmd)


def data_root_options(root: str,
                      loaders: Sequence[str] = TBPR_LOADERS) -> List[str]:
    """``--cfg-options`` pointing every TBPR dataloader at ``root``."""
    return [f'{loader}.dataset.data_root={root}' for loader in loaders]


def best_or_last_checkpoint(work_dir: str) -> str:
    """The best-on-validation checkpoint of a run, else its last one."""
    best = sorted(f for f in os.listdir(work_dir)
                  if f.startswith('best_') and f.endswith('.pth'))
    if best:
        return osp.join(work_dir, best[-1])
    with open(osp.join(work_dir, 'last_checkpoint'), encoding='utf-8') as f:
        return f.read().strip()


def train_and_test(config: str, work_dir: str,
                   options: Optional[Sequence[str]] = None,
                   test_options: Optional[Sequence[str]] = None,
                   env: Optional[Dict[str, str]] = None,
                   label: Optional[str] = None) -> Dict[str, float]:
    """Train ``config`` with ``tools/train.py``, test the best (else last)
    checkpoint with ``tools/test.py``; return the test metrics plus
    ``train_seconds``, ``checkpoint`` and ``test_command`` (the shell line
    that reproduces the metrics). ``label`` prefixes the echoed lines."""
    os.makedirs(work_dir, exist_ok=True)
    options = list(options or [])
    seconds = run_command(
        [sys.executable, 'tools/train.py', config, '--work-dir', work_dir,
         '--cfg-options', *options], osp.join(work_dir, 'train.log'),
        label=label, env=env)
    ckpt = best_or_last_checkpoint(work_dir)
    out = osp.join(work_dir, 'test_metrics.json')
    test_cmd = [sys.executable, 'tools/test.py', config, ckpt, '--cfg-options',
                *(test_options if test_options is not None else options)]
    run_command(test_cmd[:4] + ['--work-dir', work_dir, '--out', out] +
                test_cmd[4:], osp.join(work_dir, 'test.log'), label=label,
                env=env)
    with open(out, encoding='utf-8') as f:
        metrics = json.load(f)
    metrics['train_seconds'] = round(seconds, 1)
    metrics['checkpoint'] = ckpt
    metrics['test_command'] = command_line(test_cmd)
    return metrics
