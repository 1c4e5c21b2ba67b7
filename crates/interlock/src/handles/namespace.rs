//! The named locks of this user's namespace, as a whole: where they live ([`dir`]), what a
//! name may be ([`validate_name`]), and [`list`], [`status`], [`remove_unheld`], [`remove`] —
//! what `interlock list`, `status` and `rm` do.
//!
//! A named lock (`Lock::open("backup")`, any handle's `open`) is the file `NAME.lock` in the
//! namespace directory: `$INTERLOCK_DIR` when set, else `/dev/shm/interlock-EUID` — one
//! directory per user, private to that user (mode 0700; its files 0600), the same for a login
//! shell, a cron job, a service or `sudo -u`. A lock shared between users is a file at a path
//! instead (`Options::open_path`, and [`path`](crate::path) for those).
//!
//! # Examples
//!
//! ```no_run
//! use interlock::namespace;
//!
//! for lock in namespace::list()? {
//!     println!("{} ({}): {:?}", lock.name, lock.kind, lock.status.holder);
//! }
//! namespace::remove_unheld("old-job")?;
//! # Ok::<(), interlock::Error>(())
//! ```

// Layer 5 (handles): the namespace's locks as a whole. The names and the directory are layer 3
// (`shm/name.rs`), re-exported here.

pub use crate::shm::name::{namespace_dir as dir, validate_name, MAX_NAME_LEN};

use crate::locks::raw::{Raw, Wait};
use crate::locks::status::read_segment as read_status;
use crate::shm::name::Namespace;
use crate::shm::Segment;
use crate::sys;
use crate::types::{Error, Kind, LockStatus};

/// A named lock found in the namespace.
///
/// # Examples
///
/// ```no_run
/// for lock in interlock::namespace::list()? {
///     println!("{} ({}): {:?}", lock.name, lock.kind, lock.status.holder);
/// }
/// # Ok::<(), interlock::Error>(())
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct NamedLock {
    /// The lock's name.
    pub name: String,
    /// What it is: a Lock, an RLock, a Value, ….
    pub kind: Kind,
    /// Its record, read without taking it.
    pub status: LockStatus,
}

/// The named locks of this user, sorted by name. Files in the namespace that are not valid
/// locks are reported as errors by [`status`], and skipped here.
///
/// # Errors
///
/// [`Error::UnsafePath`] or [`Error::Io`] if the namespace directory cannot be used.
///
/// # Examples
///
/// ```no_run
/// let names: Vec<String> = interlock::namespace::list()?.into_iter().map(|l| l.name).collect();
/// # Ok::<(), interlock::Error>(())
/// ```
pub fn list() -> Result<Vec<NamedLock>, Error> {
    let ns = Namespace::open()?;
    Ok(ns
        .names()?
        .into_iter()
        .filter_map(|name| inspect(&ns, &name).ok())
        .collect())
}

/// The status of the named lock `name`, without creating it or taking it.
///
/// # Errors
///
/// [`Error::NotFound`] when no such lock exists; [`Error::InvalidName`], [`Error::UnsafePath`],
/// [`Error::BadSegment`] as for [`Lock::open`](crate::Lock::open).
///
/// # Examples
///
/// ```no_run
/// let s = interlock::namespace::status("nightly-backup")?;
/// if let Some(h) = &s.status.holder {
///     println!("held by {h}");
/// }
/// # Ok::<(), interlock::Error>(())
/// ```
pub fn status(name: &str) -> Result<NamedLock, Error> {
    inspect(&Namespace::open()?, name)
}

fn inspect(ns: &Namespace, name: &str) -> Result<NamedLock, Error> {
    let seg = ns.open_existing(name)?;
    let kind = seg.kind(&format!("lock {name:?}"))?;
    Ok(NamedLock {
        name: name.to_owned(),
        kind,
        status: read_status(&seg, kind),
    })
}

/// Removes the named lock `name` whether or not it is held (`interlock rm --force`).
/// Processes that have it open keep the old lock; the next [`Lock::open`](crate::Lock::open)
/// of the name creates a new one — so a holder of the old lock and a holder of the new one can
/// then run at once. Prefer [`remove_unheld`], and remove only locks nobody uses.
///
/// # Errors
///
/// [`Error::NotFound`] when it does not exist; [`Error::UnsafePath`] when the path holds
/// something that is not our lock file.
///
/// # Examples
///
/// ```no_run
/// interlock::namespace::remove("nightly-backup")?;
/// # Ok::<(), interlock::Error>(())
/// ```
pub fn remove(name: &str) -> Result<(), Error> {
    Namespace::open()?.remove(name)
}

