//! `interlock._interlock`: the Python extension module behind the `interlock` package
//! (`python/interlock`), multiprocessing's `Lock` and `RLock` over interlock's robust locks.
//!
//! A Rust guard borrows its lock and belongs to the thread that took it; a Python lock is
//! acquired by one call and released by another. So an acquisition here takes the guard, notes
//! what it says (token, previous owner died) and forgets it; `release()` is the core's
//! explicit release ([`interlock::Lock::release`]), which checks that the calling thread holds
//! the lock. No guard outlives a call, so nothing here borrows the lock across calls.
//!
//! Waiting releases the GIL (`Python::detach`). On the main thread — the only one where Python
//! runs signal handlers — a wait goes in slices with `PyErr_CheckSignals` between them, so
//! that Ctrl-C raises `KeyboardInterrupt` (see `slice_for` for the slice lengths and why they
//! grow).

use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

use interlock::Error;
use pyo3::exceptions::{PyOSError, PyValueError};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyTuple, PyType};

mod cond_rw;
mod value;

/// The main thread's waits are cut into slices this long, between which signals are checked:
/// the longest a Ctrl-C waits to be seen during a wait's first `deadlock::timeout()`.
const SLICE: Duration = Duration::from_millis(50);

/// How long one wait on the main thread lasts before signals are checked, after `waited`.
///
/// The core registers a waiter in the wait-for graph (and looks for lock-order cycles) only
/// once one wait has lasted `deadlock::timeout()` (200 ms by default); a 50 ms slice would never
/// get there. So after that long the slices grow to `2 × timeout + 100 ms`: each one is
/// registered for its last `timeout + 100 ms`, more than half of it, so the registered windows
/// of two such waiters always overlap and a cycle between them is found. The price is a Ctrl-C
/// seen within 500 ms (default timeout) instead of 50 ms once a wait is that old. A core wait
/// that could be interrupted would need neither (decision 0028).
fn slice_for(waited: Duration) -> Duration {
    let timeout = interlock::deadlock::timeout();
    if waited < timeout {
        SLICE
    } else {
        timeout * 2 + Duration::from_millis(100)
    }
}

/// Forks this process has gone through as a child (`os.register_at_fork`, registered when the
/// module loads): the thread that forked is the child's main thread, whatever it was before.
static FORKS: AtomicU64 = AtomicU64::new(0);

/// `os.register_at_fork(after_in_child=...)`: a forked child asks its threads again.
#[pyfunction]
fn _after_fork_in_child() {
    FORKS.fetch_add(1, Ordering::Relaxed);
}

/// Python runs signal handlers on the main thread of the process only. Asked of the system
/// (`gettid`, `getpid`) once per thread and fork, so that every wait can know it before it
/// begins: a thread that is not the main one waits in one core call, since a wait cut into
/// slices gives up between them what it queued for — an `RwLock` writer its writer word, which
/// let the readers it was keeping out pass it (the policy test caught it under load).
fn on_main_thread() -> bool {
    thread_local! {
        static MAIN: std::cell::Cell<Option<(u64, bool)>> = const { std::cell::Cell::new(None) };
    }
    let forks = FORKS.load(Ordering::Relaxed);
    MAIN.with(|m| match m.get() {
        Some((f, main)) if f == forks => main,
        _ => {
            let main = rustix::thread::gettid().as_raw_nonzero().get() as u32 == std::process::id();
            m.set(Some((forks, main)));
            main
        }
    })
}

/// How long one core call may wait.
#[derive(Clone, Copy)]
enum Wait {
    Never,
    For(Duration),
    Forever,
}

/// What an acquisition's guard said before it was forgotten.
#[derive(Clone, Copy)]
struct Taken {
    token: u64,
    owner_died: bool,
}

/// What both lock types offer the shared acquisition loop.
trait Handle: Sync {
    /// Takes the lock (one more level of an RLock) and forgets the guard.
    fn take(&self, wait: Wait) -> Result<Option<Taken>, Error>;
}

/// `Handle` for a handle whose guard Python's `release()` ends later: take it by `$try`,
/// `$try_for` or `$block`, keep its token and owner-death flag, forget the guard (`Lock::release`,
/// `RLock::release` — one level —, `Semaphore::release` end the hold).
macro_rules! handle {
    ($ty:ty, $try:ident, $try_for:ident, $block:ident) => {
        impl Handle for $ty {
            fn take(&self, wait: Wait) -> Result<Option<Taken>, Error> {
                let guard = match wait {
                    Wait::Never => self.$try()?,
                    Wait::For(d) => self.$try_for(d)?,
                    Wait::Forever => Some(self.$block()?),
                };
                Ok(guard.map(|g| {
                    let taken = Taken {
                        token: g.token(),
                        owner_died: g.previous_owner_died(),
                    };
                    std::mem::forget(g);
                    taken
                }))
            }
        }
    };
}

handle!(interlock::Lock, try_lock, try_lock_for, lock);
handle!(interlock::RLock, try_lock, try_lock_for, lock);
handle!(interlock::Semaphore, try_acquire, try_acquire_for, acquire);

/// `timeout` as multiprocessing reads it: `None` is forever, a negative number is zero.
fn deadline(timeout: Option<f64>) -> PyResult<Option<Duration>> {
    match timeout {
        None => Ok(None),
        Some(t) if t.is_nan() => Err(PyValueError::new_err("timeout must not be NaN")),
        // A timeout too large to represent is no timeout.
        Some(t) => Ok(Duration::try_from_secs_f64(t.max(0.0)).ok()),
    }
}

