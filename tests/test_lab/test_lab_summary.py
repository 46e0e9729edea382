"""The lab tables: mean ± sample std over seeds, gaps to the baseline, and
the rows make demo prints."""
import json

from tests.helpers import load_script


def _runs(values, key='t2i/R1'):
    return [{key: v, 't2i/R5': v + 10, 't2i/mAP': v + 1,
             'train_seconds': 1.0} for v in values]


def test_summary_tables_and_demo_reference(tmp_path, capsys):
    tool = load_script('tools/analysis/lab_summary.py')
    seg = [{'per_sample/mIoU': v, 'seg/mIoU': 70.0, 'train_seconds': 1.0}
           for v in (40.0, 42.0, 44.0)]
    (tmp_path / 'table5.json').write_text(json.dumps([
        dict(name='MCA', config='configs/lab/person_sam_mca.py',
             seeds=[0, 1, 2], runs=seg)]))
    (tmp_path / 'table6.json').write_text(json.dumps([
        dict(name='w/o matching', config='configs/lab/baseline.py',
             seeds=[0, 1, 2], runs=_runs([10.0, 11.0, 12.0])),
        dict(name='4) ELCA', config='configs/lab/elca.py', seeds=[0, 1, 2],
             runs=_runs([13.0, 13.0, 16.0]))]))
    for seed, value in enumerate((9.0, 11.0, 13.0)):
        (tmp_path / f'psam_masks_seed{seed}.json').write_text(json.dumps([
            dict(name='ELCA on Person-SAM masks', config='configs/lab/elca.py',
                 seeds=[seed], runs=_runs([value]))]))
        (tmp_path / f'part_masks_seed{seed}.json').write_text(json.dumps(dict(
            results={'CUHK-PEDES': dict(
                mIoU=20.0 + seed, mIoU_phrases=30.0,
                per_class={'hair': dict(mIoU=10.0 + seed, count=5)})})))
    out = tmp_path / 'lab_results.json'
    reference = tool.main([str(tmp_path), '--json-out', str(out)])
    text = capsys.readouterr().out
    assert '| 4) ELCA (`configs/lab/elca.py`) | 14.00 ± 1.73 |' in text
    assert '13.00, 13.00, 16.00 | +3.00 |' in text  # per seed, mean gap
    assert '| 4) ELCA on Person-SAM masks (`configs/lab/elca.py`) | ' \
        '11.00 ± 2.00 |' in text and '| +0.00 |' in text
    assert '| hair | 11.00 ± 1.00 | 10.0, 11.0, 12.0 |' in text
    assert '| MCA (`configs/lab/person_sam_mca.py`) | 42.00 ± 2.00 |' in text
    assert json.loads(out.read_text()) == reference
    rows = {row['label']: row['cells'] for row in reference['rows']}
    assert reference['seeds'] == [0, 1, 2]
    assert rows['baseline']['R@1'] == '11.00 ± 1.00'
    assert rows['SAP-SAM (Person-SAM masks)']['R@1'] == '11.00 ± 2.00'
    assert rows['part masks vs ground truth']['mean IoU'] == '21.00 ± 1.00'


def test_ablation_table_reports_mean_and_sample_std():
    tool = load_script('tools/analysis/ablation_table.py')
    table = tool.markdown_table(
        [('w/o matching', 'a.py', _runs([10.0, 12.0])),
         ('4) ELCA', 'b.py', _runs([11.0, 11.0]))], [0, 1],
        metrics=('t2i/R1', 't2i/mAP'))
    lines = table.splitlines()
    assert lines[0] == '| No. | Method | R@1 | mAP | train time / run (s) |'
    assert lines[2] == '|  | w/o matching (`a.py`) | 11.00 ± 1.41 | ' \
        '12.00 ± 1.41 | 1 |'
    assert lines[3].startswith('| 4) | ELCA (`b.py`) | 11.00 ± 0.00 |')
