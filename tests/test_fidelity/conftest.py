"""Reuse the Person-SAM fixtures (tiny weights, tiny model, one thread)."""
import importlib.util
import os.path as osp

_spec = importlib.util.spec_from_file_location(
    'sapsam_person_sam_fixtures',
    osp.join(osp.dirname(osp.dirname(osp.abspath(__file__))),
             'test_person_sam', 'conftest.py'))
_fixtures = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_fixtures)
one_thread = _fixtures.one_thread
tiny_weights = _fixtures.tiny_weights
person_sam = _fixtures.person_sam
