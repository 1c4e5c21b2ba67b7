//! Layer 5: the one builder for every handle — [`Options`], std's `OpenOptions` for interlock's
//! primitives — over the one way memory is found or made ([`open_memory`]), and
//! `handle_methods!`, which gives each primitive its shortcuts (`new`, `open`, `open_path`,
//! `from_env`), `pass_to` and the methods every lock record has (`status`, poison,
//! timestamps), written once. A primitive supplies what is its own through
//! [`Open`] (layer 4, in its own file).

use std::fmt;
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;
use std::process::Command;

use crate::handles::inherit;
use crate::handles::open::{open_memory, Source};
use crate::locks::primitive::{LockConfig, Open, Primitive};
use crate::locks::raw::Raw;
use crate::types::{Error, LockStatus};

/// How to make or find a handle — a [`Lock`](crate::Lock), [`RLock`](crate::RLock),
/// [`LockTable`](crate::LockTable) or [`Value`](crate::Value): std's `OpenOptions` for
/// interlock's primitives. Get one from the handle type (`Lock::options()`), set what differs
/// from the defaults, then make or find the handle with [`create`](Options::create) (anonymous,
/// for this process and its children), [`open`](Options::open) (a name in this user's
/// namespace), [`open_path`](Options::open_path) (a lock file at a path) or
/// [`from_env`](Options::from_env) (handed over by a parent's `pass_to`) or
/// [`from_fd`](Options::from_fd) (a descriptor of one, from `try_clone_fd`).
///
/// The settings every handle has are [`timestamps`](Options::timestamps) and
/// [`mode`](Options::mode); a lock's [`fair`](Options::fair), a table's
/// [`len`](Options::len) and a value's [`initial`](Options::initial) are its own. The handle
/// types keep shortcuts for the defaults: `Lock::new()` is `Lock::options().create()`,
/// `Lock::open(name)` is `Lock::options().open(name)`, `Lock::open_path(path, mode)` is
/// `Lock::options().mode(mode).open_path(path)`.
///
/// # Examples
///
/// ```
/// use interlock::{Lock, LockTable, RLock, Value};
///
/// let dir = tempfile::tempdir().unwrap();
/// let lock = Lock::options()
///     .fair(true)
///     .timestamps(true)
///     .mode(0o660)
///     .open_path(dir.path().join("queue.lock"))?;
/// assert!(lock.is_fair());
///
/// let rlock = RLock::options().fair(true).create()?;
/// let rows = LockTable::options().len(64).create()?;
/// let hits = Value::options().initial(7u64).create()?;
/// assert_eq!((rlock.is_fair(), rows.len(), hits.get()?), (true, 64, 7));
/// # Ok::<(), interlock::Error>(())
/// ```
#[must_use = "options make nothing until create, open, open_path, from_env or from_fd"]
pub struct Options<P: Primitive> {
    config: P::Config,
    timestamps: bool,
    mode: u32,
}

impl<P: Primitive> Options<P> {
    /// Every setting at its default: not fair, no timestamps, mode `0o600`, and the handle's
    /// own defaults.
    pub(crate) fn new() -> Options<P> {
        Options {
            config: P::Config::default(),
            timestamps: false,
            mode: 0o600,
        }
    }

    /// This primitive's own settings, for the setters that are its own (in its file).
    pub(crate) fn config_mut(&mut self) -> &mut P::Config {
        &mut self.config
    }

    /// Whether acquisitions through the handle record when they happened
    /// ([`Holder::since`](crate::Holder::since)); off by default. See `set_timestamps` on
    /// each handle ([`Lock::set_timestamps`](crate::Lock::set_timestamps)), which changes it
    /// later.
    ///
    /// # Examples
    ///
    /// ```
    /// let lock = interlock::Lock::options().timestamps(true).create()?;
    /// let _held = lock.lock()?;
    /// assert!(lock.status().holder.unwrap().since.is_some());
    /// # Ok::<(), interlock::Error>(())
    /// ```
    pub fn timestamps(mut self, on: bool) -> Options<P> {
        self.timestamps = on;
        self
    }

