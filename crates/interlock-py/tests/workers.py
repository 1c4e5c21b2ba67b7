"""Targets of child processes: a module of its own, so that spawn and forkserver children
import them by name."""

import os
import signal
import time


def hold_and_report(lock, ready, result=None):
    """Takes the lock, says so, and waits to be killed."""
    lock.acquire()
    ready.set()
    while True:
        time.sleep(60)


def wait_and_report(lock, queue, timeout=30):
    """Waits for the lock, reports what the acquisition said, releases."""
    got = lock.acquire(timeout=timeout)
    queue.put((got, lock.previous_owner_died, lock.is_poisoned, lock.token))
    if got:
        lock.release()


def try_and_report(lock, queue):
    """Reports whether the lock could be taken at once (it must not: the parent holds it),
    then whether it can be taken after the parent says go."""
    queue.put(("busy", lock.acquire(timeout=0.1), type(lock).__name__))
    queue.put(("free", lock.acquire(timeout=30)))
    lock.release()


def count_under_lock(lock, counter, loops):
    """The counter example's read-modify-write on a RawValue without a lock of its own."""
    for _ in range(loops):
        with lock:
            v = counter.value
            time.sleep(0.0005)
            counter.value = v + 1


def rlock_depth(rlock, queue, depth):
    for _ in range(depth):
        rlock.acquire()
    queue.put(rlock._count())
    for _ in range(depth):
        rlock.release()
    queue.put(rlock._count())


def die_inside(lock, ready, go):
    """Takes the lock, says so, and SIGKILLs itself inside the section when told to."""
    with lock:
        ready.set()
        go.wait()
        os.kill(os.getpid(), signal.SIGKILL)


_pool_lock = None


def pool_init(lock):
    global _pool_lock
    _pool_lock = lock


def pool_task(i):
    with _pool_lock:
        return (i, os.getpid(), type(_pool_lock).__name__, _pool_lock.token)


def cycle_member(first, second, barrier, queue):
    """Holds `first`, then waits for `second`: two of these close a lock-order cycle."""
    import interlock

    with first:
        barrier.wait()
        try:
            got = second.acquire(timeout=30)
            queue.put(("acquired", got))
            if got:
                second.release()
        except interlock.Deadlock as e:
            queue.put(("deadlock", str(e)))


def take_permit_and_report(sem, ready):
    """Takes a permit, says so, and waits to be killed."""
    sem.acquire()
    ready.set()
    while True:
        time.sleep(60)


def wait_event_and_report(event, queue, timeout=30):
    queue.put(event.wait(timeout))


def barrier_party(barrier, queue):
    """Waits at the barrier; reports its index or that it broke (and why: the dead party)."""
    import interlock

    try:
        queue.put(("passed", barrier.wait(30)))
    except interlock.BrokenBarrier as e:
        queue.put(("broken", e.dead_pid))


def barrier_party_that_dies(barrier, arrived):
    """Arrives, says so, and is SIGKILLed by the test while it waits."""
    arrived.set()
    barrier.wait()


def produce(cond, buf, n):
    """Condition test: appends 1..n to `buf` (buf[0] items made, buf[1] taken, items from 2),
    notifying under the lock."""
    for i in range(n):
        with cond:
            buf[2 + buf[0]] = i + 1
            buf[0] += 1
            cond.notify_all()


def consume(cond, buf, n, queue):
    """Condition test: takes `n` items, waiting for each with wait_for; reports them."""
    got = []
    with cond:
        while len(got) < n:
            if not cond.wait_for(lambda: buf[1] < buf[0], timeout=30):
                break
            got.append(buf[2 + buf[1]])
            buf[1] += 1
    queue.put(got)


def wait_on_condition(cond, flag, arrived, queue):
    """Condition test: waits until flag[0] is set; reports whether it saw it."""
    with cond:
        arrived.set()
        ok = cond.wait_for(lambda: flag[0] == 1, timeout=30)
    queue.put(bool(ok))


def wait_on_condition_forever(cond, arrived):
    """Condition test: waits (to be SIGKILLed while waiting)."""
    with cond:
        arrived.set()
        while True:
            cond.wait()


def read_and_hold(rw, ready):
    """RwLock test: takes a read and holds it until killed."""
    rw.acquire_read()
    ready.set()
    while True:
        time.sleep(60)


def write_and_hold(rw, ready):
    """RwLock test: takes the write and holds it until killed (mid-write)."""
    rw.acquire_write()
    ready.set()
    while True:
        time.sleep(60)


def rw_worker(rw, pair, loops, queue):
    """RwLock test: writes pair[0] += 1 then pair[1] += 1 under the write; under reads checks
    that they are equal (a write is never seen half done); reports the torn reads seen."""
    torn = 0
    for i in range(loops):
        if i % 4 == 0:
            with rw.write():
                pair[0] += 1
                time.sleep(0.0005)
                pair[1] += 1
        else:
            with rw.read():
                if pair[0] != pair[1]:
                    torn += 1
    queue.put(torn)


def value_count(value, loops):
    """The counter example's read-modify-write on an interlock Value, under its own lock."""
    for _ in range(loops):
        with value.get_lock():
            value.value += 1


def value_die_inside(value, ready, go):
    """Writes the value inside `with value:` and SIGKILLs itself before the block ends."""
    with value:
        value.value = -1
        ready.set()
        go.wait()
        os.kill(os.getpid(), signal.SIGKILL)


def value_report(value, queue):
    """Reports the value, whether the previous holder died, and the poison mark."""
    with value:
        queue.put((value.value, value.previous_owner_died, value.is_poisoned, value.typecode))
