"""What a person reads: the demo's live log and closing report (from
recorded tool output, without running the demo), and progress bars in
log files."""
import io
import json
import shlex
import sys

from sapsam.parts.progress import LogProgressBar
from tests.helpers import load_script

# Tools-side orchestration of the demo and the ablation tables.
_runs = load_script('tools/misc/runs.py')
run_command, summarize_log_line = _runs.run_command, _runs.summarize_log_line

# Lines as MMEngine-based tools print them (shortened environment dump).
RECORDED_LOG = """\
12/01 21:44:16 - mmengine - INFO -
------------------------------------------------------------
System environment:
    sys.platform: linux
    PyTorch compiling details: PyTorch built with:
  - GCC 9.3
  - C++ Version: 201703
  - CPU capability usage: AVX2
  - Build settings: BLAS_INFO=open, CXX_FLAGS= -D_GLIBCXX_USE_CXX11_ABI=1 -fopenmp
------------------------------------------------------------
12/01 21:44:17 - mmengine - INFO - Config:
train_cfg = dict(max_epochs=12, type='EpochBasedTrainLoop', val_interval=1)
12/01 21:44:20 - mmengine - INFO - Epoch(train)  [1][20/40]  base_lr: 1.0000e-04 lr: 1.0000e-05  eta: 0:02:01  time: 0.2031  data_time: 0.0102  memory: 0  loss: 6.1234  loss_sdm: 5.0000  loss_mlm: 1.1234
12/01 21:44:24 - mmengine - INFO - Epoch(train)  [1][40/40]  base_lr: 1.0000e-04 lr: 2.8000e-05  eta: 0:01:57  time: 0.2012  data_time: 0.0101  memory: 0  loss: 5.9000  loss_sdm: 4.8000  loss_mlm: 1.1000  mlm_acc: 0.0312
12/01 21:44:25 - mmengine - INFO - Epoch(val) [1][6/6]    t2i/R1: 9.1000  t2i/R5: 30.2000  t2i/R10: 44.0000  t2i/mAP: 12.3000  t2i/mINP: 8.1000  data_time: 0.0040  time: 0.0510
+------------+-------+-------+
|   Class    |  IoU  |  Acc  |
+------------+-------+-------+
| background | 91.21 | 96.02 |
| foreground | 20.51 | 31.24 |
+------------+-------+-------+
12/01 21:44:30 - mmengine - INFO - Epoch(test) [6/6]    seg/aAcc: 91.4000  seg/mIoU: 55.8600  per_sample/mIoU: 28.4000  data_time: 0.0100  time: 0.0900
12/01 21:44:31 - mmengine - WARNING - the checkpoint has no meta
12/01 21:44:31 - mmengine - WARNING - "FileClient" will be deprecated in future. Please use io functions
12/01 21:44:31 - mmengine - WARNING - The prefix is not set in metric class TBPRMetric.
12/01 21:44:32 - mmengine - WARNING - image_encoder.neck.3.bias is skipped since its requires_grad=False
"""


def test_live_log_keeps_complete_epoch_and_result_lines():
    report = [r for r in map(summarize_log_line, RECORDED_LOG.splitlines())
              if r]
    assert report == [
        'epoch 1 train: lr 2.8000e-05  loss 5.9000  loss_sdm 4.8000  '
        'loss_mlm 1.1000  mlm_acc 0.0312',
        'epoch 1 val: t2i/R1 9.1000  t2i/R5 30.2000  t2i/R10 44.0000  '
        't2i/mAP 12.3000  t2i/mINP 8.1000',
        'test: seg/aAcc 91.4000  seg/mIoU 55.8600  per_sample/mIoU 28.4000',
        'warning: the checkpoint has no meta']


def test_parallel_stages_are_labelled(tmp_path, capsys):
    script = tmp_path / 'fake_tool.py'
    script.write_text('import sys\nsys.stdout.write(%r)\n' % RECORDED_LOG)
    run_command([sys.executable, str(script)], str(tmp_path / 'x.log'),
                label='parts')
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith('[parts] $ python ')
    assert len(out) == 5 and all(line.startswith('[parts] ') for line in out)
    assert 'GCC' not in '\n'.join(out) and '+---' not in '\n'.join(out)
    assert (tmp_path / 'x.log').read_text() == RECORDED_LOG  # all kept