/// multiprocessing's `acquire(block, timeout)`: `Some` when taken, `None` when not taken in
/// time (or at once, for `block=False`). Errors (a re-acquisition that would deadlock, a
/// deadlock cycle, `KeyboardInterrupt`) are raised.
///
/// `label` names the lock in an error: made only then (a `String` formatted for every
/// acquisition cost the contended path a few percent).
fn acquire<H: Handle>(
    py: Python<'_>,
    lock: &H,
    label: &dyn Fn() -> String,
    block: bool,
    timeout: Option<f64>,
) -> PyResult<Option<Taken>> {
    // The uncontended case never gives up the GIL: taking a free lock is one compare-exchange.
    if let Some(taken) = lock.take(Wait::Never).map_err(|e| to_py(py, e, &label()))? {
        return Ok(Some(taken));
    }
    if !block {
        return Ok(None);
    }
    let started = Instant::now();
    let end = match deadline(timeout)? {
        Some(d) if d.is_zero() => return Ok(None),
        Some(d) => started.checked_add(d),
        None => None,
    };
    // Only the main thread waits in slices (to run signal handlers between them): a slice
    // that ends gives up the place the wait had (an RwLock writer's word), so another thread
    // waits in one call.
    let main = on_main_thread();
    loop {
        let now = Instant::now();
        let remaining = match end {
            Some(end) if now >= end => return Ok(None),
            Some(end) => Some(end - now),
            None => None,
        };
        let slice = main.then(|| slice_for(now - started));
        let wait = match (remaining, slice) {
            (None, None) => Wait::Forever,
            (Some(d), None) | (None, Some(d)) => Wait::For(d),
            (Some(r), Some(s)) => Wait::For(r.min(s)),
        };
        let got = py
            .detach(|| lock.take(wait))
            .map_err(|e| to_py(py, e, &label()))?;
        if got.is_some() {
            return Ok(got);
        }
        if main {
            // Runs the handlers of signals that arrived while we slept: SIGINT's raises
            // KeyboardInterrupt here, and the lock is not held.
            py.check_signals()?;
        }
    }
}

/// Where a handle came from: how it pickles.
#[derive(Clone)]
enum Source {
    /// `Lock()`, or adopted from a descriptor: handed over by descriptor.
    Anonymous,
    /// `Lock.open(name)`: pickled by name.
    Name(String),
    /// `Lock.open_path(path)`: pickled by path.
    Path(PathBuf),
}

impl Source {
    /// The name (`open`), path (`open_path`) or None (anonymous), as `name` shows it.
    fn name(&self) -> Option<String> {
        match self {
            Source::Anonymous => None,
            Source::Name(n) => Some(n.clone()),
            Source::Path(p) => Some(p.display().to_string()),
        }
    }

    fn label(&self, kind: &str) -> String {
        match self {
            Source::Anonymous => format!("anonymous {kind}"),
            Source::Name(n) => format!("{kind} {n:?}"),
            Source::Path(p) => format!("{kind} at {}", p.display()),
        }
    }
}

/// The latest acquisition made through this object in this process.
#[derive(Default)]
struct Last {
    token: AtomicU64,
    owner_died: AtomicBool,
}

impl Last {
    fn note(&self, taken: Taken) {
        self.token.store(taken.token, Ordering::Relaxed);
        self.owner_died.store(taken.owner_died, Ordering::Relaxed);
    }
}

/// A new descriptor (close-on-exec) of a handle's shared memory, for `multiprocessing`'s
/// descriptor hand-over: the core's `try_clone_fd`.
fn export_fd(clone: impl FnOnce() -> Result<OwnedFd, Error>) -> Result<OwnedFd, String> {
    clone().map_err(|e| e.to_string())
}

/// Adopts descriptor `fd` (received through multiprocessing's hand-over) with the core's
/// `from_fd`, which checks it as `from_env` would. `fd` stays the caller's: a duplicate is
/// adopted.
fn adopt_fd<P>(fd: RawFd, from_fd: impl FnOnce(OwnedFd) -> Result<P, Error>) -> Result<P, Error> {
    let io = |error| Error::Io {
        op: "adopt",
        what: format!("descriptor {fd}"),
        error,
    };
    if fd < 0 {
        return Err(io(std::io::Error::from_raw_os_error(ebadf())));
    }
    // SAFETY: `fd` is open for the length of this call: the caller (`_pickle.rebuild_inherited`)
    // closes it only after we return. The borrow ends before then; we keep a duplicate.
    let borrowed = unsafe { BorrowedFd::borrow_raw(fd) };
    let owned = borrowed.try_clone_to_owned().map_err(io)?;
    from_fd(owned)
}

/// EBADF (through rustix, which the crate has already).
fn ebadf() -> i32 {
    rustix::io::Errno::BADF.raw_os_error()
}

/// The exception classes of `interlock._errors`, fetched once.
fn error_class<'py>(py: Python<'py>, name: &'static str) -> PyResult<Bound<'py, PyType>> {
    static MODULE: PyOnceLock<Py<PyModule>> = PyOnceLock::new();
    let module =
        MODULE.get_or_try_init(py, || py.import("interlock._errors").map(Bound::unbind))?;
    Ok(module.bind(py).getattr(name)?.cast_into()?)
}

/// A count given by Python — a semaphore's permits, a barrier's parties, an rwlock's reader
/// slots —, taken as any int: a negative one, or one past what the core's type holds, is
/// `InvalidSize` (a `ValueError`, as 0 is) naming the primitive, instead of PyO3's
/// `OverflowError` ("can't convert negative int to unsigned"), which named neither it nor the
/// rule (issue 15: negative and overflowing counts are typed errors). The core checks the rest.
pub(crate) fn count<T: TryFrom<i128>>(
    py: Python<'_>,
    n: i128,
    label: &str,
    what: &str,
) -> PyResult<T> {
    T::try_from(n).map_err(|_| {
        let message = if n < 0 {
            format!("{label}: {what} cannot be negative, not {n}")
        } else {
            format!("{label}: {what} cannot be {n}: far too many")
        };
        match error_class(py, "InvalidSize").and_then(|class| {
            let exc = class.call1((message,))?;
            exc.setattr("lock", label)?;
            Ok(PyErr::from_value(exc))
        }) {
            Ok(e) | Err(e) => e,
        }
    })
}

