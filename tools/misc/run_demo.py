"""The `make demo` pipeline in the synthetic lab.

``make demo`` has written the benchmark and the lab's transferred tiny SAM
(``tools/misc/pretrain_lab_encoders.py``: tiny CLIP and tiny SAM pretrained
on pedestrians outside the benchmark, all-MiniLM-L6-v2 as the BERT). Stages
(each a regular tool invocation, logged under ``--work-dir``):

1. baseline retriever: the tiny CLIP's pretraining (skipped when its
   weights are up to date), then ``configs/lab/baseline.py`` (transferred
   tiny CLIP + SDM), trained and tested; runs alongside stage 2.
2. part pipeline (``tools/data/run_part_pipeline.py``): template phrases
   for the synthetic ATR images, Person-SAM (``configs/lab/
   person_sam_mca.py``: frozen SAM image encoder and MiniLM) trained on
   them, rule-based caption splitting and Person-SAM part masks for every
   training image, scored against the benchmark's ground-truth masks.
3. SAP-SAM retriever: ``SAPSAM_CFG`` (SDM + part-aware MLM + ELCA) trained
   on the generated part masks, tested; Person-SAM is tested on ATR beside
   it.

Prints the results beside the seed-averaged lab tables of docs/results.md
and writes them to ``<work-dir>/demo_results.json``.
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

from sapsam.parts.formats import find_part_files  # noqa: E402
from tools.misc.runs import (command_line, data_root_options,  # noqa: E402
                             run_command, train_and_test)

PERSON_SAM_CFG = 'configs/lab/person_sam_mca.py'
PART_MASKS_CFG = 'configs/lab/part_masks_{short}.py'
BASELINE_CFG = 'configs/lab/baseline.py'
SAPSAM_CFG = 'configs/lab/elca.py'
#: The seed-averaged lab results the demo is read against (written with
#: docs/results.md by the commands listed there).
LAB_RESULTS = 'docs/lab_results.json'
RETRIEVAL_KEYS = ('t2i/R1', 't2i/R5', 't2i/R10', 't2i/mAP', 't2i/mINP')


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--data', default='data/synthetic')
    parser.add_argument('--work-dir', default='work_dirs/demo')
    parser.add_argument('--retrieval-epochs', type=int, default=None,
                        help='override the configs\' epochs')
    parser.add_argument('--person-sam-epochs', type=int, default=None,
                        help='override the Person-SAM config\'s epochs')
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


def epoch_options(epochs):
    """``--cfg-options`` that override a config's epochs (none: keep)."""
    return [] if epochs is None else [f'train_cfg.max_epochs={epochs}']


def run_baseline(args, results, single_thread):
    # Two threads, as `make data` pretrains it (the thread count is part of
    # the weights' bits); it shares the cores with Person-SAM's training.
    results['clip_pretraining_seconds'] = round(run_command(
        [sys.executable, 'tools/misc/pretrain_lab_encoders.py', '--out',
         osp.join(args.data, 'weights'), '--stages', 'clip', '--threads',
         '2'], osp.join(args.work_dir, 'pretrain_clip.log'),
        label='baseline'), 1)
    results['baseline'] = train_and_test(
        BASELINE_CFG, osp.join(args.work_dir, 'baseline'),
        data_root_options(osp.join(args.data, 'CUHK-PEDES')) +
        epoch_options(args.retrieval_epochs) +
        ['train_dataloader.num_workers=1'], env=single_thread,
        label='baseline')


def run_parts(args, results, single_thread):
    parts_dir = osp.join(args.work_dir, 'parts')
    out = osp.join(parts_dir, 'part_masks_vs_ground_truth.json')
    seconds = run_command(
        [sys.executable, 'tools/data/run_part_pipeline.py', '--data-root',
         args.data, '--work-dir', parts_dir, '--train-person-sam',
         '--person-sam-config', PERSON_SAM_CFG, '--part-masks-config',
         PART_MASKS_CFG, '--datasets', 'CUHK-PEDES', '--out', out,
         # The baseline lane is done by stage 4: one shard per core.
         '--part-mask-shards', '2',
         '--person-sam-options', *epoch_options(args.person_sam_epochs)],
        osp.join(args.work_dir, 'parts.log'), label='parts',
        env=single_thread)
    with open(out, encoding='utf-8') as f:
        results['part_masks'] = json.load(f)
    results['part_masks']['seconds'] = round(seconds, 1)