def _recorded_results(tmp_path):
    metrics = dict(zip(('t2i/R1', 't2i/R5', 't2i/R10', 't2i/mAP',
                        't2i/mINP'), (17.3, 48.09, 67.45, 22.23, 13.38)))
    cuhk = 'data/synthetic/CUHK-PEDES'
    return dict(
        baseline=dict(metrics, train_seconds=201.0,
                      checkpoint='work_dirs/demo/baseline/best.pth',
                      test_command='python tools/test.py configs/baseline/'
                      'clip_sdm_synthetic.py work_dirs/demo/baseline/best.pth'
                      f' --cfg-options test_dataloader.dataset.data_root='
                      f'{cuhk}'),
        sapsam=dict(metrics, train_seconds=300.0,
                    checkpoint='work_dirs/demo/sapsam/best.pth',
                    test_command='python tools/test.py configs/sapsam/'
                    'elca_synthetic.py work_dirs/demo/sapsam/best.pth'),
        person_sam={'per_sample/mIoU': 28.4, 'seg/mIoU': 55.86,
                    'seg/aAcc': 91.4, 'per_sample/IoU_hair': 40.1,
                    'per_sample/IoU_upper-clothes': 35.0,
                    'per_sample/IoU_shoes': 12.5},
        person_sam_test_command='python tools/test.py configs/person_sam/'
        'mca_atr_synthetic.py work_dirs/demo/parts/ps/best.pth '
        '--cfg-options test_dataloader.dataset.ann_file=/x/test.json',
        part_masks=dict(results={'CUHK-PEDES': dict(
            per_class={'hair': dict(mIoU=20.0, count=300),
                       'upper-clothes': dict(mIoU=11.0, count=310),
                       'shoes': dict(mIoU=4.2, count=280)},
            mIoU=11.73)}))


def test_demo_report_is_complete_and_consistent(tmp_path, load_tool):
    tool = load_tool('tools/misc/run_demo.py')
    text = tool.format_report(_recorded_results(tmp_path), 'data/synthetic',
                              'work_dirs/demo')
    # One name per body-part group: Person-SAM's and the part masks' rows
    # meet.
    rows = {line.split()[0]: line.split()[1:] for line in text.splitlines()
            if line.startswith('   ') and len(line.split()) == 4}
    assert rows['upper-clothes'][:3] == ['35.00', '11.00', '310']
    assert rows['hair'][:2] == ['40.10', '20.00']
    assert 'clothes' not in rows
    # Both IoU figures, each explained.
    assert 'per-sample mIoU   28.40' in text and 'seg/mIoU          55.86' \
        in text and 'background' in text
    # The commands that reproduce every number, and what to try next with
    # the demo's own checkpoint.
    assert 'Person-SAM:  python tools/test.py configs/person_sam/' \
        'mca_atr_synthetic.py work_dirs/demo/parts/ps/best.pth' in text
    assert f'python tools/search.py {tool.BASELINE_CFG} ' \
        'work_dirs/demo/baseline/best.pth' in text
    assert 'tools/search_page.py' in text
    assert text.count('| baseline: CLIP + SDM | 17.30 |') == 1


def test_demo_report_states_the_gap_and_the_seed_averaged_lab(tmp_path,
                                                              load_tool):
    """The demo's one-seed gap is printed beside the 3-seed lab rows it
    should be read against; without them the report says where to look."""
    tool = load_tool('tools/misc/run_demo.py')
    results = _recorded_results(tmp_path)
    results['sapsam'] = dict(results['sapsam'], **{'t2i/R1': 19.8})
    results['lab_reference'] = dict(seeds=[0, 1, 2], rows=[
        dict(label='baseline', cells={'R@1': '12.10 ± 0.40'}),
        dict(label='SAP-SAM (Person-SAM masks)',
             cells={'R@1': '13.00 ± 0.30'})])
    text = tool.format_report(results, 'data/synthetic', 'work_dirs/demo')
    assert 'SAP-SAM - baseline: +2.50 R@1' in text
    assert "lab's 3-seed results (docs/results.md, seeds 0, 1, 2" in text
    assert 'SAP-SAM (Person-SAM masks)  R@1 13.00 ± 0.30' in text
    results['lab_reference'] = None
    text = tool.format_report(results, 'data/synthetic', 'work_dirs/demo')
    assert 'no seed-averaged lab results found: see docs/results.md' in text


