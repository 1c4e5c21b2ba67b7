"""How interlock's locks pickle (``__reduce__``).

- A named lock (``Lock.open(name)``) pickles as its name, a path lock (``Lock.open_path``) as
  its path: the receiving process opens the same lock. Any pickle works (a ``Queue``, a pool's
  task), as a name needs no hand-over.
- An anonymous lock (``Lock()``) is a memory file known only by descriptor, so it pickles the
  way ``multiprocessing``'s own shared memory arenas do: ``multiprocessing.reduction.DupFd``.
  Under the ``spawn`` start method the descriptor is inherited by the child; under
  ``forkserver`` it is sent to the fork server over its Unix socket (``SCM_RIGHTS``). Like
  ``multiprocessing.Lock``, it may be pickled only while a child is being spawned
  (``context.assert_spawning``): anywhere else there is nobody to hand the descriptor to.
  Under ``fork`` nothing is pickled: the child inherits the object and the mapping. The
  descriptor is the core's ``try_clone_fd``, adopted with ``from_fd`` (the checks of
  ``from_env``: an interlock segment of the right kind, the trust rule).
- A ``Condition`` pickles with its lock, which pickles as above: the receiving process gets
  both, and the condition checks it is bound to that lock.
"""

import os
from multiprocessing import context, reduction


def reduce_anonymous(lock, *extra):
    """``extra``: what ``_adopt_fd`` takes after the descriptor (a Condition's lock, which
    pickles itself the same way)."""
    context.assert_spawning(lock)
    return rebuild_inherited, (type(lock), reduction.DupFd(lock._export_fd()), *extra)


def rebuild_inherited(cls, dupfd, *extra):
    fd = dupfd.detach()
    try:
        return cls._adopt_fd(fd, *extra)
    finally:
        os.close(fd)


def rebuild_named(cls, name, *args):
    return cls.open(name, *args)


def rebuild_path(cls, path, *args):
    return cls.open_path(path, *args)
