"""One process: multiprocessing's Lock and RLock semantics, errors, status, pickling."""

import os
import pickle
import threading
import time

import pytest

import interlock
from interlock import Lock, RLock


def in_thread(fn):
    """Runs fn on another thread; its result or exception."""
    out = {}

    def run():
        try:
            out["value"] = fn()
        except BaseException as e:  # noqa: BLE001 - handed back to the test
            out["error"] = e

    t = threading.Thread(target=run)
    t.start()
    t.join(30)
    assert not t.is_alive()
    if "error" in out:
        raise out["error"]
    return out["value"]


def wait_until(cond, timeout=10.0):
    end = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < end, "condition not reached in time"
        time.sleep(0.001)


# --- Lock ---------------------------------------------------------------------------------


def test_acquire_release_locked_and_with():
    lock = Lock()
    assert not lock.locked()
    assert lock.acquire() is True
    assert lock.locked()
    lock.release()
    assert not lock.locked()
    with lock as entered:
        assert entered is True
        assert lock.locked()
    assert not lock.locked()


def test_with_releases_when_the_block_raises():
    lock = Lock()
    with pytest.raises(KeyError):
        with lock:
            raise KeyError("x")
    assert not lock.locked()
    assert not lock.is_poisoned, "a Python exception is not a death: no poison"


def test_timeout_and_nonblocking_return_false_as_multiprocessing():
    lock = Lock()
    lock.acquire()
    assert in_thread(lambda: lock.acquire(timeout=0.05)) is False
    assert in_thread(lambda: lock.acquire(False)) is False
    assert in_thread(lambda: lock.acquire(block=False, timeout=5)) is False
    assert in_thread(lambda: lock.acquire(timeout=-1)) is False, "negative is zero"
    started = time.monotonic()
    assert in_thread(lambda: lock.acquire(timeout=0.2)) is False
    assert time.monotonic() - started >= 0.2
    lock.release()
    assert in_thread(lambda: lock.acquire(timeout=0) and (lock.release() or True)) is True


def test_a_long_timed_wait_on_the_main_thread_ends_at_its_deadline():
    """Past the deadlock timeout the main thread waits in longer slices; a slice never runs past
    the caller's deadline."""
    lock = Lock()
    held, done = threading.Event(), threading.Event()

    def holder():
        with lock:
            held.set()
            done.wait(30)

    t = threading.Thread(target=holder)
    t.start()
    assert held.wait(30)
    started = time.monotonic()
    assert lock.acquire(timeout=0.7) is False
    waited = time.monotonic() - started
    done.set()
    t.join(30)
    assert 0.7 <= waited < 1.5, waited


def test_a_thread_that_ends_holding_a_lock_is_a_dead_owner():
    lock = Lock()
    in_thread(lock.acquire)  # the thread ends without releasing: the kernel says its owner died
    assert lock.acquire(timeout=30) is True
    assert lock.previous_owner_died and lock.is_poisoned
    lock.clear_poison()
    lock.release()


def test_nan_timeout_is_a_value_error():
    lock = Lock()
    lock.acquire()
    with pytest.raises(ValueError):
        in_thread(lambda: lock.acquire(timeout=float("nan")))
    lock.release()


def test_reacquiring_on_the_holding_thread_raises_instead_of_hanging():
    lock = Lock()
    lock.acquire()
    for call in (lock.acquire, lambda: lock.acquire(False), lambda: lock.acquire(timeout=1)):
        with pytest.raises(interlock.WouldDeadlock) as e:
            call()
        assert isinstance(e.value, RuntimeError)
        assert "already holds" in str(e.value)
    lock.release()


def test_release_of_a_free_lock_is_a_value_error_as_multiprocessing():
    lock = Lock()
    with pytest.raises(ValueError) as e:
        lock.release()
    assert isinstance(e.value, interlock.NotOwner)
    assert e.value.holder is None


def test_release_by_another_thread_is_refused_and_names_the_holder():
    lock = Lock()
    lock.acquire()
    with pytest.raises(interlock.NotOwner) as e:
        in_thread(lock.release)
    assert e.value.holder.pid == os.getpid()
    assert e.value.holder.tid == threading.get_native_id()
    assert lock.locked(), "still held by its owner"
    lock.release()


def test_hold_raises_timeout_naming_the_holder():
    lock = Lock()
    with lock.hold(timeout=1) as held:
        assert held is lock
        with pytest.raises(interlock.Timeout) as e:
            in_thread(lambda: lock.hold(timeout=0.05).__enter__())
    assert isinstance(e.value, TimeoutError)
    assert e.value.holder.pid == os.getpid()
    assert f"held by pid {os.getpid()}" in str(e.value)
    assert not lock.locked()