/// Removes the named lock `name` only if nobody holds it (`interlock rm`): takes it — every
/// lock of a [`LockTable`](crate::LockTable) — without waiting, checks that the name still
/// names the file it took, unlinks the file *while holding it*, then lets go. So no process
/// holds the lock at the moment it disappears: one that takes it between a check and the
/// unlink, as a "status, then remove" would allow, is impossible.
///
/// # What remains
///
/// A file's identity is its inode, and a process that opened the lock before the removal
/// keeps the old inode mapped. After this returns, such a process (one already blocked in
/// `lock()`, or one that opened the name earlier and locks later) can take the *old* lock
/// while a new [`Lock::open`](crate::Lock::open) of the name creates and takes a *new* one:
/// both then hold "the same name". Remove a name only when no running program uses it.
/// Also, unlink by name cannot be made conditional on the inode: a second remover that removes
/// and re-creates the name between our check and our unlink (a race among removers, not
/// lockers) would have its new file unlinked.
///
/// # Errors
///
/// [`Error::InUse`] (naming the holder) when the lock, or a lock of the table, is held — by
/// anyone, this thread included; the file is left. [`Error::NotFound`], [`Error::InvalidName`],
/// [`Error::UnsafePath`], [`Error::BadSegment`] as for [`status`].
///
/// # Examples
///
/// ```
/// # let dir = tempfile::tempdir()?;
/// # std::env::set_var("INTERLOCK_DIR", dir.path().join("ns"));
/// use interlock::{namespace, Error, Lock};
///
/// let lock = Lock::open("old-job")?;
/// let guard = lock.lock()?;
/// assert!(matches!(namespace::remove_unheld("old-job"), Err(Error::InUse { .. })));
/// drop(guard);
/// namespace::remove_unheld("old-job")?;
/// assert!(matches!(namespace::status("old-job"), Err(Error::NotFound { .. })));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn remove_unheld(name: &str) -> Result<(), Error> {
    let ns = Namespace::open()?;
    loop {
        let seg = ns.open_existing(name)?;
        let identity = seg.identity();
        // Trusted as `Lock::open` trusts it: `open_existing` checked that the file is ours and
        // private.
        let removed = remove_while_held(seg, format!("lock {name:?}"), true, None, || {
            // Unless the name was removed and re-created meanwhile (then what we hold is no
            // longer the named lock: start again with the new one).
            match ns.identity_of(name)? {
                Some(now) if now == identity => ns.unlink(name).map(|()| true),
                _ => Ok(false),
            }
        })?;
        if removed {
            return Ok(());
        }
    }
}

/// Takes every lock of `seg` — a table's locks each, any other kind's one — without waiting
/// and, with `file`, the flock(2) lock on that descriptor too; runs `unlink` while holding all
/// of it; lets go. [`Error::InUse`] naming the holder (the file is left) when anything is held.
/// Returns what `unlink` returned.
pub(crate) fn remove_while_held(
    seg: Segment,
    label: String,
    trusted: bool,
    file: Option<std::os::fd::BorrowedFd<'_>>,
    unlink: impl FnOnce() -> Result<bool, Error>,
) -> Result<bool, Error> {
    let me = sys::me();
    let kind = seg.kind(&label)?;
    // Issue 15: the words of a condition, an event and a barrier are no locks to take (taking
    // one read its count or flag as a holder, "held by pid 0 thread N"): each is in use while
    // someone waits on it — a waiter counted in, an event's waiters bit, a barrier's arrivals.
    let waiting = match kind {
        Kind::Condition => Some(crate::locks::condition::read(&seg).waiters > 0),
        Kind::Event => Some(crate::locks::event::read(seg.record()).waiters),
        Kind::Barrier => Some(crate::locks::barrier::read(&seg).arrived > 0),
        _ => None,
    };
    let locks = Raw::new(seg, label, kind, trusted)?.table_elements();
    let mut taken = Vec::with_capacity(locks.len());
    let mut outcome = Ok(());
    if waiting == Some(true) {
        let what = match kind {
            Kind::Condition => "condition",
            Kind::Event => "event",
            _ => "barrier",
        };
        outcome = Err(Error::InUse {
            lock: locks[0].label().replacen("lock", what, 1),
            holder: None,
        });
    }
    for raw in locks.iter().filter(|_| waiting.is_none()) {
        // An RLock this thread holds would let us in again: that is a hold too.
        let got = if raw.held_by(&me) {
            Ok(None)
        } else {
            raw.acquire(&me, Wait::Never)
        };
        match got {
            Ok(Some(acq)) => taken.push((raw, acq.token)),
            Ok(None) => {
                outcome = Err(Error::InUse {
                    lock: raw.label(),
                    holder: raw.holder(),
                });
                break;
            }
            Err(e) => {
                outcome = Err(e);
                break;
            }
        }
    }
    let mut flocked = false;
    if let (Ok(()), Some(fd)) = (&outcome, file) {
        match crate::handles::file_lock::try_flock(fd, &locks[0].label()) {
            Ok(true) => flocked = true,
            Ok(false) => {
                outcome = Err(Error::InUse {
                    lock: locks[0].label(),
                    holder: crate::handles::file_lock::flock_holder(fd).map(Box::new),
                })
            }
            Err(e) => outcome = Err(e),
        }
    }
    // Holding all of it: unlink.
    let removed = outcome.and_then(|()| unlink());
    if let (true, Some(fd)) = (flocked, file) {
        let _ = rustix::fs::flock(fd, rustix::fs::FlockOperation::Unlock);
    }
    for (raw, token) in taken {
        // Ours since just now; a failure would mean the record was rewritten under us,
        // and there is nothing better to do than leave it to the kernel at our death.
        let _ = raw.release(&me, Some(token));
    }
    removed
}
