"""interlock's exceptions.

Each is also the builtin exception that multiprocessing (or Python) raises in the same
situation, so that code written for ``multiprocessing.Lock`` catches it unchanged:
``Timeout`` is a ``TimeoutError``, ``NotOwner`` a ``ValueError`` (multiprocessing's ``Lock``
released too often) and an ``AssertionError`` (its ``RLock`` released by a non-owner).
Messages come from the Rust core and name the holder where there is one.
"""

import threading

__all__ = [
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


class InterlockError(Exception):
    """Base class of every interlock error. ``lock`` names the lock concerned."""

    lock = None


class Timeout(InterlockError, TimeoutError):
    """A timed wait gave up (``lock.hold(timeout)``). ``holder``: who held it then, or None."""

    holder = None


class Deadlock(InterlockError, RuntimeError):
    """This wait closed a lock-order cycle between processes and was chosen to give up.

    ``cycle``: the cycle's members from this thread, as ``(pid, tid, waits_for, held_by_tid)``.
    Release what you hold and retry.
    """

    cycle = ()


class WouldDeadlock(InterlockError, RuntimeError):
    """The calling thread already holds this (non-recursive) Lock: waiting would never end."""


class NotOwner(InterlockError, ValueError, AssertionError):
    """A release by a thread that does not hold the lock. ``holder``: who does, or None.

    A ``ValueError`` as multiprocessing's ``Lock.release()`` of a free lock, and an
    ``AssertionError`` as multiprocessing's ``RLock.release()`` by a non-owner.
    """

    holder = None


class InvalidName(InterlockError, ValueError):
    """A lock name broke the naming rules."""


class NotFound(InterlockError, FileNotFoundError):
    """No such lock."""


class KindMismatch(InterlockError, TypeError):
    """The name or descriptor is another kind or shape of primitive: an RLock opened as a Lock,
    a Value of another size, an RwLock of the other policy, …"""


class UnsafePath(InterlockError, PermissionError):
    """A lock file or directory refused: a symlink, another user's, open to others, …"""


class InvalidSize(InterlockError, ValueError):
    """A count refused: a semaphore's permits, a barrier's parties or an rwlock's reader slots
    zero, negative or too many, or other than those of the one that exists."""


class BrokenBarrier(InterlockError, threading.BrokenBarrierError):
    """The barrier is or got broken: a party died (``dead_pid``), a wait timed out, abort, reset."""

    dead_pid = None


class InUse(InterlockError):
    """The lock is held: not removed. ``holder``: who holds it."""

    holder = None


class RecursionOverflow(InterlockError, OverflowError):
    """An RLock re-entered more often than its depth counter counts."""


class InterlockOSError(InterlockError, OSError):
    """The operating system refused an operation (``errno`` says why)."""
