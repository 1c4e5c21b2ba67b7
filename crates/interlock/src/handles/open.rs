//! Layer 5: how a lock's memory is found or made — [`open_memory`], the one way for every handle:
//! an anonymous sealed memfd, a name in this user's namespace, a file at a path, or a
//! descriptor inherited from a parent — and the constructors of the typed locks of layer 4
//! (`Lock`, `RLock`, `LockTable`), written by `handle_methods!` over the one builder
//! (`handles/options.rs`). Layer 4 itself never creates a segment: it is given one.

use std::os::fd::{AsRawFd, BorrowedFd};
use std::path::Path;

use crate::handles::inherit;
use crate::handles::options::{handle_methods, Options};
use crate::locks::lock::Lock;
use crate::locks::raw::Raw;
use crate::locks::rlock::RLock;
use crate::locks::semaphore::Semaphore;
use crate::locks::table::LockTable;
use crate::shm::name::{self, Namespace};
use crate::shm::{trusted_file, Segment};
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
    /// A descriptor of a handle's memory given to this process (`Options::from_fd`).
    Descriptor(BorrowedFd<'a>),
}

impl Source<'_> {
    /// The lock as messages name it: "anonymous lock", `lock "name"`, "lock at PATH",
    /// "inherited lock ($VAR)".
    pub(crate) fn label(&self) -> String {
        match self {
            Source::Anonymous => "anonymous lock".into(),
            Source::Named(name) => format!("lock {name:?}"),
            Source::Path(path, _) => format!("lock at {}", path.display()),
            Source::Inherited(var) => format!("inherited lock (${var})"),
            Source::Descriptor(fd) => format!("lock from descriptor {}", fd.as_raw_fd()),
        }
    }
}

/// Opens the memory of a lock of `kind` from `source`, creating it (with `payload`: a Value's
/// initial bytes, a LockTable's size as [`table_payload`](crate::shm::table_payload), nothing for a lock) where the
/// source creates. A segment that exists must be of `kind` (a plain `Lock` also takes a fair
/// one); its size is the caller's to check.
pub(crate) fn open_memory(source: Source<'_>, kind: Kind, payload: &[u8]) -> Result<Raw, Error> {
    match source {
        Source::Anonymous => anonymous(kind, payload),
        Source::Named(name) => named(name, kind, payload),
        Source::Path(path, mode) => at_path(path, mode, kind, payload),
        Source::Inherited(var) => inherit::adopt(var, kind),
        Source::Descriptor(fd) => inherit::adopt_fd(fd, kind),
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
    Raw::new(seg, Source::Anonymous.label(), kind, true)
}

fn named(name: &str, kind: Kind, payload: &[u8]) -> Result<Raw, Error> {
    name::validate_name(name)?;
    let ns = Namespace::open()?;
    let seg = ns.open_or_create(name, kind, payload)?;
    // A name of another kind: the message names the file too, as every other refusal of a
    // file in the namespace does — the name alone does not say which directory it was in.
    Raw::new(seg, Source::Named(name).label(), kind, true).map_err(|e| match e {
        Error::KindMismatch {
            what,
            expected,
            found,
        } => Error::KindMismatch {
            what: format!("{what} ({})", ns.path_of(name).display()),
            expected,
            found,
        },
        e => e,
    })
}

fn at_path(path: &Path, mode: u32, kind: Kind, payload: &[u8]) -> Result<Raw, Error> {
    let seg = name::open_path(path, mode, kind, payload)?;
    let trusted = seg.fd().is_some_and(trusted_file);
    let seg = seg.close_fd(path)?;
    Raw::new(seg, Source::Path(path, mode).label(), kind, trusted)
}

handle_methods! {
    impl[] Lock;
    name: "lock";
    path: "interlock::Lock";
    example: "interlock::Lock::new()?";
    options: "interlock::Lock::options().fair(true).timestamps(true).create()?";
    create();
    record;
}

/// The fair shortcuts: fairness is a plain lock's headline option (the README's, the CLI's
/// `run --fair`), so `Lock` keeps a name for it; any other fair handle — a fair `RLock`, a fair
/// lock file, a fair lock adopted from a parent — comes from the builder.
impl Lock {
    /// A new anonymous *fair* lock: shortcut for `Lock::options().fair(true).create()` (see
    /// [`Options::fair`](crate::Options::fair) for what fair means and costs).
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
        Lock::options().fair(true).create()
    }

    /// [`Lock::open`] for a fair lock: shortcut for `Lock::options().fair(true).open(name)`;
    /// creates `name` as a fair lock if it does not exist.
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
        Lock::options().fair(true).open(name)
    }
}