/// The Python exception for a core error: the class by variant, the core's message (which
/// names the holder), and the evidence as attributes (`holder`, `cycle`, `lock`).
fn to_py(py: Python<'_>, err: Error, label: &str) -> PyErr {
    match build_error(py, &err, label) {
        Ok(e) => e,
        Err(e) => e,
    }
}

fn build_error(py: Python<'_>, err: &Error, label: &str) -> PyResult<PyErr> {
    let mut holder = None;
    let mut cycle = None;
    let class = match err {
        Error::InvalidName { .. } | Error::InvalidVarName { .. } => "InvalidName",
        Error::WouldDeadlock { .. } => "WouldDeadlock",
        Error::Timeout { holder: h, .. } => {
            holder = h.as_deref().map(Holder::from);
            "Timeout"
        }
        Error::NotOwner { holder: h, .. } => {
            holder = h.as_deref().map(Holder::from);
            "NotOwner"
        }
        Error::Deadlock { cycle: c, .. } => {
            cycle = Some(
                c.iter()
                    .map(|m| (m.pid, m.tid, m.waits_for.clone(), m.held_by))
                    .collect::<Vec<_>>(),
            );
            "Deadlock"
        }
        Error::RecursionOverflow { .. } => "RecursionOverflow",
        Error::NotFound { .. } | Error::NoLockAt { .. } => "NotFound",
        Error::KindMismatch { .. } | Error::ValueSize { .. } | Error::RwLockPolicy { .. } => {
            "KindMismatch"
        }
        Error::UnsafePath { .. } => "UnsafePath",
        Error::SemaphoreSize { .. }
        | Error::BarrierParties { .. }
        | Error::RwLockReaders { .. } => "InvalidSize",
        Error::BrokenBarrier { dead_pid, .. } => {
            let exc = error_class(py, "BrokenBarrier")?.call1((err.to_string(),))?;
            exc.setattr("lock", label)?;
            exc.setattr("dead_pid", *dead_pid)?;
            return Ok(PyErr::from_value(exc));
        }
        Error::InUse { holder: h, .. } => {
            holder = h.as_deref().map(Holder::from);
            "InUse"
        }
        Error::Io { error, .. } => {
            let class = error_class(py, "InterlockOSError")?;
            let exc = class.call1((error.raw_os_error().unwrap_or(0), err.to_string()))?;
            exc.setattr("lock", label)?;
            return Ok(PyErr::from_value(exc));
        }
        _ => "InterlockError",
    };
    let exc = error_class(py, class)?.call1((err.to_string(),))?;
    exc.setattr("lock", label)?;
    if class == "Timeout" || class == "NotOwner" || class == "InUse" {
        let holder = holder.map(|h| h.into_pyobject(py)).transpose()?;
        exc.setattr("holder", holder)?;
    }
    if let Some(cycle) = cycle {
        exc.setattr("cycle", cycle)?;
    }
    Ok(PyErr::from_value(exc))
}

/// Who holds a lock (`LockStatus.holder`, `Timeout.holder`).
#[pyclass(frozen, module = "interlock", get_all)]
struct Holder {
    /// Process id.
    pid: u32,
    /// Thread id (`threading.get_native_id()` in that process).
    tid: u32,
    /// Since when, in seconds since the epoch, if the lock records it.
    since: Option<f64>,
    /// The fencing token of the hold.
    token: u64,
    /// Whether the holder is still running.
    alive: bool,
    /// The holder's command line, when it could be read.
    command: Option<String>,
    /// The holder's text as the core prints it.
    text: String,
}

impl From<&interlock::Holder> for Holder {
    fn from(h: &interlock::Holder) -> Holder {
        Holder {
            pid: h.pid,
            tid: h.tid,
            since: h
                .since
                .and_then(|s| s.duration_since(SystemTime::UNIX_EPOCH).ok())
                .map(|d| d.as_secs_f64()),
            token: h.token,
            alive: h.alive,
            command: h.command.clone(),
            text: h.to_string(),
        }
    }
}

#[pymethods]
impl Holder {
    fn __repr__(&self) -> String {
        format!("<interlock.Holder {}>", self.text)
    }

    fn __str__(&self) -> String {
        self.text.clone()
    }
}

/// A lock's state, read without taking it (`lock.status()`).
#[pyclass(frozen, module = "interlock", get_all)]
struct LockStatus {
    /// "Lock", "RLock", …
    kind: String,
    /// Who holds it, or None.
    holder: Option<Py<Holder>>,
    /// Threads waiting for it now.
    waiters: u32,
    /// How often it was taken (the last hold's token).
    acquisitions: u64,
    /// How often a holder died holding it.
    owner_deaths: u32,
    /// Poisoned: a holder died and nobody has called `clear_poison()` since.
    poisoned: bool,
    /// The last holder died and nobody has taken it since.
    owner_died_unclaimed: bool,
    /// An RLock's recursion depth (0 when free; 1 for a held Lock).
    depth: u32,
}

impl LockStatus {
    fn new(py: Python<'_>, s: &interlock::LockStatus) -> PyResult<LockStatus> {
        Ok(LockStatus {
            kind: s.kind.to_string(),
            holder: s
                .holder
                .as_ref()
                .map(|h| Py::new(py, Holder::from(h)))
                .transpose()?,
            waiters: s.waiters,
            acquisitions: s.acquisitions,
            owner_deaths: s.owner_deaths,
            poisoned: s.poisoned,
            owner_died_unclaimed: s.owner_died_unclaimed,
            depth: s.depth,
        })
    }
}

#[pymethods]
impl LockStatus {
    fn __repr__(&self, py: Python<'_>) -> String {
        let holder = match &self.holder {
            Some(h) => h.get().text.clone(),
            None => "nobody".into(),
        };
        let _ = py;
        format!(
            "<interlock.LockStatus {} held by {holder}, {} waiting, {} acquisitions, {} owner deaths{}>",
            self.kind,
            self.waiters,
            self.acquisitions,
            self.owner_deaths,
            if self.poisoned { ", poisoned" } else { "" }
        )
    }
}

