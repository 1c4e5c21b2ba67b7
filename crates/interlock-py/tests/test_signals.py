"""Ctrl-C during a wait: KeyboardInterrupt, promptly, without the lock."""

import os
import signal
import subprocess
import sys
import time

import pytest

from interlock import Lock, RLock, Semaphore

# A child's SIGINT is Python's KeyboardInterrupt even when the test runs where SIGINT is ignored
# (a shell's background job ignores it, and Python then installs no handler for it).
WAITER = r"""
import signal, sys, time, interlock
signal.signal(signal.SIGINT, signal.default_int_handler)
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


BLOCKED = r"""
import os, signal, sys, time, interlock
signal.signal(signal.SIGINT, signal.default_int_handler)
n = sys.argv[1]
SETUP
print("waiting", flush=True)
try:
    CALL
    print("returned", flush=True)
except KeyboardInterrupt:
    print(f"interrupted {STATE} at={time.monotonic()}", flush=True)
"""

# What each blocking call's child opens, calls, and reports after KeyboardInterrupt (held,
# set, broken: what the call must have left), and what the parent does first to block it.
CASES = {
    "Event.wait": ("ev = interlock.Event.open(n)", "ev.wait()", "ev.is_set()", "False"),
    "Event.wait(60)": ("ev = interlock.Event.open(n)", "ev.wait(60)", "ev.is_set()", "False"),
    # An arrival cannot be taken back: Ctrl-C breaks the barrier, for every party.
    "Barrier.wait": ("b = interlock.Barrier.open(n, 2)", "b.wait()", "b.broken", "True"),
    "Semaphore.acquire": (
        "s = interlock.Semaphore.open(n, 1)",
        "s.acquire()",
        "any(h and h.pid == os.getpid() for h in s.holders())",
        "False",
    ),
    "RwLock.acquire_write": ("rw = interlock.RwLock.open(n)", "rw.acquire_write()", "rw.write_locked", "False"),
    "RwLock.acquire_read": ("rw = interlock.RwLock.open(n)", "rw.acquire_read()", "rw.readers > 0", "False"),
    "Value.value": (
        "v = interlock.Value.open(n, 'i')",
        "v.value",
        "(v.status().holder or 0) and v.status().holder.pid == os.getpid()",
        "False",
    ),
    # Condition.wait raises holding the lock again, as Python's does.
    "Condition.wait": (
        "lock = interlock.Lock.open(n + '-lock'); cond = interlock.Condition.open(n, lock); cond.acquire()",
        "cond.wait()",
        "lock._is_mine()",
        "True",
    ),
}

FUTEX = {"x86_64": 202, "aarch64": 98}


def blocked_in_futex(pid):
    """Whether the main thread of `pid` sleeps in futex(2) (every interlock wait does)."""
    import platform

    number = FUTEX.get(platform.machine())
    assert number is not None, f"no futex syscall number known for {platform.machine()}"
    with open(f"/proc/{pid}/syscall") as f:
        return f.read().split()[0] == str(number)


def block(name, what):
    """The parent's part: takes what the child's call will wait for; returns the handle."""
    from interlock import Lock, RwLock, Semaphore, Value

    if what == "Semaphore.acquire":
        s = Semaphore.open(name, 1)
        assert s.acquire()
        return s
    if what == "RwLock.acquire_write":
        rw = RwLock.open(name)
        assert rw.acquire_read()
        return rw
    if what == "RwLock.acquire_read":
        rw = RwLock.open(name)
        assert rw.acquire_write()
        return rw
    if what == "Value.value":
        v = Value.open(name, "i")
        assert v.acquire()
        return v
    return None


@pytest.mark.parametrize("what", sorted(CASES))
def test_sigint_interrupts_every_blocking_call(name, what):
    """Every call that blocks, on a child's main thread: SIGINT raises KeyboardInterrupt there,
    promptly, and leaves nothing taken (a Condition holds its lock again, as Python's does; a
    Barrier is broken, as documented)."""
    setup, call, state, expected = CASES[what]
    held = block(name, what)
    script = BLOCKED.replace("SETUP", setup).replace("CALL", call).replace("STATE", state)
    child = subprocess.Popen(
        [sys.executable, "-c", script, name], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout.readline() == "waiting\n", child.stderr.read()
        deadline = time.monotonic() + 30
        while not blocked_in_futex(child.pid):
            assert time.monotonic() < deadline and child.poll() is None, child.stderr.read()
        sent = time.monotonic()
        os.kill(child.pid, signal.SIGINT)
        out, err = child.communicate(timeout=30)
    finally:
        child.kill()
    assert child.returncode == 0, err
    assert out.startswith(f"interrupted {expected} "), (out, err)
    seen = float(out.split("at=")[1]) - sent
    assert seen < 2.0, f"KeyboardInterrupt {seen:.3f}s after SIGINT"
    if what == "Barrier.wait":
        from interlock import Barrier

        assert Barrier.open(name, 2).broken
    if what == "Condition.wait":
        from interlock import Condition, Lock

        assert Condition.open(name, Lock.open(name + "-lock")).waiters == 0
    if what.startswith("RwLock"):
        assert not held.write_locked if what.endswith("write") else held.readers == 0
    if what in ("Semaphore.acquire", "Value.value"):
        held.release()


COND_WAITER = r"""
import sys, interlock
lock = interlock.Lock.open(sys.argv[1] + "-lock")
cond = interlock.Condition.open(sys.argv[1], lock)
with cond:
    print("waiting", flush=True)
    print(f"returned {cond.wait()}", flush=True)
"""


def test_a_condition_wait_on_the_main_thread_ends_only_when_notified(name):
    """The main thread's wait (which checks for signals as it waits) is one wait: other processes
    taking and releasing the lock for longer than any slice do not end it; one notification
    does, and is not lost."""
    from interlock import Condition

    lock = Lock.open(name + "-lock")
    cond = Condition.open(name, lock)
    child = subprocess.Popen(
        [sys.executable, "-c", COND_WAITER, name], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout.readline() == "waiting\n", child.stderr.read()
        deadline = time.monotonic() + 30
        while cond.waiters == 0:
            assert time.monotonic() < deadline and child.poll() is None, child.stderr.read()
        # The old sliced wait ended (True, no notification) after a slice in which anyone
        # took the lock: take it over and over for ten 50 ms slices.
        busy_until = time.monotonic() + 0.5
        takes = 0
        while time.monotonic() < busy_until:
            with lock:
                takes += 1
        assert child.poll() is None and cond.waiters == 1, f"the wait ended without a notification ({takes} takes)"
        with cond:
            cond.notify()
        out, err = child.communicate(timeout=30)
    finally:
        child.kill()
    assert (child.returncode, out) == (0, "returned True\n"), err
