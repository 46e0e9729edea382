"""End-to-end runs of tools/train.py, tools/test.py and the dist scripts on
a small synthetic benchmark (CPU, gloo for the 2-process run)."""
import json
import os
import os.path as osp
import socket
import subprocess
import sys

import pytest
import torch

from tests.helpers import REPO

CONFIG = osp.join(REPO, 'configs/baseline/clip_sdm_synthetic.py')


@pytest.fixture(scope='module')
def synthetic_root(tmp_path_factory):
    from sapsam.datasets.synthetic import generate_synthetic_benchmark
    out = str(tmp_path_factory.mktemp('synthetic'))
    generate_synthetic_benchmark(out, seed=3, scale=0.15,
                                 datasets=('CUHK-PEDES',))
    return osp.join(out, 'CUHK-PEDES')


def _options(root, epochs=2):
    opts = [f'train_cfg.max_epochs={epochs}', 'train_cfg.val_interval=1',
            'default_hooks.logger.interval=1', 'randomness.seed=0']
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader',
                   'val_cfg.gallery_dataloader',
                   'test_cfg.gallery_dataloader'):
        opts += [f'{loader}.dataset.data_root={root}',
                 f'{loader}.num_workers=0',
                 f'{loader}.persistent_workers=False']
    opts += ['train_dataloader.batch_size=8', 'val_dataloader.batch_size=16',
             'test_dataloader.batch_size=16']
    return opts


def _run(args, env=None, timeout=600):
    full_env = dict(os.environ, PYTHONPATH=REPO, OMP_NUM_THREADS='1',
                    **(env or {}))
    result = subprocess.run(args, cwd=REPO, env=full_env, capture_output=True,
                            text=True, timeout=timeout)
    assert result.returncode == 0, (result.stdout[-3000:] +
                                    result.stderr[-3000:])
    return result.stdout + result.stderr


def _load(path):
    return torch.load(path, map_location='cpu', weights_only=False)


def _free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return str(s.getsockname()[1])


def test_train_test_and_resume(synthetic_root, tmp_path):
    work = str(tmp_path / 'run')
    _run([sys.executable, 'tools/train.py', CONFIG, '--work-dir', work,
          '--cfg-options', *_options(synthetic_root, epochs=2)])
    first = _load(osp.join(work, 'epoch_2.pth'))
    iters_per_epoch = first['meta']['iter'] // 2
    assert first['meta']['epoch'] == 2 and iters_per_epoch > 0
    assert any(name.startswith('best_t2i_R1') for name in os.listdir(work))

    out = str(tmp_path / 'metrics.json')
    _run([sys.executable, 'tools/test.py', CONFIG,
          osp.join(work, 'epoch_2.pth'), '--work-dir', work, '--out', out,
          '--cfg-options', *_options(synthetic_root)])
    metrics = json.load(open(out))
    assert set(metrics) == {'t2i/R1', 't2i/R5', 't2i/R10', 't2i/mAP',
                            't2i/mINP'}
    assert 0 <= metrics['t2i/R1'] <= metrics['t2i/R5'] <= \
        metrics['t2i/R10'] <= 100

    # Resume (torch >= 2.6 + mmengine 0.10.7) continues the iteration count.
    log = _run([sys.executable, 'tools/train.py', CONFIG, '--work-dir', work,
                '--resume', '--cfg-options',
                *_options(synthetic_root, epochs=3)])
    assert 'resumed epoch: 2' in log
    third = _load(osp.join(work, 'epoch_3.pth'))
    assert third['meta']['iter'] == 3 * iters_per_epoch
    assert third['meta']['epoch'] == 3
    # An explicit checkpoint path resumes as well.
    log = _run([sys.executable, 'tools/train.py', CONFIG, '--work-dir',
                str(tmp_path / 'other'), '--resume',
                osp.join(work, 'epoch_3.pth'), '--cfg-options',
                *_options(synthetic_root, epochs=4)])
    assert 'resumed epoch: 3' in log
    fourth = _load(str(tmp_path / 'other' / 'epoch_4.pth'))
    assert fourth['meta']['iter'] == 4 * iters_per_epoch


def test_two_process_ddp_matches_single_process(synthetic_root, tmp_path):
    work = str(tmp_path / 'ddp')
    _run(['bash', 'tools/dist_train.sh', CONFIG, '2', '--work-dir', work,
          '--cfg-options', *_options(synthetic_root, epochs=1)],
         env=dict(PORT=_free_port()))
    ckpt = osp.join(work, 'epoch_1.pth')
    assert osp.isfile(ckpt)
    single_out, dist_out = str(tmp_path / 'single.json'), str(
        tmp_path / 'dist.json')
    _run([sys.executable, 'tools/test.py', CONFIG, ckpt, '--work-dir', work,
          '--out', single_out, '--cfg-options', *_options(synthetic_root)])
    log = _run(['bash', 'tools/dist_test.sh', CONFIG, ckpt, '2', '--work-dir',
                work, '--out', dist_out, '--cfg-options',
                *_options(synthetic_root)], env=dict(PORT=_free_port()))
    assert 'gloo' in log
    single, dist = json.load(open(single_out)), json.load(open(dist_out))
    assert single.keys() == dist.keys()
    for key in single:
        assert dist[key] == pytest.approx(single[key], abs=1e-6), key