/// `lock.hold(timeout)`: acquires on entry (raising `interlock.Timeout`), releases on exit.
#[pyclass(frozen, module = "interlock")]
struct HoldFor {
    lock: Py<PyAny>,
    timeout: Option<f64>,
}

#[pymethods]
impl HoldFor {
    fn __enter__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.lock
            .bind(py)
            .call_method1("_acquire_or_raise", (self.timeout,))
    }

    #[pyo3(signature = (_exc_type = None, _exc_value = None, _traceback = None))]
    fn __exit__(
        &self,
        py: Python<'_>,
        _exc_type: Option<&Bound<'_, PyAny>>,
        _exc_value: Option<&Bound<'_, PyAny>>,
        _traceback: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        self.lock.bind(py).call_method0("release").map(drop)
    }
}

/// The pickling recipe: by name or path, or through `interlock._pickle` for an anonymous
/// lock (descriptor hand-over, only while spawning a child). `extra`: what a named or path
/// handle's `open`/`open_path` takes after the name (a semaphore's permits, a condition's
/// lock); `anon_extra`: what an anonymous one's `_adopt_fd` takes after the descriptor.
fn reduce<'py>(
    slf: &Bound<'py, PyAny>,
    source: &Source,
    extra: Vec<Bound<'py, PyAny>>,
    anon_extra: Vec<Bound<'py, PyAny>>,
) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyTuple>)> {
    let py = slf.py();
    let with_extra = |first: Bound<'py, PyAny>| -> PyResult<Bound<'py, PyTuple>> {
        let mut items = vec![slf.get_type().into_any(), first];
        items.extend(extra);
        PyTuple::new(py, items)
    };
    let pickle = py.import("interlock._pickle")?;
    match source {
        Source::Anonymous => {
            let mut args = vec![slf.clone()];
            args.extend(anon_extra);
            let recipe = pickle.call_method1("reduce_anonymous", PyTuple::new(py, args)?)?;
            let (f, args): (Bound<'py, PyAny>, Bound<'py, PyTuple>) = recipe.extract()?;
            Ok((f, args))
        }
        Source::Name(name) => Ok((
            pickle.getattr("rebuild_named")?,
            with_extra(name.into_pyobject(py)?.into_any())?,
        )),
        Source::Path(path) => Ok((
            pickle.getattr("rebuild_path")?,
            with_extra(path.into_pyobject(py)?.into_any())?,
        )),
    }
}

/// Numbers as pickling extras.
fn ints<'py>(py: Python<'py>, xs: &[u64]) -> PyResult<Vec<Bound<'py, PyAny>>> {
    xs.iter()
        .map(|x| Ok(x.into_pyobject(py)?.into_any()))
        .collect()
}