def run_person_sam_test(args, results, single_thread):
    """Person-SAM on the ATR test split (runs beside SAP-SAM's training)."""
    parts_dir = osp.join(args.work_dir, 'parts')
    checkpoint = results['part_masks']['checkpoint']
    metrics_out = osp.join(parts_dir, 'person_sam_test.json')
    # The demo's Person-SAM trains and tests on its own (template) phrases,
    # split 8:1:1 by image: the config's default ann files differ, so the
    # report prints this exact command.
    test_cmd = [sys.executable, 'tools/test.py', PERSON_SAM_CFG, checkpoint,
                '--cfg-options',
                *person_sam_options(args.data, osp.join(parts_dir, 'ATR'))]
    run_command(test_cmd[:4] + ['--work-dir',
                                osp.join(parts_dir, 'person_sam'), '--out',
                                metrics_out] + test_cmd[4:],
                osp.join(args.work_dir, 'person_sam_test.log'),
                label='parts', env=single_thread)
    with open(metrics_out, encoding='utf-8') as f:
        results['person_sam'] = json.load(f)
    results['person_sam_test_command'] = command_line(test_cmd)


def _group_rows(results) -> list:
    """``(name, Person-SAM IoU, part-mask IoU, phrases)`` per body-part
    group, one name per group (the ATR label names)."""
    from sapsam.utils.atr_vocabulary import ATR_GROUP_NAMES as GROUP_NAMES
    part_name = {name: g for g, name in GROUP_NAMES.items()}
    person_sam = {g: results['person_sam'].get(f'per_sample/IoU_{n}')
                  for g, n in GROUP_NAMES.items()}
    masks = {}
    for res in results['part_masks']['results'].values():
        for name, row in res['per_class'].items():
            masks[part_name.get(name, name)] = row
    rows = []
    for group in sorted(set(GROUP_NAMES) | set(masks), key=int):
        mask = masks.get(group, {})
        if person_sam.get(group) is None and not mask:
            continue  # a group without phrases in this run
        rows.append((GROUP_NAMES.get(group, group), person_sam.get(group),
                     mask.get('mIoU'), mask.get('count')))
    return rows


def _fmt(value, spec='.2f') -> str:
    return '-' if value is None else format(value, spec)


def read_lab_reference(path: str = LAB_RESULTS):
    """The seed-averaged lab rows of docs/results.md (None if absent)."""
    from sapsam.utils.fileio import load_json
    return load_json(path, 'lab results') if osp.isfile(path) else None


def lab_reference_lines(reference) -> list:
    """What the demo's one-seed numbers should be read against."""
    if not reference:
        return ['   (no seed-averaged lab results found: see '
                'docs/results.md)']
    lines = [f'   Read against the lab\'s {len(reference["seeds"])}-seed '
             f'results (docs/results.md, seeds '
             f'{", ".join(map(str, reference["seeds"]))}, mean ± std):', '']
    width = max(len(row['label']) for row in reference['rows'])
    for row in reference['rows']:
        lines.append(f'   {row["label"]:<{width}}  ' + '  '.join(
            f'{name} {value}' for name, value in row['cells'].items()))
    return lines


