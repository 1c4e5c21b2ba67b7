//! Layer 5: the named locks of this user's namespace, as a whole — list, inspect, remove.

use crate::error::Error;
use crate::name::Namespace;
use crate::segment::Kind;
use crate::status::LockStatus;

/// A named lock found in the namespace.
///
/// # Examples
///
/// ```no_run
/// for lock in interlock::list()? {
///     println!("{} ({}): {:?}", lock.name, lock.kind, lock.status.holder);
/// }
/// # Ok::<(), interlock::Error>(())
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct NamedLock {
    /// The lock's name.
    pub name: String,
    /// Lock or RLock.
    pub kind: Kind,
    /// Its record, read without taking it.
    pub status: LockStatus,
}

/// The named locks of this user, sorted by name. Files in the namespace that are not valid
/// locks are reported as errors by [`status()`], and skipped here.
///
/// # Errors
///
/// [`Error::UnsafePath`] or [`Error::Io`] if the namespace directory cannot be used.
///
/// # Examples
///
/// ```no_run
/// let names: Vec<String> = interlock::list()?.into_iter().map(|l| l.name).collect();
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
/// let s = interlock::status("nightly-backup")?;
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
    let kind = seg.header().kind;
    Ok(NamedLock {
        name: name.to_owned(),
        kind,
        status: LockStatus::read(seg.record(), kind),
    })
}

/// Removes the named lock `name`. Processes that have it open keep the old lock; the next
/// [`Lock::open`](crate::Lock::open) of the name creates a new one — so remove only locks
/// nobody uses.
///
/// # Errors
///
/// [`Error::NotFound`] when it does not exist; [`Error::UnsafePath`] when the path holds
/// something that is not our lock file.
///
/// # Examples
///
/// ```no_run
/// interlock::remove("nightly-backup")?;
/// # Ok::<(), interlock::Error>(())
/// ```
pub fn remove(name: &str) -> Result<(), Error> {
    Namespace::open()?.remove(name)
}

/// The name of the named lock whose file is `dev`/`ino`, if it is one of this namespace's.
pub(crate) fn name_of(dev: u64, ino: u64) -> Option<String> {
    use std::os::unix::fs::MetadataExt;
    let ns = Namespace::open().ok()?;
    ns.names().ok()?.into_iter().find(|name| {
        std::fs::symlink_metadata(ns.path_of(name)).is_ok_and(|m| m.dev() == dev && m.ino() == ino)
    })
}