macro_rules! lock_class {
    ($ty:ident, $py_name:literal, $core:ty, $doc:literal) => {
        #[doc = $doc]
        #[pyclass(frozen, module = "interlock", name = $py_name)]
        struct $ty {
            inner: $core,
            source: Source,
            last: Last,
            /// The descriptor handed to spawned children (kept open until this object goes:
            /// multiprocessing sends it after pickling).
            exported: Mutex<Option<OwnedFd>>,
        }

        impl $ty {
            fn wrap(inner: $core, source: Source) -> $ty {
                $ty {
                    inner,
                    source,
                    last: Last::default(),
                    exported: Mutex::new(None),
                }
            }

            fn label(&self) -> String {
                self.source.label($py_name)
            }

            fn acquire_inner(
                &self,
                py: Python<'_>,
                block: bool,
                timeout: Option<f64>,
            ) -> PyResult<bool> {
                match acquire(py, &self.inner, &|| self.label(), block, timeout)? {
                    Some(taken) => {
                        self.last.note(taken);
                        Ok(true)
                    }
                    None => Ok(false),
                }
            }
        }

        #[pymethods]
        impl $ty {
            #[new]
            fn py_new(py: Python<'_>) -> PyResult<$ty> {
                let inner = <$core>::new().map_err(|e| to_py(py, e, $py_name))?;
                Ok($ty::wrap(inner, Source::Anonymous))
            }

            /// Opens (creating if needed) the lock named `name` in this user's namespace.
            #[staticmethod]
            fn open(py: Python<'_>, name: &str) -> PyResult<$ty> {
                let inner = <$core>::open(name).map_err(|e| to_py(py, e, name))?;
                Ok($ty::wrap(inner, Source::Name(name.to_owned())))
            }

            /// Opens (creating if needed, with `mode`) the lock file at `path`.
            #[staticmethod]
            #[pyo3(signature = (path, mode = 0o600))]
            fn open_path(py: Python<'_>, path: PathBuf, mode: u32) -> PyResult<$ty> {
                let label = path.display().to_string();
                let inner = <$core>::open_path(&path, mode).map_err(|e| to_py(py, e, &label))?;
                Ok($ty::wrap(inner, Source::Path(path)))
            }

            #[pyo3(signature = (block = true, timeout = None))]
            fn acquire(&self, py: Python<'_>, block: bool, timeout: Option<f64>) -> PyResult<bool> {
                self.acquire_inner(py, block, timeout)
            }

            fn release(&self, py: Python<'_>) -> PyResult<()> {
                self.inner
                    .release()
                    .map_err(|e| to_py(py, e, &self.label()))
            }

            fn __enter__(&self, py: Python<'_>) -> PyResult<bool> {
                self.acquire_inner(py, true, None)
            }

            // Three optional arguments, not `*args`: no tuple made for every `with` block.
            #[pyo3(signature = (_exc_type = None, _exc_value = None, _traceback = None))]
            fn __exit__(
                &self,
                py: Python<'_>,
                _exc_type: Option<&Bound<'_, PyAny>>,
                _exc_value: Option<&Bound<'_, PyAny>>,
                _traceback: Option<&Bound<'_, PyAny>>,
            ) -> PyResult<()> {
                self.inner
                    .release()
                    .map_err(|e| to_py(py, e, &self.label()))
            }

            /// A context manager that waits at most `timeout` seconds (None: for ever) for the
            /// lock on entry, raising `interlock.Timeout` naming the holder instead of returning
            /// False: `with lock.hold(timeout=2):`.
            #[pyo3(signature = (timeout = None))]
            fn hold(slf: &Bound<'_, Self>, timeout: Option<f64>) -> HoldFor {
                HoldFor {
                    lock: slf.clone().into_any().unbind(),
                    timeout,
                }
            }

            /// `hold`'s entry: acquires or raises `interlock.Timeout`.
            #[pyo3(signature = (timeout = None))]
            fn _acquire_or_raise<'py>(
                slf: &Bound<'py, Self>,
                timeout: Option<f64>,
            ) -> PyResult<Bound<'py, Self>> {
                let py = slf.py();
                let me = slf.get();
                let started = Instant::now();
                if me.acquire_inner(py, true, timeout)? {
                    return Ok(slf.clone());
                }
                let err = Error::Timeout {
                    lock: me.label(),
                    waited: started.elapsed(),
                    holder: me.inner.status().holder.map(Box::new),
                };
                Err(to_py(py, err, &me.label()))
            }

            /// Whether any thread of any process holds the lock now.
            fn locked(&self) -> bool {
                self.inner.status().holder.is_some()
            }

            /// Whether the calling thread holds it (multiprocessing's private `_is_mine`).
            fn _is_mine(&self) -> bool {
                self.inner.is_held_by_current_thread()
            }

            /// The recursion depth of the calling thread's hold, 0 if it holds none
            /// (multiprocessing's private `_count`).
            fn _count(&self) -> u32 {
                if self.inner.is_held_by_current_thread() {
                    self.inner.status().depth.max(1)
                } else {
                    0
                }
            }

            /// True when this process's latest acquisition through this object found that the
            /// previous holder had died holding the lock.
            #[getter]
            fn previous_owner_died(&self) -> bool {
                self.last.owner_died.load(Ordering::Relaxed)
            }

            /// The fencing token of this process's latest acquisition through this object.
            #[getter]
            fn token(&self) -> u64 {
                self.last.token.load(Ordering::Relaxed)
            }

            /// Whether the lock is poisoned (a holder died; nobody cleared it since).
            #[getter]
            fn is_poisoned(&self) -> bool {
                self.inner.is_poisoned()
            }

            /// Clears the poison mark, after the protected state was checked or repaired.
            fn clear_poison(&self) {
                self.inner.clear_poison()
            }

            /// The lock's state, read without taking it.
            fn status(&self, py: Python<'_>) -> PyResult<LockStatus> {
                LockStatus::new(py, &self.inner.status())
            }

            /// The name (`open`), path (`open_path`) or None (anonymous).
            #[getter]
            fn name(&self) -> Option<String> {
                match &self.source {
                    Source::Anonymous => None,
                    Source::Name(n) => Some(n.clone()),
                    Source::Path(p) => Some(p.display().to_string()),
                }
            }

            fn __reduce__<'py>(
                slf: &Bound<'py, Self>,
            ) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyTuple>)> {
                reduce(slf.as_any(), &slf.get().source, vec![], vec![])
            }

            /// A descriptor of the lock's memory for multiprocessing's hand-over, owned by this
            /// object (do not close it).
            fn _export_fd(&self) -> PyResult<RawFd> {
                let mut exported = self.exported.lock().unwrap_or_else(|p| p.into_inner());
                if let Some(fd) = exported.as_ref() {
                    return Ok(fd.as_raw_fd());
                }
                let fd = export_fd(|| self.inner.try_clone_fd()).map_err(|e| {
                    PyOSError::new_err(format!("cannot hand over {}: {e}", self.label()))
                })?;
                let raw = fd.as_raw_fd();
                *exported = Some(fd);
                Ok(raw)
            }

            /// Adopts a lock received as descriptor `fd` (which stays the caller's).
            #[staticmethod]
            fn _adopt_fd(py: Python<'_>, fd: RawFd) -> PyResult<$ty> {
                let inner = adopt_fd(fd, <$core>::from_fd).map_err(|e| to_py(py, e, $py_name))?;
                Ok($ty::wrap(inner, Source::Anonymous))
            }

            fn __repr__(&self) -> String {
                let status = self.inner.status();
                let state = match &status.holder {
                    Some(h) if h.tid == h.pid => format!("held by pid {}", h.pid),
                    Some(h) => format!("held by pid {} thread {}", h.pid, h.tid),
                    None => "unlocked".into(),
                };
                format!("<interlock.{} {}, {state}>", $py_name, self.label())
            }
        }
    };
}

lock_class!(
    PyLock,
    "Lock",
    interlock::Lock,
    "multiprocessing.Lock that a killed holder cannot wedge."
);
lock_class!(
    PyRLock,
    "RLock",
    interlock::RLock,
    "multiprocessing.RLock that a killed holder cannot wedge."
);

/// The descriptor hand-over of an anonymous handle, shared by the other handles.
fn export_once(
    slot: &Mutex<Option<OwnedFd>>,
    label: &str,
    clone: impl FnOnce() -> Result<OwnedFd, Error>,
) -> PyResult<RawFd> {
    let mut exported = slot.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(fd) = exported.as_ref() {
        return Ok(fd.as_raw_fd());
    }
    let fd = export_fd(clone)
        .map_err(|e| PyOSError::new_err(format!("cannot hand over {label}: {e}")))?;
    let raw = fd.as_raw_fd();
    *exported = Some(fd);
    Ok(raw)
}

/// multiprocessing.BoundedSemaphore whose permits come back when their holder is killed.
#[pyclass(frozen, module = "interlock", name = "Semaphore")]
struct PySemaphore {
    inner: interlock::Semaphore,
    source: Source,
    last: Last,
    exported: Mutex<Option<OwnedFd>>,
}

