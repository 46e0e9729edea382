"""The `make demo` pipeline on the synthetic benchmark.

Stages (each a regular tool invocation, logged under ``--work-dir``):

1. baseline retriever: ``configs/baseline/clip_sdm_synthetic.py`` (tiny
   CLIP + SDM), trained and tested; runs alongside stage 2.
2. part pipeline (``tools/data/run_part_pipeline.py``): template phrases
   for the synthetic ATR images, Person-SAM (``configs/person_sam/
   mca_atr_synthetic.py``) trained on them, rule-based caption splitting and
   Person-SAM part masks for every training image, scored against the
   benchmark's ground-truth masks; Person-SAM is then tested on ATR.
3. SAP-SAM retriever: ``configs/sapsam/elca_synthetic.py`` (SDM +
   part-aware MLM + ELCA) trained on the generated part masks, tested.

Prints the results and writes them to ``<work-dir>/demo_results.json``.
"""
import argparse
import json
import os
import os.path as osp
import sys
import threading
import time

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(
    __file__)))))

from sapsam.datasets.part_annotations import find_part_files  # noqa: E402
from sapsam.utils.runs import (data_root_options, run_command,  # noqa: E402
                               train_and_test)

PERSON_SAM_CFG = 'configs/person_sam/mca_atr_synthetic.py'
RETRIEVAL_KEYS = ('t2i/R1', 't2i/R5', 't2i/R10', 't2i/mAP', 't2i/mINP')


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--data', default='data/synthetic')
    parser.add_argument('--work-dir', default='work_dirs/demo')
    parser.add_argument('--retrieval-epochs', type=int, default=12)
    parser.add_argument('--person-sam-epochs', type=int, default=4)
    return parser.parse_args()


def person_sam_options(data, atr_phrases):
    """Person-SAM on the synthetic ATR images with the stage-1 phrases."""
    options = []
    for loader, split in (('train_dataloader', 'train'),
                          ('val_dataloader', 'dev'),
                          ('test_dataloader', 'test')):
        options += [f'{loader}.dataset.data_root={data}/ATR',
                    f'{loader}.dataset.ann_file={osp.abspath(atr_phrases)}/'
                    f'atr_item_descriptions_{split}.json']
    return options


def run_baseline(args, results, single_thread):
    results['baseline'] = train_and_test(
        'configs/baseline/clip_sdm_synthetic.py',
        osp.join(args.work_dir, 'baseline'),
        data_root_options(osp.join(args.data, 'CUHK-PEDES')) +
        [f'train_cfg.max_epochs={args.retrieval_epochs}'], env=single_thread)


def run_parts(args, results, single_thread):
    parts_dir = osp.join(args.work_dir, 'parts')
    out = osp.join(parts_dir, 'part_masks_vs_ground_truth.json')
    seconds = run_command(
        [sys.executable, 'tools/data/run_part_pipeline.py', '--data-root',
         args.data, '--work-dir', parts_dir, '--train-person-sam',
         '--datasets', 'CUHK-PEDES', '--out', out, '--person-sam-options',
         f'train_cfg.max_epochs={args.person_sam_epochs}'],
        osp.join(args.work_dir, 'parts.log'),
        echo=('Epoch(val)', '| ', 'finished'), env=single_thread)
    with open(out, encoding='utf-8') as f:
        results['part_masks'] = json.load(f)
    results['part_masks']['seconds'] = round(seconds, 1)
    checkpoint = results['part_masks']['checkpoint']
    metrics_out = osp.join(parts_dir, 'person_sam_test.json')
    run_command([sys.executable, 'tools/test.py', PERSON_SAM_CFG, checkpoint,
                 '--work-dir', osp.join(parts_dir, 'person_sam'), '--out',
                 metrics_out, '--cfg-options',
                 *person_sam_options(args.data, osp.join(parts_dir, 'ATR'))],
                osp.join(args.work_dir, 'person_sam_test.log'),
                env=single_thread)
    with open(metrics_out, encoding='utf-8') as f:
        results['person_sam'] = json.load(f)


def print_summary(results):
    print('\n== Person-SAM on the synthetic ATR test split '
          '(tiny SAM + tiny BERT, MCA prompt)')
    for key, value in sorted(results['person_sam'].items()):
        print(f'   {key}: {value:.2f}')
    print('\n== Part masks of the CUHK-PEDES training images vs the '
          'synthetic ground truth (IoU %)')
    for name, res in results['part_masks']['results'].items():
        for part, row in res['per_class'].items():
            print(f'   {part:<14} {row["mIoU"]:6.2f}  ({row["count"]} '
                  f'phrases)')
        print(f'   {"mean":<14} {res["mIoU"]:6.2f}')
    print('\n== Text-to-image retrieval on the synthetic CUHK-PEDES test '
          'split (best val checkpoint)\n')
    print('| model | R@1 | R@5 | R@10 | mAP | mINP | train (s) |')
    print('|---|---|---|---|---|---|---|')
    for name, key in (('baseline: CLIP + SDM', 'baseline'),
                      ('SAP-SAM: + part MLM + ELCA', 'sapsam')):
        metrics = results[key]
        print(f'| {name} | ' + ' | '.join(f'{metrics[k]:.2f}'
                                          for k in RETRIEVAL_KEYS) +
              f' | {metrics["train_seconds"]:.0f} |')


def main():
    args = parse_args()
    os.makedirs(args.work_dir, exist_ok=True)
    start = time.time()
    results = {}
    # Stages 1 and 2 are independent: run them side by side, one thread
    # each (two threads each would oversubscribe a 2-core machine).
    single_thread = dict(OMP_NUM_THREADS='1', MKL_NUM_THREADS='1')
    print('== stages 1 and 2: baseline retriever | part pipeline', flush=True)
    errors = []

    def guarded(stage):
        try:
            stage(args, results, single_thread)
        except Exception as err:  # reported after both stages end
            errors.append(err)

    baseline = threading.Thread(target=guarded, args=(run_baseline,))
    baseline.start()
    guarded(run_parts)
    baseline.join()
    if errors:
        sys.exit(f'demo stage failed: {errors[0]}')

    print('== stage 3: SAP-SAM retriever on the generated part masks',
          flush=True)
    parts_out = osp.join(args.work_dir, 'parts', 'CUHK-PEDES')
    data_final, score_dict = find_part_files(parts_out, 'CUHK-PEDES')
    options = data_root_options(osp.join(args.data, 'CUHK-PEDES')) + [
        f'train_cfg.max_epochs={args.retrieval_epochs}',
        f'train_dataloader.dataset.part_files.data_final='
        f'{osp.abspath(data_final)}',
        f'train_dataloader.dataset.part_files.score_dict='
        f'{osp.abspath(score_dict)}',
        'train_dataloader.dataset.part_files.seg_dir='
        f'{osp.abspath(osp.join(parts_out, "segs"))}']
    results['sapsam'] = train_and_test('configs/sapsam/elca_synthetic.py',
                                       osp.join(args.work_dir, 'sapsam'),
                                       options)
    results['total_seconds'] = round(time.time() - start, 1)
    with open(osp.join(args.work_dir, 'demo_results.json'), 'w') as f:
        json.dump(results, f, indent=2)
    print_summary(results)
    print(f'\ndemo finished in {results["total_seconds"]:.0f} s; logs and '
          f'checkpoints in {args.work_dir}')


if __name__ == '__main__':
    main()
