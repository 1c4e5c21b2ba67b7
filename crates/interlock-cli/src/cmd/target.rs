//! What `run` locks: a named lock, or the lock at a path (any file, with flock(1) users:
//! `interlock::FileLock`), behind one set of calls.

use std::time::Duration;

use interlock::{FileLock, FileLockGuard, Holder, Lock, LockGuard};

use crate::cli::RunArgs;
use crate::cmd::status::Report;

pub(crate) enum Target {
    Named(Lock, String),
    Path(FileLock),
}

pub(crate) enum Held<'a> {
    Named(LockGuard<'a>),
    Path(FileLockGuard<'a>),
}

impl Target {
    pub(crate) fn open(args: &RunArgs) -> Result<Target, interlock::Error> {
        Ok(match (&args.name, &args.path) {
            (Some(name), _) if args.fair => Target::Named(Lock::open_fair(name)?, name.clone()),
            (Some(name), _) => Target::Named(Lock::open(name)?, name.clone()),
            (None, Some(path)) => Target::Path(FileLock::open(path, args.mode)?),
            (None, None) => unreachable!("clap requires a name or --path"),
        })
    }

    /// "lock \"name\"" or "lock at PATH", for messages.
    pub(crate) fn label(&self) -> String {
        match self {
            Target::Named(_, name) => format!("lock {name:?}"),
            Target::Path(lock) => format!("lock at {}", lock.path().display()),
        }
    }

    /// The interlock lock (the named one, or the record behind a path).
    pub(crate) fn lock(&self) -> &Lock {
        match self {
            Target::Named(lock, _) => lock,
            Target::Path(lock) => lock.interlock_lock(),
        }
    }

    pub(crate) fn try_lock(&self) -> Result<Option<Held<'_>>, interlock::Error> {
        Ok(match self {
            Target::Named(lock, _) => lock.try_lock()?.map(Held::Named),
            Target::Path(lock) => lock.try_lock()?.map(Held::Path),
        })
    }

    pub(crate) fn lock_timeout(&self, timeout: Duration) -> Result<Held<'_>, interlock::Error> {
        Ok(match self {
            Target::Named(lock, _) => Held::Named(lock.lock_timeout(timeout)?),
            Target::Path(lock) => Held::Path(lock.lock_timeout(timeout)?),
        })
    }

    pub(crate) fn acquire(&self) -> Result<Held<'_>, interlock::Error> {
        Ok(match self {
            Target::Named(lock, _) => Held::Named(lock.lock()?),
            Target::Path(lock) => Held::Path(lock.lock()?),
        })
    }

    /// Who is inside now: the interlock holder, or (for a path) a flock(1) user of the file.
    pub(crate) fn holder(&self) -> Option<Holder> {
        match self {
            Target::Named(lock, _) => lock.status().holder,
            Target::Path(lock) => lock.status().holder(),
        }
    }

    /// The lock as `status --json` shows it.
    pub(crate) fn report(&self) -> anyhow::Result<Report> {
        match self {
            Target::Named(_, name) => Report::named(name),
            Target::Path(lock) => Ok(Report::path(lock.status())),
        }
    }
}

impl Held<'_> {
    pub(crate) fn token(&self) -> u64 {
        match self {
            Held::Named(g) => g.token(),
            Held::Path(g) => g.token(),
        }
    }

    pub(crate) fn previous_owner_died(&self) -> bool {
        match self {
            Held::Named(g) => g.previous_owner_died(),
            Held::Path(g) => g.previous_owner_died(),
        }
    }

    pub(crate) fn is_poisoned(&self) -> bool {
        match self {
            Held::Named(g) => g.is_poisoned(),
            Held::Path(g) => g.is_poisoned(),
        }
    }

    pub(crate) fn clear_poison(&self) {
        match self {
            Held::Named(g) => g.clear_poison(),
            Held::Path(g) => g.clear_poison(),
        }
    }

    pub(crate) fn unlock(self) -> Result<(), interlock::Error> {
        match self {
            Held::Named(g) => g.unlock(),
            Held::Path(g) => g.unlock(),
        }
    }
}
