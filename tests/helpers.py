"""Helpers shared by test modules (import as ``from tests.helpers import
...``; ``tests/conftest.py`` puts the repository root on ``sys.path``)."""
import importlib.util
import os.path as osp
from types import ModuleType

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))


def load_script(relative_path: str) -> ModuleType:
    """Import a script of the checkout (``tools/search.py``,
    ``benchmarks/x.py``) by path, as a fresh module named
    ``sapsam_test_<stem>``."""
    path = osp.join(REPO, relative_path)
    spec = importlib.util.spec_from_file_location(
        'sapsam_test_' + osp.splitext(osp.basename(path))[0], path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
