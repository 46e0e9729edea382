# Runtime settings shared by every sapsam config.
from mmengine.hooks import (CheckpointHook, DistSamplerSeedHook, IterTimerHook,
                            LoggerHook, ParamSchedulerHook)
from mmengine.visualization import (LocalVisBackend, TensorboardVisBackend,
                                    Visualizer)

from sapsam.engine.hooks import ReproducibleEpochHook, SafeCheckpointHook

default_scope = 'sapsam'

default_hooks = dict(
    timer=dict(type=IterTimerHook),
    # ignore_last=False: the last iteration of every epoch is logged too, so
    # each epoch ends with a complete line (lr, every loss).
    logger=dict(type=LoggerHook, interval=50, ignore_last=False),
    param_scheduler=dict(type=ParamSchedulerHook),
    checkpoint=dict(type=CheckpointHook, interval=1, max_keep_ckpts=2,
                    save_best='auto', rule='greater',
                    # temp file + rename: a kill never truncates a checkpoint
                    backend_args=dict(backend='atomic_local')),
    sampler_seed=dict(type=DistSamplerSeedHook),
    # every epoch's draws depend on (seed, epoch) only: exact --resume
    reproducible_epoch=dict(type=ReproducibleEpochHook),
    # checkpoints load with weights_only=True; resume refuses another model
    safe_checkpoint=dict(type=SafeCheckpointHook),
)

env_cfg = dict(
    cudnn_benchmark=False,
    mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
    # tools/train.py switches to gloo when there is no GPU.
    dist_cfg=dict(backend='nccl'),
)

# Training curves and metrics go to <work_dir>/<timestamp>/vis_data/:
# scalars.json (LocalVisBackend) and TensorBoard event files
# (`tensorboard --logdir work_dirs`).
vis_backends = [dict(type=LocalVisBackend), dict(type=TensorboardVisBackend)]
visualizer = dict(type=Visualizer, vis_backends=vis_backends,
                  name='visualizer')

log_processor = dict(by_epoch=True, window_size=50)
log_level = 'INFO'
load_from = None
resume = False
randomness = dict(seed=1, deterministic=False)
