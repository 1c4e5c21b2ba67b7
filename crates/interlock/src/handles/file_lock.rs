//! Layer 5: a lock on any file that flock(1) users of the same file respect (decision 0017).
//!
//! A [`FileLock`] is two locks taken in a fixed order:
//!
//! 1. an interlock lock — the segment's own record when the file is an interlock lock file,
//!    else a *sidecar* segment in this user's namespace named after the file's device and
//!    inode (`.file-DEV-INO.lock`): owner death, status, fencing tokens, deadlock detection,
//!    timeouts among interlock users;
//! 2. then `flock(fd, LOCK_EX)` on the file itself, which is what flock(1) and every other
//!    flock(2) user of the file take.
//!
//! flock(1) users take only the second, and nobody takes the first while holding the second,
//! so the order can never close a cycle. A file that is not an interlock lock file is opened
//! read-only and never mapped: its bytes cannot change.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rustix::fs::{flock, FlockOperation};
use rustix::io::Errno;

use crate::handles::command::GroupChild;
use crate::locks::guard::Hold;
use crate::locks::lock::Lock;
use crate::locks::raw::{Raw, Wait};
use crate::shm::name::{self, AtPath, Namespace};
use crate::shm::{trusted_file, Segment};
use crate::sys;
use crate::types::{Error, Holder, Kind, LockStatus, ProcessGroup, WaitEdge};

/// The longest pause between two non-blocking `flock` attempts of a timed wait.
const FLOCK_POLL_MAX: Duration = Duration::from_millis(16);

/// A lock on any file — an interlock lock file, a `touch`ed lock file, a data file, a
/// directory — that excludes flock(1) users of the same file, as `interlock run --path`
/// uses it.
///
/// What it takes, in this order:
///
/// 1. an interlock lock: the file's own record when it is an interlock lock file (as
///    [`Lock::open_path`] opens it), else a *sidecar* lock in this user's namespace, named
///    after the file's device and inode ([`FileLock::record`]). It gives what interlock
///    users expect among themselves: the next holder is told when a holder died
///    ([`FileLockGuard::previous_owner_died`]), `status` names the holder, fencing tokens,
///    timeouts, deadlock detection;
/// 2. `flock(2)` `LOCK_EX` on the file itself — what `flock FILE cmd` takes — so holders
///    and flock(1) users of the file exclude each other.
///
/// flock(1) users take only the second lock, and interlock users take the first before the
/// second, so no order of events deadlocks the two. The release goes the other way round.
///
/// A file that is not an interlock lock file is opened read-only, never mapped and never
/// written: its bytes stay as they are. A missing file is created as an interlock lock file
/// with `mode`, as [`Lock::open_path`] does.
///
/// # Limits
///
/// - The sidecar is per user: two users' interlock runs on one file exclude each other by
///   the flock(2) lock alone, and each sees the other as a flock holder, not as an interlock
///   holder (no owner-death news across users).
/// - Like flock(1), a process that already holds a flock(2) lock on the file through
///   another descriptor waits for itself.
/// - A timed wait for the flock(2) lock retries without blocking, every 1 to 16 ms: a
///   steady stream of flock(1) users, which block in the kernel, can keep it out until it
///   times out. An untimed wait blocks in the kernel like them.
/// - A file replaced by rename is a new inode: holders of the old one and of the new one
///   do not exclude each other (as with flock(1)). Lock a file that stays.
///
/// # Examples
///
/// ```
/// let dir = tempfile::tempdir()?;
/// let data = dir.path().join("data.txt");
/// std::fs::write(&data, "precious")?;
/// # std::env::set_var("INTERLOCK_DIR", dir.path().join("ns"));
///
/// let lock = interlock::FileLock::open(&data, 0o600)?;
/// let guard = lock.lock()?;
/// assert_eq!(guard.token(), 1);
/// drop(guard);
/// assert_eq!(std::fs::read_to_string(&data)?, "precious");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct FileLock {
    lock: Lock,
    /// The file at `path`, for flock(2): read-only unless it is an interlock segment.
    file: OwnedFd,
    path: PathBuf,
    /// Where the interlock record is: `path`, or the sidecar.
    record: PathBuf,
    sidecar: bool,
}

