//! Layer 3: lock names, the per-user namespace directory, and opening lock files safely.
//!
//! Rules:
//! - a name is 1 to [`MAX_NAME_LEN`] characters of `[A-Za-z0-9._-]`, not starting with `.`;
//! - the namespace directory is `$INTERLOCK_DIR` when set (it must be an absolute path), else
//!   `/dev/shm/interlock-EUID`, or `/tmp/interlock-EUID` on a system without `/dev/shm`;
//! - it must be a real directory (not a symlink) owned by the caller's effective uid with no
//!   permissions for group or others, and is created 0700 when missing; anything else there
//!   (another user's directory, a symlink, a file, a directory open to others) is refused with
//!   [`Error::UnusableNamespace`], which names its owner and the ways out;
//! - lock files in it are `NAME.lock`, regular files owned by the caller, mode 0600, opened with
//!   `O_NOFOLLOW`; anything else at that path is refused, never overwritten;
//! - a new lock file is written under a temporary name and renamed into place without
//!   replacing, so no process ever sees a half-initialised lock.
//!
//! # Why the effective uid alone (decision 0013)
//!
//! Two processes of one user must meet in one directory whatever kind of session started them,
//! or each "holds" the same name at once. `XDG_RUNTIME_DIR` (which an earlier version
//! preferred) is set by pam_systemd for login sessions only: cron jobs, systemd services,
//! `sudo -u`, `su` without `-l` and ssh without pam_systemd lack it or carry another user's
//! value, and systemd removes `/run/user/UID` when the user's last session ends — under a cron
//! job that is still running. The current directory, `TMPDIR` and the like vary by session just
//! the same. So the default is computed from the effective uid and nothing else;
//! `INTERLOCK_DIR` remains for callers that choose a directory explicitly (they must set it the
//! same way for every process that shares the locks, and absolute, so that the working
//! directory cannot change it).
//!
//! `/dev/shm` is tmpfs on every Linux with glibc's POSIX shared memory: lock files cost no disk
//! I/O and vanish at reboot with the processes that used them. Where it is missing (some
//! minimal containers and chroots), the fallback is the fixed `/tmp` — never `TMPDIR`, which is
//! a per-session setting. Both are world-writable and sticky, so another user can create our
//! directory first (a squat): that is refused with the owner's uid and name, never used.
//!
//! A limit that remains: systemd-logind's `RemoveIPC=yes` (its default) deletes a regular
//! user's files in `/dev/shm`, this directory included, when the user's last login session
//! ends; a process outside the session (a cron job) that still holds a lock keeps the old file
//! while later openers create a new one. Root and system users are exempt; `loginctl
//! enable-linger`, `RemoveIPC=no` or an `INTERLOCK_DIR` nothing cleans avoid it (decision 0013).

use std::ffi::OsStr;
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use rustix::fs::{
    fstat, mkdirat, openat, renameat_with, unlinkat, AtFlags, FileType, Mode, OFlags, RenameFlags,
    CWD,
};
use rustix::io::Errno;

use super::{Content, Segment, MAGIC};
use crate::sys;
use crate::types::{Error, Kind, NamespaceFault, Owner};

/// The longest lock name accepted, in bytes.
///
/// # Examples
///
/// ```
/// use interlock::namespace::{validate_name, MAX_NAME_LEN};
///
/// assert!(validate_name(&"n".repeat(MAX_NAME_LEN)).is_ok());
/// assert!(validate_name(&"n".repeat(MAX_NAME_LEN + 1)).is_err());
/// ```
pub const MAX_NAME_LEN: usize = 200;
const SUFFIX: &str = ".lock";

