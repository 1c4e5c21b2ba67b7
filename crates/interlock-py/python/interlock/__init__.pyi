"""Type stubs of the interlock package (see __init__.py and the README's "From Python")."""

from os import PathLike
from types import TracebackType
from typing import Optional, Tuple, Type, TypeVar, Union

_L = TypeVar("_L", "Lock", "RLock")

class Holder:
    """Who holds a lock."""

    @property
    def pid(self) -> int: ...
    @property
    def tid(self) -> int:
        """The holding thread's native id (threading.get_native_id() in that process)."""
    @property
    def since(self) -> Optional[float]:
        """Since when (seconds since the epoch), if the lock records it."""
    @property
    def token(self) -> int: ...
    @property
    def alive(self) -> bool: ...
    @property
    def command(self) -> Optional[str]: ...
    @property
    def text(self) -> str: ...

class LockStatus:
    """A lock's state, read without taking it."""

    @property
    def kind(self) -> str: ...
    @property
    def holder(self) -> Optional[Holder]: ...
    @property
    def waiters(self) -> int: ...
    @property
    def acquisitions(self) -> int: ...
    @property
    def owner_deaths(self) -> int: ...
    @property
    def poisoned(self) -> bool: ...
    @property
    def owner_died_unclaimed(self) -> bool: ...
    @property
    def depth(self) -> int: ...

class HoldFor:
    """`lock.hold(timeout)`: acquires on entry (or raises Timeout), releases on exit."""

    def __enter__(self) -> Union[Lock, RLock]: ...
    def __exit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None: ...

class _Base:
    @classmethod
    def open(cls: Type[_L], name: str) -> _L:
        """The lock named `name` in this user's namespace, created if missing."""
    @classmethod
    def open_path(cls: Type[_L], path: Union[str, PathLike[str]], mode: int = 0o600) -> _L:
        """The lock file at `path`, created (with `mode`) if missing."""
    def acquire(self, block: bool = True, timeout: Optional[float] = None) -> bool:
        """multiprocessing's acquire: True when taken, False when not in time (or at once)."""
    def release(self) -> None:
        """Releases the calling thread's hold (one level of an RLock); NotOwner otherwise."""
    def __enter__(self) -> bool: ...
    def __exit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None: ...
    def hold(self, timeout: Optional[float] = None) -> HoldFor:
        """`with lock.hold(timeout=2):` — raises Timeout naming the holder instead of returning False."""
    def locked(self) -> bool:
        """Whether any thread of any process holds it now."""
    @property
    def previous_owner_died(self) -> bool:
        """This process's latest acquisition through this object found the previous holder dead."""
    @property
    def token(self) -> int:
        """The fencing token of this process's latest acquisition through this object."""
    @property
    def is_poisoned(self) -> bool: ...
    def clear_poison(self) -> None: ...
    def status(self) -> LockStatus: ...
    @property
    def name(self) -> Optional[str]:
        """The name or path it was opened by; None for an anonymous lock."""
    def _is_mine(self) -> bool: ...
    def _count(self) -> int: ...

class Lock(_Base):
    """multiprocessing.Lock that a killed holder cannot wedge (owned by the acquiring thread)."""

    def __init__(self) -> None: ...

class RLock(_Base):
    """multiprocessing.RLock that a killed holder cannot wedge."""

    def __init__(self) -> None: ...

class InterlockError(Exception):
    lock: Optional[str]

class Timeout(InterlockError, TimeoutError):
    holder: Optional[Holder]

class Deadlock(InterlockError, RuntimeError):
    cycle: Tuple[Tuple[int, int, str, int], ...]

class WouldDeadlock(InterlockError, RuntimeError): ...

class NotOwner(InterlockError, ValueError, AssertionError):
    holder: Optional[Holder]

class InvalidName(InterlockError, ValueError): ...
class NotFound(InterlockError, FileNotFoundError): ...
class KindMismatch(InterlockError, TypeError): ...
class UnsafePath(InterlockError, PermissionError): ...

class InUse(InterlockError):
    holder: Optional[Holder]

class RecursionOverflow(InterlockError, OverflowError): ...
class InterlockOSError(InterlockError, OSError): ...
