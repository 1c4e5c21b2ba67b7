"""interlock.Lock beside multiprocessing.Lock, threading.Lock, filelock and fasteners, in one run.

    python bench_locks.py [--reps 5] [--seconds 1.0] [--procs 2,8] [--kinds interlock,...]

Workloads (every competitor, the same loop; `fork` start method):
- uncontended: one process, `with lock: pass` for --seconds, ns per acquire+release;
- contended P: P processes (threading.Lock: P threads of one process, the GIL included) each
  running `with lock: counter.value += 1` on a shared RawValue for --seconds after a start
  barrier; total acquisitions per second, and the counter checked against the count;
- recovery: a process holding the lock is SIGKILLed while another waits for it; the time from
  the kill to the waiter's acquisition (multiprocessing.Lock: never; the waiter gives up after
  --recovery-timeout).
Each figure is the median of --reps repetitions, with the range. Prints a table and the goals
of issue 17 with their ratios.
"""

import argparse
import multiprocessing as mp
import os
import signal
import statistics
import sys
import tempfile
import threading
import time

import fasteners
import filelock

import interlock

CTX = mp.get_context("fork")
TMP = tempfile.mkdtemp(prefix="interlock-bench-")


def make(kind):
    if kind == "interlock":
        return interlock.Lock()
    if kind == "multiprocessing":
        return CTX.Lock()
    if kind == "threading":
        return threading.Lock()
    if kind == "filelock":
        return filelock.FileLock(os.path.join(TMP, "filelock.lock"))
    if kind == "fasteners":
        return fasteners.InterProcessLock(os.path.join(TMP, "fasteners.lock"))
    raise ValueError(kind)


KINDS = ["interlock", "multiprocessing", "threading", "filelock", "fasteners"]
# File locks are made in each process (filelock refuses an instance inherited across fork); the
# others are made once and inherited, as multiprocessing's must be.
PER_PROCESS = {"filelock", "fasteners"}


def shared(kind):
    """What a child gets: the lock itself, or the kind, for it to make its own."""
    return kind if kind in PER_PROCESS else make(kind)


def own(lock):
    return make(lock) if isinstance(lock, str) else lock


def uncontended(kind, seconds):
    """ns per acquire+release, over batches of 1000 for about `seconds`."""
    lock = make(kind)
    for _ in range(1000):
        with lock:
            pass
    ops = 0
    t0 = time.perf_counter_ns()
    end = t0 + seconds * 1e9
    while True:
        for _ in range(1000):
            with lock:
                pass
        ops += 1000
        now = time.perf_counter_ns()
        if now >= end:
            return (now - t0) / ops


def _contend(lock, counter, barrier, stop, ops, i):
    lock = own(lock)
    n = 0
    barrier.wait()
    while not stop.value:
        with lock:
            counter.value += 1
        n += 1
    ops[i] = n


def contended(kind, procs, seconds):
    lock = shared(kind)
    if kind == "threading":
        counter = CTX.RawValue("q", 0)  # plain memory, touched under the lock only
        stop = CTX.RawValue("i", 0)
        ops = [0] * procs
        barrier = threading.Barrier(procs + 1)
        ts = [threading.Thread(target=_contend, args=(lock, counter, barrier, stop, ops, i)) for i in range(procs)]
        for t in ts:
            t.start()
        barrier.wait()
        t0 = time.perf_counter()
        time.sleep(seconds)
        stop.value = 1
        for t in ts:
            t.join()
        elapsed = time.perf_counter() - t0
        total = sum(ops)
    else:
        counter = CTX.RawValue("q", 0)
        stop = CTX.RawValue("i", 0)
        ops = CTX.RawArray("q", procs)
        barrier = CTX.Barrier(procs + 1)
        ps = [CTX.Process(target=_contend, args=(lock, counter, barrier, stop, ops, i)) for i in range(procs)]
        for p in ps:
            p.start()
        barrier.wait()
        t0 = time.perf_counter()
        time.sleep(seconds)
        stop.value = 1
        for p in ps:
            p.join()
        elapsed = time.perf_counter() - t0
        total = sum(ops)
        assert all(p.exitcode == 0 for p in ps)
    assert counter.value == total, f"{kind}: counter {counter.value} != {total} acquisitions"
    return total / elapsed


def _hold(lock, ready):
    lock = own(lock)
    lock.acquire()
    ready.set()
    time.sleep(600)


def _wait(lock, started, acquired_at, timeout):
    lock = own(lock)
    started.set()
    if lock.acquire(timeout=timeout) if not isinstance(lock, (filelock.FileLock,)) else _filelock_acquire(lock, timeout):
        acquired_at.value = time.monotonic()
    else:
        acquired_at.value = -1.0


