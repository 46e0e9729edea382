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
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(
    __file__)))))

from sapsam.utils.runs import data_root_options, train_and_test  # noqa: E402


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
    results['baseline (SDM)'] = train_and_test(
        'configs/baseline/clip_sdm_synthetic.py',
        osp.join(args.work_dir, 'baseline'), data_root_options(cuhk))
    with open(osp.join(args.work_dir, 'demo_results.json'), 'w') as f:
        json.dump(results, f, indent=2)
    print_table(results)


if __name__ == '__main__':
    main()