impl PySemaphore {
    fn wrap(inner: interlock::Semaphore, source: Source) -> PySemaphore {
        PySemaphore {
            inner,
            source,
            last: Last::default(),
            exported: Mutex::new(None),
        }
    }

    fn label(&self) -> String {
        self.source.label("Semaphore")
    }

    fn acquire_inner(&self, py: Python<'_>, block: bool, timeout: Option<f64>) -> PyResult<bool> {
        match acquire(py, &self.inner, &|| self.label(), block, timeout)? {
            Some(taken) => {
                self.last.note(taken);
                Ok(true)
            }
            None => Ok(false),
        }
    }
}

#[pymethods]
impl PySemaphore {
    #[new]
    #[pyo3(signature = (value = 1))]
    fn py_new(py: Python<'_>, value: i128) -> PyResult<PySemaphore> {
        let value = count(py, value, "Semaphore", "a semaphore's permits")?;
        let inner = interlock::Semaphore::new(value).map_err(|e| to_py(py, e, "Semaphore"))?;
        Ok(PySemaphore::wrap(inner, Source::Anonymous))
    }

    /// Opens (creating if needed, with `value` permits) the semaphore named `name`.
    #[staticmethod]
    #[pyo3(signature = (name, value = 1))]
    fn open(py: Python<'_>, name: &str, value: i128) -> PyResult<PySemaphore> {
        let value = count(py, value, name, "a semaphore's permits")?;
        let inner = interlock::Semaphore::open(name, value).map_err(|e| to_py(py, e, name))?;
        Ok(PySemaphore::wrap(inner, Source::Name(name.to_owned())))
    }

    /// Opens (creating if needed, with `value` permits and `mode`) the semaphore file at `path`.
    #[staticmethod]
    #[pyo3(signature = (path, value = 1, mode = 0o600))]
    fn open_path(py: Python<'_>, path: PathBuf, value: i128, mode: u32) -> PyResult<PySemaphore> {
        let label = path.display().to_string();
        let value = count(py, value, &label, "a semaphore's permits")?;
        let inner = interlock::Semaphore::open_path(&path, mode, value)
            .map_err(|e| to_py(py, e, &label))?;
        Ok(PySemaphore::wrap(inner, Source::Path(path)))
    }

    #[pyo3(signature = (block = true, timeout = None))]
    fn acquire(&self, py: Python<'_>, block: bool, timeout: Option<f64>) -> PyResult<bool> {
        self.acquire_inner(py, block, timeout)
    }

    /// Gives back a permit the calling thread holds; `NotOwner` (a ValueError, as
    /// BoundedSemaphore's) when it holds none.
    fn release(&self, py: Python<'_>) -> PyResult<()> {
        self.inner
            .release()
            .map_err(|e| to_py(py, e, &self.label()))
    }

    fn __enter__(&self, py: Python<'_>) -> PyResult<bool> {
        self.acquire_inner(py, true, None)
    }

    #[pyo3(signature = (_exc_type = None, _exc_value = None, _traceback = None))]
    fn __exit__(
        &self,
        py: Python<'_>,
        _exc_type: Option<&Bound<'_, PyAny>>,
        _exc_value: Option<&Bound<'_, PyAny>>,
        _traceback: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        self.release(py)
    }

    /// Permits free now (multiprocessing's `get_value`).
    fn get_value(&self) -> usize {
        self.inner.available()
    }

    /// How many permits it has.
    #[getter]
    fn permits(&self) -> usize {
        self.inner.permits()
    }

    /// Threads waiting for a permit now.
    #[getter]
    fn waiters(&self) -> u32 {
        self.inner.waiters()
    }

    /// Each permit's holder, or None where it is free.
    fn holders(&self, py: Python<'_>) -> PyResult<Vec<Option<Py<Holder>>>> {
        self.inner
            .holders()
            .iter()
            .map(|s| {
                s.holder
                    .as_ref()
                    .map(|h| Py::new(py, Holder::from(h)))
                    .transpose()
            })
            .collect()
    }

    /// True when this process's latest acquisition through this object got a permit whose
    /// previous holder died holding it.
    #[getter]
    fn previous_owner_died(&self) -> bool {
        self.last.owner_died.load(Ordering::Relaxed)
    }

    /// The fencing token of this process's latest acquisition through this object.
    #[getter]
    fn token(&self) -> u64 {
        self.last.token.load(Ordering::Relaxed)
    }

    #[getter]
    fn name(&self) -> Option<String> {
        match &self.source {
            Source::Anonymous => None,
            Source::Name(n) => Some(n.clone()),
            Source::Path(p) => Some(p.display().to_string()),
        }
    }

    fn __reduce__<'py>(
        slf: &Bound<'py, Self>,
    ) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyTuple>)> {
        let permits = slf.get().inner.permits() as u64;
        reduce(
            slf.as_any(),
            &slf.get().source,
            ints(slf.py(), &[permits])?,
            vec![],
        )
    }

    fn _export_fd(&self) -> PyResult<RawFd> {
        export_once(&self.exported, &self.label(), || self.inner.try_clone_fd())
    }

    #[staticmethod]
    fn _adopt_fd(py: Python<'_>, fd: RawFd) -> PyResult<PySemaphore> {
        let inner =
            adopt_fd(fd, interlock::Semaphore::from_fd).map_err(|e| to_py(py, e, "Semaphore"))?;
        Ok(PySemaphore::wrap(inner, Source::Anonymous))
    }

    fn __repr__(&self) -> String {
        format!(
            "<interlock.Semaphore {}, {} of {} free>",
            self.label(),
            self.inner.available(),
            self.inner.permits()
        )
    }
}

/// multiprocessing.Event: a flag that processes wait for.
#[pyclass(frozen, module = "interlock", name = "Event")]
struct PyEvent {
    inner: interlock::Event,
    source: Source,
    exported: Mutex<Option<OwnedFd>>,
}