/// Checks a lock name against the rules, naming the rule it breaks.
///
/// # Errors
///
/// [`Error::InvalidName`] with the reason.
///
/// # Examples
///
/// ```
/// use interlock::namespace::validate_name;
///
/// assert!(validate_name("nightly-backup_v2.db").is_ok());
/// for bad in ["", "a/b", "..", ".hidden", "nul\0byte", "space here"] {
///     assert!(validate_name(bad).is_err(), "{bad:?}");
/// }
/// ```
pub fn validate_name(name: &str) -> Result<(), Error> {
    let bad = |reason| {
        Err(Error::InvalidName {
            name: name.to_owned(),
            reason,
        })
    };
    if name.is_empty() {
        return bad("empty");
    }
    if name.len() > MAX_NAME_LEN {
        return bad("longer than 200 bytes");
    }
    if name.starts_with('.') {
        return bad("starts with '.' (hidden, or a path component like '..')");
    }
    if name.contains('/') {
        return bad("contains '/': a name is not a path");
    }
    if name.contains('\0') {
        return bad("contains a NUL byte");
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
    {
        return bad("may only contain A-Z a-z 0-9 . _ -");
    }
    Ok(())
}

/// The namespace directory for this user, opened and checked.
#[derive(Debug)]
pub(crate) struct Namespace {
    pub(crate) dir: PathBuf,
    dirfd: OwnedFd,
}

/// Where this user's named locks live: `$INTERLOCK_DIR` when set, else
/// `/dev/shm/interlock-EUID` (`/tmp/interlock-EUID` without `/dev/shm`), from the effective uid
/// alone — the same for a login shell, a cron job, a systemd service or `sudo -u`. Does not
/// create or check anything (see [`Lock::open`](crate::Lock::open) for the checks).
///
/// # Errors
///
/// [`Error::UnusableNamespace`] with [`NamespaceFault::Relative`] when `INTERLOCK_DIR` is a
/// relative path.
///
/// # Examples
///
/// ```
/// let dir = interlock::namespace::dir()?;
/// assert!(dir.is_absolute());
/// # Ok::<(), interlock::Error>(())
/// ```
pub fn namespace_dir() -> Result<PathBuf, Error> {
    if let Some(dir) = std::env::var_os(DIR_VAR).filter(|d| !d.is_empty()) {
        let dir = PathBuf::from(dir);
        if !dir.is_absolute() {
            return Err(Error::UnusableNamespace {
                dir,
                fault: NamespaceFault::Relative,
            });
        }
        return Ok(dir);
    }
    let base = if Path::new("/dev/shm").is_dir() {
        "/dev/shm"
    } else {
        "/tmp"
    };
    Ok(PathBuf::from(format!(
        "{base}/interlock-{}",
        rustix::process::geteuid().as_raw()
    )))
}

/// The variable that chooses the namespace directory explicitly.
const DIR_VAR: &str = "INTERLOCK_DIR";

impl Namespace {
    /// Opens (creating 0700 if missing) and checks the namespace directory.
    pub(crate) fn open() -> Result<Namespace, Error> {
        let dir = namespace_dir()?;
        match mkdirat(CWD, &dir, Mode::from_raw_mode(0o700)) {
            Ok(()) | Err(Errno::EXIST) => {}
            Err(e) => return Err(Error::io("create namespace directory", dir.display(), e)),
        }
        // O_PATH looks at the entry itself — its type, owner and mode — without following a
        // symlink and without needing permission to read it: another user's 0700 directory
        // is then reported by owner, not as "Permission denied".
        let entry = openat(
            CWD,
            &dir,
            OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| Error::io("open namespace directory", dir.display(), e))?;
        let st = fstat(&entry).map_err(|e| Error::io("fstat", dir.display(), e))?;
        let me = rustix::process::geteuid().as_raw();
        let fault = match FileType::from_raw_mode(st.st_mode) {
            FileType::Directory if st.st_uid != me => Some(NamespaceFault::ForeignOwner {
                owner: owner(st.st_uid),
                me,
            }),
            FileType::Directory if st.st_mode & 0o077 != 0 => Some(NamespaceFault::OpenToOthers {
                owner: owner(st.st_uid),
                mode: st.st_mode & 0o7777,
            }),
            FileType::Directory => None,
            FileType::Symlink => Some(NamespaceFault::Symlink {
                owner: owner(st.st_uid),
            }),
            _ => Some(NamespaceFault::NotADirectory {
                owner: owner(st.st_uid),
            }),
        };
        if let Some(fault) = fault {
            return Err(Error::UnusableNamespace { dir, fault });
        }
        // The checked inode itself, now opened for reading: no path lookup in between.
        let dirfd = openat(
            &entry,
            ".",
            OFlags::DIRECTORY | OFlags::CLOEXEC | OFlags::RDONLY,
            Mode::empty(),
        )
        .map_err(|e| Error::io("open namespace directory", dir.display(), e))?;
        Ok(Namespace { dir, dirfd })
    }

    fn file_name(name: &str) -> String {
        format!("{name}{SUFFIX}")
    }

    pub(crate) fn path_of(&self, name: &str) -> PathBuf {
        self.dir.join(Self::file_name(name))
    }

    /// Opens the lock file for `name`, creating it as `kind` if it does not exist.
    pub(crate) fn open_or_create(
        &self,
        name: &str,
        kind: Kind,
        payload: &[u8],
    ) -> Result<Segment, Error> {
        validate_name(name)?;
        self.open_or_create_file(&Self::file_name(name), kind, payload)
    }

    /// [`Namespace::open_or_create`] for a file name of interlock's own (not a lock name).
    pub(crate) fn open_or_create_file(
        &self,
        file: &str,
        content: impl Into<Content>,
        payload: &[u8],
    ) -> Result<Segment, Error> {
        let content = content.into();
        let file = file.to_owned();
        let path = self.dir.join(&file);
        loop {
            match self.open_existing_file(&file, &path) {
                Ok(fd) => return Segment::map(fd, &path.display().to_string())?.close_fd(&path),
                Err(OpenFault::Missing) => {}
                Err(OpenFault::Error(e)) => return Err(e),
            }
            match create_then_publish(&self.dirfd, &path, &file, 0o600, content, payload)? {
                Some(fd) => return Segment::map(fd, &path.display().to_string())?.close_fd(&path),
                // Somebody else published first: open theirs.
                None => continue,
            }
        }
    }

    /// Opens the lock file for `name`, which must exist.
    pub(crate) fn open_existing(&self, name: &str) -> Result<Segment, Error> {
        validate_name(name)?;
        let path = self.path_of(name);
        match self.open_existing_file(&Self::file_name(name), &path) {
            Ok(fd) => Segment::map(fd, &path.display().to_string())?.close_fd(&path),
            Err(OpenFault::Missing) => Err(Error::NotFound {
                name: name.to_owned(),
                dir: self.dir.clone(),
            }),
            Err(OpenFault::Error(e)) => Err(e),
        }
    }

    fn open_existing_file(&self, file: &str, path: &Path) -> Result<OwnedFd, OpenFault> {
        let fd = match openat(&self.dirfd, file, OPEN_FLAGS, Mode::empty()) {
            Ok(fd) => fd,
            Err(Errno::NOENT) => return Err(OpenFault::Missing),
            Err(Errno::ISDIR) => return Err(OpenFault::Error(not_regular(path))),
            Err(Errno::LOOP) => {
                return Err(OpenFault::Error(Error::UnsafePath {
                    path: path.to_owned(),
                    reason: "it is a symbolic link".into(),
                }))
            }
            Err(e) => return Err(OpenFault::Error(Error::io("open", path.display(), e))),
        };
        check_private_file(&fd, path).map_err(OpenFault::Error)?;
        Ok(fd)
    }

    /// Unlinks the lock file for `name`. Processes that have it open keep using the old lock;
    /// the next `open` creates a new one.
    pub(crate) fn remove(&self, name: &str) -> Result<(), Error> {
        validate_name(name)?;
        let path = self.path_of(name);
        // Refuse to unlink something that is not ours (unlinkat does not follow symlinks, but a
        // foreign file in our 0700 directory is a sign of trouble worth reporting).
        match self.open_existing_file(&Self::file_name(name), &path) {
            Ok(_) => {}
            Err(OpenFault::Missing) => {
                return Err(Error::NotFound {
                    name: name.to_owned(),
                    dir: self.dir.clone(),
                })
            }
            Err(OpenFault::Error(e)) => return Err(e),
        }
        self.unlink(name)
    }

    /// The device and inode that `NAME.lock` names now (without following a symlink), or
    /// `None` when nothing is there.
    pub(crate) fn identity_of(&self, name: &str) -> Result<Option<(u64, u64)>, Error> {
        self.identity_of_file(&Self::file_name(name))
    }

    /// [`Namespace::identity_of`] for a file name of interlock's own (not a lock name).
    pub(crate) fn identity_of_file(&self, file: &str) -> Result<Option<(u64, u64)>, Error> {
        match rustix::fs::statat(&self.dirfd, file, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(st) => Ok(Some((st.st_dev, st.st_ino))),
            Err(Errno::NOENT) => Ok(None),
            Err(e) => Err(Error::io("stat", self.dir.join(file).display(), e)),
        }
    }

    /// Unlinks `NAME.lock`, whatever it is (the caller has checked it).
    pub(crate) fn unlink(&self, name: &str) -> Result<(), Error> {
        self.unlink_file(&Self::file_name(name))
    }

    /// [`Namespace::unlink`] for a file name of interlock's own (not a lock name).
    pub(crate) fn unlink_file(&self, file: &str) -> Result<(), Error> {
        unlinkat(&self.dirfd, file, AtFlags::empty())
            .map_err(|e| Error::io("remove", self.dir.join(file).display(), e))
    }

    /// The segment in file `file` (a file name of interlock's own), checked as a lock file of
    /// the namespace is, or `None` when there is none; never creates it.
    pub(crate) fn find_file(&self, file: &str) -> Result<Option<Segment>, Error> {
        let path = self.dir.join(file);
        match self.open_existing_file(file, &path) {
            Ok(fd) => Ok(Some(
                Segment::map(fd, &path.display().to_string())?.close_fd(&path)?,
            )),
            Err(OpenFault::Missing) => Ok(None),
            Err(OpenFault::Error(e)) => Err(e),
        }
    }

    /// The name of the named lock whose file is `dev`/`ino`, if it is one of this namespace's.
    pub(crate) fn name_of(&self, dev: u64, ino: u64) -> Option<String> {
        use std::os::unix::fs::MetadataExt;
        self.names().ok()?.into_iter().find(|name| {
            std::fs::symlink_metadata(self.path_of(name))
                .is_ok_and(|m| m.dev() == dev && m.ino() == ino)
        })
    }

    /// Names of the lock files in the namespace, sorted.
    pub(crate) fn names(&self) -> Result<Vec<String>, Error> {
        let entries =
            std::fs::read_dir(&self.dir).map_err(|e| Error::io("list", self.dir.display(), e))?;
        let mut names: Vec<String> = entries
            .filter_map(|e| e.ok())
            .filter_map(|e| {
                let file = e.file_name();
                let name = file.to_str()?.strip_suffix(SUFFIX)?.to_owned();
                validate_name(&name).ok().map(|_| name)
            })
            .collect();
        names.sort();
        Ok(names)
    }
}

/// The owner `uid`, with its user name when the system has one: for messages.
fn owner(uid: u32) -> Owner {
    Owner {
        uid,
        name: sys::user_name(uid),
    }
}

enum OpenFault {
    Missing,
    Error(Error),
}

/// A lock file in the private namespace must be a regular file, ours, and private.
fn check_private_file(fd: &OwnedFd, path: &Path) -> Result<(), Error> {
    check_regular(fd, path)?;
    let st = fstat(fd).map_err(|e| Error::io("fstat", path.display(), e))?;
    let me = rustix::process::geteuid().as_raw();
    if st.st_uid != me {
        return Err(Error::UnsafePath {
            path: path.to_owned(),
            reason: format!("owned by uid {}, not by us (uid {me})", st.st_uid),
        });
    }
    if st.st_mode & 0o077 != 0 {
        return Err(Error::UnsafePath {
            path: path.to_owned(),
            reason: format!(
                "mode {:o} gives group or others access; a private lock must be 0600",
                st.st_mode & 0o7777
            ),
        });
    }
    Ok(())
}

fn check_regular(fd: &OwnedFd, path: &Path) -> Result<(), Error> {
    let st = fstat(fd).map_err(|e| Error::io("fstat", path.display(), e))?;
    if FileType::from_raw_mode(st.st_mode) != FileType::RegularFile {
        return Err(not_regular(path));
    }
    Ok(())
}

fn not_regular(path: &Path) -> Error {
    Error::UnsafePath {
        path: path.to_owned(),
        reason: "not a regular file".into(),
    }
}

/// How an existing lock file is opened: never through a symlink, never kept across `exec`, and
/// without blocking if something other than a regular file (a FIFO, a device) sits there — it is
/// refused right after by `check_regular`.
const OPEN_FLAGS: OFlags = OFlags::RDWR
    .union(OFlags::NOFOLLOW)
    .union(OFlags::CLOEXEC)
    .union(OFlags::NONBLOCK);

/// Writes a complete segment under a temporary name in `dirfd`, then renames it to `file`
/// without replacing anything. Returns `None` if `file` appeared meanwhile. Errors name `shown`,
/// the path the caller asked for: the temporary file is ours, not theirs.
///
/// The temporary name is short and fixed in length (`.interlock-PID-N.tmp`), so that any `file`
/// the file system accepts can be created this way.
fn create_then_publish(
    dirfd: &OwnedFd,
    shown: &Path,
    file: &str,
    mode: u32,
    content: Content,
    payload: &[u8],
) -> Result<Option<OwnedFd>, Error> {
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let tmp = format!(".interlock-{}-{n}.tmp", std::process::id());
    let fd = openat(
        dirfd,
        tmp.as_str(),
        OFlags::RDWR | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::from_raw_mode(mode),
    )
    .map_err(|e| Error::io("create", shown.display(), e))?;
    let result = (|| {
        // The umask may have narrowed the mode; an explicit mode is what the caller asked for.
        rustix::fs::fchmod(&fd, Mode::from_raw_mode(mode))
            .map_err(|e| Error::io("chmod", shown.display(), e))?;
        Segment::initialize(&fd, content, payload)
            .map_err(|e| Error::io("initialise", shown.display(), e))?;
        match renameat_with(dirfd, tmp.as_str(), dirfd, file, RenameFlags::NOREPLACE) {
            Ok(()) => Ok(Some(())),
            Err(Errno::EXIST) => Ok(None),
            Err(e) => Err(Error::io("publish", shown.display(), e)),
        }
    })();
    match result {
        Ok(Some(())) => Ok(Some(fd)),
        other => {
            let _ = unlinkat(dirfd, tmp.as_str(), AtFlags::empty());
            other.map(|_| None)
        }
    }
}

/// Opens (creating with exactly `mode` if missing) a lock file at an explicit path, for sharing
/// between users. The last component must not be a symlink and must be a regular file; unlike
/// the private namespace, other owners and modes are accepted, since sharing is the point.
pub(crate) fn open_path(
    path: &Path,
    mode: u32,
    kind: Kind,
    payload: &[u8],
) -> Result<Segment, Error> {
    let what = path.display().to_string();
    let (dirfd, file) = parent_of(path)?;
    let file = file_str(&file, path)?;
    loop {
        match openat(&dirfd, file, OPEN_FLAGS, Mode::empty()) {
            Ok(fd) => {
                check_regular(&fd, path)?;
                return Segment::map(fd, &what);
            }
            Err(Errno::ISDIR) => return Err(not_regular(path)),
            Err(Errno::LOOP) => {
                return Err(Error::UnsafePath {
                    path: path.to_owned(),
                    reason: "it is a symbolic link".into(),
                })
            }
            Err(Errno::NOENT) => {}
            Err(e) => return Err(Error::io("open", &what, e)),
        }
        if let Some(fd) =
            create_then_publish(&dirfd, path, file, mode & 0o7777, kind.into(), payload)?
        {
            return Segment::map(fd, &what);
        }
    }
}

/// The directory holding `path`'s last component, opened, and that component.
fn parent_of(path: &Path) -> Result<(OwnedFd, std::ffi::OsString), Error> {
    let file = path.file_name().ok_or_else(|| Error::UnsafePath {
        path: path.to_owned(),
        reason: "the path has no file name".into(),
    })?;
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let dirfd = openat(
        CWD,
        parent,
        OFlags::DIRECTORY | OFlags::CLOEXEC | OFlags::RDONLY,
        Mode::empty(),
    )
    .map_err(|e| Error::io("open directory", parent.display(), e))?;
    Ok((dirfd, file.to_owned()))
}

/// What [`open_any`] found at a path.
pub(crate) enum AtPath {
    /// An interlock segment (created just now if nothing was there), mapped, with its
    /// descriptor still open.
    Segment(Segment),
    /// Any other regular file, or a directory: opened read-only, never mapped, never written.
    Other(OwnedFd),
}

/// How [`open_any`] first looks at a path: read-only (so a data file is never even opened for
/// writing), never through a symlink, never kept across `exec`, without blocking on a FIFO and
/// without making a terminal our controlling one.
const PEEK_FLAGS: OFlags = OFlags::RDONLY
    .union(OFlags::NOFOLLOW)
    .union(OFlags::CLOEXEC)
    .union(OFlags::NONBLOCK)
    .union(OFlags::NOCTTY);

/// Opens whatever is at `path` for a [`FileLock`](crate::FileLock): an interlock segment
/// (one that starts with interlock's magic; reopened read-write and mapped), any other regular
/// file or a directory (read-only, untouched), or — when nothing is there and `create` gives a
/// mode — a new segment of `kind` created with exactly that mode, as [`open_path`] does.
/// Symlinks (the last component), FIFOs, devices and sockets are refused.
pub(crate) fn open_any(path: &Path, create: Option<u32>, kind: Kind) -> Result<AtPath, Error> {
    let what = path.display().to_string();
    let (dirfd, file) = match parent_of(path) {
        Err(Error::Io { error, .. })
            if create.is_none() && error.kind() == std::io::ErrorKind::NotFound =>
        {
            return Err(Error::NoLockAt {
                path: path.to_owned(),
                reason: "no such directory",
            })
        }
        other => other?,
    };
    let file = file_str(&file, path)?;
    let symlink = || Error::UnsafePath {
        path: path.to_owned(),
        reason: "it is a symbolic link".into(),
    };
    loop {
        match openat(&dirfd, file, PEEK_FLAGS, Mode::empty()) {
            Ok(fd) => {
                let st = fstat(&fd).map_err(|e| Error::io("fstat", &what, e))?;
                match FileType::from_raw_mode(st.st_mode) {
                    FileType::Directory => return Ok(AtPath::Other(fd)),
                    FileType::RegularFile => {}
                    _ => {
                        return Err(Error::UnsafePath {
                            path: path.to_owned(),
                            reason: "not a regular file or a directory".into(),
                        })
                    }
                }
                let mut magic = [0u8; 8];
                let n = rustix::io::pread(&fd, &mut magic, 0)
                    .map_err(|e| Error::io("read", &what, e))?;
                if n < magic.len() || magic != MAGIC {
                    return Ok(AtPath::Other(fd));
                }
                // Ours: reopened for writing, and still the same file (not replaced meanwhile).
                let rw = match openat(&dirfd, file, OPEN_FLAGS, Mode::empty()) {
                    Ok(rw) => rw,
                    Err(Errno::NOENT) => continue,
                    Err(Errno::LOOP) => return Err(symlink()),
                    Err(e) => return Err(Error::io("open", &what, e)),
                };
                let now = fstat(&rw).map_err(|e| Error::io("fstat", &what, e))?;
                if (now.st_dev, now.st_ino) != (st.st_dev, st.st_ino) {
                    continue;
                }
                return Segment::map(rw, &what).map(AtPath::Segment);
            }
            Err(Errno::LOOP) => return Err(symlink()),
            Err(Errno::NOENT) => {}
            Err(e) => return Err(Error::io("open", &what, e)),
        }
        let Some(mode) = create else {
            return Err(Error::NoLockAt {
                path: path.to_owned(),
                reason: "no such file",
            });
        };
        if let Some(fd) = create_then_publish(&dirfd, path, file, mode & 0o7777, kind.into(), &[])?
        {
            return Segment::map(fd, &what).map(AtPath::Segment);
        }
    }
}

/// Unlinks `path` if it still names the file `identity` (device, inode), without following a
/// symlink; false (nothing removed) if it names another file or nothing.
pub(crate) fn unlink_if_same(path: &Path, identity: (u64, u64)) -> Result<bool, Error> {
    let (dirfd, file) = parent_of(path)?;
    match rustix::fs::statat(&dirfd, &file, AtFlags::SYMLINK_NOFOLLOW) {
        Ok(st) if (st.st_dev, st.st_ino) == identity => {}
        Ok(_) | Err(Errno::NOENT) => return Ok(false),
        Err(e) => return Err(Error::io("stat", path.display(), e)),
    }
    unlinkat(&dirfd, &file, AtFlags::empty())
        .map_err(|e| Error::io("remove", path.display(), e))?;
    Ok(true)
}

fn file_str<'a>(file: &'a OsStr, path: &Path) -> Result<&'a str, Error> {
    std::str::from_utf8(file.as_bytes()).map_err(|_| Error::UnsafePath {
        path: path.to_owned(),
        reason: "the file name is not UTF-8".into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_bad_name_gets_its_own_reason() {
        let long = "x".repeat(300);
        let cases = [
            ("", "empty"),
            ("a/b", "'/'"),
            ("..", "starts with '.'"),
            (".hidden", "starts with '.'"),
            ("a\0b", "NUL"),
            (long.as_str(), "longer than 200"),
            ("tab\there", "may only contain"),
            ("ünïcode", "may only contain"),
        ];
        for (name, want) in cases {
            match validate_name(name) {
                Err(Error::InvalidName { reason, .. }) => {
                    assert!(reason.contains(want), "{name:?}: {reason}")
                }
                other => panic!("{name:?} gave {other:?}"),
            }
        }
        assert!(validate_name(&"y".repeat(MAX_NAME_LEN)).is_ok());
        assert!(
            validate_name("a..b").is_ok(),
            "dots inside a name are harmless without '/'"
        );
    }
}