def test_demo_prints_the_person_sam_command_it_ran(tmp_path, load_tool,
                                                   monkeypatch):
    """The printed reproduction command is the one the demo executed."""
    tool = load_tool('tools/misc/run_demo.py')
    ran = []

    def fake_run(cmd, log_path, label=None, env=None):
        ran.append(list(cmd))
        if 'run_part_pipeline.py' in cmd[1]:
            out = cmd[cmd.index('--out') + 1]
            with open(out, 'w') as f:
                json.dump(dict(results={}, checkpoint='ps/best.pth'), f)
        else:
            with open(cmd[cmd.index('--out') + 1], 'w') as f:
                json.dump({'per_sample/mIoU': 1.0}, f)
        return 1.0

    monkeypatch.setattr(tool, 'run_command', fake_run)
    args = type('Args', (), dict(work_dir=str(tmp_path), data='data/syn',
                                 person_sam_epochs=2))
    (tmp_path / 'parts').mkdir()
    results = {}
    tool.run_parts(args, results, {})
    tool.run_person_sam_test(args, results, {})
    executed = ran[-1]
    for flag in ('--work-dir', '--out'):  # run-specific outputs only
        i = executed.index(flag)
        del executed[i:i + 2]
    assert shlex.split(results['person_sam_test_command'])[1:] == \
        executed[1:]
    assert executed[2] == tool.PERSON_SAM_CFG and 'ps/best.pth' in executed


def test_demo_baseline_lane_pretrains_clip_first_and_parts_shard(
        tmp_path, load_tool, monkeypatch):
    """The baseline lane pretrains the tiny CLIP (two threads, as `make
    data` does, so the weights are the same) before training on it; the
    part lane runs stage 4 in two shards."""
    tool = load_tool('tools/misc/run_demo.py')
    ran = []

    def fake_run(cmd, log_path, label=None, env=None):
        ran.append(list(cmd))
        if 'run_part_pipeline.py' in cmd[1]:
            with open(cmd[cmd.index('--out') + 1], 'w') as f:
                json.dump(dict(results={}, checkpoint='ps/best.pth'), f)
        elif 'tools/test.py' in cmd:
            with open(cmd[cmd.index('--out') + 1], 'w') as f:
                json.dump({'per_sample/mIoU': 1.0}, f)
        return 1.0

    trained = []
    monkeypatch.setattr(tool, 'run_command', fake_run)
    monkeypatch.setattr(tool, 'train_and_test',
                        lambda config, *a, **k: trained.append(config))
    args = type('Args', (), dict(work_dir=str(tmp_path), data='data/syn',
                                 retrieval_epochs=None,
                                 person_sam_epochs=None))
    results = {}
    tool.run_baseline(args, results, {})
    assert ran[0][1:] == ['tools/misc/pretrain_lab_encoders.py', '--out',
                          'data/syn/weights', '--stages', 'clip',
                          '--threads', '2']
    assert trained == [tool.BASELINE_CFG]
    (tmp_path / 'parts').mkdir()
    tool.run_parts(args, results, {})
    parts = next(cmd for cmd in ran if 'run_part_pipeline.py' in cmd[1])
    assert parts[parts.index('--part-mask-shards') + 1] == '2'


def test_progress_bar_logs_at_intervals_in_a_file():
    log = io.StringIO()  # not a TTY, like a log file or CI
    bar = LogProgressBar(20000, what='gallery images', file=log)
    for _ in range(20000):
        bar.update()
    bar.finish()
    lines = log.getvalue().splitlines()
    assert '\r' not in log.getvalue()
    assert len(lines) == 10  # every 10 %, not one update per item
    assert lines[-1].startswith('gallery images: 20000/20000 (100%)')

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    tty = Terminal()
    bar = LogProgressBar(3, file=tty)
    for _ in range(3):
        bar.update()
    bar.finish()
    assert tty.getvalue().count('\r') == 3  # mmengine's live bar