impl FileLock {
    /// Opens the file at `path` for locking, creating an interlock lock file with exactly
    /// `mode` if nothing is there.
    ///
    /// # Errors
    ///
    /// [`Error::UnsafePath`] when the last component is a symbolic link, or a FIFO, device or
    /// socket; [`Error::BadSegment`] for a file that starts like an interlock lock file but
    /// is not a usable one; [`Error::KindMismatch`] for an interlock lock file of another
    /// kind (an RLock, a Value, a LockTable); [`Error::Io`] when the file cannot be opened
    /// (read permission is enough for a file that is not an interlock lock file); and as
    /// [`Lock::open`] for the namespace, where a sidecar lives.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// let lock = interlock::FileLock::open("/var/lock/backup.lock", 0o644)?;
    /// let _guard = lock.lock()?; // flock /var/lock/backup.lock users wait now
    /// # Ok::<(), interlock::Error>(())
    /// ```
    pub fn open(path: impl AsRef<Path>, mode: u32) -> Result<FileLock, Error> {
        let path = path.as_ref();
        let label = format!("lock at {}", path.display());
        match name::open_any(path, Some(mode), Kind::Lock)? {
            AtPath::Segment(seg) => {
                let (file, trusted, seg) = keep_descriptor(seg, path)?;
                let raw = Raw::new(seg, label, Kind::Lock, trusted)?;
                Ok(FileLock {
                    lock: Lock { raw },
                    file,
                    path: path.to_owned(),
                    record: path.to_owned(),
                    sidecar: false,
                })
            }
            AtPath::Other(file) => {
                let ns = Namespace::open()?;
                let name = sidecar_file(&file, path)?;
                let seg = ns.open_or_create_file(&name, Kind::Lock, &[])?;
                // Trusted as a named lock is: the namespace checked it is ours and private.
                let raw = Raw::new(seg, label, Kind::Lock, true)?;
                Ok(FileLock {
                    lock: Lock { raw },
                    file,
                    path: path.to_owned(),
                    record: ns.dir.join(name),
                    sidecar: true,
                })
            }
        }
    }

