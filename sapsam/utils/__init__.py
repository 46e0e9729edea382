from .checkpoint_compat import (load_local_checkpoint,
                                patch_mmengine_checkpoint_loading)
from .setup_env import register_all_modules, setup_distributed

__all__ = ['load_local_checkpoint', 'patch_mmengine_checkpoint_loading',
           'register_all_modules', 'setup_distributed']
