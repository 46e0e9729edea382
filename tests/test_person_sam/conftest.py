"""test_text_encoder_cache.py: one thread for every test, as the other
Person-SAM tests (``tiny_weights``, ``person_sam`` and ``one_thread`` are in
``tests/conftest.py``; the rest of this directory moved to
``tests/test_models/test_segmentors/`` and its neighbours)."""
import pytest


@pytest.fixture(autouse=True)
def one_thread(one_thread):
    """``tests/conftest.py``'s ``one_thread``, for every test here."""
    yield
