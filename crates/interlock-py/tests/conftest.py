import itertools
import multiprocessing
import os
import shutil
import tempfile

import pytest

# Every named lock of the suite lives in a namespace of its own (mode 0700, as the core requires),
# which the children (spawn, forkserver, the CLI) inherit through the environment, and which goes
# when the session ends: the user's own namespace is left as it was.
NAMESPACE = tempfile.mkdtemp(prefix="interlock-pytest-")
os.environ["INTERLOCK_DIR"] = NAMESPACE

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


@pytest.fixture(scope="session")
def interlock_bin():
    """The workspace's `interlock` CLI, the Rust side of the shared-lock tests: $INTERLOCK_BIN,
    or a build under $CARGO_TARGET_DIR or the repository's target/. Missing is a failure, never
    a skip (ci/python.sh builds it first)."""
    repo = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
    candidates = [os.environ.get("INTERLOCK_BIN")]
    for target in (os.environ.get("CARGO_TARGET_DIR"), os.path.join(repo, "target")):
        if target:
            candidates += [os.path.join(target, p, "interlock") for p in ("release", "debug")]
    for c in candidates:
        if c and os.access(c, os.X_OK):
            return c
    pytest.fail(f"no interlock CLI binary: build it (cargo build -p interlock-cli) or set INTERLOCK_BIN; looked at {candidates}")


_skipped = []


def pytest_runtest_logreport(report):
    if report.skipped:
        _skipped.append(report.nodeid)


def pytest_sessionfinish(session, exitstatus):
    """No silent skips: a test that did not run fails the suite."""
    shutil.rmtree(NAMESPACE, ignore_errors=True)
    if _skipped and exitstatus == 0:
        print(f"\nconftest: {len(_skipped)} tests skipped, which CI does not allow: {_skipped}")
        session.exitstatus = 1
