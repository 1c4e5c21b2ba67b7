//! What `run` locks: a named lock, or the lock at a path (any file, with flock(1) users:
//! `interlock::FileLock`), behind one set of calls.

use std::process::Command;
use std::time::Duration;

use interlock::{FileLock, FileLockGuard, GroupChild, Holder, Lock, LockGuard, ProcessGroup};

use crate::cli::RunArgs;
use crate::cmd::status::Report;
use crate::exit::{Coded, Exit};

pub(crate) enum Target {
    Named(Lock, String),
    Path(FileLock),
}

pub(crate) enum Held<'a> {
    Named(LockGuard<'a>),
    Path(FileLockGuard<'a>),
}

impl Target {
    pub(crate) fn open(args: &RunArgs) -> anyhow::Result<Target> {
        Ok(match (&args.name, &args.path) {
            (Some(name), _) => Target::Named(open_named(name, args.fair)?, name.clone()),
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

/// Opens the named lock; a bad name is told in the CLI's words (a name with a slash was
/// probably meant as a lock file: that is `--path`).
fn open_named(name: &str, fair: bool) -> anyhow::Result<Lock> {
    let opened = if fair {
        Lock::open_fair(name)
    } else {
        Lock::open(name)
    };
    opened.map_err(|e| match e {
        interlock::Error::InvalidName { .. } if name.contains('/') => anyhow::Error::new(Coded(
            Exit::Usage,
            format!("{e}; to use a lock file, give its path with --path"),
        )),
        e => e.into(),
    })
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

    /// Runs `cmd` as a process group of its own that the lock's record names.
    pub(crate) fn spawn_group(&self, cmd: &mut Command) -> Result<GroupChild, interlock::Error> {
        match self {
            Held::Named(g) => g.spawn_group(cmd),
            Held::Path(g) => g.spawn_group(cmd),
        }
    }

    /// What an earlier holder that died left running in its process group, if anything.
    pub(crate) fn leftover_group(&self) -> Option<ProcessGroup> {
        match self {
            Held::Named(g) => g.leftover_group(),
            Held::Path(g) => g.leftover_group(),
        }
    }

    pub(crate) fn unlock(self) -> Result<(), interlock::Error> {
        match self {
            Held::Named(g) => g.unlock(),
            Held::Path(g) => g.unlock(),
        }
    }
}