    /// The permission bits [`open_path`](Options::open_path) creates a missing lock file with
    /// (exactly these: the umask does not narrow them); `0o600` by default. `0o660` in a group
    /// directory shares the lock with the group — see [`open_path`](Options::open_path) for
    /// what that costs. [`create`](Options::create) makes no file, and a named lock
    /// ([`open`](Options::open)) is always private to its user (`0o600`): both ignore it.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::os::unix::fs::PermissionsExt;
    ///
    /// let dir = tempfile::tempdir().unwrap();
    /// let path = dir.path().join("team.lock");
    /// let lock = interlock::Lock::options().mode(0o640).open_path(&path)?;
    /// assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o640);
    /// # Ok::<(), interlock::Error>(())
    /// ```
    pub fn mode(mut self, mode: u32) -> Options<P> {
        self.mode = mode;
        self
    }

    /// Creates the handle anonymously (a sealed `memfd`), to share with children: after
    /// `fork` they use it as is; spawned programs get it through its `pass_to`.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] if the memory cannot be created or mapped; the handle's own errors for
    /// its settings (a [`LockTable`](crate::LockTable) without a [`len`](Options::len),
    /// [`Error::ValueTypeSize`] for a [`Value`](crate::Value) of a type it cannot hold).
    ///
    /// # Examples
    ///
    /// ```
    /// let lock = interlock::Lock::options().create()?;
    /// drop(lock.lock()?);
    /// # Ok::<(), interlock::Error>(())
    /// ```
    pub fn create(&self) -> Result<P, Error> {
        self.make(Source::Anonymous)
    }

    /// Opens the handle called `name` in this user's namespace, creating it with these
    /// options if it does not exist. Every process of the same user that opens the same name
    /// gets the same lock; a name that exists keeps what its creator chose (fairness, a
    /// table's length, a value's initial value).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidName`] for a name outside `[A-Za-z0-9._-]{1,200}` or starting with `.`
    /// (a path is not a name: open a lock file with [`open_path`](Options::open_path));
    /// [`Error::UnsafePath`] if the namespace directory or the lock file is a symlink, another
    /// user's, or accessible to others; [`Error::UnusableNamespace`] when the namespace
    /// directory cannot be used; [`Error::BadSegment`] if the file is not a valid lock;
    /// [`Error::KindMismatch`] if `name` is another kind of handle (asking for a fair lock
    /// takes only a fair one; a plain `Lock` or `RLock` takes either); a table's or a value's
    /// size errors as for [`create`](Options::create), and [`Error::TableSize`] or
    /// [`Error::ValueSize`] when it exists with another size.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// let lock = interlock::Lock::options().fair(true).open("print-queue")?;
    /// let _guard = lock.lock()?;
    /// # Ok::<(), interlock::Error>(())
    /// ```
    pub fn open(&self, name: &str) -> Result<P, Error> {
        self.make(Source::Named(name))
    }

    /// Opens the lock file at `path`, creating it with exactly [`mode`](Options::mode) if it
    /// does not exist: the explicit way to share a lock between users (e.g. `0o660` in a group
    /// directory).
    ///
    /// The last component must not be a symlink and must be a regular file. A file that users
    /// other than us can read or write is used without the kernel's robust list (we will not
    /// put memory they control on our thread's list, nor show them our addresses); a holder's
    /// death is then found by waiters checking on it, within about 50 ms instead of at once.
    ///
    /// # Errors
    ///
    /// As [`open`](Options::open) (but any owner and mode are accepted: sharing is the
    /// point), plus [`Error::Io`] when the directory is not accessible.
    ///
    /// # Examples
    ///
    /// ```
    /// let dir = tempfile::tempdir().unwrap();
    /// let lock = interlock::Lock::options().open_path(dir.path().join("shared.lock"))?;
    /// drop(lock.lock()?);
    /// # Ok::<(), interlock::Error>(())
    /// ```
    pub fn open_path(&self, path: impl AsRef<Path>) -> Result<P, Error> {
        self.make(Source::Path(path.as_ref(), self.mode))
    }

    /// Adopts the handle a parent's `pass_to` handed over through environment variable `var`.
    ///
    /// # Errors
    ///
    /// [`Error::Inherit`] when `var` is missing or malformed, or its descriptor is not open or
    /// is not the file that was passed; [`Error::KindMismatch`] when another kind of handle
    /// was passed; [`Error::TableSize`] or [`Error::ValueSize`] when a size was set and the
    /// one passed differs.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// // In the child program:
    /// let lock = interlock::Lock::options().timestamps(true).from_env("COUNTER_LOCK")?;
    /// # Ok::<(), interlock::Error>(())
    /// ```
    pub fn from_env(&self, var: &str) -> Result<P, Error> {
        self.make(Source::Inherited(var))
    }

