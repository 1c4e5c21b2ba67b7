"""Ctrl-C during a wait: KeyboardInterrupt, promptly, without the lock."""

import os
import signal
import subprocess
import sys
import time

import pytest

from interlock import Lock, RLock, Semaphore

WAITER = r"""
import sys, time, interlock
cls = getattr(interlock, sys.argv[2])
lock = cls.open(sys.argv[1])
timeout = None if sys.argv[3] == "none" else float(sys.argv[3])
print("waiting", flush=True)
try:
    got = lock.acquire(timeout=timeout)
    print(f"returned {got}", flush=True)
except KeyboardInterrupt:
    t = time.monotonic()
    if hasattr(lock, "_is_mine"):
        mine = lock._is_mine()
    else:
        import os
        mine = any(h and h.pid == os.getpid() for h in lock.holders())
    print(f"interrupted mine={mine} at={t}", flush=True)
"""


@pytest.mark.parametrize("cls", [Lock, RLock, Semaphore])
@pytest.mark.parametrize("timeout", ["none", "60"])
# 0.0: in the first slices (50 ms); 1.0: past the deadlock timeout, in the long slices.
@pytest.mark.parametrize("age", [0.0, 1.0])
def test_sigint_interrupts_a_wait_with_keyboard_interrupt(name, cls, timeout, age):
    lock = cls.open(name)
    lock.acquire()
    child = subprocess.Popen(
        [sys.executable, "-c", WAITER, name, cls.__name__, timeout],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout.readline() == "waiting\n"
        deadline = time.monotonic() + 30
        while (lock.waiters if cls is Semaphore else lock.status().waiters) == 0:
            assert time.monotonic() < deadline and child.poll() is None, child.stderr.read()
        time.sleep(age)  # how old the wait is when Ctrl-C comes: which slice length is in use
        sent = time.monotonic()
        os.kill(child.pid, signal.SIGINT)
        out, err = child.communicate(timeout=30)
    finally:
        child.kill()
    assert child.returncode == 0, err
    assert out.startswith("interrupted mine=False"), (out, err)
    seen = float(out.split("at=")[1]) - sent
    assert seen < 2.0, f"KeyboardInterrupt {seen:.3f}s after SIGINT"
    if cls is Semaphore:
        assert lock.get_value() == 0, "the parent's permit is the only one"
    else:
        assert lock._is_mine() and lock.status().waiters == 0
    lock.release()


COND_WAITER = r"""
import sys, time, interlock
lock = interlock.Lock.open(sys.argv[1] + "-lock")
cond = interlock.Condition.open(sys.argv[1], lock)
with cond:
    print("waiting", flush=True)
    try:
        cond.wait()
        print("returned", flush=True)
    except KeyboardInterrupt:
        print(f"interrupted mine={lock._is_mine()} at={time.monotonic()}", flush=True)
"""

RW_WAITER = r"""
import sys, time, interlock
rw = interlock.RwLock.open(sys.argv[1])
print("waiting", flush=True)
try:
    rw.acquire_read()
    print("returned", flush=True)
except KeyboardInterrupt:
    print(f"interrupted mine={rw.readers > 0} at={time.monotonic()}", flush=True)
"""


@pytest.mark.parametrize("what", ["condition", "rwlock"])
def test_sigint_interrupts_a_condition_or_rwlock_wait(name, what):
    """A Condition wait ends with the lock held again (as Python's does); an rwlock read that
    was waiting is not taken."""
    from interlock import Condition, RwLock

    if what == "condition":
        cond = Condition.open(name, Lock.open(name + "-lock"))
        waiting = lambda: cond.waiters  # noqa: E731
        script = COND_WAITER
    else:
        rw = RwLock.open(name)
        rw.acquire_write()
        # A read waiting for the writer shows nowhere in Python: give it time to be asleep.
        waiting = lambda: time.sleep(0.3) or 1  # noqa: E731
        script = RW_WAITER
    child = subprocess.Popen(
        [sys.executable, "-c", script, name], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout.readline() == "waiting\n", child.stderr.read()
        deadline = time.monotonic() + 30
        while waiting() == 0:
            assert time.monotonic() < deadline and child.poll() is None, child.stderr.read()
        sent = time.monotonic()
        os.kill(child.pid, signal.SIGINT)
        out, err = child.communicate(timeout=30)
    finally:
        child.kill()
    assert child.returncode == 0, err
    mine = "True" if what == "condition" else "False"
    assert out.startswith(f"interrupted mine={mine}"), (out, err)
    assert float(out.split("at=")[1]) - sent < 2.0