    /// The path as given.
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = tempfile::tempdir()?;
    /// let lock = interlock::FileLock::open(dir.path().join("a.lock"), 0o600)?;
    /// assert!(lock.path().ends_with("a.lock"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Where the interlock record of this lock is: the file itself when it is an interlock
    /// lock file, else the sidecar in this user's namespace (`.file-DEV-INO.lock`).
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = tempfile::tempdir()?;
    /// # std::env::set_var("INTERLOCK_DIR", dir.path().join("ns"));
    /// let touched = dir.path().join("touched.lock");
    /// std::fs::File::create(&touched)?;
    /// let lock = interlock::FileLock::open(&touched, 0o600)?;
    /// assert!(lock.is_sidecar());
    /// assert!(lock.record().starts_with(interlock::namespace::dir()?));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn record(&self) -> &Path {
        &self.record
    }

    /// Whether the file is not an interlock lock file, so that the record is a sidecar.
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = tempfile::tempdir()?;
    /// let lock = interlock::FileLock::open(dir.path().join("new.lock"), 0o600)?;
    /// assert!(!lock.is_sidecar(), "a missing file is created as an interlock lock file");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn is_sidecar(&self) -> bool {
        self.sidecar
    }

    /// The interlock lock behind this one (the segment's or the sidecar's), for what
    /// `FileLock` does not repeat. Taking it alone does not exclude flock(1) users.
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = tempfile::tempdir()?;
    /// let lock = interlock::FileLock::open(dir.path().join("a.lock"), 0o600)?;
    /// assert!(!lock.interlock_lock().is_poisoned());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn interlock_lock(&self) -> &Lock {
        &self.lock
    }

    /// Blocks until the calling thread holds both locks.
    ///
    /// # Errors
    ///
    /// As [`Lock::lock`]; [`Error::Io`] if `flock` fails.
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = tempfile::tempdir()?;
    /// let lock = interlock::FileLock::open(dir.path().join("a.lock"), 0o600)?;
    /// let guard = lock.lock()?;
    /// assert!(!guard.previous_owner_died());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn lock(&self) -> Result<FileLockGuard<'_>, Error> {
        Ok(self
            .acquire(Wait::Forever)?
            .expect("an untimed wait only ends holding the lock"))
    }

    /// Takes both locks if both are free now; `Ok(None)` if either is held.
    ///
    /// # Errors
    ///
    /// As [`Lock::try_lock`]; [`Error::Io`] if `flock` fails.
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = tempfile::tempdir()?;
    /// let path = dir.path().join("a.lock");
    /// let lock = interlock::FileLock::open(&path, 0o600)?;
    /// let _held = lock.try_lock()?.expect("free");
    /// let other = interlock::FileLock::open(&path, 0o600)?;
    /// let other_thread = std::thread::scope(|s| {
    ///     s.spawn(|| other.try_lock().map(|g| g.is_some())).join().unwrap()
    /// });
    /// assert!(!other_thread?);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn try_lock(&self) -> Result<Option<FileLockGuard<'_>>, Error> {
        self.acquire(Wait::Never)
    }

    /// Waits at most `timeout` for both locks together.
    ///
    /// # Errors
    ///
    /// [`Error::Timeout`] naming who is inside — the interlock holder, or a flock(1) user of
    /// the file (with token 0: it is no interlock hold); otherwise as [`Lock::lock_timeout`].
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = tempfile::tempdir()?;
    /// let lock = interlock::FileLock::open(dir.path().join("a.lock"), 0o600)?;
    /// drop(lock.lock_timeout(std::time::Duration::from_secs(1))?);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn lock_timeout(&self, timeout: Duration) -> Result<FileLockGuard<'_>, Error> {
        Ok(self
            .acquire(Wait::For(timeout))?
            .expect("a timed wait ends holding the lock or with Timeout"))
    }

    /// Whether acquisitions record when they happened ([`Lock::set_timestamps`]).
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = tempfile::tempdir()?;
    /// let lock = interlock::FileLock::open(dir.path().join("a.lock"), 0o600)?;
    /// lock.set_timestamps(true);
    /// let _g = lock.lock()?;
    /// assert!(lock.status().status.holder.unwrap().since.is_some());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn set_timestamps(&self, enabled: bool) {
        self.lock.set_timestamps(enabled)
    }

    /// A snapshot: the interlock record, the flock(2) locks on the file, the registered
    /// waiters. Never blocks, changes nothing.
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = tempfile::tempdir()?;
    /// let lock = interlock::FileLock::open(dir.path().join("a.lock"), 0o600)?;
    /// let _g = lock.lock()?;
    /// let s = lock.status();
    /// assert_eq!(s.holder().unwrap().pid, std::process::id());
    /// assert!(s.file_locks.iter().any(|f| f.pid == std::process::id() && !f.waiting));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn status(&self) -> PathStatus {
        let identity = self.lock.raw.segment().identity();
        PathStatus {
            path: self.path.clone(),
            record: self.record.clone(),
            sidecar: self.sidecar,
            status: self.lock.status(),
            file_locks: flocks_of(self.file.as_fd()),
            wait_for: crate::deadlock::wait_edges_for(identity.0, identity.1),
        }
    }

    fn acquire(&self, wait: Wait) -> Result<Option<FileLockGuard<'_>>, Error> {
        let started = Instant::now();
        let acq = match self.lock.raw.acquire(&sys::me(), wait) {
            Ok(Some(acq)) => acq,
            Ok(None) => return Ok(None),
            // The interlock holder may itself be waiting for a flock(1) user: name who is in.
            Err(Error::Timeout { lock, waited, .. }) => {
                return Err(Error::Timeout {
                    lock,
                    waited,
                    holder: self.status().holder().map(Box::new),
                })
            }
            Err(e) => return Err(e),
        };
        let hold = Hold::new(&self.lock.raw, acq);
        let file = self.file.as_fd();
        let got = match wait {
            Wait::Forever => flock_blocking(file, &self.lock.raw.label()).map(|()| true),
            Wait::Never => try_flock(file, &self.lock.raw.label()),
            Wait::For(timeout) => flock_until(file, &self.lock.raw.label(), started, timeout),
        };
        match got {
            Ok(true) => Ok(Some(FileLockGuard { hold, file })),
            other => {
                // The interlock lock alone is no use: let it go.
                let _ = hold.end(false);
                match (other, wait) {
                    (Err(e), _) => Err(e),
                    (_, Wait::Never) => Ok(None),
                    _ => Err(Error::Timeout {
                        lock: self.lock.raw.label(),
                        waited: started.elapsed(),
                        holder: self.status().holder().map(Box::new),
                    }),
                }
            }
        }
    }
}

