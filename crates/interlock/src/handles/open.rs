//! Layer 5: how a lock's memory is found or made — [`open_memory`], the one way for every handle:
//! an anonymous sealed memfd, a name in this user's namespace, a file at a path, or a
//! descriptor inherited from a parent — and the constructors of the typed locks (layer 4),
//! which use it: `new`, `open`, `open_path`, `from_env`, `pass_to` (and the fair variants).
//! Layer 4 itself never creates a segment: it is given one.

use std::path::Path;
use std::process::Command;

use crate::handles::inherit;
use crate::locks::lock::Lock;
use crate::locks::raw::Raw;
use crate::locks::rlock::RLock;
use crate::locks::table::LockTable;
use crate::shm::name::{self, Namespace};
use crate::shm::{table_payload, trusted_file, Segment, MAX_TABLE};
use crate::types::{Error, Kind};

/// Where a lock's memory comes from.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Source<'a> {
    /// A new anonymous segment (a sealed memfd), for this process and its children.
    Anonymous,
    /// `NAME.lock` in this user's namespace, created if missing.
    Named(&'a str),
    /// The lock file at a path, created with exactly this mode if missing.
    Path(&'a Path, u32),
    /// A descriptor handed to this program through this environment variable
    /// ([`inherit::pass`]).
    Inherited(&'a str),
}

/// Opens the memory of a lock of `kind` from `source`, creating it (with `payload`: a Value's
/// initial bytes, a LockTable's size as [`table_payload`], nothing for a lock) where the
/// source creates. A segment that exists must be of `kind` (a plain `Lock` also takes a fair
/// one); its size is the caller's to check.
pub(crate) fn open_memory(source: Source<'_>, kind: Kind, payload: &[u8]) -> Result<Raw, Error> {
    match source {
        Source::Anonymous => anonymous(kind, payload),
        Source::Named(name) => named(name, kind, payload),
        Source::Path(path, mode) => at_path(path, mode, kind, payload),
        Source::Inherited(var) => inherit::adopt(var, kind),
    }
}

fn anonymous(kind: Kind, payload: &[u8]) -> Result<Raw, Error> {
    let fd = rustix::fs::memfd_create(
        "interlock",
        rustix::fs::MemfdFlags::CLOEXEC | rustix::fs::MemfdFlags::ALLOW_SEALING,
    )
    .map_err(|e| Error::io("memfd_create", "anonymous lock", e))?;
    Segment::initialize(&fd, kind, payload)
        .map_err(|e| Error::io("initialise", "anonymous lock", e))?;
    // A sealed size means no holder of the descriptor can shrink the segment under a mapping
    // (which would turn every access into SIGBUS).
    rustix::fs::fcntl_add_seals(
        &fd,
        rustix::fs::SealFlags::SHRINK | rustix::fs::SealFlags::GROW | rustix::fs::SealFlags::SEAL,
    )
    .map_err(|e| Error::io("seal", "anonymous lock", e))?;
    let seg = Segment::map(fd, "anonymous lock")?;
    Raw::new(seg, "anonymous lock".into(), kind, true)
}

fn named(name: &str, kind: Kind, payload: &[u8]) -> Result<Raw, Error> {
    name::validate_name(name)?;
    let seg = Namespace::open()?.open_or_create(name, kind, payload)?;
    Raw::new(seg, format!("lock {name:?}"), kind, true)
}

fn at_path(path: &Path, mode: u32, kind: Kind, payload: &[u8]) -> Result<Raw, Error> {
    let seg = name::open_path(path, mode, kind, payload)?;
    let trusted = seg.fd().is_some_and(trusted_file);
    let seg = seg.close_fd(path)?;
    Raw::new(seg, format!("lock at {}", path.display()), kind, trusted)
}

/// A LockTable's size, checked before anything is created.
fn check_len(what: &str, n: usize) -> Result<u32, Error> {
    if n == 0 || n > MAX_TABLE {
        return Err(Error::TableSize {
            what: what.to_owned(),
            reason: format!("a lock table holds 1 to {MAX_TABLE} locks, not {n}"),
        });
    }
    Ok(n as u32)
}

/// How a [`Lock`] is made or found.
impl Lock {
    /// Creates an anonymous lock (a sealed `memfd`), to share with children: after `fork` they
    /// use it as is; spawned programs get it through [`Lock::pass_to`].
    ///
    /// # Errors
    ///
    /// [`Error::Io`] if the memory cannot be created or mapped.
    ///
    /// # Examples
    ///
    /// ```
    /// let lock = interlock::Lock::new()?;
    /// drop(lock.lock()?);
    /// # Ok::<(), interlock::Error>(())
    /// ```
    pub fn new() -> Result<Lock, Error> {
        open_memory(Source::Anonymous, Kind::Lock, &[]).map(|raw| Lock { raw })
    }

    /// A new anonymous *fair* lock: a release while others sleep hands the lock straight to
    /// the sleeper at the head of the kernel's futex queue (first-in, first-out), so no process
    /// starves and a process that releases and comes straight back queues behind the others —
    /// no need for the multiprocessing example's "sleep outside the lock to give others a
    /// turn". The price is throughput under contention: every hand-over waits for the sleeper to
    /// wake. Uncontended, it costs what [`Lock::new`] costs.
    ///
    /// The order is arrival order while waits are short. A waiter re-enters the queue when one
    /// of its wait slices ends (at most 100 ms; 25 ms once past the deadlock timeout), so under
    /// holds longer than that, waiters are served roughly, not strictly, in arrival order.
    ///
    /// Every handle of the lock is fair: [`Lock::open`], [`Lock::from_env`] and the others take
    /// a lock as its creator made it.
    ///
    /// # Errors
    ///
    /// As [`Lock::new`].
    ///
    /// # Examples
    ///
    /// ```
    /// let lock = interlock::Lock::new_fair()?;
    /// assert!(lock.is_fair());
    /// drop(lock.lock()?);
    /// # Ok::<(), interlock::Error>(())
    /// ```
    pub fn new_fair() -> Result<Lock, Error> {
        open_memory(Source::Anonymous, Kind::FairLock, &[]).map(|raw| Lock { raw })
    }

    /// Opens the lock called `name` in this user's namespace, creating it if it does not exist.
    /// Every process of the same user that opens the same name gets the same lock.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidName`] for a name outside `[A-Za-z0-9._-]{1,200}` or starting with `.`
    /// (a path is not a name: open a lock file with [`Lock::open_path`]);
    /// [`Error::UnsafePath`] if the namespace directory or the lock file is a symlink, another
    /// user's, or accessible to others; [`Error::BadSegment`] if the file is not a valid lock;
    /// [`Error::KindMismatch`] if `name` is an [`RLock`].
    ///
    /// # Examples
    ///
    /// ```no_run
    /// let lock = interlock::Lock::open("nightly-backup")?;
    /// let _guard = lock.lock()?;
    /// # Ok::<(), interlock::Error>(())
    /// ```
    pub fn open(name: &str) -> Result<Lock, Error> {
        open_memory(Source::Named(name), Kind::Lock, &[]).map(|raw| Lock { raw })
    }

    /// [`Lock::open`] for a fair lock (see [`Lock::new_fair`]): creates `name` as a fair lock
    /// if it does not exist.
    ///
    /// # Errors
    ///
    /// As [`Lock::open`]; [`Error::KindMismatch`] if `name` exists and is not a fair lock.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// let lock = interlock::Lock::open_fair("print-queue")?;
    /// assert!(lock.is_fair());
    /// # Ok::<(), interlock::Error>(())
    /// ```
    pub fn open_fair(name: &str) -> Result<Lock, Error> {
        open_memory(Source::Named(name), Kind::FairLock, &[]).map(|raw| Lock { raw })
    }

    /// Opens the lock file at `path`, creating it with exactly `mode` if it does not exist: the
    /// explicit way to share a lock between users (e.g. `0o660` in a group directory).
    ///
    /// The last component must not be a symlink and must be a regular file. A file that users
    /// other than us can read or write is used without the kernel's robust list (we will not
    /// put memory they control on our thread's list, nor show them our addresses); a holder's
    /// death is then found by waiters checking on it, within about 50 ms instead of at once.
    ///
    /// # Errors
    ///
    /// As [`Lock::open`], plus [`Error::Io`] when the directory is not accessible.
    ///
    /// # Examples
    ///
    /// ```
    /// let dir = tempfile::tempdir().unwrap();
    /// let lock = interlock::Lock::open_path(dir.path().join("shared.lock"), 0o600)?;
    /// drop(lock.lock()?);
    /// # Ok::<(), interlock::Error>(())
    /// ```
    pub fn open_path(path: impl AsRef<Path>, mode: u32) -> Result<Lock, Error> {
        open_memory(Source::Path(path.as_ref(), mode), Kind::Lock, &[]).map(|raw| Lock { raw })
    }

    /// Adopts a lock handed over by a parent's [`Lock::pass_to`] through environment variable
    /// `var`.
    ///
    /// # Errors
    ///
    /// [`Error::Inherit`] when `var` is missing or malformed, or its descriptor is not open or is
    /// not the file that was passed; [`Error::KindMismatch`] when an `RLock` was passed.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// // In the child program:
    /// let lock = interlock::Lock::from_env("COUNTER_LOCK")?;
    /// # Ok::<(), interlock::Error>(())
    /// ```
    pub fn from_env(var: &str) -> Result<Lock, Error> {
        open_memory(Source::Inherited(var), Kind::Lock, &[]).map(|raw| Lock { raw })
    }

    /// Hands this lock to the programs `cmd` spawns: their copy of the lock's descriptor survives
    /// `exec`, and `var` tells them where it is (read it with [`Lock::from_env`]).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidVarName`] when `var` is not a valid environment variable name.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use std::process::Command;
    ///
    /// let lock = interlock::Lock::new()?;
    /// let mut cmd = Command::new("worker");
    /// lock.pass_to(&mut cmd, "COUNTER_LOCK")?;
    /// let status = cmd.status().expect("spawn worker");
    /// # Ok::<(), interlock::Error>(())
    /// ```
    pub fn pass_to(&self, cmd: &mut Command, var: &str) -> Result<(), Error> {
        inherit::pass(&self.raw, cmd, var)
    }
}

/// How an [`RLock`] is made or found.
impl RLock {
    /// Creates an anonymous recursive lock to share with children (see [`Lock::new`](crate::Lock::new)).
    ///
    /// # Errors
    ///
    /// [`Error::Io`] if the memory cannot be created or mapped.
    ///
    /// # Examples
    ///
    /// ```
    /// let rlock = interlock::RLock::new()?;
    /// # Ok::<(), interlock::Error>(())
    /// ```
    pub fn new() -> Result<RLock, Error> {
        open_memory(Source::Anonymous, Kind::RLock, &[]).map(|raw| RLock { raw })
    }

    /// Opens (or creates) the recursive lock `name` in this user's namespace.
    ///
    /// # Errors
    ///
    /// As [`Lock::open`](crate::Lock::open); [`Error::KindMismatch`] if `name` is a `Lock`.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// let rlock = interlock::RLock::open("config-tree")?;
    /// # Ok::<(), interlock::Error>(())
    /// ```
    pub fn open(name: &str) -> Result<RLock, Error> {
        open_memory(Source::Named(name), Kind::RLock, &[]).map(|raw| RLock { raw })
    }

    /// Opens (or creates with `mode`) the recursive lock file at `path`
    /// (see [`Lock::open_path`](crate::Lock::open_path)).
    ///
    /// # Errors
    ///
    /// As [`Lock::open_path`](crate::Lock::open_path).
    ///
    /// # Examples
    ///
    /// ```
    /// let dir = tempfile::tempdir().unwrap();
    /// let rlock = interlock::RLock::open_path(dir.path().join("tree.lock"), 0o600)?;
    /// # Ok::<(), interlock::Error>(())
    /// ```
    pub fn open_path(path: impl AsRef<Path>, mode: u32) -> Result<RLock, Error> {
        open_memory(Source::Path(path.as_ref(), mode), Kind::RLock, &[]).map(|raw| RLock { raw })
    }

    /// Adopts a recursive lock handed over by [`RLock::pass_to`].
    ///
    /// # Errors
    ///
    /// As [`Lock::from_env`](crate::Lock::from_env).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// let rlock = interlock::RLock::from_env("TREE_LOCK")?;
    /// # Ok::<(), interlock::Error>(())
    /// ```
    pub fn from_env(var: &str) -> Result<RLock, Error> {
        open_memory(Source::Inherited(var), Kind::RLock, &[]).map(|raw| RLock { raw })
    }

    /// Hands this lock to the programs `cmd` spawns (see [`Lock::pass_to`](crate::Lock::pass_to)).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidVarName`] when `var` is not a valid environment variable name.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// let rlock = interlock::RLock::new()?;
    /// let mut cmd = std::process::Command::new("worker");
    /// rlock.pass_to(&mut cmd, "TREE_LOCK")?;
    /// # Ok::<(), interlock::Error>(())
    /// ```
    pub fn pass_to(&self, cmd: &mut Command, var: &str) -> Result<(), Error> {
        inherit::pass(&self.raw, cmd, var)
    }
}

/// How a [`LockTable`] is made or found.
impl LockTable {
    /// An anonymous table of `n` locks, for this process and its children.
    ///
    /// # Errors
    ///
    /// [`Error::TableSize`] unless `1 <= n <= 2^20`; [`Error::Io`] if the memory cannot be
    /// created or mapped.
    ///
    /// # Examples
    ///
    /// ```
    /// let t = interlock::LockTable::new(4)?;
    /// assert_eq!(t.len(), 4);
    /// # Ok::<(), interlock::Error>(())
    /// ```
    pub fn new(n: usize) -> Result<LockTable, Error> {
        let n = check_len("a lock table", n)?;
        LockTable::from_raw(
            open_memory(Source::Anonymous, Kind::LockTable, &table_payload(n))?,
            None,
        )
    }

    /// Opens the table called `name` in this user's namespace, creating it with `n` locks if
    /// it does not exist.
    ///
    /// # Errors
    ///
    /// As [`Lock::open`]; [`Error::TableSize`] if `n` is out of range or the table exists with
    /// another size; [`Error::KindMismatch`] if `name` is not a table.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// let shards = interlock::LockTable::open("shards", 64)?;
    /// let _g = shards[7].lock()?;
    /// # Ok::<(), interlock::Error>(())
    /// ```
    pub fn open(name: &str, n: usize) -> Result<LockTable, Error> {
        let n32 = check_len(name, n)?;
        LockTable::from_raw(
            open_memory(Source::Named(name), Kind::LockTable, &table_payload(n32))?,
            Some(n),
        )
    }

    /// Opens the table file at `path`, creating it with `n` locks and exactly `mode` if it
    /// does not exist (see [`Lock::open_path`]).
    ///
    /// # Errors
    ///
    /// As [`LockTable::open`].
    ///
    /// # Examples
    ///
    /// ```
    /// let dir = tempfile::tempdir().unwrap();
    /// let t = interlock::LockTable::open_path(dir.path().join("rows.locks"), 0o600, 100)?;
    /// assert_eq!(t.len(), 100);
    /// # Ok::<(), interlock::Error>(())
    /// ```
    pub fn open_path(path: impl AsRef<Path>, mode: u32, n: usize) -> Result<LockTable, Error> {
        let path = path.as_ref();
        let n32 = check_len(&path.display().to_string(), n)?;
        LockTable::from_raw(
            open_memory(
                Source::Path(path, mode),
                Kind::LockTable,
                &table_payload(n32),
            )?,
            Some(n),
        )
    }

    /// Adopts a table handed over by a parent's [`LockTable::pass_to`].
    ///
    /// # Errors
    ///
    /// As [`Lock::from_env`].
    ///
    /// # Examples
    ///
    /// ```no_run
    /// let t = interlock::LockTable::from_env("MY_TABLE")?;
    /// # Ok::<(), interlock::Error>(())
    /// ```
    pub fn from_env(var: &str) -> Result<LockTable, Error> {
        LockTable::from_raw(
            open_memory(Source::Inherited(var), Kind::LockTable, &[])?,
            None,
        )
    }

    /// Hands the table to the program `cmd` will run, through environment variable `var`
    /// (see [`Lock::pass_to`]).
    ///
    /// # Errors
    ///
    /// As [`Lock::pass_to`].
    ///
    /// # Examples
    ///
    /// ```
    /// let t = interlock::LockTable::new(8)?;
    /// let mut cmd = std::process::Command::new("true");
    /// t.pass_to(&mut cmd, "MY_TABLE")?;
    /// # Ok::<(), interlock::Error>(())
    /// ```
    pub fn pass_to(&self, cmd: &mut Command, var: &str) -> Result<(), Error> {
        inherit::pass(&self[0].raw, cmd, var)
    }
}
