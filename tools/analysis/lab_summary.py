"""Summarise the lab runs of ``tools/analysis/lab_results.sh``.

``python tools/analysis/lab_summary.py work_dirs/lab`` prints the Markdown
tables of docs/results.md (mean ± sample std over seeds, with the per-seed
values and the gaps to the baseline) and writes ``docs/lab_results.json``,
the rows ``make demo`` prints beside its own one-seed run.
"""
import argparse
import glob
import json
import os.path as osp
import statistics
import sys
from typing import Dict, List, Sequence

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(
    __file__)))))

from sapsam.utils.atr_vocabulary import ATR_GROUP_NAMES  # noqa: E402
from sapsam.utils.fileio import load_json  # noqa: E402
from tools.analysis.ablation_table import format_cell  # noqa: E402

RETRIEVAL = (('R@1', 't2i/R1'), ('R@5', 't2i/R5'), ('mAP', 't2i/mAP'))
SEGMENTATION = (('per-sample mIoU', 'per_sample/mIoU'),
                ('mIoU (mmseg)', 'seg/mIoU'))


def table(rows: List[dict], columns, baseline: List[float] = None) -> str:
    """Markdown rows: name, mean ± std per column, the per-seed first
    column and (with ``baseline`` per-seed values) the mean gap to it."""
    first = columns[0][0]
    head = ['Method'] + [c for c, _ in columns] + [f'{first} per seed']
    if baseline is not None:
        head.append(f'{first} gap to baseline')
    lines = ['| ' + ' | '.join(head) + ' |', '|' + '---|' * len(head)]
    for row in rows:
        runs = row['runs']
        cells = [format_cell([r[key] for r in runs]) for _, key in columns]
        per_seed = ', '.join(f'{r[columns[0][1]]:.2f}' for r in runs)
        line = [f'{row["name"]} (`{row["config"]}`)', *cells, per_seed]
        if baseline is not None:
            gaps = [r[columns[0][1]] - b for r, b in zip(runs, baseline)]
            line.append(f'{statistics.mean(gaps):+.2f}')
        lines.append('| ' + ' | '.join(line) + ' |')
    return '\n'.join(lines)


def mask_table(results: List[dict]) -> str:
    """Per-part IoU of the stage-4 masks, mean ± std over Person-SAM
    seeds."""
    per_class: Dict[str, List[float]] = {}
    for res in results:
        for name, row in res['per_class'].items():
            per_class.setdefault(name, []).append(row['mIoU'])
    order = [n for n in ATR_GROUP_NAMES.values() if n in per_class]
    order += sorted(set(per_class) - set(order))
    lines = ['| part group | IoU (%) | per seed |', '|---|---|---|']
    for name in order:
        values = per_class[name]
        lines.append(f'| {name} | {format_cell(values)} | ' +
                     ', '.join(f'{v:.1f}' for v in values) + ' |')
    for title, key in (('**mean over groups**', 'mIoU'),
                       ('mean over phrases', 'mIoU_phrases')):
        means = [res[key] for res in results]
        lines.append(f'| {title} | {format_cell(means)} | ' +
                     ', '.join(f'{v:.1f}' for v in means) + ' |')
    return '\n'.join(lines)


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('work_dir', help='the lab_results.sh work dir')
    parser.add_argument('--json-out', default='docs/lab_results.json')
    args = parser.parse_args(argv)
    w = args.work_dir
    table5 = load_json(osp.join(w, 'table5.json'))
    table6 = load_json(osp.join(w, 'table6.json'))
    masks = [load_json(p)['results']['CUHK-PEDES'] for p in sorted(
        glob.glob(osp.join(w, 'part_masks_seed*.json')))]
    psam = [row for p in sorted(glob.glob(osp.join(w,
                                                   'psam_masks_seed*.json')))
            for row in load_json(p)]
    if psam:
        table6.append(dict(name='4) ELCA on Person-SAM masks',
                           config=psam[0]['config'],
                           seeds=[s for row in psam for s in row['seeds']],
                           runs=[r for row in psam for r in row['runs']]))
    baseline = [r['t2i/R1'] for r in table6[0]['runs']]
    print('## Table 5 layout\n\n' + table(table5, SEGMENTATION) + '\n')
    print('## Table 6 layout\n\n' + table(table6, RETRIEVAL, baseline) +
          '\n')
    if masks:
        print('## Stage-4 masks\n\n' + mask_table(masks) + '\n')

    def cells(row, columns):
        return {c: format_cell([r[k] for r in row['runs']])
                for c, k in columns}
    by_name = {row['name']: row for row in table6}
    reference = dict(seeds=table6[0]['seeds'], rows=[])
    mca = [row for row in table5 if row['name'] == 'MCA']
    if mca:
        reference['rows'].append(dict(label='Person-SAM (MCA) on ATR test',
                                      cells=cells(mca[0], SEGMENTATION[:1])))
    if masks:
        reference['rows'].append(dict(
            label='part masks vs ground truth',
            cells={'mean IoU': format_cell([m['mIoU'] for m in masks])}))
    for name, label in (('w/o matching', 'baseline'),
                        ('4) ELCA', 'SAP-SAM (ground-truth parts)'),
                        ('4) ELCA on Person-SAM masks',
                         'SAP-SAM (Person-SAM masks)')):
        if name in by_name:
            reference['rows'].append(dict(
                label=label, cells=cells(by_name[name], RETRIEVAL)))
    with open(args.json_out, 'w', encoding='utf-8') as f:
        json.dump(reference, f, indent=2, ensure_ascii=False)
        f.write('\n')
    return reference


if __name__ == '__main__':
    main()
