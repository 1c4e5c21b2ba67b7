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
"""

from ._errors import (
    Deadlock,
    InterlockError,
    InterlockOSError,
    InUse,
    InvalidName,
    KindMismatch,
    NotFound,
    NotOwner,
    RecursionOverflow,
    Timeout,
    UnsafePath,
    WouldDeadlock,
)
from ._interlock import Holder, Lock, LockStatus, RLock

__all__ = [
    "Lock",
    "RLock",
    "LockStatus",
    "Holder",
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
    "RecursionOverflow",
    "InterlockOSError",
]