impl PyEvent {
    fn wrap(inner: interlock::Event, source: Source) -> PyEvent {
        PyEvent {
            inner,
            source,
            exported: Mutex::new(None),
        }
    }

    fn label(&self) -> String {
        self.source.label("Event")
    }
}

#[pymethods]
impl PyEvent {
    #[new]
    fn py_new(py: Python<'_>) -> PyResult<PyEvent> {
        let inner = interlock::Event::new().map_err(|e| to_py(py, e, "Event"))?;
        Ok(PyEvent::wrap(inner, Source::Anonymous))
    }

    #[staticmethod]
    fn open(py: Python<'_>, name: &str) -> PyResult<PyEvent> {
        let inner = interlock::Event::open(name).map_err(|e| to_py(py, e, name))?;
        Ok(PyEvent::wrap(inner, Source::Name(name.to_owned())))
    }

    #[staticmethod]
    #[pyo3(signature = (path, mode = 0o600))]
    fn open_path(py: Python<'_>, path: PathBuf, mode: u32) -> PyResult<PyEvent> {
        let label = path.display().to_string();
        let inner = interlock::Event::open_path(&path, mode).map_err(|e| to_py(py, e, &label))?;
        Ok(PyEvent::wrap(inner, Source::Path(path)))
    }

    fn set(&self) {
        self.inner.set()
    }

    fn clear(&self) {
        self.inner.clear()
    }

    fn is_set(&self) -> bool {
        self.inner.is_set()
    }

    /// Waits until the flag is set or `timeout` seconds pass; returns the flag. The GIL is
    /// released; on the main thread Ctrl-C raises KeyboardInterrupt within 50 ms.
    #[pyo3(signature = (timeout = None))]
    fn wait(&self, py: Python<'_>, timeout: Option<f64>) -> PyResult<bool> {
        if self.inner.is_set() {
            return Ok(true);
        }
        let started = Instant::now();
        let end = match deadline(timeout)? {
            Some(d) if d.is_zero() => return Ok(false),
            Some(d) => started.checked_add(d),
            None => None,
        };
        let main = on_main_thread();
        loop {
            let now = Instant::now();
            let remaining = match end {
                Some(end) if now >= end => return Ok(self.inner.is_set()),
                Some(end) => Some(end - now),
                None => None,
            };
            let slice = main.then_some(SLICE);
            let set = match (remaining, slice) {
                (None, None) => {
                    py.detach(|| self.inner.wait());
                    true
                }
                (Some(d), None) | (None, Some(d)) => py.detach(|| self.inner.wait_timeout(d)),
                (Some(r), Some(s)) => py.detach(|| self.inner.wait_timeout(r.min(s))),
            };
            if set {
                return Ok(true);
            }
            if main {
                py.check_signals()?;
            }
        }
    }

    #[getter]
    fn name(&self) -> Option<String> {
        match &self.source {
            Source::Anonymous => None,
            Source::Name(n) => Some(n.clone()),
            Source::Path(p) => Some(p.display().to_string()),
        }
    }

    fn __reduce__<'py>(
        slf: &Bound<'py, Self>,
    ) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyTuple>)> {
        reduce(slf.as_any(), &slf.get().source, vec![], vec![])
    }

    fn _export_fd(&self) -> PyResult<RawFd> {
        export_once(&self.exported, &self.label(), || self.inner.try_clone_fd())
    }

    #[staticmethod]
    fn _adopt_fd(py: Python<'_>, fd: RawFd) -> PyResult<PyEvent> {
        let inner = adopt_fd(fd, interlock::Event::from_fd).map_err(|e| to_py(py, e, "Event"))?;
        Ok(PyEvent::wrap(inner, Source::Anonymous))
    }

    fn __repr__(&self) -> String {
        format!(
            "<interlock.Event {}, {}>",
            self.label(),
            if self.inner.is_set() { "set" } else { "unset" }
        )
    }
}

/// multiprocessing.Barrier (threading.Barrier's API) whose waiters are told when a party dies.
#[pyclass(frozen, module = "interlock", name = "Barrier")]
struct PyBarrier {
    inner: std::sync::Arc<interlock::Barrier>,
    source: Source,
    default_timeout: Option<f64>,
    exported: Mutex<Option<OwnedFd>>,
}

impl PyBarrier {
    fn wrap(inner: interlock::Barrier, source: Source, timeout: Option<f64>) -> PyBarrier {
        PyBarrier {
            inner: std::sync::Arc::new(inner),
            source,
            default_timeout: timeout,
            exported: Mutex::new(None),
        }
    }

    fn label(&self) -> String {
        self.source.label("Barrier")
    }
}

#[pymethods]
impl PyBarrier {
    #[new]
    #[pyo3(signature = (parties, action = None, timeout = None))]
    fn py_new(
        py: Python<'_>,
        parties: i128,
        action: Option<Py<PyAny>>,
        timeout: Option<f64>,
    ) -> PyResult<PyBarrier> {
        let parties = count(py, parties, "Barrier", "a barrier's parties")?;
        if action.is_some() {
            return Err(PyValueError::new_err(
                "interlock.Barrier takes no action: the last party to arrive releases the others \
                 at once; run the action after wait() in the party whose index is parties - 1",
            ));
        }
        let inner = interlock::Barrier::new(parties).map_err(|e| to_py(py, e, "Barrier"))?;
        Ok(PyBarrier::wrap(inner, Source::Anonymous, timeout))
    }

    /// Opens (creating if needed, for `parties`) the barrier named `name`.
    #[staticmethod]
    #[pyo3(signature = (name, parties, timeout = None))]
    fn open(
        py: Python<'_>,
        name: &str,
        parties: i128,
        timeout: Option<f64>,
    ) -> PyResult<PyBarrier> {
        let parties = count(py, parties, name, "a barrier's parties")?;
        let inner = interlock::Barrier::open(name, parties).map_err(|e| to_py(py, e, name))?;
        Ok(PyBarrier::wrap(
            inner,
            Source::Name(name.to_owned()),
            timeout,
        ))
    }

