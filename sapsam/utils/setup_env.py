"""Environment helpers: registration and CPU-friendly distributed setup."""
import logging
import os
import sys

import torch
import torch.distributed as torch_dist
from mmengine.config import Config
from mmengine.logging import print_log
from mmengine.registry import DefaultScope


def register_all_modules(init_default_scope: bool = True) -> None:
    """Import every sapsam sub-package so its modules are registered.

    Args:
        init_default_scope (bool): Also make ``sapsam`` the default scope.
    """
    import sapsam.datasets  # noqa: F401
    import sapsam.engine  # noqa: F401
    import sapsam.evaluation  # noqa: F401
    import sapsam.models  # noqa: F401
    if init_default_scope and DefaultScope.get_current_instance() is None:
        DefaultScope.get_instance('sapsam', scope_name='sapsam')


def setup_distributed(cfg: Config, launcher: str) -> None:
    """Pick the process-group backend and wrapper for the launch.

    With ``launcher != 'none'`` and no GPU, the group is created here with
    ``gloo`` (MMEngine 0.10.x would call ``torch.cuda.set_device``) and
    DDP is told to run on CPU (``device_ids=None``). With GPUs, NCCL and
    MMEngine's defaults are kept.
    """
    cfg.launcher = launcher
    if launcher == 'none' or torch.cuda.is_available():
        return
    env_cfg = cfg.setdefault('env_cfg', {})
    env_cfg.setdefault('dist_cfg', {})['backend'] = 'gloo'
    wrapper = dict(cfg.get('model_wrapper_cfg') or
                   dict(type='MMDistributedDataParallel'))
    wrapper.update(device_ids=None, broadcast_buffers=False)
    wrapper.setdefault('find_unused_parameters',
                       cfg.get('find_unused_parameters', False))
    cfg.model_wrapper_cfg = wrapper
    if launcher == 'pytorch' and not torch_dist.is_initialized():
        torch_dist.init_process_group(
            backend='gloo', rank=int(os.environ['RANK']),
            world_size=int(os.environ['WORLD_SIZE']))
        print_log(f'no GPU: initialised gloo process group '
                  f'(rank {os.environ["RANK"]} of {os.environ["WORLD_SIZE"]})',
                  logger='current')


def release_distributed() -> None:
    """Wait for every rank and destroy the process group.

    With gloo (CPU runs) the process then exits at once: on torch 2.14 a
    gloo process aborts now and then while the interpreter shuts down, after
    all work is done ("terminate called without an active exception",
    seen in about 1 of 8 two-process runs), which torchrun reports as a
    failed run. Logs are flushed first; nothing runs after this call.
    """
    if not (torch_dist.is_available() and torch_dist.is_initialized()):
        return
    backend = torch_dist.get_backend()
    torch_dist.barrier()
    torch_dist.destroy_process_group()
    if backend == 'gloo':
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)
