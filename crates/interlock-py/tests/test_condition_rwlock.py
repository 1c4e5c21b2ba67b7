"""Condition (multiprocessing.Condition over an interlock Lock or RLock) and RwLock."""

import os
import pickle
import signal
import threading
import time

import pytest

import interlock
import workers
from interlock import Condition, Lock, RLock, RwLock

TIMEOUT = 30


# ---- Condition ---------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", [Lock, RLock, None])
def test_condition_wait_times_out_and_keeps_the_lock(kind):
    cond = Condition(kind() if kind else None)
    assert isinstance(cond.lock, kind or RLock)
    with cond:
        started = time.monotonic()
        assert cond.wait(0.05) is False
        assert time.monotonic() - started >= 0.04
        assert cond.lock._is_mine()
        assert cond.wait_for(lambda: 0, timeout=0.05) == 0
        assert cond.wait_for(lambda: "yes") == "yes"
    assert not cond.lock.locked()


def test_condition_wait_on_an_rlock_releases_every_level():
    cond = Condition(RLock())
    seen = []
    with cond:
        with cond:
            t = threading.Thread(target=lambda: seen.append(cond.lock.acquire(timeout=TIMEOUT)) or cond.lock.release())
            t.start()
            assert cond.wait(0.3) in (True, False)
            t.join(TIMEOUT)
            assert cond.lock._count() == 2
    assert seen == [True]


def test_condition_between_threads_notify_one():
    cond = Condition(Lock())
    box = []
    out = []

    def waiter():
        with cond:
            out.append(cond.wait_for(lambda: box, timeout=TIMEOUT))

    t = threading.Thread(target=waiter)
    t.start()
    time.sleep(0.05)
    with cond:
        box.append(1)
        cond.notify()
    t.join(TIMEOUT)
    assert out == [[1]]


def test_condition_wait_for_with_a_timeout_too_far_to_represent_waits():
    cond = Condition(Lock())
    box = []
    out = []

    def waiter():
        with cond:
            out.append(cond.wait_for(lambda: box, timeout=1e300))

    t = threading.Thread(target=waiter)
    t.start()
    time.sleep(0.1)
    with cond:
        box.append(1)
        cond.notify_all()
    t.join(TIMEOUT)
    assert out == [[1]]


def test_condition_refuses_what_multiprocessing_refuses():
    cond = Condition(Lock())
    with pytest.raises(AssertionError) as e:
        cond.wait(0.01)
    assert isinstance(e.value, interlock.NotOwner)
    with pytest.raises(interlock.NotOwner):
        cond.notify()
    with pytest.raises(interlock.NotOwner):
        cond.notify_all()
    with pytest.raises(TypeError):
        Condition(threading.Lock())


def test_named_condition_pickles_with_its_lock_and_checks_the_binding(name):
    lock = Lock.open(name + "-lock")
    cond = Condition.open(name, lock)
    copy = pickle.loads(pickle.dumps(cond))
    assert copy.name == name and copy.lock.name == name + "-lock"
    with pytest.raises(interlock.InterlockError):
        Condition.open(name, Lock())  # bound to another lock


def test_an_anonymous_condition_pickles_only_while_spawning():
    with pytest.raises(RuntimeError):
        pickle.dumps(Condition(Lock()))


