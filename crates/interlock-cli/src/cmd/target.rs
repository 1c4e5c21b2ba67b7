//! What `run` locks: a named lock, the lock at a path (any file, with flock(1) users:
//! `interlock::FileLock`), or a named reader-writer lock read (`--shared`) or written (`run`
//! of an RwLock's name), behind one set of calls.

use std::process::Command;
use std::time::Duration;

use interlock::{
    FileLock, FileLockGuard, GroupChild, Holder, Kind, Lock, LockGuard, ProcessGroup, RwLock,
    RwLockReadGuard, RwLockWriteGuard,
};

use crate::cli::RunArgs;
use crate::cmd::status::Report;
use crate::exit::{Coded, Exit};

pub(crate) enum Target {
    Named(Lock, String),
    Path(FileLock),
    /// A named RwLock: read (`--shared`: true) or written.
    Rw(RwLock, String, bool),
}

pub(crate) enum Held<'a> {
    Named(LockGuard<'a>),
    Path(FileLockGuard<'a>),
    Read(RwLockReadGuard<'a>),
    Write(RwLockWriteGuard<'a>),
}

impl Target {
    pub(crate) fn open(args: &RunArgs) -> anyhow::Result<Target> {
        Ok(match (&args.name, &args.path) {
            (Some(name), _) if args.shared => Target::Rw(open_rwlock(name)?, name.clone(), true),
            (Some(name), _) => match open_named(name, args.fair) {
                // `run NAME` of a reader-writer lock's name: its write.
                Err(interlock::Error::KindMismatch {
                    found: Kind::RwLock,
                    ..
                }) if !args.fair => Target::Rw(open_rwlock(name)?, name.clone(), false),
                other => Target::Named(other.map_err(named_error(name))?, name.clone()),
            },
            (None, Some(path)) => Target::Path(FileLock::open(path, args.mode)?),
            (None, None) => unreachable!("clap requires a name or --path"),
        })
    }

    /// "lock \"name\"", "lock at PATH" or "rwlock \"name\"", for messages.
    pub(crate) fn label(&self) -> String {
        match self {
            Target::Named(_, name) => format!("lock {name:?}"),
            Target::Path(lock) => format!("lock at {}", lock.path().display()),
            Target::Rw(_, name, _) => format!("rwlock {name:?}"),
        }
    }

    /// Whether holds record when they began (`status` shows how long a holder has held it).
    pub(crate) fn set_timestamps(&self, on: bool) {
        match self {
            Target::Named(lock, _) => lock.set_timestamps(on),
            Target::Path(lock) => lock.interlock_lock().set_timestamps(on),
            Target::Rw(lock, _, _) => lock.set_timestamps(on),
        }
    }

    pub(crate) fn try_lock(&self) -> Result<Option<Held<'_>>, interlock::Error> {
        Ok(match self {
            Target::Named(lock, _) => lock.try_lock()?.map(Held::Named),
            Target::Path(lock) => lock.try_lock()?.map(Held::Path),
            Target::Rw(lock, _, true) => lock.try_read()?.map(Held::Read),
            Target::Rw(lock, _, false) => lock.try_write()?.map(Held::Write),
        })
    }

    pub(crate) fn lock_timeout(&self, timeout: Duration) -> Result<Held<'_>, interlock::Error> {
        Ok(match self {
            Target::Named(lock, _) => Held::Named(lock.lock_timeout(timeout)?),
            Target::Path(lock) => Held::Path(lock.lock_timeout(timeout)?),
            Target::Rw(lock, _, true) => Held::Read(lock.read_timeout(timeout)?),
            Target::Rw(lock, _, false) => Held::Write(lock.write_timeout(timeout)?),
        })
    }

    pub(crate) fn acquire(&self) -> Result<Held<'_>, interlock::Error> {
        Ok(match self {
            Target::Named(lock, _) => Held::Named(lock.lock()?),
            Target::Path(lock) => Held::Path(lock.lock()?),
            Target::Rw(lock, _, true) => Held::Read(lock.read()?),
            Target::Rw(lock, _, false) => Held::Write(lock.write()?),
        })
    }

    /// Who is inside now: the interlock holder, or (for a path) a flock(1) user of the file;
    /// for an rwlock, its writer, else a reader.
    pub(crate) fn holder(&self) -> Option<Holder> {
        match self {
            Target::Named(lock, _) => lock.status().holder,
            Target::Path(lock) => lock.status().holder(),
            Target::Rw(lock, _, _) => {
                let s = lock.status();
                s.writer
                    .or_else(|| s.readers.into_iter().next().map(|r| r.holder))
            }
        }
    }

    /// The lock as `status --json` shows it.
    pub(crate) fn report(&self) -> anyhow::Result<Report> {
        match self {
            Target::Named(_, name) | Target::Rw(_, name, _) => Report::named(name),
            Target::Path(lock) => Ok(Report::path(lock.status())),
        }
    }
}

