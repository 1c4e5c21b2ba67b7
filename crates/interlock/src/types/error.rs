//! The error type: every variant says what was wrong and carries the evidence.

use std::fmt;
use std::path::PathBuf;

use super::{BarrierBreak, CycleMember, Holder, Kind};

/// Everything that can go wrong in interlock.
///
/// Owner death and poisoning are *not* errors: the lock was acquired and the guard says so
/// ([`LockGuard::previous_owner_died`](crate::LockGuard::previous_owner_died),
/// [`LockGuard::is_poisoned`](crate::LockGuard::is_poisoned)).
///
/// # Examples
///
/// ```
/// use interlock::{Error, Lock};
///
/// let err = Lock::open("../etc/passwd").unwrap_err();
/// assert!(matches!(err, Error::InvalidName { .. }));
/// assert!(err.to_string().contains("invalid lock name"));
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A lock name broke the naming rules.
    #[error("invalid lock name {name:?}: {reason}")]
    InvalidName {
        /// The name as given.
        name: String,
        /// Which rule it broke.
        reason: &'static str,
    },
    /// The calling thread already holds this non-recursive lock: waiting would never end.
    #[error("this thread already holds {lock}; locking it again would deadlock (use an RLock to re-enter)")]
    WouldDeadlock {
        /// The lock, as its name, path or "anonymous lock".
        lock: String,
    },
    /// A timed acquisition gave up.
    #[error("timed out after {:.2}s waiting for {lock}{}", .waited.as_secs_f64(), holder_suffix(.holder))]
    Timeout {
        /// The lock.
        lock: String,
        /// How long the caller waited.
        waited: std::time::Duration,
        /// Who held it when the wait ended, if anybody still did.
        holder: Option<Box<Holder>>,
    },
    /// A release by a thread that does not hold the lock.
    #[error("cannot release {lock}: the calling thread does not hold it{}", holder_suffix(.holder))]
    NotOwner {
        /// The lock.
        lock: String,
        /// Who holds it, if anybody does.
        holder: Option<Box<Holder>>,
    },
    /// An RLock re-entered more often than its depth counter can count.
    #[error("{lock} re-entered {depth} times: recursion depth overflow")]
    RecursionOverflow {
        /// The lock.
        lock: String,
        /// The depth reached.
        depth: u32,
    },
    /// A shared value exists with another size than the type asked for.
    #[error("{what} holds a value of {found} bytes; this type has {expected}")]
    ValueSize {
        /// The path or name.
        what: String,
        /// The size of the type asked for.
        expected: usize,
        /// The size of the value found.
        found: usize,
    },
    /// A [`Value`](crate::Value) of a type it cannot hold: one of zero bytes (nothing to share),
    /// or of more than [`MAX_VALUE_SIZE`](crate::MAX_VALUE_SIZE) bytes. Found before anything
    /// is created: no memory, no file.
    #[error(
        "a Value cannot hold {type_name}: it has {size} bytes, and a Value holds 1 to {limit} \
         bytes (interlock::MAX_VALUE_SIZE)"
    )]
    ValueTypeSize {
        /// The type asked for, as `std::any::type_name` gives it.
        type_name: &'static str,
        /// Its size in bytes.
        size: usize,
        /// The largest size a Value holds ([`MAX_VALUE_SIZE`](crate::MAX_VALUE_SIZE)).
        limit: usize,
    },
    /// A shared value's bytes are not a valid value of the type read: a `Value<bool>` holding
    /// `2`, a `Value<char>` holding a number above `char::MAX`, an enum holding no variant's
    /// discriminant — written by another program, or by a handle of another type of the same
    /// size under the same name. Checked on every read ([`CheckedBitPattern`](crate::CheckedBitPattern)),
    /// so that foreign bytes are this error, never undefined behaviour. The lock is released;
    /// [`Value::set`](crate::Value::set), which reads nothing, overwrites the bytes.
    #[error("{what} holds bytes that are not a valid {type_name}")]
    ValueBytes {
        /// The path or name.
        what: String,
        /// The type read, as `std::any::type_name` gives it.
        type_name: &'static str,
    },
    /// A new [`Value`](crate::Value) of a type whose all-zero bytes are not a valid value (an
    /// enum without a variant 0, a `NonZeroU32`) was made without an initial value: give it one
    /// ([`Options::initial`](crate::Options::initial)). Found before anything is created.
    #[error(
        "a new Value of {type_name} needs an initial value: zero bytes (the default) are not a \
         valid {type_name}"
    )]
    ValueInitial {
        /// The type asked for, as `std::any::type_name` gives it.
        type_name: &'static str,
    },
    /// Waiting for `lock` would never end: its holder waits, directly or through others, for a
    /// lock this thread holds. This waiter was chosen to give up (the others keep waiting and
    /// get their locks once this thread's guards are dropped).
    #[error("deadlock: waiting for {lock} closes a cycle: {}", cycle_text(.cycle))]
    Deadlock {
        /// The lock this thread was waiting for.
        lock: String,
        /// The threads of the cycle, from this one: each waits for a lock the next one holds.
        cycle: Vec<CycleMember>,
    },
    /// A [`LockTable`](crate::LockTable) of an impossible size, or one that exists with another
    /// size than asked for.
    #[error("{what}: {reason}")]
    TableSize {
        /// The table: its name, path, or "a lock table".
        what: String,
        /// What was wrong.
        reason: String,
    },
    /// A lock file or inherited descriptor is not a valid interlock segment.
    #[error("{what} is not a usable interlock segment: {fault}")]
    BadSegment {
        /// The path or descriptor.
        what: String,
        /// What is wrong with it.
        fault: SegmentFault,
    },
    /// A lock was opened as one kind but the segment holds another.
    #[error("{what} is {}, not {}", with_article(.found), with_article(.expected))]
    KindMismatch {
        /// The path or name.
        what: String,
        /// The kind asked for.
        expected: Kind,
        /// The kind found.
        found: Kind,
    },
    /// A path was refused for safety: a symlink, a non-regular file, another user's file, or a
    /// directory others can write.
    #[error("refusing {path}: {reason}")]
    UnsafePath {
        /// The path refused.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The namespace directory cannot be used: `INTERLOCK_DIR` is a relative path, or the
    /// directory is not a private directory of ours — another user created it first (the
    /// default's parent, `/dev/shm`, is writable by everyone), it is a symbolic link or not a
    /// directory, or group or others may use it. The message names the directory's owner and
    /// the ways out.
    ///
    /// # Examples
    ///
    /// ```
    /// use interlock::{Error, NamespaceFault};
    ///
    /// // (`Lock::open` in a process started with INTERLOCK_DIR=relative/dir)
    /// let err = Error::UnusableNamespace {
    ///     dir: "relative/dir".into(),
    ///     fault: NamespaceFault::Relative,
    /// };
    /// assert!(err.to_string().contains("must be an absolute path"));
    /// ```
    #[error("{}", namespace_text(.dir, .fault))]
    UnusableNamespace {
        /// The directory (for [`NamespaceFault::Relative`], `INTERLOCK_DIR` as given).
        dir: PathBuf,
        /// What is wrong with it.
        fault: NamespaceFault,
    },
    /// A lock could not be removed without force because it is held
    /// ([`namespace::remove_unheld`](crate::namespace::remove_unheld),
    /// [`path::remove_unheld`](crate::path::remove_unheld)).
    #[error("{lock} is in use{}: not removed", holder_suffix(.holder))]
    InUse {
        /// The lock (with `[i]` for a lock of a table).
        lock: String,
        /// Who holds it, if the record says.
        holder: Option<Box<Holder>>,
    },
    /// An environment variable name the environment cannot hold (from `pass_to`).
    #[error("invalid environment variable name {var:?}: {reason}")]
    InvalidVarName {
        /// The name as given.
        var: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// No lock by that name exists (from operations that do not create).
    #[error("no lock named {name:?} in {dir}")]
    NotFound {
        /// The name.
        name: String,
        /// The namespace directory searched.
        dir: PathBuf,
    },
    /// No lock at that path (from operations that do not create:
    /// [`path::status`](crate::path::status), [`path::remove`](crate::path::remove)): nothing
    /// is there, or the file is not an interlock lock file and this user has no interlock
    /// record of it.
    ///
    /// # Examples
    ///
    /// ```
    /// let err = interlock::path::status("/no/such/dir/job.lock").unwrap_err();
    /// assert!(matches!(err, interlock::Error::NoLockAt { .. }), "{err}");
    /// ```
    #[error("no lock at {}: {reason}", .path.display())]
    NoLockAt {
        /// The path as given.
        path: PathBuf,
        /// Why there is none.
        reason: &'static str,
    },
    /// A lock handed to a child through the environment could not be adopted.
    #[error("cannot adopt inherited lock from ${var}: {reason}")]
    Inherit {
        /// The environment variable.
        var: String,
        /// What was wrong.
        reason: String,
    },
    /// A shared resource's content could not be used (it does not parse, or an update
    /// function refused it); the resource was left unchanged.
    #[error("{path}: unusable content, left unchanged: {reason}")]
    BadContent {
        /// The resource's path.
        path: PathBuf,
        /// What was wrong.
        reason: String,
    },
    /// A [`Barrier`](crate::Barrier) is broken: a party died while others waited (`dead_pid`
    /// names it), a wait timed out, it was aborted, or it was reset while this party waited.
    /// It stays broken (every `wait` fails at once) until [`reset`](crate::Barrier::reset).
    ///
    /// # Examples
    ///
    /// ```
    /// use interlock::{BarrierBreak, Error};
    ///
    /// let barrier = interlock::Barrier::new(2)?;
    /// barrier.abort();
    /// let err = barrier.wait().unwrap_err();
    /// assert!(matches!(err, Error::BrokenBarrier { why: BarrierBreak::Abort, dead_pid: None, .. }));
    /// # Ok::<(), interlock::Error>(())
    /// ```
    #[error("{what} is broken: {why}{}", dead_pid.map(|p| format!(" (pid {p})")).unwrap_or_default())]
    BrokenBarrier {
        /// The barrier: its name, path, or "anonymous barrier".
        what: String,
        /// Why it broke.
        why: BarrierBreak,
        /// The party whose death broke it, when that is why.
        dead_pid: Option<u32>,
    },
    /// A [`Barrier`](crate::Barrier) of an impossible number of parties (0, or more than
    /// [`Barrier::MAX_PARTIES`](crate::Barrier::MAX_PARTIES)), or one that exists with another
    /// number than asked for. Found before anything is created.
    #[error("{what}: {reason}")]
    BarrierParties {
        /// The barrier: its name, path, or "a barrier".
        what: String,
        /// The parties asked for.
        parties: usize,
        /// What was wrong.
        reason: String,
    },
    /// An operating-system call failed.
    ///
    /// The message names the operation, its object and the OS error, whole: printed with
    /// `{}`, it says what went wrong. So the OS error is not also the error's
    /// [`source`](std::error::Error::source) — a chain printed whole, as `anyhow`'s `{:#}`
    /// does, would say it twice. Match the variant to inspect it (`error.kind()`).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::error::Error as _;
    ///
    /// let dir = tempfile::tempdir()?;
    /// let err = interlock::Lock::open_path(dir.path().join("nodir/x.lock"), 0o600).unwrap_err();
    /// let interlock::Error::Io { error, .. } = &err else { panic!("{err:?}") };
    /// assert_eq!(error.kind(), std::io::ErrorKind::NotFound);
    /// assert_eq!(err.to_string().matches("No such file or directory").count(), 1);
    /// assert!(err.source().is_none(), "not said a second time by the chain");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[error("{op} {what}: {error}")]
    Io {
        /// What was being done ("open", "mmap", …).
        op: &'static str,
        /// To what.
        what: String,
        /// The OS error.
        error: std::io::Error,
    },
    /// A [`Semaphore`](crate::Semaphore) of an impossible number of permits (none, or over
    /// 2^20), or one that exists with another number than asked for.
    ///
    /// # Examples
    ///
    /// ```
    /// let err = interlock::Semaphore::new(0).unwrap_err();
    /// assert!(matches!(err, interlock::Error::SemaphoreSize { .. }), "{err}");
    /// ```
    #[error("{what}: {reason}")]
    SemaphoreSize {
        /// The semaphore: its name, path, or "anonymous semaphore".
        what: String,
        /// What was wrong.
        reason: String,
    },
    // Issue 15: Condition.
    /// A [`Condition`](crate::Condition) used with a lock it is not bound to: a wait given the
    /// guard of another lock (the guard is released), a condition opened with another lock than
    /// the one it was created with, or one created without its lock.
    ///
    /// # Examples
    ///
    /// ```
    /// let (a, b) = (interlock::Lock::new()?, interlock::Lock::new()?);
    /// let cond = interlock::Condition::new(&a)?;
    /// let err = cond.wait(b.lock()?).unwrap_err();
    /// assert!(matches!(err, interlock::Error::WrongLock { .. }), "{err}");
    /// # Ok::<(), interlock::Error>(())
    /// ```
    #[error("{condition}: {reason}")]
    WrongLock {
        /// The condition: its name, path, or "anonymous condition".
        condition: String,
        /// What was wrong, naming the lock.
        reason: String,
    },
    /// An [`RwLock`](crate::RwLock) of an impossible number of reader slots (none, or over
    /// 128), or one that exists with another number than asked for.
    ///
    /// # Examples
    ///
    /// ```
    /// let err = interlock::RwLock::options().readers(0).create().unwrap_err();
    /// assert!(matches!(err, interlock::Error::RwLockReaders { .. }), "{err}");
    /// ```
    #[error("{what}: {reason}")]
    RwLockReaders {
        /// The rwlock: its name, path, or "anonymous rwlock".
        what: String,
        /// What was wrong.
        reason: String,
    },
    /// An [`RwLock`](crate::RwLock) opened with a [`RwPolicy`](crate::RwPolicy) given that
    /// exists with the other one (the policy is fixed when it is created).
    ///
    /// # Examples
    ///
    /// ```
    /// use interlock::{RwLock, RwPolicy};
    ///
    /// let dir = tempfile::tempdir()?;
    /// let path = dir.path().join("cache.rwlock");
    /// let _rw = RwLock::options().open_path(&path)?; // writer-preferring, the default
    /// let err = RwLock::options()
    ///     .policy(RwPolicy::PreferReaders)
    ///     .open_path(&path)
    ///     .unwrap_err();
    /// assert!(matches!(err, interlock::Error::RwLockPolicy { .. }), "{err}");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[error("{what}: {reason}")]
    RwLockPolicy {
        /// The rwlock: its name, path, or "anonymous rwlock".
        what: String,
        /// What was wrong: the policy it exists with, and the one asked for.
        reason: String,
    },
}

impl Error {
    pub(crate) fn io(
        op: &'static str,
        what: impl fmt::Display,
        e: impl Into<std::io::Error>,
    ) -> Error {
        Error::Io {
            op,
            what: what.to_string(),
            error: e.into(),
        }
    }
}

fn with_article(kind: &Kind) -> String {
    match kind {
        Kind::RLock => format!("an {kind}"),
        _ => format!("a {kind}"),
    }
}

fn cycle_text(cycle: &[CycleMember]) -> String {
    cycle
        .iter()
        .map(|m| {
            format!(
                "pid {} (tid {}) waits for {} held by tid {}",
                m.pid, m.tid, m.waits_for, m.held_by
            )
        })
        .collect::<Vec<_>>()
        .join("; ")
}

fn holder_suffix(holder: &Option<Box<Holder>>) -> String {
    match holder {
        Some(h) => format!(" (held by {h})"),
        None => String::new(),
    }
}

fn namespace_text(dir: &std::path::Path, fault: &NamespaceFault) -> String {
    // Removing the directory is advice only for the default namespace's own directory
    // (`interlock-EUID`, made for nothing else): a directory INTERLOCK_DIR names may be
    // anything, `/` or somebody's home included.
    let ours = dir
        .file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.starts_with("interlock-"));
    let dir = dir.display();
    let elsewhere = "set INTERLOCK_DIR to an absolute private directory of yours (mode 0700)";
    let remove = |owner: &Owner| {
        if !ours {
            String::new()
        } else if owner.uid == rustix::process::geteuid().as_raw() {
            format!("remove it (rm -r {dir}) or ")
        } else {
            format!("remove it as root (rm -r {dir}) or ")
        }
    };
    match fault {
        NamespaceFault::Relative => format!(
            "cannot use the namespace directory: INTERLOCK_DIR={:?} {fault}; {elsewhere}, or unset \
             it for the default",
            dir.to_string()
        ),
        NamespaceFault::ForeignOwner { owner, .. }
        | NamespaceFault::Symlink { owner }
        | NamespaceFault::NotADirectory { owner } => format!(
            "cannot use the namespace directory {dir}: {fault}; {}{elsewhere}",
            remove(owner)
        ),
        NamespaceFault::OpenToOthers { .. } => format!(
            "cannot use the namespace directory {dir}: {fault}; make it private (chmod 700 \
             {dir}) or {elsewhere}"
        ),
    }
}