    /// Adopts the handle whose memory `fd` is a descriptor of: one a parent's
    /// [`try_clone_fd`](crate::Lock::try_clone_fd) made and handed over some other way than
    /// through the environment — inherited across `fork`, sent over a Unix socket
    /// (`SCM_RIGHTS`), as Python's `multiprocessing` does. The same checks as
    /// [`from_env`](Options::from_env) (which goes through this code once it has found its
    /// descriptor): an interlock segment of this kind of handle, and the trust rule for files
    /// other users can write (see [`open_path`](Options::open_path)). `fd` is closed; the
    /// handle keeps a duplicate.
    ///
    /// # Errors
    ///
    /// [`Error::BadSegment`] when `fd` is not an interlock segment (a file of something else);
    /// [`Error::KindMismatch`] when it is another kind of handle; [`Error::Io`] when it cannot
    /// be read or mapped (a pipe, a socket, a descriptor opened read-only); a table's, a
    /// value's or a semaphore's size errors as for [`from_env`](Options::from_env).
    ///
    /// # Examples
    ///
    /// ```
    /// use interlock::{Error, Lock, RLock};
    ///
    /// let lock = Lock::new()?;
    /// let fd = lock.try_clone_fd()?; // send it to another process: SCM_RIGHTS, fork, …
    /// let same = Lock::options().from_fd(fd)?;
    /// let guard = same.lock()?;
    /// assert!(lock.is_held_by_current_thread());
    /// drop(guard);
    ///
    /// // Another kind of handle, or a file that is no lock, is refused.
    /// assert!(matches!(RLock::from_fd(lock.try_clone_fd()?), Err(Error::KindMismatch { .. })));
    /// let file = tempfile::tempfile().unwrap();
    /// assert!(matches!(Lock::from_fd(file.into()), Err(Error::BadSegment { .. })));
    /// # Ok::<(), interlock::Error>(())
    /// ```
    pub fn from_fd(&self, fd: OwnedFd) -> Result<P, Error> {
        self.make(Source::Descriptor(fd.as_fd()))
    }

    /// The one way every constructor goes: checks, memory, handle.
    fn make(&self, source: Source<'_>) -> Result<P, Error> {
        let kind = P::kind(&self.config);
        let raw = match source {
            Source::Inherited(_) | Source::Descriptor(_) => {
                P::check(&self.config)?;
                open_memory(source, kind, &[])?
            }
            _ => open_memory(source, kind, &P::payload(&self.config, &source.label())?)?,
        };
        if self.timestamps {
            raw.set_timestamps(true);
        }
        P::from_raw(raw, &self.config)
    }
}

impl<P: Open<Config = LockConfig>> Options<P> {
    /// Makes a *fair* lock ([`Lock`](crate::Lock) or [`RLock`](crate::RLock)): a release while
    /// others sleep hands the lock straight to the sleeper at the head of the kernel's futex
    /// queue (first-in, first-out), so no process starves and a process that releases and
    /// comes straight back queues behind the others — no need for the multiprocessing
    /// example's "sleep outside the lock to give others a turn". The price is throughput under
    /// contention: every hand-over waits for the sleeper to wake. Uncontended, it costs what a
    /// plain lock costs.
    ///
    /// The order is arrival order while waits are short. A waiter re-enters the queue when one
    /// of its wait slices ends (at most 100 ms; 25 ms once past the deadlock timeout), so under
    /// holds longer than that, waiters are served roughly, not strictly, in arrival order.
    ///
    /// Fairness belongs to the lock, not the handle: every handle of a fair lock is fair, and a
    /// plain `open`/`from_env` takes a lock as its creator made it. Asking for a fair one
    /// (`fair(true)`) takes only a fair one ([`Error::KindMismatch`] otherwise).
    ///
    /// # Examples
    ///
    /// ```
    /// let lock = interlock::Lock::options().fair(true).create()?;
    /// assert!(lock.is_fair());
    /// drop(lock.lock()?);
    /// # Ok::<(), interlock::Error>(())
    /// ```
    pub fn fair(mut self, fair: bool) -> Options<P> {
        self.config.fair = fair;
        self
    }
}

impl<P: Primitive> Clone for Options<P> {
    fn clone(&self) -> Options<P> {
        Options {
            config: self.config.clone(),
            timestamps: self.timestamps,
            mode: self.mode,
        }
    }
}