/// Opens the named reader-writer lock for `run --shared` (or `run` of an RwLock's name),
/// creating it if it does not exist. A name that is another kind of lock is refused with the
/// way out (exit 2).
fn open_rwlock(name: &str) -> anyhow::Result<RwLock> {
    RwLock::open(name).map_err(|e| match e {
        interlock::Error::KindMismatch { found, .. } => anyhow::Error::new(Coded(
            Exit::Usage,
            format!(
                "{name:?} is a {found}, not a reader-writer lock: `run --shared` needs one. Run \
                 it without --shared to take it exclusively, or remove it (`interlock rm \
                 {name}`) and let `run --shared` create it"
            ),
        )),
        e => named_error(name)(e),
    })
}

/// Opens the named lock.
fn open_named(name: &str, fair: bool) -> Result<Lock, interlock::Error> {
    if fair {
        Lock::open_fair(name)
    } else {
        Lock::open(name)
    }
}

/// An error opening `name`, in the CLI's words: a bad name with a slash was probably meant as
/// a lock file, which is `--path`.
fn named_error(name: &str) -> impl Fn(interlock::Error) -> anyhow::Error + '_ {
    move |e| match e {
        interlock::Error::InvalidName { .. } if name.contains('/') => anyhow::Error::new(Coded(
            Exit::Usage,
            format!("{e}; to use a lock file, give its path with --path"),
        )),
        e => e.into(),
    }
}

impl Held<'_> {
    /// The hold's fencing token; none for a read (readers hold no token of their own).
    pub(crate) fn token(&self) -> Option<u64> {
        match self {
            Held::Named(g) => Some(g.token()),
            Held::Path(g) => Some(g.token()),
            Held::Read(_) => None,
            Held::Write(g) => Some(g.token()),
        }
    }

    pub(crate) fn previous_owner_died(&self) -> bool {
        match self {
            Held::Named(g) => g.previous_owner_died(),
            Held::Path(g) => g.previous_owner_died(),
            Held::Read(g) => g.previous_owner_died(),
            Held::Write(g) => g.previous_owner_died(),
        }
    }

    /// Whether the hold may repair a poisoned lock (a read never does).
    pub(crate) fn is_poisoned(&self) -> bool {
        match self {
            Held::Named(g) => g.is_poisoned(),
            Held::Path(g) => g.is_poisoned(),
            Held::Read(_) => false,
            Held::Write(g) => g.is_poisoned(),
        }
    }

    pub(crate) fn clear_poison(&self) {
        match self {
            Held::Named(g) => g.clear_poison(),
            Held::Path(g) => g.clear_poison(),
            Held::Read(_) => {}
            Held::Write(g) => g.clear_poison(),
        }
    }

    /// Runs `cmd` as a process group of its own that the lock's record names.
    pub(crate) fn spawn_group(&self, cmd: &mut Command) -> Result<GroupChild, interlock::Error> {
        match self {
            Held::Named(g) => g.spawn_group(cmd),
            Held::Path(g) => g.spawn_group(cmd),
            Held::Read(g) => g.spawn_group(cmd),
            Held::Write(g) => g.spawn_group(cmd),
        }
    }

    /// What an earlier holder that died left running in its process group, if anything.
    pub(crate) fn leftover_group(&self) -> Option<ProcessGroup> {
        match self {
            Held::Named(g) => g.leftover_group(),
            Held::Path(g) => g.leftover_group(),
            Held::Read(g) => g.leftover_group(),
            Held::Write(g) => g.leftover_group(),
        }
    }

    pub(crate) fn unlock(self) -> Result<(), interlock::Error> {
        match self {
            Held::Named(g) => g.unlock(),
            Held::Path(g) => g.unlock(),
            Held::Read(g) => g.unlock(),
            Held::Write(g) => g.unlock(),
        }
    }
}
