//! Locks at a path as a whole — any file or directory that a [`FileLock`](crate::FileLock)
//! (or `Options::open_path`) locks: inspect it ([`status`]) and remove its lock
//! ([`remove_unheld`], [`remove`]), as `interlock status --path` and `interlock rm --path` do.
//! The named locks' counterparts are in [`namespace`](crate::namespace).
//!
//! # Examples
//!
//! ```
//! # let dir = tempfile::tempdir()?;
//! let file = dir.path().join("job.lock");
//! let lock = interlock::FileLock::open(&file, 0o600)?;
//! drop(lock.lock()?);
//! assert!(!interlock::path::status(&file)?.is_held());
//! interlock::path::remove_unheld(&file)?;
//! assert!(!file.exists());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

// Layer 5 (handles), beside `file_lock.rs`, whose sidecar and flock(2) helpers it uses.

use std::os::fd::AsFd;
use std::path::{Path, PathBuf};

use crate::handles::file_lock::{flocks_of, keep_descriptor, sidecar_file, PathStatus};
use crate::handles::namespace::remove_while_held;
use crate::locks::status as lock_status;
use crate::shm::name::{self, AtPath, Namespace};
use crate::types::{Error, Kind, LockStatus};

/// The status of the lock at `path` — an interlock lock file, or any file or directory with
/// its sidecar record — without creating anything or taking it.
///
/// # Errors
///
/// [`Error::NoLockAt`] when nothing is at `path`; otherwise as [`FileLock::open`](crate::FileLock::open).
///
/// # Examples
///
/// ```
/// # let dir = tempfile::tempdir()?;
/// let path = dir.path().join("a.lock");
/// drop(interlock::FileLock::open(&path, 0o600)?.lock()?);
/// assert_eq!(interlock::path::status(&path)?.status.acquisitions, 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn status(path: impl AsRef<Path>) -> Result<PathStatus, Error> {
    let path = path.as_ref();
    let (file, record, sidecar, segment) = match name::open_any(path, None, Kind::Lock)? {
        AtPath::Segment(seg) => {
            let (file, _, seg) = keep_descriptor(seg, path)?;
            (file, path.to_owned(), false, Some(seg))
        }
        AtPath::Other(file) => {
            let ns = Namespace::open()?;
            let name = sidecar_file(&file, path)?;
            let seg = ns.find_file(&name)?;
            (file, ns.dir.join(name), true, seg)
        }
    };
    let (status, wait_for) = match segment {
        Some(seg) => {
            let (dev, ino) = seg.identity();
            let kind = seg.kind(&path.display().to_string())?;
            (
                lock_status::read_segment(&seg, kind),
                crate::deadlock::wait_edges_for(dev, ino),
            )
        }
        None => (LockStatus::never_taken(), Vec::new()),
    };
    Ok(PathStatus {
        path: path.to_owned(),
        record,
        sidecar,
        status,
        file_locks: flocks_of(file.as_fd()),
        wait_for,
    })
}

/// Removes the lock at `path` only if nobody holds it (`interlock rm --path`), like
/// [`namespace::remove_unheld`](crate::namespace::remove_unheld): an interlock lock file is taken — its locks and
/// its flock(2) lock — and unlinked while held; for any other file only its sidecar record
/// is removed (under the sidecar's lock), **never the file itself**. Returns the file
/// removed: `path`, or the sidecar.
///
/// # Errors
///
/// [`Error::InUse`] naming the holder; [`Error::NoLockAt`] when nothing is at `path`, or it
/// is not an interlock lock file and has no sidecar; otherwise as [`FileLock::open`](crate::FileLock::open).
///
/// # Examples
///
/// ```
/// # let dir = tempfile::tempdir()?;
/// # std::env::set_var("INTERLOCK_DIR", dir.path().join("ns"));
/// let data = dir.path().join("data.txt");
/// std::fs::write(&data, "x")?;
/// drop(interlock::FileLock::open(&data, 0o600)?.lock()?);
/// let removed = interlock::path::remove_unheld(&data)?;
/// assert_ne!(removed, data);
/// assert_eq!(std::fs::read_to_string(&data)?, "x");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn remove_unheld(path: impl AsRef<Path>) -> Result<PathBuf, Error> {
    remove_at(path.as_ref(), false)
}

/// Removes the lock at `path` whether or not it is held (`interlock rm --path --force`): an
/// interlock lock file is unlinked, for any other file its sidecar record — never the file
/// itself. The caveats of [`namespace::remove`](crate::namespace::remove) apply. Returns the file removed.
///
/// # Errors
///
/// As [`remove_unheld`], without [`Error::InUse`].
///
/// # Examples
///
/// ```
/// # let dir = tempfile::tempdir()?;
/// let path = dir.path().join("a.lock");
/// let lock = interlock::FileLock::open(&path, 0o600)?;
/// let _held = lock.lock()?;
/// assert_eq!(interlock::path::remove(&path)?, path);
/// assert!(!path.exists());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn remove(path: impl AsRef<Path>) -> Result<PathBuf, Error> {
    remove_at(path.as_ref(), true)
}

fn remove_at(path: &Path, force: bool) -> Result<PathBuf, Error> {
    let label = format!("lock at {}", path.display());
    loop {
        let removed = match name::open_any(path, None, Kind::Lock)? {
            AtPath::Segment(seg) => {
                let identity = seg.identity();
                let (file, trusted, seg) = keep_descriptor(seg, path)?;
                let unlink = || name::unlink_if_same(path, identity);
                let gone = if force {
                    unlink()?
                } else {
                    remove_while_held(seg, label.clone(), trusted, Some(file.as_fd()), unlink)?
                };
                gone.then(|| path.to_owned())
            }
            AtPath::Other(file) => {
                let ns = Namespace::open()?;
                let name = sidecar_file(&file, path)?;
                let Some(seg) = ns.find_file(&name)? else {
                    return Err(Error::NoLockAt {
                        path: path.to_owned(),
                        reason: "it is not an interlock lock file, and this user has no \
                                 interlock record of it (the file itself is never removed)",
                    });
                };
                let identity = seg.identity();
                let unlink = || match ns.identity_of_file(&name)? {
                    Some(now) if now == identity => ns.unlink_file(&name).map(|()| true),
                    _ => Ok(false),
                };
                let gone = if force {
                    unlink()?
                } else {
                    remove_while_held(seg, label.clone(), true, None, unlink)?
                };
                gone.then(|| ns.dir.join(&name))
            }
        };
        if let Some(removed) = removed {
            return Ok(removed);
        }
    }
}
