"""The fidelity tests run on one thread (``one_thread``, ``tiny_weights`` and
``person_sam`` are the shared fixtures of ``tests/conftest.py``)."""
import pytest


@pytest.fixture(autouse=True)
def one_thread(one_thread):
    """``tests/conftest.py``'s ``one_thread``, for every test here."""
    yield