/// Whose a file is: a uid, and its user name when the system can resolve it.
///
/// # Examples
///
/// ```
/// use interlock::Owner;
///
/// let nobody = Owner { uid: 65534, name: Some("nobody".into()) };
/// assert_eq!(nobody.to_string(), "uid 65534 (nobody)");
/// assert_eq!(Owner { uid: 4242, name: None }.to_string(), "uid 4242");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owner {
    /// The owning uid.
    pub uid: u32,
    /// The user name of `uid` (`getpwuid_r`), when it has one.
    pub name: Option<String>,
}

impl fmt::Display for Owner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "uid {}", self.uid)?;
        if let Some(name) = &self.name {
            write!(f, " ({name})")?;
        }
        Ok(())
    }
}

/// What is wrong with a namespace directory ([`Error::UnusableNamespace`]).
///
/// # Examples
///
/// ```
/// use interlock::{NamespaceFault, Owner};
///
/// let squatted = NamespaceFault::ForeignOwner {
///     owner: Owner { uid: 1002, name: Some("bob".into()) },
///     me: 1001,
/// };
/// assert_eq!(
///     squatted.to_string(),
///     "it is owned by uid 1002 (bob), not by us (uid 1001); another user may have created it \
///      first"
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum NamespaceFault {
    /// `INTERLOCK_DIR` is a relative path: it would name another directory from every working
    /// directory.
    Relative,
    /// The directory belongs to another user.
    ForeignOwner {
        /// Its owner.
        owner: Owner,
        /// Our effective uid.
        me: u32,
    },
    /// A symbolic link sits at the directory's path (it is not followed).
    Symlink {
        /// The link's owner.
        owner: Owner,
    },
    /// Something other than a directory sits at the path.
    NotADirectory {
        /// Its owner.
        owner: Owner,
    },
    /// Group or others have access to the directory.
    OpenToOthers {
        /// Its owner.
        owner: Owner,
        /// Its permission bits.
        mode: u32,
    },
}