def test_tokens_increase_and_status_counts():
    lock = Lock()
    tokens = []
    for _ in range(3):
        with lock:
            tokens.append(lock.token)
    assert tokens == sorted(tokens) and len(set(tokens)) == 3
    s = lock.status()
    assert (s.kind, s.holder, s.acquisitions, s.owner_deaths, s.poisoned) == ("Lock", None, 3, 0, False)
    with lock:
        h = lock.status().holder
        assert (h.pid, h.tid, h.token, h.alive) == (os.getpid(), threading.get_native_id(), lock.token, True)


def test_the_gil_is_released_while_waiting():
    lock = Lock()
    lock.acquire()
    t = threading.Thread(target=lambda: (lock.acquire(), lock.release()))
    t.start()
    # This thread runs Python code while the other waits: the wait does not hold the GIL.
    wait_until(lambda: lock.status().waiters == 1)
    lock.release()
    t.join(10)
    assert not t.is_alive()


# --- RLock --------------------------------------------------------------------------------


def test_rlock_reenters_and_counts():
    rlock = RLock()
    assert rlock._count() == 0 and not rlock._is_mine()
    for depth in range(1, 4):
        assert rlock.acquire() is True
        assert rlock._count() == depth
    assert rlock.status().depth == 3
    for depth in (2, 1, 0):
        rlock.release()
        assert rlock._count() == depth
    assert not rlock.locked()


def test_rlock_belongs_to_one_thread():
    rlock = RLock()
    with rlock:
        with rlock:
            assert in_thread(lambda: rlock.acquire(timeout=0.05)) is False
            assert in_thread(rlock._count) == 0
            assert in_thread(rlock._is_mine) is False
    assert in_thread(lambda: rlock.acquire(timeout=1) and (rlock.release() or True)) is True


def test_rlock_release_by_a_non_owner_is_an_assertion_error_as_multiprocessing():
    rlock = RLock()
    with pytest.raises(AssertionError):
        rlock.release()
    rlock.acquire()
    with pytest.raises(AssertionError) as e:
        in_thread(rlock.release)
    assert isinstance(e.value, interlock.NotOwner)
    assert e.value.holder.tid == threading.get_native_id()
    assert rlock._count() == 1
    rlock.release()


def test_rlock_recursive_worker_of_the_seed():
    rlock = RLock()
    layers = []

    def recursive_worker(count):
        if count <= 0:
            return
        with rlock:
            layers.append(f"Layer {count}: Holding lock")
            recursive_worker(count - 1)

    recursive_worker(3)
    assert layers == [f"Layer {n}: Holding lock" for n in (3, 2, 1)]
    assert not rlock.locked()


# --- names, paths, errors -----------------------------------------------------------------


@pytest.mark.parametrize("bad", ["", "../etc", "a/b", ".hidden", "x" * 300, "nul\0byte"])
def test_bad_names_raise_invalid_name(bad):
    with pytest.raises((interlock.InvalidName, ValueError)) as e:
        Lock.open(bad)
    assert isinstance(e.value, ValueError)


def test_named_locks_meet_by_name(name):
    a, b = Lock.open(name), Lock.open(name)
    with a:
        assert b.locked()
        assert in_thread(lambda: b.acquire(timeout=0.05)) is False
    assert a.name == name
    assert "pytest-" in repr(a)


def test_a_name_of_another_kind_is_refused(name):
    Lock.open(name)
    with pytest.raises(interlock.KindMismatch) as e:
        RLock.open(name)
    assert isinstance(e.value, TypeError) and isinstance(e.value, interlock.InterlockError)


def test_path_locks(tmp_path):
    path = tmp_path / "shared.lock"
    a = Lock.open_path(path)
    b = Lock.open_path(str(path))
    with a:
        assert b.locked()
    assert a.name == str(path)


def test_bad_paths_raise(tmp_path):
    with pytest.raises(interlock.InterlockError):
        Lock.open_path(tmp_path / "missing-dir" / "x.lock")
    (tmp_path / "target.lock").write_bytes(b"")
    os.symlink(tmp_path / "target.lock", tmp_path / "link.lock")
    with pytest.raises(interlock.InterlockError) as e:
        Lock.open_path(tmp_path / "link.lock")
    assert "link" in str(e.value)
    (tmp_path / "junk.lock").write_bytes(b"not an interlock segment" * 100)
    with pytest.raises(interlock.InterlockError):
        Lock.open_path(tmp_path / "junk.lock")


# --- pickling -----------------------------------------------------------------------------


def test_anonymous_locks_pickle_only_while_spawning():
    for lock in (Lock(), RLock()):
        with pytest.raises(RuntimeError, match="through inheritance"):
            pickle.dumps(lock)


def test_named_and_path_locks_pickle_by_name(name, tmp_path):
    for cls in (Lock, RLock):
        for lock in (cls.open(f"{name}-{cls.__name__}"), cls.open_path(tmp_path / f"{cls.__name__}.lock")):
            copy = pickle.loads(pickle.dumps(lock))
            assert type(copy) is cls and copy.name == lock.name
            with lock:
                assert copy.locked()
                assert copy.status().holder.tid == threading.get_native_id()