def _filelock_acquire(lock, timeout):
    try:
        lock.acquire(timeout=timeout)
        return True
    except filelock.Timeout:
        return False


def recovery(kind, timeout):
    if kind == "threading":
        return None  # a thread cannot be SIGKILLed alone
    lock = shared(kind)
    ready, started = CTX.Event(), CTX.Event()
    acquired_at = CTX.RawValue("d", 0.0)
    holder = CTX.Process(target=_hold, args=(lock, ready))
    holder.start()
    assert ready.wait(30)
    waiter = CTX.Process(target=_wait, args=(lock, started, acquired_at, timeout))
    waiter.start()
    assert started.wait(30)
    time.sleep(0.05)  # the waiter is asleep in its acquire
    killed = time.monotonic()
    os.kill(holder.pid, signal.SIGKILL)
    holder.join()
    waiter.join(timeout + 30)
    if acquired_at.value < 0:
        return float("inf")
    return acquired_at.value - killed


def summary(xs):
    xs = sorted(xs)
    return statistics.median(xs), xs[0], xs[-1]


def fmt_ns(m):
    med, lo, hi = m
    return f"{med:8.0f} ns ({lo:.0f}-{hi:.0f})"


def fmt_rate(m):
    med, lo, hi = m
    return f"{med / 1e3:8.1f} k/s ({lo / 1e3:.1f}-{hi / 1e3:.1f})"


def fmt_rec(m):
    med, lo, hi = m
    if med == float("inf"):
        return "never (waiter gave up)"
    return f"{med * 1e3:8.2f} ms ({lo * 1e3:.2f}-{hi * 1e3:.2f})"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--seconds", type=float, default=1.0)
    ap.add_argument("--procs", default="2,8")
    ap.add_argument("--recovery-timeout", type=float, default=2.0)
    ap.add_argument("--kinds", default=",".join(KINDS))
    args = ap.parse_args()
    kinds = args.kinds.split(",")
    procs = [int(p) for p in args.procs.split(",")]

    results = {}
    # Alternate competitors within each repetition, so that drift in the machine's load
    # touches all of them alike.
    for rep in range(args.reps):
        for kind in kinds:
            r = results.setdefault(kind, {"unc": [], "rec": [], **{p: [] for p in procs}})
            r["unc"].append(uncontended(kind, args.seconds))
            for p in procs:
                r[p].append(contended(kind, p, args.seconds))
            rec = recovery(kind, args.recovery_timeout)
            if rec is not None:
                r["rec"].append(rec)
        print(f"rep {rep + 1}/{args.reps} done", file=sys.stderr, flush=True)

    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, {args.reps} reps, medians (min-max)")
    header = f"{'lock':16} {'uncontended':>28}" + "".join(f" {'contended P=' + str(p):>30}" for p in procs) + f" {'recovery after SIGKILL':>28}"
    print(header)
    for kind in kinds:
        r = results[kind]
        line = f"{kind:16} {fmt_ns(summary(r['unc'])):>28}"
        for p in procs:
            line += f" {fmt_rate(summary(r[p])):>30}"
        line += f" {fmt_rec(summary(r['rec'])) if r['rec'] else 'n/a (threads)':>28}"
        print(line)

    def paired(a, b, key, invert=False):
        """Per-repetition ratios a/b (the competitors ran moments apart): median, range, misses."""
        rs = [(y / x if invert else x / y) for x, y in zip(results[a][key], results[b][key])]
        return summary(rs), rs

    def goal(text, a, b, key, target, at_least, invert=False):
        (m, lo, hi), rs = paired(a, b, key, invert)
        missed = sum((r < target) if at_least else (r > target) for r in rs)
        sign = ">=" if at_least else "<="
        ok = (m >= target) if at_least else (m <= target)
        print(f"  {text}: {m:.2f}x ({lo:.2f}-{hi:.2f}) (goal {sign} {target:g}x): {'met' if ok else 'NOT met'}, {missed} of {len(rs)} repetitions missed")

    print()
    print("goals (issue 17), on the ratio within each repetition: median (range):")
    if "multiprocessing" in results and "interlock" in results:
        goal("uncontended time, interlock / multiprocessing.Lock", "interlock", "multiprocessing", "unc", 1.5, False)
        for p in procs:
            goal(f"contended P={p} throughput, interlock / multiprocessing.Lock", "interlock", "multiprocessing", p, 1.0, True)
    if "filelock" in results and "interlock" in results:
        goal("uncontended speed, interlock / filelock (time filelock / interlock)", "filelock", "interlock", "unc", 20, True)
        for p in procs:
            goal(f"contended P={p} throughput, interlock / filelock", "interlock", "filelock", p, 20, True)


if __name__ == "__main__":
    main()
