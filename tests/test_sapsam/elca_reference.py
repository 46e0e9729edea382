"""Moved to ``tests/test_models/test_alignment_heads/elca_reference.py``.

``benchmarks/elca_vectorised.py`` loads this path; delete this file once it
loads the new one."""
import importlib.util
import os.path as osp

_spec = importlib.util.spec_from_file_location(
    'elca_reference_moved',
    osp.join(osp.dirname(osp.dirname(osp.abspath(__file__))), 'test_models',
             'test_alignment_heads', 'elca_reference.py'))
_module = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_module)
elca_loss_loop = _module.elca_loss_loop
make_part_annotations = _module.make_part_annotations