def format_report(results: dict, data: str, work_dir: str) -> str:
    """The demo's closing report (markdown-ish, read in a terminal)."""
    ps = results['person_sam']
    lines = ['', '=' * 78, 'sapsam demo report', '=' * 78, '',
             '1. Person-SAM on the synthetic ATR test split (transferred '
             'tiny SAM + all-MiniLM-L6-v2,', '   both frozen; MCA prompt)',
             '',
             f'   per-sample mIoU  {_fmt(ps.get("per_sample/mIoU")):>6} %   '
             '(the paper\'s Table 5 metric: IoU of each phrase\'s mask, '
             'averaged',
             '                             over phrases; 61.55 for MCA on '
             'real ATR)',
             f'   seg/mIoU         {_fmt(ps.get("seg/mIoU")):>6} %   '
             '(mmseg IoUMetric: mean of the background and foreground',
             '                             IoU over all pixels; background '
             'fills most pixels, so it is higher)', '',
             '2. Per body-part group: Person-SAM on ATR, and the part masks '
             'it made for the',
             '   CUHK-PEDES training images vs the benchmark\'s ground truth '
             '(IoU %)', '',
             f'   {"group":<14} {"Person-SAM":>10} {"part masks":>11} '
             f'{"phrases":>8}']
    for name, psam, mask, count in _group_rows(results):
        lines.append(f'   {name:<14} {_fmt(psam):>10} {_fmt(mask):>11} '
                     f'{_fmt(count, "d"):>8}')
    for name, res in results['part_masks']['results'].items():
        lines.append(f'   {"mean (" + name + ")":<26} {res["mIoU"]:>11.2f}')
    lines += ['', '3. Text-to-image retrieval, synthetic CUHK-PEDES test '
              'split (best val checkpoint, %)', '',
              '   | model | R@1 | R@5 | R@10 | mAP | mINP | train (s) |',
              '   |---|---|---|---|---|---|---|']
    for name, key in (('baseline: CLIP + SDM', 'baseline'),
                      ('SAP-SAM: + part MLM + ELCA', 'sapsam')):
        metrics = results[key]
        lines.append(f'   | {name} | ' + ' | '.join(
            f'{metrics[k]:.2f}' for k in RETRIEVAL_KEYS) +
            f' | {metrics["train_seconds"]:.0f} |')
    gap = results['sapsam']['t2i/R1'] - results['baseline']['t2i/R1']
    lines += ['', f'   SAP-SAM - baseline: {gap:+.2f} R@1 (one seed; the '
              'test split has ~2,100 queries)', '']
    lines += lab_reference_lines(results.get('lab_reference'))
    lines += ['', '4. Reproduce a number (each prints the same metrics):', '',
              '   Person-SAM:  ' + results['person_sam_test_command']]
    for name, key in (('baseline:    ', 'baseline'),
                      ('SAP-SAM:     ', 'sapsam')):
        lines.append(f'   {name}' + results[key]['test_command'])
    baseline_ckpt = results['baseline']['checkpoint']
    cuhk = osp.join(data, 'CUHK-PEDES')
    roots = (f'--cfg-options test_cfg.gallery_dataloader.dataset.data_root='
             f'{cuhk} test_dataloader.dataset.data_root={cuhk}')
    lines += [
        '', '5. What to try next', '',
        '   Search the test gallery with a sentence (draws the top 10):',
        f'     python tools/search.py {BASELINE_CFG} {baseline_ckpt} \\',
        '         --gallery-split test --query "a woman in a red coat and '
        'black trousers" \\',
        f'         --topk 10 --out {osp.join(work_dir, "search.png")} '
        f'{roots}',
        '   Search your own folder of person images:',
        f'     python tools/search.py {BASELINE_CFG} {baseline_ckpt} '
        '--gallery PATH/TO/IMAGES --query "..."',
        '   ...then browse it on a local web page:',
        f'     python tools/search_page.py {BASELINE_CFG} {baseline_ckpt}',
        '   See what SAP-SAM is taught (part masks, patch labels, phrase '
        'spans):',
        '     python tools/analysis/browse_dataset.py '
        'configs/sapsam/elca_synthetic.py --num 4',
        f'   Logs, checkpoints and this report: {work_dir} '
        '(demo_results.json, demo_report.txt)']
    return '\n'.join(lines) + '\n'


def main():
    args = parse_args()
    os.makedirs(args.work_dir, exist_ok=True)
    start = time.time()
    results = {}
    # Stages 1 and 2 are independent: run them side by side, one thread
    # each (two threads each would oversubscribe a 2-core machine).
    single_thread = dict(OMP_NUM_THREADS='1', MKL_NUM_THREADS='1')
    print('== stages 1 and 2 side by side: [baseline] retriever, [parts] '
          'part pipeline', flush=True)
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

    print('== stage 3: SAP-SAM retriever on the generated part masks, '
          '[parts] Person-SAM tested beside it', flush=True)
    parts_out = osp.join(args.work_dir, 'parts', 'CUHK-PEDES')
    data_final, score_dict = find_part_files(parts_out, 'CUHK-PEDES',
                                             required=True)
    options = data_root_options(osp.join(args.data, 'CUHK-PEDES')) + \
        epoch_options(args.retrieval_epochs) + [
        f'train_dataloader.dataset.part_files.data_final='
        f'{osp.abspath(data_final)}',
        f'train_dataloader.dataset.part_files.score_dict='
        f'{osp.abspath(score_dict)}',
        'train_dataloader.dataset.part_files.seg_dir='
        f'{osp.abspath(osp.join(parts_out, "segs"))}']
    # Person-SAM's test (one thread) needs nothing SAP-SAM makes.
    person_sam = threading.Thread(target=guarded, args=(run_person_sam_test,))
    person_sam.start()
    results['sapsam'] = train_and_test(SAPSAM_CFG,
                                       osp.join(args.work_dir, 'sapsam'),
                                       options, label='sapsam')
    person_sam.join()
    if errors:
        sys.exit(f'demo stage failed: {errors[0]}')
    results['lab_reference'] = read_lab_reference()
    results['total_seconds'] = round(time.time() - start, 1)
    with open(osp.join(args.work_dir, 'demo_results.json'), 'w') as f:
        json.dump(results, f, indent=2)
    report = format_report(results, args.data, args.work_dir) + \
        f'\ndemo finished in {results["total_seconds"]:.0f} s\n'
    with open(osp.join(args.work_dir, 'demo_report.txt'), 'w') as f:
        f.write(report)
    print(report, end='')


if __name__ == '__main__':
    main()
