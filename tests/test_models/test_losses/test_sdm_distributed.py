"""SDM with cross-rank negatives equals SDM on the global batch."""
import os
import socket
import subprocess
import sys

import torch

from sapsam.models import SDMLoss
from tests.helpers import REPO

WORKER = '''
import sys, torch, torch.distributed as dist
from sapsam.models import SDMLoss
dist.init_process_group('gloo')
rank = dist.get_rank()
data = torch.load(sys.argv[1])
torch.manual_seed(0)
proj = torch.nn.Linear(8, 8)
ddp = torch.nn.parallel.DistributedDataParallel(proj)
local = slice(rank * 3, rank * 3 + 3)
loss = SDMLoss(temperature=0.1, gather=sys.argv[3] == '1')(
    ddp(data['images'][local]), ddp(data['texts'][local]), data['pids'][local])
loss.backward()
if rank == 0:
    torch.save(proj.weight.grad, sys.argv[2])
from sapsam.utils import release_distributed
release_distributed()  # exits (gloo)
'''


def _two_rank_grad(tmp_path, data_path, gather):
    script = tmp_path / 'worker.py'
    script.write_text(WORKER)
    out = str(tmp_path / f'grad{int(gather)}.pt')
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        port = str(s.getsockname()[1])
    result = subprocess.run(
        [sys.executable, '-m', 'torch.distributed.run', '--nproc_per_node=2',
         f'--master_port={port}', str(script), data_path, out,
         '1' if gather else '0'],
        env=dict(os.environ, PYTHONPATH=REPO, OMP_NUM_THREADS='1'),
        capture_output=True, text=True, timeout=240)
    assert result.returncode == 0, result.stderr[-2000:]
    return torch.load(out)


def test_two_ranks_match_one_process_on_the_global_batch(tmp_path):
    torch.manual_seed(1)
    data = dict(images=torch.randn(6, 8), texts=torch.randn(6, 8),
                pids=torch.tensor([0, 1, 2, 0, 3, 1]))
    data_path = str(tmp_path / 'data.pt')
    torch.save(data, data_path)
    torch.manual_seed(0)
    proj = torch.nn.Linear(8, 8)
    SDMLoss(temperature=0.1)(proj(data['images']), proj(data['texts']),
                             data['pids']).backward()
    expected = proj.weight.grad

    assert torch.allclose(_two_rank_grad(tmp_path, data_path, True), expected,
                          atol=1e-6)
    # Without the gather each rank only sees its own half of the batch.
    assert not torch.allclose(_two_rank_grad(tmp_path, data_path, False),
                              expected, atol=1e-4)