handle_methods! {
    impl[] RLock;
    name: "recursive lock";
    path: "interlock::RLock";
    example: "interlock::RLock::new()?";
    options: "interlock::RLock::options().fair(true).create()?";
    create();
    record;
}

/// A table's own setting.
impl Options<LockTable> {
    /// How many locks the table holds (1 to 2^20): needed wherever the table may be created
    /// ([`create`](Options::create), [`open`](Options::open),
    /// [`open_path`](Options::open_path)); a table that exists must have this length.
    /// [`from_env`](Options::from_env) takes the table passed, whatever its length, unless one
    /// is set.
    ///
    /// # Examples
    ///
    /// ```
    /// use interlock::LockTable;
    ///
    /// let t = LockTable::options().len(100).create()?;
    /// assert_eq!(t.len(), 100);
    /// assert!(matches!(
    ///     LockTable::options().create(),
    ///     Err(interlock::Error::TableSize { .. })
    /// ));
    /// # Ok::<(), interlock::Error>(())
    /// ```
    pub fn len(mut self, n: usize) -> Options<LockTable> {
        self.config_mut().len = Some(n);
        self
    }
}

handle_methods! {
    impl[] LockTable;
    name: "lock table";
    path: "interlock::LockTable";
    example: "interlock::LockTable::new(4)?";
    options: "interlock::LockTable::options().len(4).timestamps(true).create()?";
    create(n: usize => len, "64");
}

/// A semaphore's own setting.
impl Options<Semaphore> {
    /// How many permits the semaphore has (1 to 2^20): needed wherever it may be created
    /// ([`create`](Options::create), [`open`](Options::open),
    /// [`open_path`](Options::open_path)); a semaphore that exists must have this many.
    /// [`from_env`](Options::from_env) takes the semaphore passed, whatever its permits,
    /// unless they are set.
    ///
    /// # Examples
    ///
    /// ```
    /// use interlock::Semaphore;
    ///
    /// let sem = Semaphore::options().permits(4).create()?;
    /// assert_eq!(sem.permits(), 4);
    /// assert!(matches!(
    ///     Semaphore::options().create(),
    ///     Err(interlock::Error::SemaphoreSize { .. })
    /// ));
    /// # Ok::<(), interlock::Error>(())
    /// ```
    pub fn permits(mut self, n: usize) -> Options<Semaphore> {
        self.config_mut().permits = Some(n);
        self
    }
}

handle_methods! {
    impl[] Semaphore;
    name: "semaphore";
    path: "interlock::Semaphore";
    example: "interlock::Semaphore::new(4)?";
    options: "interlock::Semaphore::options().permits(4).timestamps(true).create()?";
    create(n: usize => permits, "4");
}

// Issue 15: Event and Barrier.
handle_methods! {
    impl[] crate::locks::event::Event;
    name: "event";
    path: "interlock::Event";
    example: "interlock::Event::new()?";
    options: "interlock::Event::options().create()?";
    create();
}

handle_methods! {
    impl[] crate::locks::barrier::Barrier;
    name: "barrier";
    path: "interlock::Barrier";
    example: "interlock::Barrier::new(3)?";
    options: "interlock::Barrier::options().parties(3).create()?";
    create(parties: u32 => parties, "3");
}

/// A barrier's own setting.
impl Options<crate::locks::barrier::Barrier> {
    /// How many parties each generation waits for (1 to
    /// [`Barrier::MAX_PARTIES`](crate::Barrier::MAX_PARTIES)): needed wherever the barrier may
    /// be created ([`create`](Options::create), [`open`](Options::open),
    /// [`open_path`](Options::open_path)); a barrier that exists must have this many.
    ///
    /// # Examples
    ///
    /// ```
    /// let barrier = interlock::Barrier::options().parties(4).create()?;
    /// assert_eq!(barrier.parties(), 4);
    /// assert!(interlock::Barrier::options().parties(0).create().is_err());
    /// # Ok::<(), interlock::Error>(())
    /// ```
    pub fn parties(mut self, parties: u32) -> Options<crate::locks::barrier::Barrier> {
        self.config_mut().parties = Some(parties);
        self
    }
}

