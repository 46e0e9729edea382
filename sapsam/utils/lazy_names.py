"""Package namespaces whose names load on first use (PEP 562)."""
import importlib
from typing import Callable, Dict, List, Tuple


def lazy_names(package: str, submodule_of: Dict[str, str]
               ) -> Tuple[Callable[[str], object], Callable[[], List[str]]]:
    """``__getattr__`` and ``__dir__`` for the ``__init__`` of ``package``:
    ``name`` is read from ``package.<submodule_of[name]>`` on first access
    (and then kept in the package's namespace).

    Example::

        __getattr__, __dir__ = lazy_names(__name__, {'load_json': 'fileio'})
    """
    namespace = importlib.import_module(package).__dict__

    def __getattr__(name: str):
        if name not in submodule_of:
            raise AttributeError(f'module {package!r} has no attribute '
                                 f'{name!r}')
        module = importlib.import_module(f'.{submodule_of[name]}', package)
        value = getattr(module, name)
        namespace[name] = value
        return value

    def __dir__() -> List[str]:
        return sorted(set(namespace) | set(submodule_of))

    return __getattr__, __dir__