impl std::fmt::Debug for FileLock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileLock")
            .field("path", &self.path)
            .field("record", &self.record)
            .field("lock", &self.lock)
            .finish()
    }
}

/// The segment's descriptor duplicated for flock(2) (our own open file description), whether
/// the segment may go on our robust list (decision 0010), and the segment without its own
/// descriptor.
pub(crate) fn keep_descriptor(
    seg: Segment,
    path: &Path,
) -> Result<(OwnedFd, bool, Segment), Error> {
    let fd = seg.fd().expect("a segment just mapped has its descriptor");
    let trusted = trusted_file(fd);
    let file = fd
        .try_clone_to_owned()
        .map_err(|e| Error::io("dup", path.display(), e))?;
    Ok((file, trusted, seg.close_fd(path)?))
}

/// The sidecar's file name in the namespace for the file open as `fd`: `.file-DEV-INO.lock`
/// (a leading dot: never a lock name, never listed).
pub(crate) fn sidecar_file(fd: &OwnedFd, path: &Path) -> Result<String, Error> {
    let st = rustix::fs::fstat(fd).map_err(|e| Error::io("fstat", path.display(), e))?;
    Ok(sidecar_name(st.st_dev, st.st_ino))
}

fn sidecar_name(dev: u64, ino: u64) -> String {
    format!(".file-{dev}-{ino}.lock")
}

/// Proof that the calling thread holds a [`FileLock`]: the interlock lock and the file's
/// flock(2) lock. Dropping it releases the flock(2) lock, then the interlock lock.
///
/// `!Send`, like [`LockGuard`](crate::LockGuard). A copy in a forked child releases nothing
/// (the child shares the parent's open file description, whose flock(2) lock stays the
/// parent's).
///
/// # Examples
///
/// ```
/// # let dir = tempfile::tempdir()?;
/// let lock = interlock::FileLock::open(dir.path().join("a.lock"), 0o600)?;
/// let guard = lock.lock()?;
/// let token = guard.token();
/// guard.unlock()?;
/// assert!(lock.lock()?.token() > token);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[must_use = "if unused the FileLock will immediately unlock"]
#[clippy::has_significant_drop]
pub struct FileLockGuard<'a> {
    hold: Hold<'a>,
    file: BorrowedFd<'a>,
}