    /// Opens (creating if needed, for `parties`, with `mode`) the barrier file at `path`.
    #[staticmethod]
    #[pyo3(signature = (path, parties, mode = 0o600, timeout = None))]
    fn open_path(
        py: Python<'_>,
        path: PathBuf,
        parties: i128,
        mode: u32,
        timeout: Option<f64>,
    ) -> PyResult<PyBarrier> {
        let label = path.display().to_string();
        let parties = count(py, parties, &label, "a barrier's parties")?;
        let inner = interlock::Barrier::open_path(&path, mode, parties)
            .map_err(|e| to_py(py, e, &label))?;
        Ok(PyBarrier::wrap(inner, Source::Path(path), timeout))
    }

    /// Waits for every party; returns this party's place in the arrival order (0 to
    /// parties - 1). Raises `interlock.BrokenBarrier` (a `threading.BrokenBarrierError`) when
    /// the barrier is or gets broken: a party died (named), a wait timed out, abort, reset.
    ///
    /// An arrival cannot be taken back, so Ctrl-C on the main thread breaks the barrier (for
    /// every party, as a timeout does) before `KeyboardInterrupt` is raised. The main thread's
    /// wait runs on a helper thread of this process, for the main thread to check signals.
    #[pyo3(signature = (timeout = None))]
    fn wait(&self, py: Python<'_>, timeout: Option<f64>) -> PyResult<u32> {
        let timeout = match timeout.or(self.default_timeout) {
            None => None,
            t => Some(deadline(t)?.unwrap_or(Duration::MAX)),
        };
        let run = move |b: &interlock::Barrier| match timeout {
            None => b.wait(),
            Some(t) => b.wait_timeout(t),
        };
        let result = if on_main_thread() {
            let (tx, rx) = std::sync::mpsc::channel();
            let barrier = std::sync::Arc::clone(&self.inner);
            std::thread::Builder::new()
                .name("interlock-barrier-wait".into())
                .spawn(move || {
                    let _ = tx.send(run(&barrier));
                })
                .map_err(|e| {
                    PyOSError::new_err(format!("cannot start the barrier's waiter: {e}"))
                })?;
            // The receiver goes into each GIL-free wait and comes back (it is Send, not Sync).
            let mut rx = rx;
            loop {
                let (got, back) = py.detach(move || {
                    let got = rx.recv_timeout(SLICE);
                    (got, rx)
                });
                rx = back;
                match got {
                    Ok(result) => break result,
                    Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                        if let Err(interrupt) = py.check_signals() {
                            self.inner.abort();
                            // The helper's wait ends at once (broken); its result is moot.
                            let _ = py.detach(move || rx.recv());
                            return Err(interrupt);
                        }
                    }
                    Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                        return Err(PyOSError::new_err("the barrier's waiter thread died"));
                    }
                }
            }
        } else {
            py.detach(|| run(&self.inner))
        };
        result
            .map(|passed| passed.index())
            .map_err(|e| to_py(py, e, &self.label()))
    }

    /// Breaks the barrier: waiting parties, and every wait until `reset()`, raise BrokenBarrier.
    fn abort(&self) {
        self.inner.abort()
    }

    /// Mends the barrier for a new generation; parties waiting now raise BrokenBarrier.
    fn reset(&self) {
        self.inner.reset()
    }

    #[getter]
    fn parties(&self) -> u32 {
        self.inner.parties()
    }

    /// Parties waiting in the current generation.
    #[getter]
    fn n_waiting(&self) -> u32 {
        self.inner.status().arrived
    }

    #[getter]
    fn broken(&self) -> bool {
        self.inner.status().broken.is_some()
    }

    #[getter]
    fn name(&self) -> Option<String> {
        match &self.source {
            Source::Anonymous => None,
            Source::Name(n) => Some(n.clone()),
            Source::Path(p) => Some(p.display().to_string()),
        }
    }

    fn __reduce__<'py>(
        slf: &Bound<'py, Self>,
    ) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyTuple>)> {
        let parties = u64::from(slf.get().inner.parties());
        reduce(
            slf.as_any(),
            &slf.get().source,
            ints(slf.py(), &[parties])?,
            vec![],
        )
    }

    fn _export_fd(&self) -> PyResult<RawFd> {
        export_once(&self.exported, &self.label(), || self.inner.try_clone_fd())
    }

    #[staticmethod]
    fn _adopt_fd(py: Python<'_>, fd: RawFd) -> PyResult<PyBarrier> {
        let inner =
            adopt_fd(fd, interlock::Barrier::from_fd).map_err(|e| to_py(py, e, "Barrier"))?;
        Ok(PyBarrier::wrap(inner, Source::Anonymous, None))
    }

    fn __repr__(&self) -> String {
        let s = self.inner.status();
        format!(
            "<interlock.Barrier {}, {} of {} waiting{}>",
            self.label(),
            s.arrived,
            s.parties,
            s.broken
                .map(|b| format!(", broken: {b}"))
                .unwrap_or_default()
        )
    }
}

/// The extension module.
#[pymodule]
fn _interlock(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    let after_fork = wrap_pyfunction!(_after_fork_in_child, m)?;
    let kwargs = pyo3::types::PyDict::new(py);
    kwargs.set_item("after_in_child", after_fork)?;
    py.import("os")?
        .getattr("register_at_fork")?
        .call((), Some(&kwargs))?;
    m.add_class::<PyLock>()?;
    m.add_class::<PyRLock>()?;
    m.add_class::<PySemaphore>()?;
    m.add_class::<PyEvent>()?;
    m.add_class::<PyBarrier>()?;
    m.add_class::<LockStatus>()?;
    m.add_class::<Holder>()?;
    m.add_class::<HoldFor>()?;
    m.add_class::<cond_rw::PyCondition>()?;
    m.add_class::<cond_rw::PyRwLock>()?;
    m.add_class::<cond_rw::RwHold>()?;
    m.add_class::<value::PyValue>()?;
    Ok(())
}
