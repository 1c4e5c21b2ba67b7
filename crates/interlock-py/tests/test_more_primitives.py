"""Semaphore (bounded, as multiprocessing.BoundedSemaphore) and Event."""

import os
import pickle
import signal
import threading
import time

import pytest

import interlock
import workers
from interlock import BoundedSemaphore, Event, Semaphore

TIMEOUT = 30


def test_semaphore_counts_permits():
    sem = Semaphore(2)
    assert sem.permits == 2 and sem.get_value() == 2
    assert sem.acquire() and sem.acquire(timeout=1)
    assert sem.get_value() == 0
    assert sem.acquire(False) is False
    other = []
    t = threading.Thread(target=lambda: other.append(sem.acquire(timeout=0.05)))
    t.start()
    t.join(TIMEOUT)
    assert other == [False]
    # Every permit held by this thread: waiting could never end (permits are the holder's).
    with pytest.raises(interlock.WouldDeadlock):
        sem.acquire(timeout=0.05)
    sem.release()
    with sem:
        assert sem.get_value() == 0
    sem.release()
    assert sem.get_value() == 2
    assert BoundedSemaphore is Semaphore


def test_semaphore_release_above_what_was_taken_is_a_value_error():
    sem = BoundedSemaphore(1)
    with pytest.raises(ValueError) as e:
        sem.release()
    assert isinstance(e.value, interlock.NotOwner)


def test_a_semaphore_of_no_permits_is_refused():
    with pytest.raises(interlock.InvalidSize) as e:
        Semaphore(0)
    assert isinstance(e.value, ValueError)


@pytest.mark.parametrize("count", [0, -1, -(2**70), 2**64, 2**70])
@pytest.mark.parametrize(
    "make",
    [
        lambda n, where: interlock.Semaphore(n),
        lambda n, where: interlock.Semaphore.open(where.name, n),
        lambda n, where: interlock.Semaphore.open_path(where.path, n),
        lambda n, where: interlock.Barrier(n),
        lambda n, where: interlock.Barrier.open(where.name, n),
        lambda n, where: interlock.Barrier.open_path(where.path, n),
        lambda n, where: interlock.RwLock(readers=n),
        lambda n, where: interlock.RwLock.open(where.name, readers=n),
        lambda n, where: interlock.RwLock.open_path(where.path, readers=n),
    ],
    ids=[f"{kind}-{how}" for kind in ("Semaphore", "Barrier", "RwLock") for how in ("new", "open", "open_path")],
)
def test_a_zero_negative_or_overflowing_count_is_invalid_size_and_creates_nothing(make, count, name, tmp_path):
    # Issue 15: negative and overflowing counts are typed errors. A negative permit count or one
    # past any machine size was PyO3's OverflowError ("can't convert negative int to unsigned"),
    # naming neither the primitive nor the rule; now InvalidSize (a ValueError) as 0 is.
    class Where:
        pass

    where = Where()
    where.name, where.path = name, str(tmp_path / "count.lock")
    with pytest.raises(interlock.InvalidSize) as e:
        make(count, where)
    assert isinstance(e.value, ValueError)
    assert str(count) in str(e.value)
    assert not os.path.exists(where.path), "nothing created at the path"
    assert name + ".lock" not in os.listdir(os.environ["INTERLOCK_DIR"]), "nothing created by name"


@pytest.mark.parametrize("permits", [1, 2])
def test_a_permit_of_a_killed_holder_comes_back_and_its_taker_is_told(ctx, permits):
    sem = Semaphore(permits)
    for _ in range(permits - 1):
        sem.acquire()  # this thread holds the others: the dead holder's is the one left
    ready = ctx.Event()
    holder = ctx.Process(target=workers.take_permit_and_report, args=(sem, ready), daemon=True)
    holder.start()
    assert ready.wait(TIMEOUT)
    assert sem.get_value() == 0
    assert holder.pid in [h.pid for h in sem.holders() if h]
    os.kill(holder.pid, signal.SIGKILL)
    holder.join(TIMEOUT)
    assert sem.acquire(timeout=TIMEOUT) is True
    assert sem.previous_owner_died
    for _ in range(permits):
        sem.release()
    assert sem.get_value() == permits


def test_named_semaphore_pickles_with_its_permits(name):
    sem = Semaphore.open(name, 3)
    copy = pickle.loads(pickle.dumps(sem))
    assert copy.permits == 3 and copy.name == name
    with sem:
        assert copy.get_value() == 2
    with pytest.raises(interlock.InvalidSize):
        Semaphore.open(name, 4)


def test_event_set_wait_clear(ctx):
    ev = Event()
    assert not ev.is_set() and ev.wait(0.01) is False
    q = ctx.Queue()
    p = ctx.Process(target=workers.wait_event_and_report, args=(ev, q), daemon=True)
    p.start()
    ev.set()
    assert q.get(timeout=TIMEOUT) is True
    p.join(TIMEOUT)
    assert p.exitcode == 0
    assert ev.wait() is True
    ev.clear()
    assert not ev.is_set()


def test_event_wait_in_a_thread_releases_the_gil():
    ev = Event()
    out = []
    t = threading.Thread(target=lambda: out.append(ev.wait(TIMEOUT)))
    t.start()
    time.sleep(0.05)  # Python code runs here while the other thread waits
    ev.set()
    t.join(TIMEOUT)
    assert out == [True]


# --- Barrier ------------------------------------------------------------------------------


def test_barrier_passes_every_party_with_distinct_indexes(ctx):
    barrier = interlock.Barrier(3)
    assert barrier.parties == 3 and not barrier.broken
    q = ctx.Queue()
    ps = [ctx.Process(target=workers.barrier_party, args=(barrier, q), daemon=True) for _ in range(2)]
    for p in ps:
        p.start()
    mine = barrier.wait(TIMEOUT)
    got = sorted([mine] + [q.get(timeout=TIMEOUT)[1] for _ in ps])
    for p in ps:
        p.join(TIMEOUT)
        assert p.exitcode == 0
    assert got == [0, 1, 2]


def test_a_dead_party_breaks_the_barrier_and_is_named(ctx):
    barrier = interlock.Barrier(3)
    arrived = ctx.Event()
    q = ctx.Queue()
    dying = ctx.Process(target=workers.barrier_party_that_dies, args=(barrier, arrived), daemon=True)
    dying.start()
    assert arrived.wait(TIMEOUT)
    waiter = ctx.Process(target=workers.barrier_party, args=(barrier, q), daemon=True)
    waiter.start()
    deadline = time.monotonic() + TIMEOUT
    while barrier.n_waiting < 2:
        assert time.monotonic() < deadline
    os.kill(dying.pid, signal.SIGKILL)
    dying.join(TIMEOUT)
    assert q.get(timeout=TIMEOUT) == ("broken", dying.pid)
    waiter.join(TIMEOUT)
    assert barrier.broken
    with pytest.raises(threading.BrokenBarrierError):
        barrier.wait(1)
    barrier.reset()
    assert not barrier.broken


def test_barrier_timeout_breaks_it_as_threading_does():
    barrier = interlock.Barrier(2, timeout=0.05)
    with pytest.raises(interlock.BrokenBarrier):
        barrier.wait()
    assert barrier.broken


def test_barrier_refuses_an_action():
    with pytest.raises(ValueError, match="no action"):
        interlock.Barrier(2, action=print)


def test_named_barrier_pickles_with_its_parties(name):
    barrier = interlock.Barrier.open(name, 4)
    copy = pickle.loads(pickle.dumps(barrier))
    assert copy.parties == 4 and copy.name == name