// Issue 15: Condition.
handle_methods! {
    impl[] crate::locks::condition::Condition;
    name: "condition";
    path: "interlock::Condition";
    example: "interlock::Condition::new(&interlock::Lock::new()?)?";
    options: "interlock::Condition::options().lock(&interlock::Lock::new()?).create()?";
    create(lock: &impl crate::ConditionLock => lock, "&interlock::Lock::new()?");
}

/// A condition's own setting.
impl Options<crate::locks::condition::Condition> {
    /// The lock the condition is bound to ([`Lock`] or [`RLock`]):
    /// needed wherever the condition may be created ([`create`](Options::create),
    /// [`open`](Options::open), [`open_path`](Options::open_path)); a condition that exists
    /// must be bound to this lock ([`Error::WrongLock`] otherwise).
    /// [`from_env`](Options::from_env) takes the condition passed, bound to whatever lock,
    /// unless it is set.
    ///
    /// # Examples
    ///
    /// ```
    /// use interlock::{Condition, Lock};
    ///
    /// let lock = Lock::new()?;
    /// let cond = Condition::options().lock(&lock).create()?;
    /// assert!(cond.is_bound_to(&lock));
    /// assert!(matches!(
    ///     Condition::options().create(),
    ///     Err(interlock::Error::WrongLock { .. })
    /// ));
    /// # Ok::<(), interlock::Error>(())
    /// ```
    pub fn lock(
        mut self,
        lock: &impl crate::ConditionLock,
    ) -> Options<crate::locks::condition::Condition> {
        self.config_mut().bind(lock);
        self
    }
}

// Issue 15: the reader-writer lock.
handle_methods! {
    impl[] crate::locks::rwlock::RwLock;
    name: "rwlock";
    path: "interlock::RwLock";
    example: "interlock::RwLock::new()?";
    options: "interlock::RwLock::options().readers(16).timestamps(true).create()?";
    create();
}

/// An rwlock's own setting.
impl Options<crate::locks::rwlock::RwLock> {
    /// How many reader slots the rwlock has (1 to 128; 64 by default): at most this many
    /// readers at once, the others waiting for a slot. Readers take the slot of the CPU they
    /// run on, so more slots than CPUs buy nothing. An rwlock that exists must have this many
    /// when it is set; when it is not, any number is taken.
    ///
    /// # Examples
    ///
    /// ```
    /// use interlock::RwLock;
    ///
    /// let rw = RwLock::options().readers(4).create()?;
    /// assert_eq!(rw.reader_slots(), 4);
    /// assert!(matches!(
    ///     RwLock::options().readers(0).create(),
    ///     Err(interlock::Error::RwLockReaders { .. })
    /// ));
    /// # Ok::<(), interlock::Error>(())
    /// ```
    pub fn readers(mut self, n: usize) -> Options<crate::locks::rwlock::RwLock> {
        self.config_mut().readers = Some(n);
        self
    }

    /// Which side the rwlock prefers ([`RwPolicy`](crate::RwPolicy); writers by default).
    /// Fixed when the rwlock is created: an rwlock that exists must have this policy when it
    /// is set ([`Error::RwLockPolicy`] otherwise); when it is
    /// not, either is taken. Under [`RwPolicy::PreferReaders`](crate::RwPolicy::PreferReaders)
    /// a stream of readers may starve a writer for ever.
    ///
    /// # Examples
    ///
    /// ```
    /// use interlock::{RwLock, RwPolicy};
    ///
    /// let rw = RwLock::options().policy(RwPolicy::PreferReaders).create()?;
    /// let r = rw.read()?;
    /// assert_eq!(rw.status().policy, RwPolicy::PreferReaders);
    /// # drop(r);
    /// # Ok::<(), interlock::Error>(())
    /// ```
    pub fn policy(mut self, policy: crate::RwPolicy) -> Options<crate::locks::rwlock::RwLock> {
        self.config_mut().policy = Some(policy);
        self
    }
}
