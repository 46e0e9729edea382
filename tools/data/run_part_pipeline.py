"""Run the part pipeline on the synthetic benchmark and score its masks.

Stages (each resumable; a rerun skips finished work):

1. template phrases for the synthetic ATR images
   (``configs/parts/atr_phrases_template_synthetic.py``);
2. Person-SAM: ``--checkpoint`` of a model trained with
   ``configs/person_sam/mca_atr_synthetic.py``, or ``--train-person-sam`` to
   train it here on the stage-1 phrases (``tools/train.py``);
3. rule splitting of the train captions
   (``configs/parts/split_captions_rule_synthetic_<ds>.py``);
4. Person-SAM part masks (``configs/parts/part_masks_synthetic_<ds>.py``);

then prints, per data set, the mean IoU per part class of the generated
masks against the benchmark's ground-truth masks.

Example (what ``make demo`` runs)::

    python tools/data/run_part_pipeline.py --train-person-sam
"""
import argparse
import glob
import json
import os
import os.path as osp
import subprocess
import sys
import time

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, REPO)

from mmengine.logging import print_log  # noqa: E402

from sapsam.parts.evaluation import (evaluate_part_masks,  # noqa: E402
                                     format_iou_table,
                                     synthetic_phrase_groups)
from sapsam.parts.formats import (atomic_write_json,  # noqa: E402
                                  find_part_files, read_data_final)
from sapsam.parts.stage_keys import content_key, file_digest  # noqa: E402

SHORT = {'CUHK-PEDES': 'cuhk', 'ICFG-PEDES': 'icfg', 'RSTPReid': 'rstp'}
PERSON_SAM_CFG = 'configs/person_sam/mca_atr_synthetic.py'


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--data-root', default='data/synthetic',
                        help='synthetic benchmark root')
    parser.add_argument('--work-dir', default='work_dirs/parts/synthetic')
    parser.add_argument('--datasets', nargs='+', default=['CUHK-PEDES'],
                        choices=list(SHORT))
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument('--checkpoint', help='trained Person-SAM weights')
    group.add_argument('--train-person-sam', action='store_true',
                       help=f'train {PERSON_SAM_CFG} on the stage-1 phrases')
    parser.add_argument('--person-sam-config', default=PERSON_SAM_CFG,
                        help='Person-SAM config trained by '
                        '--train-person-sam')
    parser.add_argument('--part-masks-config',
                        default='configs/parts/part_masks_synthetic_{short}'
                        '.py', help='stage-4 config; {short} is cuhk, icfg '
                        'or rstp (its model must be the Person-SAM\'s)')
    parser.add_argument('--person-sam-options', nargs='*', default=[],
                        help='extra --cfg-options for the Person-SAM run')
    parser.add_argument('--part-mask-shards', type=int, default=1,
                        help='run stage 4 as this many processes at once, '
                        'one torch thread each (--shard i/n)')
    parser.add_argument('--out', help='also write the results as JSON here')
    return parser.parse_args(argv)


def run(cmd):
    print_log('$ ' + ' '.join(cmd), logger='current')
    subprocess.run([sys.executable, *cmd], cwd=REPO, check=True)


def run_shards(cmd, num_shards: int) -> None:
    """Run ``cmd --shard i/n`` for every shard at once (one torch thread
    each; with one shard, ``cmd`` as it is); raise if any fails."""
    if num_shards < 1:
        raise ValueError(f'--part-mask-shards must be >= 1, got {num_shards}')
    if num_shards == 1:
        return run(cmd)
    env = dict(os.environ, OMP_NUM_THREADS='1', MKL_NUM_THREADS='1')
    procs = []
    for shard in range(num_shards):
        shard_cmd = cmd[:2] + ['--shard', f'{shard}/{num_shards}'] + cmd[2:]
        print_log('$ ' + ' '.join(shard_cmd), logger='current')
        procs.append(subprocess.Popen([sys.executable, *shard_cmd],
                                      cwd=REPO, env=env))
    failed = [shard for shard, proc in enumerate(procs) if proc.wait()]
    if failed:
        raise subprocess.CalledProcessError(
            procs[failed[0]].returncode, cmd[:2] + ['--shard',
                                                    f'{failed[0]}/'
                                                    f'{num_shards}'])


