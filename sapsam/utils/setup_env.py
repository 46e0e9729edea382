"""Environment helpers: registration, config loading for the tools and
CPU-friendly distributed setup."""
import difflib
import inspect
import logging
import os
import os.path as osp
import sys
from typing import Optional, Sequence

import torch
import torch.distributed as torch_dist
from mmengine.config import Config, DictAction
from mmengine.logging import print_log
from mmengine.registry import DefaultScope


def register_all_modules(init_default_scope: bool = True) -> None:
    """Import every sapsam sub-package so its modules are registered, and
    install the safe checkpoint loader and the atomic checkpoint writer.

    Args:
        init_default_scope (bool): Also make ``sapsam`` the default scope.
    """
    import sapsam.datasets  # noqa: F401
    import sapsam.engine  # noqa: F401
    import sapsam.evaluation  # noqa: F401
    import sapsam.models  # noqa: F401
    from .checkpoint_compat import patch_mmengine_checkpoint_loading
    patch_mmengine_checkpoint_loading()
    if init_default_scope and DefaultScope.get_current_instance() is None:
        DefaultScope.get_instance('sapsam', scope_name='sapsam')


class ConfigError(ValueError):
    """A config file or a ``--cfg-options`` entry is invalid; the message
    names the file (and line) or the option."""


class CfgOptionsAction(DictAction):
    """``--cfg-options key=value ...`` that rejects an entry without ``=``
    with a usage error naming it."""

    def __call__(self, parser, namespace, values, option_string=None):
        for kv in values if isinstance(values, list) else [values]:
            if '=' not in kv or not kv.split('=', 1)[0]:
                parser.error(f'{option_string or "--cfg-options"}: {kv!r} is '
                             'not key=value (e.g. train_cfg.max_epochs=2)')
        super().__call__(parser, namespace, values, option_string)


def _runner_keys() -> set:
    from mmengine.runner import Runner
    return set(inspect.signature(Runner.__init__).parameters) - {'self'} | {
        'default_scope', 'log_level', 'model_wrapper_cfg', 'log_processor',
        'visualizer', 'custom_hooks', 'env_cfg', 'randomness', 'launcher',
        'resume', 'load_from', 'work_dir', 'experiment_name',
        'find_unused_parameters', 'auto_scale_lr', 'cfg'}


def load_config(path: str, cfg_options: Optional[dict] = None,
                check_runner_keys: bool = True) -> Config:
    """Read a config file and merge ``cfg_options`` into it.

    Raises:
        ConfigError: the file is missing or has a syntax error (file and
            line named), an option adds a top-level key the config does not
            have, or (``check_runner_keys``) a top-level key is a near miss
            of a Runner setting (``train_dataloder``), which MMEngine would
            silently ignore.
    """
    if not osp.isfile(path):
        raise ConfigError(f'config not found: {path}')
    try:
        cfg = Config.fromfile(path)
    except SyntaxError as err:
        line = f':{err.lineno}' if err.lineno else ''
        where = err.filename if err.filename and \
            err.filename != '<unknown>' else path
        raise ConfigError(f'{where}{line}: syntax error in the config: '
                          f'{err.msg}') from None
    runner_keys = _runner_keys() if check_runner_keys else set()
    if cfg_options:
        new = sorted({k.split('.', 1)[0] for k in cfg_options} - set(cfg)
                     - runner_keys)
        if new:
            raise ConfigError(
                f'--cfg-options {", ".join(new)}: no such top-level key in '
                f'{path}' + _did_you_mean(new, set(cfg) | runner_keys))
        cfg.merge_from_dict(cfg_options)
    if check_runner_keys:
        # Imported names (classes, functions, modules) are not settings.
        typos = [k for k, v in cfg.items() if k not in runner_keys
                 and isinstance(v, (dict, list, tuple, str, int, float))
                 and difflib.get_close_matches(k, runner_keys, n=1,
                                               cutoff=0.85)]
        if typos:
            raise ConfigError(f'{path}: top-level key(s) {typos} are not '
                              'Runner settings and would be ignored' +
                              _did_you_mean(typos, runner_keys))
    return cfg


def add_runner_arguments(parser, example: str) -> None:
    """Add the options ``tools/train.py`` and ``tools/test.py`` share:
    ``--work-dir``, ``--cfg-options`` (``example`` shows one), the
    ``--launcher`` and ``--local-rank``. Parse with
    :func:`parse_runner_args`."""
    parser.add_argument('--work-dir', help='where to save logs (and '
                        'checkpoints); default work_dirs/<config name>')
    parser.add_argument(
        '--cfg-options', nargs='+', action=CfgOptionsAction,
        help=f'override config settings, e.g. {example}')
    parser.add_argument('--launcher', default='none',
                        choices=['none', 'pytorch', 'slurm', 'mpi'])
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)


def parse_runner_args(parser, argv: Optional[Sequence[str]] = None):
    """``parser.parse_args(argv)``, and ``LOCAL_RANK`` set from
    ``--local-rank`` when the launcher did not set it."""
    args = parser.parse_args(argv)
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    return args


def load_runner_config(args) -> Config:
    """The config of a train/test run: opt in to full checkpoint unpickling
    if ``args.trust_checkpoint``, register sapsam's modules, read
    ``args.config`` with ``args.cfg_options`` (:func:`load_config`) and set
    ``work_dir`` (``args.work_dir``, else the config's, else
    ``./work_dirs/<config name>``)."""
    if getattr(args, 'trust_checkpoint', False):
        from .checkpoint_compat import trust_checkpoints
        trust_checkpoints()
    register_all_modules(init_default_scope=False)
    cfg = load_config(args.config, args.cfg_options)
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = osp.join('./work_dirs',
                                osp.splitext(osp.basename(args.config))[0])
    return cfg


def _did_you_mean(keys: Sequence[str], known: set) -> str:
    hints = [f'{k} -> {m[0]}' for k in keys
             if (m := difflib.get_close_matches(k, known, n=1, cutoff=0.7))]
    return f' (did you mean {", ".join(hints)}?)' if hints else ''


def check_launcher(launcher: str) -> None:
    """Raise a clear error when ``--launcher pytorch`` runs outside
    ``torchrun`` (``python -m torch.distributed.run``)."""
    if launcher != 'pytorch':
        return
    missing = [k for k in ('RANK', 'WORLD_SIZE', 'MASTER_ADDR', 'MASTER_PORT')
               if k not in os.environ]
    if missing:
        raise RuntimeError(
            f'--launcher pytorch needs the environment of torchrun; '
            f'{", ".join(missing)} not set. Start it with tools/dist_train.sh '
            '/ tools/dist_test.sh, or python -m torch.distributed.run '
            '--nproc_per_node=N tools/train.py CONFIG --launcher pytorch; '
            'for one process use --launcher none')


def setup_distributed(cfg: Config, launcher: str) -> None:
    """Pick the process-group backend and wrapper for the launch.

    With ``launcher != 'none'`` and no GPU, the group is created here with
    ``gloo`` (MMEngine 0.10.x would call ``torch.cuda.set_device``) and
    DDP is told to run on CPU (``device_ids=None``). With GPUs, NCCL and
    MMEngine's defaults are kept.
    """
    check_launcher(launcher)
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