impl FileLockGuard<'_> {
    /// The fencing token of this hold ([`LockGuard::token`](crate::LockGuard::token)).
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = tempfile::tempdir()?;
    /// let lock = interlock::FileLock::open(dir.path().join("a.lock"), 0o600)?;
    /// assert_eq!(lock.lock()?.token(), 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn token(&self) -> u64 {
        self.hold.token()
    }

    /// True when the previous interlock holder died holding the lock. (A flock(1) user's death
    /// is not seen: the kernel just drops its flock(2) lock.)
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = tempfile::tempdir()?;
    /// let lock = interlock::FileLock::open(dir.path().join("a.lock"), 0o600)?;
    /// assert!(!lock.lock()?.previous_owner_died());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn previous_owner_died(&self) -> bool {
        self.hold.owner_died()
    }

    /// Whether the interlock lock is poisoned ([`LockGuard::is_poisoned`](crate::LockGuard::is_poisoned)).
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = tempfile::tempdir()?;
    /// let lock = interlock::FileLock::open(dir.path().join("a.lock"), 0o600)?;
    /// assert!(!lock.lock()?.is_poisoned());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn is_poisoned(&self) -> bool {
        self.hold.is_poisoned()
    }

    /// Clears the poison mark.
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = tempfile::tempdir()?;
    /// let lock = interlock::FileLock::open(dir.path().join("a.lock"), 0o600)?;
    /// lock.lock()?.clear_poison();
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn clear_poison(&self) {
        self.hold.raw.clear_poison()
    }

    /// Spawns `cmd` as a process group of its own, named in the record as this hold's, with
    /// signals passed on to it: [`LockGuard::spawn_group`](crate::LockGuard::spawn_group),
    /// which says what it arranges. The command does not inherit the flock(2) lock (as with
    /// `flock -o`): this guard keeps it until released.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] if the program cannot be spawned.
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = tempfile::tempdir()?;
    /// let lock = interlock::FileLock::open(dir.path().join("a.lock"), 0o600)?;
    /// let guard = lock.lock()?;
    /// let mut child = guard.spawn_group(std::process::Command::new("sh").args(["-c", "exit 3"]))?;
    /// assert_eq!(lock.status().status.holder.unwrap().process_group, Some(child.id()));
    /// assert_eq!(child.wait()?.code(), Some(3));
    /// child.wait_group()?;
    /// drop(child);
    /// guard.unlock()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn spawn_group(&self, cmd: &mut std::process::Command) -> Result<GroupChild, Error> {
        crate::handles::command::spawn_group(self.hold.raw, self.token(), cmd)
    }

    /// The process group an earlier interlock hold ran its command in and did not see end
    /// (its holder died): [`LockGuard::leftover_group`](crate::LockGuard::leftover_group).
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = tempfile::tempdir()?;
    /// let lock = interlock::FileLock::open(dir.path().join("a.lock"), 0o600)?;
    /// assert_eq!(lock.lock()?.leftover_group(), None);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn leftover_group(&self) -> Option<ProcessGroup> {
        crate::handles::command::leftover_group(self.hold.raw, self.token())
    }

    /// Releases both locks now, reporting what `drop` would silently ignore.
    ///
    /// # Errors
    ///
    /// [`Error::NotOwner`] when this guard's hold already ended (a copy in a forked child).
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = tempfile::tempdir()?;
    /// let lock = interlock::FileLock::open(dir.path().join("a.lock"), 0o600)?;
    /// lock.lock()?.unlock()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn unlock(self) -> Result<(), Error> {
        let ended = self.end();
        let err = (!ended).then(|| self.hold.raw.not_owner());
        std::mem::forget(self);
        err.map_or(Ok(()), Err)
    }

    /// Unlocks the file, then ends the hold — the file only while the hold is provably ours
    /// (never from a forked copy of the guard).
    fn end(&self) -> bool {
        self.hold.end_after(|_| {
            let _ = flock(self.file, FlockOperation::Unlock);
        })
    }
}

impl Drop for FileLockGuard<'_> {
    fn drop(&mut self) {
        self.end();
    }
}

impl std::fmt::Debug for FileLockGuard<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileLockGuard")
            .field("token", &self.hold.token())
            .field("previous_owner_died", &self.hold.owner_died())
            .finish()
    }
}

/// `flock(fd, LOCK_EX)`, again after a signal.
fn flock_blocking(fd: BorrowedFd<'_>, label: &str) -> Result<(), Error> {
    loop {
        match flock(fd, FlockOperation::LockExclusive) {
            Ok(()) => return Ok(()),
            Err(Errno::INTR) => continue,
            Err(e) => return Err(Error::io("flock", label, e)),
        }
    }
}

/// `flock(fd, LOCK_EX | LOCK_NB)`: false when another open file description holds a lock.
pub(crate) fn try_flock(fd: BorrowedFd<'_>, label: &str) -> Result<bool, Error> {
    loop {
        match flock(fd, FlockOperation::NonBlockingLockExclusive) {
            Ok(()) => return Ok(true),
            Err(Errno::WOULDBLOCK) => return Ok(false),
            Err(Errno::INTR) => continue,
            Err(e) => return Err(Error::io("flock", label, e)),
        }
    }
}

/// [`try_flock`] until it succeeds or `timeout` from `started` has passed (one last try
/// then), pausing 1 ms, then twice as long each time up to [`FLOCK_POLL_MAX`]. A timeout too
/// far to represent waits in the kernel.
fn flock_until(
    fd: BorrowedFd<'_>,
    label: &str,
    started: Instant,
    timeout: Duration,
) -> Result<bool, Error> {
    let Some(end) = started.checked_add(timeout) else {
        return flock_blocking(fd, label).map(|()| true);
    };
    let mut pause = Duration::from_millis(1);
    loop {
        if try_flock(fd, label)? {
            return Ok(true);
        }
        let now = Instant::now();
        if now >= end {
            return Ok(false);
        }
        std::thread::sleep(pause.min(end - now));
        pause = (pause * 2).min(FLOCK_POLL_MAX);
    }
}

