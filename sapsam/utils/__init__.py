"""Utilities. Names load on first use, so that importing a submodule such as
``sapsam.utils.typing_utils`` does not load the run and checkpoint helpers
(and what they import)."""
from .lazy_names import lazy_names

_SUBMODULE_OF = {
    'load_local_checkpoint': 'checkpoint_compat',
    'patch_mmengine_checkpoint_loading': 'checkpoint_compat',
    'register_all_modules': 'setup_env',
    'release_distributed': 'setup_env',
    'setup_distributed': 'setup_env',
}

__all__ = list(_SUBMODULE_OF)


__getattr__, __dir__ = lazy_names(__name__, _SUBMODULE_OF)
