"""Fixtures of the fault tests: a tiny synthetic benchmark and a runner of
the command-line tools in a subprocess."""
import functools
import importlib.util
import os
import os.path as osp
import subprocess
import sys
import types

import pytest

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
BASELINE = osp.join(REPO, 'configs/baseline/clip_sdm_synthetic.py')
LOADERS = ('train_dataloader', 'val_dataloader', 'test_dataloader',
           'val_cfg.gallery_dataloader', 'test_cfg.gallery_dataloader')


@pytest.fixture(scope='session')
def synthetic_cuhk(tmp_path_factory):
    """Folder of a tiny synthetic CUHK-PEDES (75 train images)."""
    from sapsam.datasets.synthetic import generate_synthetic_benchmark
    out = str(tmp_path_factory.mktemp('fault_synthetic'))
    generate_synthetic_benchmark(out, seed=3, scale=0.15,
                                 datasets=('CUHK-PEDES', ))
    return osp.join(out, 'CUHK-PEDES')


def baseline_options(root, epochs=2, workers=0, validate=True):
    """``--cfg-options`` of a short CPU run of the synthetic baseline."""
    opts = [f'train_cfg.max_epochs={epochs}',
            f'train_cfg.val_interval={1 if validate else 100}',
            'default_hooks.logger.interval=1', 'randomness.seed=0',
            'train_dataloader.batch_size=8', 'val_dataloader.batch_size=16',
            'test_dataloader.batch_size=16']
    for loader in LOADERS:
        opts += [f'{loader}.dataset.data_root={root}']
        if loader != 'train_dataloader' or not workers:
            opts += [f'{loader}.num_workers=0',
                     f'{loader}.persistent_workers=False']
    if workers:
        opts += [f'train_dataloader.num_workers={workers}',
                 'train_dataloader.persistent_workers=True']
    return opts


def tool_env(**extra):
    env = dict(os.environ, PYTHONPATH=REPO, OMP_NUM_THREADS='1', **extra)
    env.pop('SAPSAM_TRUST_CHECKPOINTS', None)
    return env


def run_tool(args, ok=True, env=None, timeout=300, python_flags=()):
    """Run ``python [flags] tools/...`` in the repository; returns the
    completed process (asserting the exit status when ``ok`` is set)."""
    result = subprocess.run([sys.executable, *python_flags, *args], cwd=REPO,
                            env=env or tool_env(), capture_output=True,
                            text=True, timeout=timeout)
    if ok is not None:
        assert (result.returncode == 0) == ok, (
            f'exit {result.returncode}\n{result.stdout[-3000:]}\n'
            f'{result.stderr[-3000:]}')
    return result


@functools.lru_cache(maxsize=None)
def load_tool(path):
    """The module of a command-line tool (``'tools/train.py'``), loaded once,
    to call its ``main(argv)`` or functions in-process."""
    name = 'fault_tool_' + osp.splitext(path)[0].replace('/', '_')
    spec = importlib.util.spec_from_file_location(name, osp.join(REPO, path))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope='session')
def trained_baseline(tmp_path_factory, synthetic_cuhk):
    """Work dir of a 2-epoch CPU run of the synthetic baseline (no
    validation, no workers): ``epoch_1.pth``, ``epoch_2.pth``."""
    work = str(tmp_path_factory.mktemp('trained_baseline'))
    run_tool(['tools/train.py', BASELINE, '--work-dir', work,
              '--cfg-options', *baseline_options(synthetic_cuhk, epochs=2,
                                                 validate=False)])
    return work


@pytest.fixture(scope='session')
def tools():
    """The helpers above: ``tools.run``, ``tools.load``, ``tools.options``,
    ``tools.env``, ``tools.BASELINE``, ``tools.REPO``."""
    return types.SimpleNamespace(run=run_tool, load=load_tool,
                                 options=baseline_options, env=tool_env,
                                 BASELINE=BASELINE, REPO=REPO)