impl fmt::Display for NamespaceFault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NamespaceFault::Relative => f.write_str(
                "is a relative path: it must be an absolute path (a relative one names another \
                 directory from each working directory)",
            ),
            NamespaceFault::ForeignOwner { owner, me } => write!(
                f,
                "it is owned by {owner}, not by us (uid {me}); another user may have created it first"
            ),
            NamespaceFault::Symlink { owner } => {
                write!(f, "it is a symbolic link, owned by {owner} (not followed)")
            }
            NamespaceFault::NotADirectory { owner } => {
                write!(f, "it is not a directory (owned by {owner})")
            }
            NamespaceFault::OpenToOthers { owner, mode } => write!(
                f,
                "it has mode {mode:o} (owned by {owner}): group or others have access; it must be \
                 0700"
            ),
        }
    }
}

/// What is wrong with a segment's bytes.
///
/// # Examples
///
/// ```
/// use interlock::SegmentFault;
///
/// let fault = SegmentFault::NewerFormat { found: 2, supported: 1 };
/// assert_eq!(fault.to_string(), "format version 2 is newer than this build supports (1)");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SegmentFault {
    /// The magic bytes are not `INTRLOCK`: some other file.
    Foreign {
        /// The first eight bytes found.
        found: [u8; 8],
    },
    /// Shorter than a segment.
    Truncated {
        /// Bytes present.
        len: u64,
        /// Bytes a segment needs.
        needed: u64,
    },
    /// Written by a newer interlock.
    NewerFormat {
        /// The version in the file.
        found: u32,
        /// The newest version this build reads.
        supported: u32,
    },
    /// Right magic, impossible contents.
    Corrupt(&'static str),
    /// A file interlock keeps for itself (the namespace's wait registry), which no handle
    /// opens.
    Internal(&'static str),
}

impl fmt::Display for SegmentFault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SegmentFault::Foreign { found } => {
                write!(
                    f,
                    "foreign file (magic {:?}, expected \"INTRLOCK\")",
                    String::from_utf8_lossy(found)
                )
            }
            SegmentFault::Truncated { len, needed } => {
                write!(f, "truncated ({len} bytes, a segment needs {needed})")
            }
            SegmentFault::NewerFormat { found, supported } => write!(
                f,
                "format version {found} is newer than this build supports ({supported})"
            ),
            SegmentFault::Corrupt(what) => write!(f, "corrupt header: {what}"),
            SegmentFault::Internal(what) => write!(f, "it is interlock's own {what}, not a lock"),
        }
    }
}

impl std::error::Error for SegmentFault {}

#[cfg(test)]
mod tests {
    use super::*;

    fn squatted(dir: &str) -> String {
        Error::UnusableNamespace {
            dir: dir.into(),
            fault: NamespaceFault::ForeignOwner {
                owner: Owner {
                    uid: 12345,
                    name: None,
                },
                me: 1000,
            },
        }
        .to_string()
    }

    /// Removing the directory is advice for the default namespace's own `interlock-EUID`
    /// only: INTERLOCK_DIR may name `/` (a helper's review of issue 12 found the error telling
    /// a user to `rm -r /`).
    #[test]
    fn only_the_default_namespace_directory_is_offered_for_removal() {
        let default = squatted("/dev/shm/interlock-1000");
        assert!(
            default.contains("remove it as root (rm -r /dev/shm/interlock-1000)"),
            "{default}"
        );
        for dir in ["/", "/home/alice", "/srv/locks"] {
            let shown = squatted(dir);
            assert!(!shown.contains("rm -r"), "{dir}: {shown}");
            assert!(
                shown.contains("set INTERLOCK_DIR to an absolute private directory"),
                "{shown}"
            );
        }
    }
}