def train_person_sam(args, atr_out):
    """Train Person-SAM on the template phrases; return the best weights.

    The run is done only when ``training_done.json`` says so (written after
    ``tools/train.py`` exits 0); a run killed earlier is resumed from its
    last intact checkpoint. The work dir is keyed by the ATR phrase files
    and the options, so other inputs train a new model.
    """
    ann_files = [f'{osp.abspath(atr_out)}/atr_item_descriptions_{split}.json'
                 for split in ('train', 'dev', 'test')]
    key = content_key([file_digest(f) for f in ann_files], args.data_root,
                      args.person_sam_options, file_digest(
                          osp.join(REPO, args.person_sam_config)))
    work_dir = osp.join(args.work_dir, 'person_sam', key)
    done_file = osp.join(work_dir, 'training_done.json')
    if osp.isfile(done_file):
        with open(done_file, encoding='utf-8') as f:
            best = json.load(f)['checkpoint']
        if osp.isfile(best):
            print_log(f'Person-SAM already trained: {best}', logger='current')
            return best
    options = [f'{loader}.dataset.ann_file={ann}'
               for loader, ann in zip(('train_dataloader', 'val_dataloader',
                                       'test_dataloader'), ann_files)]
    options += [f'{loader}.dataset.data_root={args.data_root}/ATR'
                for loader in ('train_dataloader', 'val_dataloader',
                               'test_dataloader')]
    resume = ['--resume'] if glob.glob(osp.join(work_dir, '*.pth')) else []
    if resume:
        print_log(f'Person-SAM training in {work_dir} did not finish; '
                  'resuming it', logger='current')
    run(['tools/train.py', args.person_sam_config, '--work-dir', work_dir,
         *resume,
         '--cfg-options', *options, *args.person_sam_options])
    found = sorted(glob.glob(osp.join(work_dir, 'best_*.pth')))
    if not found:
        raise FileNotFoundError(f'no best_*.pth in {work_dir}')
    atomic_write_json(done_file, dict(checkpoint=found[-1], key=key))
    return found[-1]


def main(argv=None):
    args = parse_args(argv)
    start = time.time()
    if not osp.isfile(osp.join(args.data_root, 'synthetic_manifest.json')):
        raise FileNotFoundError(
            f'no synthetic benchmark in {args.data_root}; run python '
            'tools/dataset_converters/generate_synthetic.py --out '
            f'{args.data_root}')
    atr_out = osp.join(args.work_dir, 'ATR')
    run(['tools/data/generate_atr_phrases.py',
         'configs/parts/atr_phrases_template_synthetic.py', '--cfg-options',
         f'data_root={args.data_root}/ATR', f'out_dir={atr_out}'])
    checkpoint = args.checkpoint or train_person_sam(args, atr_out)
    results = {}
    for name in args.datasets:
        short = SHORT[name]
        out_dir = osp.join(args.work_dir, name)
        data_root = osp.join(args.data_root, name)
        run(['tools/data/split_captions.py',
             f'configs/parts/split_captions_rule_synthetic_{short}.py',
             '--cfg-options', f'dataset.data_root={data_root}',
             f'out_dir={out_dir}'])
        run_shards(['tools/data/generate_part_masks.py',
                    args.part_masks_config.format(short=short),
                    '--checkpoint', checkpoint, '--cfg-options',
                    f'data_root={data_root}', f'out_dir={out_dir}'],
                   args.part_mask_shards)
        ref_final, _ = find_part_files(data_root, name)
        pred_final, _ = find_part_files(out_dir, name)
        groups = synthetic_phrase_groups(
            osp.join(data_root, 'synthetic_attributes.json'),
            read_data_final(ref_final))
        results[name] = evaluate_part_masks(pred_final,
                                            osp.join(out_dir, 'segs'),
                                            ref_final,
                                            osp.join(data_root, 'segs'),
                                            groups)
        res = results[name]
        print(f'\n## {name}: generated part masks vs synthetic ground truth\n'
              f'{format_iou_table(res)}\n'
              f'({res["unmatched"]} generated phrases matched no reference '
              'phrase)\n')
    print(f'part pipeline finished in {time.time() - start:.0f} s '
          f'(Person-SAM weights: {checkpoint})')
    if args.out:
        atomic_write_json(args.out, dict(results=results,
                                         checkpoint=checkpoint))
    return results


if __name__ == '__main__':
    main()