/// Who holds a flock(2) lock on the file open as `fd`, as a [`Holder`] with token 0, if
/// /proc/locks shows one (for messages: a conflict, a removal refused).
pub(crate) fn flock_holder(fd: BorrowedFd<'_>) -> Option<Holder> {
    flocks_of(fd)
        .into_iter()
        .find(|f| !f.waiting)
        .map(|f| f.as_holder())
}

/// One flock(2) lock on a file, or a request waiting for one, as `/proc/locks` (and
/// `lslocks`) show it.
///
/// # Examples
///
/// ```
/// # let dir = tempfile::tempdir()?;
/// let lock = interlock::FileLock::open(dir.path().join("a.lock"), 0o600)?;
/// let _g = lock.lock()?;
/// let mine = &lock.status().file_locks[0];
/// assert_eq!(mine.pid, std::process::id());
/// assert!(mine.exclusive && !mine.waiting);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct FlockEntry {
    /// The process that took it (or asks for it), as the kernel recorded it. A process that
    /// inherited the descriptor holds it too, under the taker's pid.
    pub pid: u32,
    /// That process's command line, when `/proc` shows it.
    pub command: Option<String>,
    /// `LOCK_EX` (true) or `LOCK_SH`.
    pub exclusive: bool,
    /// A request blocked in `flock`, not a lock held.
    pub waiting: bool,
}

impl FlockEntry {
    fn as_holder(&self) -> Holder {
        Holder {
            pid: self.pid,
            tid: self.pid,
            since: None,
            token: 0,
            alive: true,
            command: self.command.clone(),
            process_group: None,
        }
    }
}

impl std::fmt::Display for FlockEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "pid {}", self.pid)?;
        if let Some(cmd) = &self.command {
            write!(f, " `{cmd}`")?;
        }
        let mode = if self.exclusive {
            "exclusive"
        } else {
            "shared"
        };
        if self.waiting {
            write!(f, " (waiting for flock, {mode})")
        } else {
            write!(f, " (flock, {mode})")
        }
    }
}

/// The flock(2) locks and requests on the file open as `fd`.
pub(crate) fn flocks_of(fd: BorrowedFd<'_>) -> Vec<FlockEntry> {
    let Ok(st) = rustix::fs::fstat(fd) else {
        return Vec::new();
    };
    let Ok(text) = std::fs::read_to_string("/proc/locks") else {
        return Vec::new();
    };
    parse_proc_locks(
        &text,
        rustix::fs::major(st.st_dev),
        rustix::fs::minor(st.st_dev),
        st.st_ino,
    )
    .into_iter()
    .map(|(pid, exclusive, waiting)| FlockEntry {
        pid,
        command: sys::command_line(pid),
        exclusive,
        waiting,
    })
    .collect()
}

/// The FLOCK lines of `/proc/locks` text on device `major:minor`, inode `ino`: (pid,
/// exclusive, waiting). A line reads `1: FLOCK  ADVISORY  WRITE 26083 fe:00:10027078 0 EOF`,
/// a blocked request `1: -> FLOCK  ADVISORY  WRITE 26100 fe:00:10027078 0 EOF` (major and
/// minor in hex, the inode in decimal; fs/locks.c, `lock_get_status`). Lines of other lock
/// types, of pids not visible here (0 or negative) and anything unparsable are skipped.
fn parse_proc_locks(text: &str, major: u32, minor: u32, ino: u64) -> Vec<(u32, bool, bool)> {
    let mut found = Vec::new();
    for line in text.lines() {
        let mut words = line.split_whitespace().skip(1).peekable();
        let mut waiting = false;
        while words.peek() == Some(&"->") {
            waiting = true;
            words.next();
        }
        let (Some("FLOCK"), Some(_), Some(access), Some(pid), Some(id)) = (
            words.next(),
            words.next(),
            words.next(),
            words.next(),
            words.next(),
        ) else {
            continue;
        };
        let mut id = id.splitn(3, ':');
        let same = (id.next(), id.next(), id.next())
            == (
                Some(format!("{major:02x}").as_str()),
                Some(format!("{minor:02x}").as_str()),
                Some(ino.to_string().as_str()),
            );
        let Ok(pid) = pid.parse::<i64>() else {
            continue;
        };
        if same && pid > 0 {
            found.push((pid as u32, access == "WRITE", waiting));
        }
    }
    found
}

