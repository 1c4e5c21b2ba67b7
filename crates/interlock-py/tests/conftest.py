import itertools
import multiprocessing
import os

import pytest

START_METHODS = ["fork", "spawn", "forkserver"]
_names = itertools.count()


def pytest_configure(config):
    missing = [m for m in START_METHODS if m not in multiprocessing.get_all_start_methods()]
    if missing:
        raise pytest.UsageError(f"start methods {missing} are not available here")


@pytest.fixture
def name():
    """A lock name of this test's own."""
    return f"pytest-{os.getpid()}-{next(_names)}"


@pytest.fixture(params=START_METHODS)
def ctx(request):
    return multiprocessing.get_context(request.param)
