"""Train and evaluate a list of retrieval configs; print a Markdown table.

The default list is supplementary Table 6 (alignment strategies) in the
synthetic lab (tiny CLIP transferred from configs/_base_/lab.py)::

    python tools/analysis/ablation_table.py --seeds 0 1 2 --jobs 2 \
        --json work_dirs/table6.json --out docs/results.md

Each (config, seed) run trains with ``tools/train.py``, selects the best
validation checkpoint, evaluates it on the test split with
``tools/test.py`` and records R@1/5/10, mAP, mINP and the wall time; rows
report mean ± sample std over the seeds. ``--jobs N`` runs N trainings at
once, one thread each (a 2-core machine: ``--jobs 2``).
"""
import argparse
import os
import os.path as osp
import platform
import statistics
import sys
import json
import time
from concurrent.futures import ThreadPoolExecutor

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(
    __file__)))))

from tools.misc.runs import data_root_options, train_and_test  # noqa: E402

TABLE6_LAB = [
    ('w/o matching', 'configs/lab/baseline.py'),
    ('1) avgPool', 'configs/lab/avgpool.py'),
    ('2) Conv1D', 'configs/lab/conv1d.py'),
    ('3) MHSA', 'configs/lab/mhsa.py'),
    ('4) ELCA', 'configs/lab/elca.py'),
]
METRICS = ('t2i/R1', 't2i/R5', 't2i/R10', 't2i/mAP', 't2i/mINP')
#: Column titles of the metrics a table may show.
TITLES = {'t2i/R1': 'R@1', 't2i/R5': 'R@5', 't2i/R10': 'R@10',
          't2i/mAP': 'mAP', 't2i/mINP': 'mINP',
          'per_sample/mIoU': 'per-sample mIoU', 'seg/mIoU': 'mIoU (mmseg)'}


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--configs', nargs='+',
                        help='NAME=CONFIG pairs (default: Table 6 in the '
                        'lab)')
    parser.add_argument('--data-root', default='data/synthetic/CUHK-PEDES',
                        help='dataset folder given to every TBPR dataloader'
                        ' ("none": keep the configs\' own)')
    parser.add_argument('--metrics', nargs='+', default=list(METRICS),
                        help='test metrics to tabulate (e.g. '
                        'per_sample/mIoU seg/mIoU for Person-SAM)')
    parser.add_argument('--seeds', type=int, nargs='+', default=[0])
    parser.add_argument('--work-dir', default='work_dirs/ablation_table')
    parser.add_argument('--cfg-options', nargs='*', default=[],
                        help='extra overrides for every run')
    parser.add_argument('--jobs', type=int, default=1,
                        help='runs at once (each single-threaded when > 1)')
    parser.add_argument('--json', help='write every run\'s metrics here')
    parser.add_argument('--out', help='append the table to this Markdown '
                        'file')
    return parser.parse_args(argv)


def format_cell(values):
    """``'mean ± sample std'`` of a row's per-seed values (one: the
    value)."""
    if len(values) == 1:
        return f'{values[0]:.2f}'
    return f'{statistics.mean(values):.2f} ± {statistics.stdev(values):.2f}'


def markdown_table(rows, seeds, metrics=METRICS):
    head = ('| No. | Method | ' + ' | '.join(TITLES.get(m, m)
                                              for m in metrics) +
            ' | train time / run (s) |')
    lines = [head, '|' + '---|' * (3 + len(metrics))]
    for name, config, runs in rows:
        cells = [format_cell([r[m] for r in runs]) for m in metrics]
        seconds = statistics.mean(r['train_seconds'] for r in runs)
        number, _, method = name.partition(') ')
        if not method:
            number, method = '', name
        else:
            number += ')'
        lines.append(f'| {number} | {method} (`{config}`) | ' +
                     ' | '.join(cells) + f' | {seconds:.0f} |')
    lines.append('')
    lines.append(f'Seeds: {", ".join(map(str, seeds))} (mean ± sample '
                 f'standard deviation when several).')
    return '\n'.join(lines)


def main(argv=None):
    args = parse_args(argv)
    runs = TABLE6_LAB if not args.configs else [
        tuple(item.split('=', 1)) for item in args.configs]
    env = dict(OMP_NUM_THREADS='1', MKL_NUM_THREADS='1') \
        if args.jobs > 1 else None
    start = time.time()

    def run(name, config, seed):
        stem = osp.splitext(osp.basename(config))[0]
        work = osp.join(args.work_dir, f'{stem}_seed{seed}')
        roots = [] if args.data_root == 'none' else \
            data_root_options(args.data_root)
        options = roots + [f'randomness.seed={seed}'] + \
            list(args.cfg_options)
        print(f'== {name}: {config} (seed {seed})', flush=True)
        return train_and_test(config, work, options, env=env,
                              label=f'{stem} s{seed}')

    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        futures = [[pool.submit(run, name, config, seed)
                    for seed in args.seeds] for name, config in runs]
        rows = [(name, config, [f.result() for f in row])
                for (name, config), row in zip(runs, futures)]
    if args.json:
        with open(args.json, 'w', encoding='utf-8') as f:
            json.dump([dict(name=name, config=config, seeds=args.seeds,
                            runs=results) for name, config, results in rows],
                      f, indent=2)
    table = markdown_table(rows, args.seeds, args.metrics)
    total = time.time() - start
    footer = (f'Data: `{args.data_root}`. Total wall time {total:.0f} s on '
              f'{platform.machine()} with {os.cpu_count()} CPU cores. '
              f'Command: `python tools/analysis/ablation_table.py ' +
              ' '.join(argv if argv is not None else sys.argv[1:]) + '`')
    print('\n' + table + '\n' + footer)
    if args.out:
        with open(args.out, 'a', encoding='utf-8') as f:
            f.write('\n' + table + '\n\n' + footer + '\n')
    return rows


if __name__ == '__main__':
    main()
