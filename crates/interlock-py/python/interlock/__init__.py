"""Crash-safe inter-process locks for Linux: ``multiprocessing.Lock`` and ``RLock`` that a
killed holder cannot wedge.

Change one import::

    from interlock import Lock        # was: from multiprocessing import Lock

and a worker SIGKILLed inside ``with lock:`` no longer hangs the others: the kernel releases
the lock, the next owner gets it with ``lock.previous_owner_died`` set, and the lock stays
poisoned (``lock.is_poisoned``) until someone calls ``lock.clear_poison()``.

Pass a lock to ``multiprocessing.Process(target=..., args=(lock,))`` under any start method
(fork, spawn, forkserver) or to ``ProcessPoolExecutor(initializer=..., initargs=(lock,))``;
unrelated processes meet by name with ``Lock.open("name")`` or by file with
``Lock.open_path(path)``.

Also ``Semaphore`` (``BoundedSemaphore``), ``Event``, ``Barrier``, ``Condition``, ``RwLock``,
and ``Value`` (``multiprocessing.Value``, whose writes inside ``with v:`` are committed whole
when the block ends: a holder killed inside leaves the value as it was).
"""

from ._errors import (
    BrokenBarrier,
    Deadlock,
    InterlockError,
    InterlockOSError,
    InUse,
    InvalidSize,
    InvalidName,
    KindMismatch,
    NotFound,
    NotOwner,
    RecursionOverflow,
    Timeout,
    UnsafePath,
    WouldDeadlock,
)
from ._interlock import (
    Barrier,
    Condition,
    Event,
    Holder,
    HoldFor,
    Lock,
    LockStatus,
    RLock,
    RwHold,
    RwLock,
    Semaphore,
    Value,
)

#: multiprocessing's name for what every interlock semaphore is: bounded (a release with no
#: permit held raises NotOwner, a ValueError, as BoundedSemaphore's does).
BoundedSemaphore = Semaphore

__all__ = [
    "Lock",
    "RLock",
    "Semaphore",
    "BoundedSemaphore",
    "Event",
    "Barrier",
    "Condition",
    "RwLock",
    "RwHold",
    "Value",
    "LockStatus",
    "Holder",
    "HoldFor",
    "InterlockError",
    "Timeout",
    "Deadlock",
    "WouldDeadlock",
    "NotOwner",
    "InvalidName",
    "NotFound",
    "KindMismatch",
    "UnsafePath",
    "InUse",
    "InvalidSize",
    "BrokenBarrier",
    "RecursionOverflow",
    "InterlockOSError",
]
