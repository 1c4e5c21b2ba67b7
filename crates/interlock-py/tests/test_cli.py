"""A Python process and a Rust process (the `interlock` CLI) sharing one named lock."""

import os
import signal
import subprocess
import sys

from interlock import Lock

TIMEOUT = 30


def test_python_waits_for_a_rust_holder(name, interlock_bin):
    rust = subprocess.Popen(
        [interlock_bin, "run", name, "--", "sh", "-c", "echo held; read line"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert rust.stdout.readline() == "held\n"
        lock = Lock.open(name)
        assert lock.locked()
        assert lock.status().holder.pid == rust.pid
        assert lock.acquire(timeout=0.1) is False
        rust.stdin.write("\n")
        rust.stdin.flush()
        assert lock.acquire(timeout=TIMEOUT) is True
        assert not lock.previous_owner_died
        lock.release()
        assert rust.wait(TIMEOUT) == 0
    finally:
        rust.kill()


def test_rust_is_refused_while_python_holds(name, interlock_bin):
    lock = Lock.open(name)
    with lock:
        r = subprocess.run([interlock_bin, "run", "--no-wait", name, "--", "true"], capture_output=True, text=True, timeout=TIMEOUT)
        assert r.returncode == 1, r
        assert f"pid {os.getpid()}" in r.stderr, r.stderr
    r = subprocess.run([interlock_bin, "run", "--no-wait", name, "--", "true"], capture_output=True, text=True, timeout=TIMEOUT)
    assert r.returncode == 0, r


def test_python_is_told_when_the_rust_holder_is_killed(name, interlock_bin):
    rust = subprocess.Popen(
        [interlock_bin, "run", name, "--", "sh", "-c", "echo held; exec sleep 600"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert rust.stdout.readline() == "held\n"
        lock = Lock.open(name)
        assert lock.acquire(timeout=0.05) is False
        rust.send_signal(signal.SIGKILL)
        assert rust.wait(TIMEOUT) == -signal.SIGKILL
        assert lock.acquire(timeout=TIMEOUT) is True
        assert lock.previous_owner_died and lock.is_poisoned
        lock.release()
    finally:
        rust.kill()


def test_rust_is_told_when_the_python_holder_is_killed(name, interlock_bin):
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time, interlock; l = interlock.Lock.open(sys.argv[1]); l.acquire(); print('held', flush=True); time.sleep(600)", name],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline() == "held\n"
        holder.send_signal(signal.SIGKILL)
        holder.wait(TIMEOUT)
        r = subprocess.run(
            [interlock_bin, "run", "--wait", "30s", name, "--", "sh", "-c", 'echo "died=$INTERLOCK_PREVIOUS_OWNER_DIED"'],
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
        )
        assert r.returncode == 0, r
        assert r.stdout == "died=1\n", r
        assert "died" in r.stderr, r.stderr
    finally:
        holder.kill()