@pytest.mark.parametrize("kind", [Lock, RLock])
def test_producer_consumers_across_processes(ctx, kind):
    n = 40
    cond = Condition(kind())
    buf = ctx.RawArray("q", n + 2)
    queue = ctx.Queue()
    consumers = [ctx.Process(target=workers.consume, args=(cond, buf, n // 2, queue)) for _ in range(2)]
    for c in consumers:
        c.start()
    producer = ctx.Process(target=workers.produce, args=(cond, buf, n))
    producer.start()
    got = [queue.get(timeout=TIMEOUT) for _ in consumers]
    for p in consumers + [producer]:
        p.join(TIMEOUT)
        assert p.exitcode == 0
    assert sorted(got[0] + got[1]) == list(range(1, n + 1))


def test_a_killed_waiter_hangs_nobody(ctx):
    cond = Condition(Lock())
    flag = ctx.RawArray("i", 1)
    queue = ctx.Queue()
    victim_arrived, survivor_arrived = ctx.Event(), ctx.Event()
    victim = ctx.Process(target=workers.wait_on_condition_forever, args=(cond, victim_arrived), daemon=True)
    survivor = ctx.Process(target=workers.wait_on_condition, args=(cond, flag, survivor_arrived, queue))
    victim.start()
    survivor.start()
    assert victim_arrived.wait(TIMEOUT) and survivor_arrived.wait(TIMEOUT)
    deadline = time.monotonic() + TIMEOUT
    while cond.waiters < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    os.kill(victim.pid, signal.SIGKILL)
    victim.join(TIMEOUT)
    with cond:
        flag[0] = 1
        cond.notify_all()  # multiprocessing's would wait for the dead waiter's answer for ever
    assert queue.get(timeout=TIMEOUT) is True
    survivor.join(TIMEOUT)
    assert survivor.exitcode == 0


# ---- RwLock ------------------------------------------------------------------------------------


def test_rwlock_many_readers_or_one_writer():
    rw = RwLock(readers=4)
    assert rw.reader_slots == 4
    assert rw.acquire_read() and rw.readers == 1
    other = []
    t = threading.Thread(target=lambda: other.append((rw.acquire_read(timeout=1), rw.release_read(), rw.acquire_write(timeout=0.05))))
    t.start()
    t.join(TIMEOUT)
    assert other == [(True, None, False)]
    rw.release_read()
    with rw.write() as held:
        assert held is rw and rw.write_locked
        t = threading.Thread(target=lambda: other.append(rw.acquire_read(timeout=0.05)))
        t.start()
        t.join(TIMEOUT)
    assert other[-1] is False
    assert not rw.write_locked and rw.token > 0
    token = rw.token
    with rw.read():
        pass
    assert rw.token == token, "a read keeps the latest write's token"
    with pytest.raises(interlock.NotOwner):
        rw.release_read()
    with pytest.raises(interlock.NotOwner):
        rw.release_write()


def _hold_a_read(rw):
    """A thread that holds a read of `rw` until the returned event is set (it holds it on return)."""
    holding, release = threading.Event(), threading.Event()

    def reader():
        with rw.read():
            holding.set()
            release.wait(TIMEOUT)

    r = threading.Thread(target=reader)
    r.start()
    assert holding.wait(TIMEOUT)
    return r, release


def _until_draining(rw):
    """Waits until a writer holds `rw`'s writer word (draining the readers inside)."""
    deadline = time.monotonic() + TIMEOUT
    while not rw.write_locked:
        assert time.monotonic() < deadline, "the writer never started draining"
        time.sleep(0.001)


@pytest.mark.parametrize("prefer_readers", [False, True])
def test_rwlock_policy_decides_whether_a_reader_passes_a_draining_writer(prefer_readers):
    rw = RwLock(readers=4, prefer_readers=prefer_readers)
    assert rw.policy == ("prefer_readers" if prefer_readers else "prefer_writers")
    r, release = _hold_a_read(rw)
    wrote = []

    def writer():
        got = rw.acquire_write(timeout=TIMEOUT)
        wrote.append(got)
        if got:
            rw.release_write()

    w = threading.Thread(target=writer)
    w.start()
    # The writer holds the writer word while it waits for the reader inside: draining.
    _until_draining(rw)
    # Preferring readers, the read is granted at once (a long bound: only a wrong answer
    # waits for it); preferring writers, it must not be granted while the writer drains.
    got = rw.acquire_read(timeout=TIMEOUT if prefer_readers else 0.2)
    assert got is prefer_readers, "a reader passes a draining writer only when readers are preferred"
    if got:
        rw.release_read()
    release.set()
    r.join(TIMEOUT)
    w.join(TIMEOUT)
    assert wrote == [True]


def test_a_writer_on_another_thread_keeps_its_place_for_its_whole_wait():
    """A waiting writer holds the writer word from the start of its wait to its write: one
    acquisition of it, whatever the wait's length. Cut into 50 ms slices (as the main thread's
    waits are, to run signal handlers), it gave the word back at the end of each and took it
    again, and readers it was keeping out passed it in between."""
    rw = RwLock(readers=4)
    r, release = _hold_a_read(rw)
    wrote = []

    def writer():
        wrote.append(rw.acquire_write(timeout=TIMEOUT))
        wrote.append(rw.token)
        rw.release_write()

    w = threading.Thread(target=writer)
    w.start()
    _until_draining(rw)
    # Longer than several slices of the old code: the length of the writer's wait is what is
    # under test, not a handshake.
    time.sleep(0.3)
    release.set()
    r.join(TIMEOUT)
    w.join(TIMEOUT)
    # Token 1: the try without waiting every acquire makes first (it takes the writer word,
    # finds the reader, gives the word back); token 2: the wait, to the end.
    assert wrote == [True, 2], "the writer gave its writer word back while it waited"


def test_rwlock_policy_is_kept_and_checked_on_open(name):
    rw = RwLock.open(name, prefer_readers=True)
    assert RwLock.open(name).policy == "prefer_readers", "no policy given: takes either"
    assert RwLock.open(name, prefer_readers=True).policy == "prefer_readers"
    with pytest.raises(interlock.KindMismatch, match="prefer|policy|reader-preferring"):
        RwLock.open(name, prefer_readers=False)
    assert rw.policy == "prefer_readers"


def test_rwlock_context_managers_raise_timeout_naming_the_holder():
    rw = RwLock()
    seen = []

    def other():
        try:
            with rw.read(timeout=0.05):
                seen.append("read")
        except interlock.Timeout as e:
            seen.append(e.holder.pid if e.holder else None)

    with rw.write():
        t = threading.Thread(target=other)
        t.start()
        t.join(TIMEOUT)
    assert seen == [os.getpid()]
    with pytest.raises(interlock.InvalidSize):
        RwLock(readers=0)


def test_named_rwlock_pickles_with_its_slots(name):
    rw = RwLock.open(name, readers=8)
    copy = pickle.loads(pickle.dumps(rw))
    assert copy.name == name and copy.reader_slots == 8
    with rw.write():
        assert copy.write_locked
    with pytest.raises(RuntimeError):
        pickle.dumps(RwLock())


def test_readers_and_writers_across_processes_never_see_a_torn_write(ctx):
    rw = RwLock()
    pair = ctx.RawArray("q", 2)
    queue = ctx.Queue()
    loops = 200
    procs = [ctx.Process(target=workers.rw_worker, args=(rw, pair, loops, queue)) for _ in range(3)]
    for p in procs:
        p.start()
    torn = [queue.get(timeout=TIMEOUT) for _ in procs]
    for p in procs:
        p.join(TIMEOUT)
        assert p.exitcode == 0
    assert torn == [0, 0, 0]
    assert pair[0] == pair[1] == 3 * loops // 4


def test_a_killed_writers_next_holder_is_told(ctx):
    rw = RwLock()
    ready = ctx.Event()
    writer = ctx.Process(target=workers.write_and_hold, args=(rw, ready), daemon=True)
    writer.start()
    assert ready.wait(TIMEOUT)
    assert rw.acquire_read(timeout=0.05) is False
    os.kill(writer.pid, signal.SIGKILL)
    writer.join(TIMEOUT)
    assert rw.acquire_write(timeout=TIMEOUT) is True
    assert rw.previous_owner_died and rw.is_poisoned
    rw.clear_poison()
    rw.release_write()
    assert not rw.is_poisoned


def test_a_killed_readers_slot_comes_back(ctx):
    rw = RwLock(readers=1)
    ready = ctx.Event()
    reader = ctx.Process(target=workers.read_and_hold, args=(rw, ready), daemon=True)
    reader.start()
    assert ready.wait(TIMEOUT)
    assert rw.acquire_write(timeout=0.05) is False
    os.kill(reader.pid, signal.SIGKILL)
    reader.join(TIMEOUT)
    assert rw.acquire_write(timeout=TIMEOUT) is True
    assert rw.previous_owner_died
    rw.release_write()