/// What `interlock status --path FILE` shows: the interlock record of a lock at a path and
/// the flock(2) locks on the file.
///
/// # Examples
///
/// ```
/// # let dir = tempfile::tempdir()?;
/// # std::env::set_var("INTERLOCK_DIR", dir.path().join("ns"));
/// let data = dir.path().join("data.txt");
/// std::fs::write(&data, "x")?;
/// let s = interlock::path::status(&data)?;
/// assert!(s.sidecar && s.holder().is_none() && s.status.acquisitions == 0);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct PathStatus {
    /// The path as given.
    pub path: PathBuf,
    /// Where the interlock record is: `path` itself, or the sidecar in this user's namespace
    /// ([`FileLock::record`]; it may not exist yet).
    pub record: PathBuf,
    /// The file is not an interlock lock file: the record is a sidecar.
    pub sidecar: bool,
    /// The interlock record (a fresh one, never taken, when no sidecar exists yet).
    pub status: LockStatus,
    /// The flock(2) locks and requests on the file.
    pub file_locks: Vec<FlockEntry>,
    /// Interlock waiters registered past the deadlock timeout.
    pub wait_for: Vec<WaitEdge>,
}

impl PathStatus {
    /// Who is inside: the process holding the file's flock(2) lock — described by the
    /// interlock record when it is the interlock holder, else with token 0 (a flock(1) user,
    /// or another user's interlock) — or, when nobody holds the flock(2) lock, the interlock
    /// holder (between taking its two locks).
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = tempfile::tempdir()?;
    /// let lock = interlock::FileLock::open(dir.path().join("a.lock"), 0o600)?;
    /// assert!(lock.status().holder().is_none());
    /// let g = lock.lock()?;
    /// assert_eq!(lock.status().holder().unwrap().token, g.token());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn holder(&self) -> Option<Holder> {
        let interlock = self.status.holder.as_ref();
        match self.file_locks.iter().find(|f| !f.waiting) {
            Some(f) if interlock.is_some_and(|h| h.pid == f.pid) => interlock.cloned(),
            Some(f) => Some(f.as_holder()),
            None => interlock.cloned(),
        }
    }

    /// Whether anybody holds it: an interlock holder, or a flock(2) lock on the file.
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = tempfile::tempdir()?;
    /// let lock = interlock::FileLock::open(dir.path().join("a.lock"), 0o600)?;
    /// let _g = lock.lock()?;
    /// assert!(lock.status().is_held());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn is_held(&self) -> bool {
        self.holder().is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_locks_lines_are_read_as_the_kernel_writes_them() {
        let text = "\
1: FLOCK  ADVISORY  WRITE 26083 fe:00:10027078 0 EOF
1: -> FLOCK  ADVISORY  WRITE 26100 fe:00:10027078 0 EOF
2: POSIX  ADVISORY  WRITE 700 fe:00:10027078 0 EOF
3: FLOCK  ADVISORY  READ 800 fe:00:10027078 0 EOF
4: FLOCK  ADVISORY  WRITE 900 fe:00:10027079 0 EOF
5: FLOCK  ADVISORY  WRITE 901 fe:01:10027078 0 EOF
6: FLOCK  ADVISORY  WRITE -1 fe:00:10027078 0 EOF
7: OFDLCK ADVISORY  READ  -1 00:06:9 0 EOF
garbage
";
        assert_eq!(
            parse_proc_locks(text, 0xfe, 0, 10027078),
            [
                (26083, true, false),
                (26100, true, true),
                (800, false, false)
            ]
        );
    }

    #[test]
    fn sidecar_names_are_never_lock_names() {
        let name = sidecar_name(65024, 42);
        assert_eq!(name, ".file-65024-42.lock");
        assert!(crate::namespace::validate_name(name.trim_end_matches(".lock")).is_err());
    }
}
