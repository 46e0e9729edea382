"""A run killed mid-epoch and resumed ends bit-identical to an
uninterrupted one; truncated checkpoints are skipped with a warning."""
import os.path as osp
import signal
import subprocess
import sys
import time

import torch


def _final_state(work_dir):
    from sapsam.utils.checkpoint_compat import load_local_checkpoint
    return load_local_checkpoint(osp.join(work_dir, 'epoch_2.pth'),
                                 map_location='cpu')['state_dict']


def _train_and_kill(tools, work_dir, options, kill_in_epoch=2):
    """Start training, SIGKILL it during epoch ``kill_in_epoch``."""
    log_path = osp.join(osp.dirname(work_dir), osp.basename(work_dir) +
                        '.log')
    with open(log_path, 'w') as log:
        proc = subprocess.Popen(
            [sys.executable, 'tools/train.py', tools.BASELINE, '--work-dir',
             work_dir, '--cfg-options', *options], cwd=tools.REPO,
            env=tools.env(), stdout=log, stderr=subprocess.STDOUT)
        marker = f'Epoch(train) [{kill_in_epoch}][ 5/'
        deadline = time.time() + 240
        try:
            while time.time() < deadline and proc.poll() is None:
                with open(log_path) as f:
                    if marker in f.read():
                        break
                time.sleep(0.05)
            assert proc.poll() is None, 'training ended before the kill'
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
    with open(log_path) as f:
        text = f.read()
    assert marker in text, text[-2000:]
    assert not osp.isfile(osp.join(work_dir, 'epoch_2.pth'))


def test_kill_and_resume_is_bit_identical(tools, synthetic_cuhk,
                                          trained_baseline, tmp_path):
    """SIGKILL in epoch 2, ``--resume`` from epoch 1: the final weights equal
    an uninterrupted run's, without and with (persistent) dataloader
    workers; augmentation is seeded per sample, so the worker count does
    not change the result either."""
    expected = _final_state(trained_baseline)
    for workers in (0, 2):
        options = tools.options(synthetic_cuhk, epochs=2, workers=workers,
                                validate=False)
        resumed = str(tmp_path / f'resumed_{workers}')
        _train_and_kill(tools, resumed, options)
        out = tools.run(['tools/train.py', tools.BASELINE, '--work-dir',
                         resumed, '--resume', '--cfg-options', *options])
        assert 'resumed epoch: 1' in out.stdout + out.stderr
        got = _final_state(resumed)
        assert expected.keys() == got.keys()
        differ = [k for k in expected if not torch.equal(expected[k], got[k])]
        assert not differ, (f'workers={workers}: {len(differ)} tensors '
                            f'differ, e.g. {differ[:3]}')
