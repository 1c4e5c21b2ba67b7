"""Real processes under every start method: hand-over, exclusion, SIGKILLed holders, pools."""

import concurrent.futures
import multiprocessing
import os
import signal

import pytest

import workers
from interlock import Lock, RLock

TIMEOUT = 30


def start(ctx, target, *args):
    p = ctx.Process(target=target, args=args, daemon=True)
    p.start()
    return p


def join(p, expect_signal=None):
    p.join(TIMEOUT)
    assert not p.is_alive(), f"child {p.pid} still running"
    if expect_signal is None:
        assert p.exitcode == 0, f"child {p.pid} exit code {p.exitcode}"
    else:
        assert p.exitcode == -expect_signal, f"child {p.pid} exit code {p.exitcode}"


@pytest.mark.parametrize("cls", [Lock, RLock])
def test_a_child_shares_the_lock_under_every_start_method(ctx, cls):
    lock = cls()
    q = ctx.Queue()
    lock.acquire()
    p = start(ctx, workers.try_and_report, lock, q)
    assert q.get(timeout=TIMEOUT) == ("busy", False, cls.__name__), "the parent holds it"
    lock.release()
    assert q.get(timeout=TIMEOUT) == ("free", True)
    join(p)


def test_named_lock_in_children(ctx, name):
    lock = Lock.open(name)
    q = ctx.Queue()
    lock.acquire()
    p = start(ctx, workers.try_and_report, lock, q)
    assert q.get(timeout=TIMEOUT)[:2] == ("busy", False)
    lock.release()
    assert q.get(timeout=TIMEOUT) == ("free", True)
    join(p)


def test_counter_is_exact(ctx):
    lock = Lock()
    counter = ctx.RawValue("q", 0)
    ps = [start(ctx, workers.count_under_lock, lock, counter, 50) for _ in range(4)]
    for p in ps:
        join(p)
    assert counter.value == 200


def test_rlock_depth_in_a_child(ctx):
    rlock = RLock()
    q = ctx.Queue()
    p = start(ctx, workers.rlock_depth, rlock, q, 3)
    assert (q.get(timeout=TIMEOUT), q.get(timeout=TIMEOUT)) == (3, 0)
    join(p)
    assert not rlock.locked()


@pytest.mark.parametrize("cls", [Lock, RLock])
def test_sigkilled_holder_is_reported_to_the_next_owner(ctx, cls):
    lock = cls()
    ready = ctx.Event()
    holder = start(ctx, workers.hold_and_report, lock, ready)
    assert ready.wait(TIMEOUT)
    assert lock.status().holder.pid == holder.pid
    os.kill(holder.pid, signal.SIGKILL)
    join(holder, expect_signal=signal.SIGKILL)
    assert lock.acquire(timeout=TIMEOUT) is True
    assert lock.previous_owner_died and lock.is_poisoned
    assert lock.status().owner_deaths == 1
    lock.clear_poison()
    lock.release()
    assert not lock.is_poisoned
    with lock:
        assert not lock.previous_owner_died


def test_waiters_finish_when_the_holder_dies_inside_the_section(ctx):
    lock = Lock()
    ready, go = ctx.Event(), ctx.Event()
    q = ctx.Queue()
    dying = start(ctx, workers.die_inside, lock, ready, go)
    assert ready.wait(TIMEOUT)
    waiters = [start(ctx, workers.wait_and_report, lock, q) for _ in range(2)]
    while lock.status().waiters < 2:
        assert dying.is_alive()
    go.set()
    join(dying, expect_signal=signal.SIGKILL)
    reports = [q.get(timeout=TIMEOUT) for _ in waiters]
    for w in waiters:
        join(w)
    assert all(got for got, *_ in reports), reports
    assert sorted(died for _, died, _, _ in reports) == [False, True], "exactly the next owner is told"
    assert all(poisoned for _, _, poisoned, _ in reports), "poisoned until cleared"


def test_process_pool_initializer(ctx):
    lock = Lock()
    with concurrent.futures.ProcessPoolExecutor(
        max_workers=2, mp_context=ctx, initializer=workers.pool_init, initargs=(lock,)
    ) as pool:
        results = list(pool.map(workers.pool_task, range(8)))
    assert [i for i, *_ in results] == list(range(8))
    assert {kind for _, _, kind, _ in results} == {"Lock"}
    tokens = [t for *_, t in results]
    assert len(set(tokens)) == 8, "every task held the one lock"
    assert lock.status().acquisitions == 8


def test_a_lock_order_cycle_between_processes_is_broken(name):
    ctx = multiprocessing.get_context("fork")
    a, b = Lock.open(name + "-a"), Lock.open(name + "-b")
    barrier = ctx.Barrier(2)
    q = ctx.Queue()
    ps = [start(ctx, workers.cycle_member, a, b, barrier, q), start(ctx, workers.cycle_member, b, a, barrier, q)]
    outcomes = sorted(q.get(timeout=TIMEOUT)[0] for _ in ps)
    for p in ps:
        join(p)
    assert outcomes == ["acquired", "deadlock"]
