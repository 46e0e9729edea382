"""The `make demo` pipeline on the synthetic benchmark.

Stages (each a regular tool invocation, logged under ``--work-dir``):

1. baseline: ``tools/train.py`` + ``tools/test.py`` with
   ``configs/baseline/clip_sdm_synthetic.py`` (tiny CLIP, SDM).

Prints a table of the test metrics at the end and writes it to
``<work-dir>/demo_results.json``.
"""
import argparse
import json
import os
import os.path as osp
import subprocess
import sys
import time

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def run(cmd, log_path):
    """Run ``cmd`` in the repo, teeing its output to ``log_path``."""
    print(f'$ {" ".join(cmd)}', flush=True)
    env = dict(os.environ, PYTHONPATH=REPO + os.pathsep +
               os.environ.get('PYTHONPATH', ''))
    start = time.time()
    with open(log_path, 'w', encoding='utf-8') as log:
        proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True)
        for line in proc.stdout:
            log.write(line)
            if ' - INFO - Epoch(' in line or 'results:' in line or \
                    line.startswith(('|', '+')):
                print('   ' + line.rstrip()[-160:], flush=True)
        proc.wait()
    if proc.returncode != 0:
        sys.exit(f'stage failed (exit {proc.returncode}); see {log_path}')
    return time.time() - start


def data_options(root):
    """--cfg-options pointing every TBPR dataloader at ``root``."""
    return [f'{loader}.dataset.data_root={root}' for loader in (
        'train_dataloader', 'val_dataloader', 'test_dataloader',
        'val_cfg.gallery_dataloader', 'test_cfg.gallery_dataloader')]


def train_and_test_retriever(name, config, data_root, work_dir, extra=()):
    """Train ``config`` and test its last checkpoint; returns the metrics."""
    run_dir = osp.join(work_dir, name)
    os.makedirs(run_dir, exist_ok=True)
    options = data_options(data_root) + list(extra)
    seconds = run([sys.executable, 'tools/train.py', config, '--work-dir',
                   run_dir, '--cfg-options', *options],
                  osp.join(run_dir, 'train.log'))
    ckpt = open(osp.join(run_dir, 'last_checkpoint')).read().strip()
    out = osp.join(run_dir, 'test_metrics.json')
    run([sys.executable, 'tools/test.py', config, ckpt, '--work-dir', run_dir,
         '--out', out, '--cfg-options', *options],
        osp.join(run_dir, 'test.log'))
    metrics = json.load(open(out))
    metrics['train_seconds'] = round(seconds, 1)
    return metrics


def print_table(results):
    keys = ['t2i/R1', 't2i/R5', 't2i/R10', 't2i/mAP', 't2i/mINP',
            'train_seconds']
    print('\n| model | ' + ' | '.join(k.replace('t2i/', '') for k in keys) +
          ' |')
    print('|---' * (len(keys) + 1) + '|')
    for name, metrics in results.items():
        print(f'| {name} | ' + ' | '.join(
            f'{metrics[k]:.2f}' if isinstance(metrics.get(k), float) else
            str(metrics.get(k, '-')) for k in keys) + ' |')


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--data', default='data/synthetic')
    parser.add_argument('--work-dir', default='work_dirs/demo')
    args = parser.parse_args()
    os.makedirs(args.work_dir, exist_ok=True)
    cuhk = osp.join(args.data, 'CUHK-PEDES')
    results = {}
    print('== stage: baseline retriever (tiny CLIP + SDM)')
    results['baseline (SDM)'] = train_and_test_retriever(
        'baseline', 'configs/baseline/clip_sdm_synthetic.py', cuhk,
        args.work_dir)
    with open(osp.join(args.work_dir, 'demo_results.json'), 'w') as f:
        json.dump(results, f, indent=2)
    print_table(results)


if __name__ == '__main__':
    main()
