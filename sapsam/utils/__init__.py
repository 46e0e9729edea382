from .checkpoint_compat import (load_local_checkpoint,
                                patch_mmengine_checkpoint_loading)
from .runs import (best_or_last_checkpoint, data_root_options, run_command,
                   train_and_test)
from .setup_env import (register_all_modules, release_distributed,
                        setup_distributed)

__all__ = [
    'load_local_checkpoint', 'patch_mmengine_checkpoint_loading',
    'register_all_modules', 'release_distributed', 'setup_distributed',
    'run_command', 'data_root_options', 'best_or_last_checkpoint',
    'train_and_test'
]
