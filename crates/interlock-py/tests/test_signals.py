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
