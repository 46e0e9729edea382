"""Run training and testing as the command-line tools do (for scripts that
chain them: the demo and the ablation tables)."""
import json
import os
import os.path as osp
import subprocess
import sys
import time
from typing import Dict, Iterable, List, Optional, Sequence

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))

#: Dataloaders of a TBPR config whose ``dataset.data_root`` names the data.
TBPR_LOADERS = ('train_dataloader', 'val_dataloader', 'test_dataloader',
                'val_cfg.gallery_dataloader', 'test_cfg.gallery_dataloader')


def run_command(cmd: Sequence[str], log_path: str,
                echo: Iterable[str] = ('Epoch(', 'results:', '|', '+'),
                env: Optional[Dict[str, str]] = None) -> float:
    """Run ``cmd`` in the repository, write its output to ``log_path`` and
    echo the lines containing one of ``echo``; return the wall time.
    ``env`` adds environment variables.

    Raises:
        RuntimeError: naming the log file when the command fails.
    """
    print(f'$ {" ".join(cmd)}', flush=True)
    env = dict(os.environ, **(env or {}), PYTHONPATH=REPO_ROOT + os.pathsep +
               os.environ.get('PYTHONPATH', ''))
    start = time.time()
    with open(log_path, 'w', encoding='utf-8') as log:
        proc = subprocess.Popen(list(cmd), cwd=REPO_ROOT, env=env,
                                stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True)
        for line in proc.stdout:
            log.write(line)
            if any(key in line for key in echo):
                print('   ' + line.rstrip()[-160:], flush=True)
        proc.wait()
    if proc.returncode != 0:
        raise RuntimeError(f'{cmd[1] if len(cmd) > 1 else cmd[0]} failed '
                           f'(exit {proc.returncode}); see {log_path}')
    return time.time() - start


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
                   env: Optional[Dict[str, str]] = None) -> Dict[str, float]:
    """Train ``config`` with ``tools/train.py``, test the best (else last)
    checkpoint with ``tools/test.py``; return the test metrics plus
    ``train_seconds`` and ``checkpoint``."""
    os.makedirs(work_dir, exist_ok=True)
    options = list(options or [])
    seconds = run_command(
        [sys.executable, 'tools/train.py', config, '--work-dir', work_dir,
         '--cfg-options', *options], osp.join(work_dir, 'train.log'),
        env=env)
    ckpt = best_or_last_checkpoint(work_dir)
    out = osp.join(work_dir, 'test_metrics.json')
    run_command([sys.executable, 'tools/test.py', config, ckpt, '--work-dir',
                 work_dir, '--out', out, '--cfg-options',
                 *(test_options if test_options is not None else options)],
                osp.join(work_dir, 'test.log'), env=env)
    with open(out, encoding='utf-8') as f:
        metrics = json.load(f)
    metrics['train_seconds'] = round(seconds, 1)
    metrics['checkpoint'] = ckpt
    return metrics
