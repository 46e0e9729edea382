"""Train and evaluate a list of retrieval configs; print a Markdown table.

The default list is supplementary Table 6 (alignment strategies) on the
synthetic benchmark::

    python tools/analysis/ablation_table.py --seeds 0 1 --out docs/results.md

Each (config, seed) run trains with ``tools/train.py``, selects the best
validation checkpoint, evaluates it on the test split with
``tools/test.py`` and records R@1/5/10, mAP, mINP and the wall time.
"""
import argparse
import os
import os.path as osp
import platform
import statistics
import sys
import time

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(
    __file__)))))

from tools.misc.runs import data_root_options, train_and_test  # noqa: E402

TABLE6_SYNTHETIC = [
    ('w/o matching', 'configs/sapsam/baseline_synthetic.py'),
    ('1) avgPool', 'configs/sapsam/avgpool_synthetic.py'),
    ('2) Conv1D', 'configs/sapsam/conv1d_synthetic.py'),
    ('3) MHSA', 'configs/sapsam/mhsa_synthetic.py'),
    ('4) ELCA', 'configs/sapsam/elca_synthetic.py'),
]
METRICS = ('t2i/R1', 't2i/R5', 't2i/R10', 't2i/mAP', 't2i/mINP')


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--configs', nargs='+',
                        help='NAME=CONFIG pairs (default: Table 6, '
                        'synthetic twins)')
    parser.add_argument('--data-root', default='data/synthetic/CUHK-PEDES',
                        help='dataset folder given to every dataloader')
    parser.add_argument('--seeds', type=int, nargs='+', default=[0])
    parser.add_argument('--work-dir', default='work_dirs/ablation_table')
    parser.add_argument('--cfg-options', nargs='*', default=[],
                        help='extra overrides for every run')
    parser.add_argument('--out', help='append the table to this Markdown '
                        'file')
    return parser.parse_args(argv)


def format_cell(values):
    if len(values) == 1:
        return f'{values[0]:.2f}'
    return f'{statistics.mean(values):.2f} ± {statistics.stdev(values):.2f}'


def markdown_table(rows, seeds):
    head = ('| No. | Method | R@1 | R@5 | R@10 | mAP | mINP | '
            'train time / run (s) |')
    lines = [head, '|' + '---|' * 8]
    for name, config, runs in rows:
        cells = [format_cell([r[m] for r in runs]) for m in METRICS]
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
    runs = TABLE6_SYNTHETIC if not args.configs else [
        tuple(item.split('=', 1)) for item in args.configs]
    start = time.time()
    rows = []
    for name, config in runs:
        results = []
        for seed in args.seeds:
            stem = osp.splitext(osp.basename(config))[0]
            work = osp.join(args.work_dir, f'{stem}_seed{seed}')
            options = data_root_options(args.data_root) + \
                [f'randomness.seed={seed}'] + list(args.cfg_options)
            print(f'== {name}: {config} (seed {seed})', flush=True)
            results.append(train_and_test(config, work, options))
        rows.append((name, config, results))
    table = markdown_table(rows, args.seeds)
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
