"""Utilities. Names load on first use, so that importing a submodule such as
``sapsam.utils.typing_utils`` does not load the run and checkpoint helpers
(and what they import)."""
import importlib

_SUBMODULE_OF = {
    'load_local_checkpoint': 'checkpoint_compat',
    'patch_mmengine_checkpoint_loading': 'checkpoint_compat',
    'register_all_modules': 'setup_env',
    'release_distributed': 'setup_env',
    'setup_distributed': 'setup_env',
}

__all__ = list(_SUBMODULE_OF)


def __getattr__(name: str):
    if name not in _SUBMODULE_OF:
        raise AttributeError(f'module {__name__!r} has no attribute {name!r}')
    module = importlib.import_module(f'.{_SUBMODULE_OF[name]}', __name__)
    value = getattr(module, name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))