impl<P: Primitive> fmt::Debug for Options<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Options")
            .field("handle", &std::any::type_name::<P>())
            .field("config", &self.config)
            .field("timestamps", &self.timestamps)
            .field("mode", &format_args!("{:#o}", self.mode))
            .finish()
    }
}

/// `pass_to` of every handle: hands `handle`'s memory to the programs `cmd` spawns.
pub(crate) fn pass_to<P: Primitive>(handle: &P, cmd: &mut Command, var: &str) -> Result<(), Error> {
    inherit::pass(handle.raw(), cmd, var)
}

/// `try_clone_fd` of every handle: a new descriptor of `handle`'s memory.
pub(crate) fn try_clone_fd<P: Primitive>(handle: &P) -> Result<OwnedFd, Error> {
    inherit::duplicate(handle.raw())
}

/// `status` of every handle with one lock record.
pub(crate) fn status<P: Primitive>(handle: &P) -> LockStatus {
    handle.raw().status()
}

/// The lock record behind `handle`, for the other methods `handle_methods!` writes.
pub(crate) fn raw<P: Primitive>(handle: &P) -> &Raw {
    handle.raw()
}

/// Writes what every primitive has, once: `options()`, `from_env`, `pass_to`; the shortcuts
/// `new`, `open`, `open_path` (with the one setting a primitive cannot do without, if it has
/// one: a table's length, a value's initial value); and, for a handle with one lock record,
/// `status`, `is_poisoned`, `clear_poison`, `set_timestamps`. Each with its documentation and
/// an example, from `example` (an expression making one: `interlock::Lock::new()?`) and `path`
/// (the type as an example names it: `interlock::Value::<u64>`).
///
/// ```text
/// handle_methods! {
///     impl[] Lock;                        // impl[T: ValueType] Value<T>; — the impl's generics
///     name: "lock";                       // for the prose
///     path: "interlock::Lock";
///     example: "interlock::Lock::new()?";
///     options: "interlock::Lock::options().timestamps(true).create()?";
///     create();                           // or create(n: usize => len, "4")
///     record;                             // omit for a handle of many records (a table)
/// }
/// ```
macro_rules! handle_methods {
    (
        impl[$($gen:tt)*] $ty:ty;
        name: $name:literal;
        path: $path:literal;
        example: $example:literal;
        options: $options:literal;
        create($($arg:ident: $arg_ty:ty => $setter:ident, $arg_example:literal)?);
        $($record:ident;)?
    ) => {
        /// The constructors and `pass_to`, as every primitive has them
        /// ([`Options`](crate::Options)).
        impl<$($gen)*> $ty {
            #[doc = concat!("The builder for a ", $name, ", every setting at its default: set")]
            /// what differs, then [`create`](crate::Options::create),
            /// [`open`](crate::Options::open), [`open_path`](crate::Options::open_path) or
            /// [`from_env`](crate::Options::from_env).
            ///
            /// # Examples
            ///
            /// ```
            #[doc = concat!("let handle = ", $options, ";")]
            /// # Ok::<(), interlock::Error>(())
            /// ```
            pub fn options() -> crate::Options<Self> {
                crate::Options::new()
            }

            #[doc = concat!("Creates an anonymous ", $name, " (a sealed `memfd`), to share with")]
            /// children: after `fork` they use it as is; spawned programs get it through
            /// [`pass_to`](Self::pass_to). Shortcut for
            #[doc = concat!("`options()", $(".", stringify!($setter), "(", stringify!($arg), ")",)? ".create()`.")]
            ///
            /// # Errors
            ///
            /// As [`Options::create`](crate::Options::create).
            ///
            /// # Examples
            ///
            /// ```
            #[doc = concat!("let handle = ", $example, ";")]
            /// # Ok::<(), interlock::Error>(())
            /// ```
            pub fn new($($arg: $arg_ty)?) -> Result<Self, crate::Error> {
                Self::options()$(.$setter($arg))?.create()
            }

            #[doc = concat!("Opens the ", $name, " called `name` in this user's namespace,")]
            /// creating it if it does not exist: every process of the same user that opens the
            #[doc = concat!("same name gets the same ", $name, ". Shortcut for")]
            #[doc = concat!("`options()", $(".", stringify!($setter), "(", stringify!($arg), ")",)? ".open(name)`.")]
            ///
            /// # Errors
            ///
            /// As [`Options::open`](crate::Options::open): [`Error::InvalidName`](crate::Error::InvalidName),
            /// [`Error::UnsafePath`](crate::Error::UnsafePath),
            /// [`Error::BadSegment`](crate::Error::BadSegment),
            /// [`Error::KindMismatch`](crate::Error::KindMismatch) (the name is another kind of
            /// handle), …
            ///
            /// # Examples
            ///
            /// ```no_run
            #[doc = concat!("let handle = ", $path, "::open(\"nightly-backup\"", $(", ", $arg_example,)? ")?;")]
            /// # Ok::<(), interlock::Error>(())
            /// ```
            pub fn open(name: &str $(, $arg: $arg_ty)?) -> Result<Self, crate::Error> {
                Self::options()$(.$setter($arg))?.open(name)
            }

            #[doc = concat!("Opens the ", $name, " file at `path`, creating it with exactly `mode`")]
            /// if it does not exist: the explicit way to share between users (`0o660` in a
            /// group directory, say). Shortcut for
            #[doc = concat!("`options().mode(mode)", $(".", stringify!($setter), "(", stringify!($arg), ")",)? ".open_path(path)`;")]
            /// see [`Options::open_path`](crate::Options::open_path) for what sharing with
            /// other users costs.
            ///
            /// # Errors
            ///
            /// As [`Options::open_path`](crate::Options::open_path).
            ///
            /// # Examples
            ///
            /// ```
            /// let dir = tempfile::tempdir().unwrap();
            #[doc = concat!("let handle = ", $path, "::open_path(dir.path().join(\"shared.lock\"), 0o600", $(", ", $arg_example,)? ")?;")]
            /// # Ok::<(), interlock::Error>(())
            /// ```
            pub fn open_path(
                path: impl AsRef<std::path::Path>,
                mode: u32
                $(, $arg: $arg_ty)?
            ) -> Result<Self, crate::Error> {
                Self::options()$(.$setter($arg))?.mode(mode).open_path(path)
            }

            #[doc = concat!("Adopts a ", $name, " handed over by a parent's")]
            /// [`pass_to`](Self::pass_to) through environment variable `var`.
            /// Shortcut for `options().from_env(var)`.
            ///
            /// # Errors
            ///
            /// As [`Options::from_env`](crate::Options::from_env):
            /// [`Error::Inherit`](crate::Error::Inherit) when `var` is missing or malformed, or
            /// its descriptor is not open or not the file that was passed;
            /// [`Error::KindMismatch`](crate::Error::KindMismatch) when another kind of handle
            /// was passed.
            ///
            /// # Examples
            ///
            /// ```no_run
            /// // In the child program:
            #[doc = concat!("let handle = ", $path, "::from_env(\"MY_HANDLE\")?;")]
            /// # Ok::<(), interlock::Error>(())
            /// ```
            pub fn from_env(var: &str) -> Result<Self, crate::Error> {
                Self::options().from_env(var)
            }

            #[doc = concat!("Adopts a ", $name, " from a descriptor of its memory (made by")]
            /// [`try_clone_fd`](Self::try_clone_fd) in this or another process, and sent here
            /// by `fork`, `SCM_RIGHTS`, …). Shortcut for `options().from_fd(fd)`.
            ///
            /// # Errors
            ///
            /// As [`Options::from_fd`](crate::Options::from_fd):
            /// [`Error::BadSegment`](crate::Error::BadSegment) when `fd` is no interlock
            /// segment, [`Error::KindMismatch`](crate::Error::KindMismatch) when it is another
            /// kind of handle, [`Error::Io`](crate::Error::Io) when it cannot be mapped.
            ///
            /// # Examples
            ///
            /// ```
            #[doc = concat!("let handle = ", $example, ";")]
            #[doc = concat!("let same = ", $path, "::from_fd(handle.try_clone_fd()?)?;")]
            /// # drop(same);
            /// # Ok::<(), interlock::Error>(())
            /// ```
            pub fn from_fd(fd: std::os::fd::OwnedFd) -> Result<Self, crate::Error> {
                Self::options().from_fd(fd)
            }

            #[doc = concat!("A new descriptor (close-on-exec) of this ", $name, "'s memory, for")]
            /// another process to adopt with [`from_fd`](Self::from_fd): send it over a Unix
            /// socket (`SCM_RIGHTS`) or let a child inherit it. A lock file's descriptor is
            /// closed once mapped, so for one opened by path the file is reopened by path, as
            /// [`pass_to`](Self::pass_to) does, and checked to be the same file.
            ///
            /// # Errors
            ///
            /// [`Error::Io`](crate::Error::Io) when the descriptor cannot be duplicated, or a
            /// lock file cannot be reopened (it was removed or replaced since).
            ///
            /// # Examples
            ///
            /// ```
            #[doc = concat!("let handle = ", $example, ";")]
            /// let fd = handle.try_clone_fd()?;
            /// # drop(fd);
            /// # Ok::<(), interlock::Error>(())
            /// ```
            pub fn try_clone_fd(&self) -> Result<std::os::fd::OwnedFd, crate::Error> {
                crate::handles::options::try_clone_fd(self)
            }

            #[doc = concat!("Hands this ", $name, " to the programs `cmd` spawns: their copy of")]
            /// its descriptor survives `exec` (in that child only), and `var` tells them where it
            /// is (read it with [`from_env`](Self::from_env)).
            ///
            /// # Errors
            ///
            /// [`Error::InvalidVarName`](crate::Error::InvalidVarName) when `var` is not a
            /// valid environment variable name; [`Error::Io`](crate::Error::Io) when a lock
            /// file's descriptor cannot be reopened (it was removed or replaced since).
            ///
            /// # Examples
            ///
            /// ```
            #[doc = concat!("let handle = ", $example, ";")]
            /// let mut cmd = std::process::Command::new("true");
            /// handle.pass_to(&mut cmd, "MY_HANDLE")?;
            /// assert!(cmd.status().unwrap().success());
            /// # Ok::<(), interlock::Error>(())
            /// ```
            pub fn pass_to(
                &self,
                cmd: &mut std::process::Command,
                var: &str,
            ) -> Result<(), crate::Error> {
                crate::handles::options::pass_to(self, cmd, var)
            }
        }

        crate::handles::options::handle_methods!(
            @record [$($record)?] [$($gen)*] $ty; $name; $example
        );
    };

    (@record [] [$($gen:tt)*] $ty:ty; $name:literal; $example:literal) => {};

    (@record [record] [$($gen:tt)*] $ty:ty; $name:literal; $example:literal) => {
        /// What every handle with one lock record reports and changes.
        impl<$($gen)*> $ty {
            #[doc = concat!("A snapshot of the ", $name, "'s shared record — holder, waiters,")]
            /// acquisitions, deaths, poison — read without taking it: never blocks, changes
            /// nothing.
            ///
            /// # Examples
            ///
            /// ```
            #[doc = concat!("let handle = ", $example, ";")]
            /// let status = handle.status();
            /// assert!(status.holder.is_none() && status.owner_deaths == 0);
            /// # Ok::<(), interlock::Error>(())
            /// ```
            pub fn status(&self) -> crate::LockStatus {
                crate::handles::options::status(self)
            }

            #[doc = concat!("Whether the ", $name, " is poisoned: a panic began inside a hold,")]
            /// or a holder died, since the mark was last cleared — in shared memory, so every
            /// process sees it (see [Poisoning](crate::Lock#poisoning)).
            ///
            /// # Examples
            ///
            /// ```
            #[doc = concat!("let handle = ", $example, ";")]
            /// assert!(!handle.is_poisoned());
            /// # Ok::<(), interlock::Error>(())
            /// ```
            pub fn is_poisoned(&self) -> bool {
                crate::handles::options::raw(self).is_poisoned()
            }

            /// Clears the poison mark, for every process, once what the lock protects has
            /// been checked or repaired.
            ///
            /// # Examples
            ///
            /// ```
            #[doc = concat!("let handle = ", $example, ";")]
            /// handle.clear_poison();
            /// assert!(!handle.is_poisoned());
            /// # Ok::<(), interlock::Error>(())
            /// ```
            pub fn clear_poison(&self) {
                crate::handles::options::raw(self).clear_poison()
            }

            /// Whether acquisitions through this handle record when they happened
            /// ([`Holder::since`](crate::Holder::since); also
            /// [`Options::timestamps`](crate::Options::timestamps)). Off by default: reading
            /// even the coarse clock costs about as much as the rest of an uncontended lock and
            /// unlock together, and under contention it lengthens every critical section.
            ///
            /// # Examples
            ///
            /// ```
            #[doc = concat!("let handle = ", $example, ";")]
            /// handle.set_timestamps(true);
            /// assert!(handle.status().holder.is_none());
            /// # Ok::<(), interlock::Error>(())
            /// ```
            pub fn set_timestamps(&self, enabled: bool) {
                crate::handles::options::raw(self).set_timestamps(enabled)
            }
        }
    };
}

pub(crate) use handle_methods;
