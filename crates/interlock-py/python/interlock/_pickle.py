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
  Under ``fork`` nothing is pickled: the child inherits the object and the mapping.
"""

import os
from multiprocessing import context, reduction


def reduce_anonymous(lock):
    context.assert_spawning(lock)
    return rebuild_inherited, (type(lock), reduction.DupFd(lock._export_fd()))


def rebuild_inherited(cls, dupfd):
    fd = dupfd.detach()
    try:
        return cls._adopt_fd(fd)
    finally:
        os.close(fd)


def rebuild_named(cls, name, *args):
    return cls.open(name, *args)


def rebuild_path(cls, path, *args):
    return cls.open_path(path, *args)
