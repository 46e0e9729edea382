"""The ELCA and training-step benchmarks run at a tiny size."""
import math

import torch

from tests.helpers import load_script


def _load(name):
    return load_script(f'benchmarks/{name}.py')


def test_elca_benchmark_compares_equal_losses(capsys):
    threads = torch.get_num_threads()
    try:  # one thread: the loop's many small ops run fastest that way
        rows = _load('elca_vectorised').main(
            ['--batch-size', '4', '--embed-dim', '32', '--num-heads', '4',
             '--repeats', '1', '--readouts', 'region', '--threads', '1'])
    finally:
        torch.set_num_threads(threads)
    assert [r['readout'] for r in rows] == ['region']
    for row in rows:
        assert row['pairs'] > 4
        assert row['abs_diff'] < 1e-5 and row['max_grad_diff'] < 1e-5
        assert {'vectorised_s', 'loop_s'} <= set(row)
    assert '| readout |' in capsys.readouterr().out


def test_gpu_train_step_runs_tiny_on_cpu(sapsam_scope):
    torch.manual_seed(0)
    result = _load('gpu_train_step').main(
        ['--device', 'cpu', '--tiny', '--steps', '1', '--warmup', '0',
         '--dtype', 'float32'])  # bf16 autocast: test_sapsam_retriever.py
    assert result['device'] == 'cpu' and 'images_per_s' in result
    for key in ('loss_sdm', 'loss_mlm', 'loss_align'):
        assert math.isfinite(result[key]) and result[key] > 0
