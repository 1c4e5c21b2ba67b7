//! `Condition` (multiprocessing.Condition over an interlock `Lock` or `RLock`) and `RwLock`
//! (no multiprocessing equivalent), with the conventions of the other classes: the GIL given up
//! while waiting, Ctrl-C seen between slices on the main thread, typed exceptions.

use std::os::fd::{OwnedFd, RawFd};
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use interlock::{ConditionGuard, Error};
use pyo3::prelude::*;
use pyo3::types::PyTuple;

use crate::{
    acquire, adopt_fd, count, deadline, export_once, ints, on_main_thread, reduce, to_py, Handle,
    Last, PyLock, PyRLock, Source, Taken, Wait,
};

/// A value moved into `Python::detach`'s closure and back on the same thread. Guards are
/// `!Send` (a hold belongs to its thread), but `detach` runs its closure on the calling thread,
/// so nothing crosses threads.
struct SameThread<T>(T);

// SAFETY: only used to move a guard into `Python::detach`, which runs the closure on the
// calling thread and returns before the caller continues: the guard never leaves its thread.
unsafe impl<T> Send for SameThread<T> {}

/// The lock a condition is bound to.
enum BoundLock {
    Lock(Py<PyLock>),
    RLock(Py<PyRLock>),
}

/// multiprocessing.Condition(lock) across processes, bound to an interlock `Lock` or `RLock`.
///
/// A waiter SIGKILLed while it waits hangs nobody (multiprocessing's `notify` waits for every
/// waiter it wakes to answer, and so hangs for ever once one was killed).
#[pyclass(frozen, module = "interlock", name = "Condition")]
pub(crate) struct PyCondition {
    inner: interlock::Condition,
    lock: BoundLock,
    source: Source,
    exported: Mutex<Option<OwnedFd>>,
}

/// `lock` as the lock a condition binds to: an interlock Lock or RLock, or a new RLock for
/// None (multiprocessing's default).
fn bound_lock(py: Python<'_>, lock: Option<Bound<'_, PyAny>>) -> PyResult<BoundLock> {
    let lock = match lock {
        Some(lock) => lock,
        None => Bound::new(py, PyRLock::py_new(py)?)?.into_any(),
    };
    if let Ok(l) = lock.cast::<PyLock>() {
        return Ok(BoundLock::Lock(l.clone().unbind()));
    }
    if let Ok(l) = lock.cast::<PyRLock>() {
        return Ok(BoundLock::RLock(l.clone().unbind()));
    }
    Err(pyo3::exceptions::PyTypeError::new_err(format!(
        "an interlock Condition is bound to an interlock.Lock or interlock.RLock, not {}",
        lock.get_type().name()?
    )))
}

impl PyCondition {
    fn make(
        py: Python<'_>,
        lock: Option<Bound<'_, PyAny>>,
        source: Source,
        open: impl FnOnce(
            interlock::Options<interlock::Condition>,
        ) -> Result<interlock::Condition, Error>,
    ) -> PyResult<PyCondition> {
        let lock = bound_lock(py, lock)?;
        let options = match &lock {
            BoundLock::Lock(l) => interlock::Condition::options().lock(&l.get().inner),
            BoundLock::RLock(l) => interlock::Condition::options().lock(&l.get().inner),
        };
        let label = source.label("Condition");
        let inner = open(options).map_err(|e| to_py(py, e, &label))?;
        Ok(PyCondition {
            inner,
            lock,
            source,
            exported: Mutex::new(None),
        })
    }

    fn label(&self) -> String {
        self.source.label("Condition")
    }

    fn lock_object<'py>(&self, py: Python<'py>) -> Bound<'py, PyAny> {
        match &self.lock {
            BoundLock::Lock(l) => l.bind(py).clone().into_any(),
            BoundLock::RLock(l) => l.bind(py).clone().into_any(),
        }
    }

    fn held_by_me(&self, py: Python<'_>) -> bool {
        match &self.lock {
            BoundLock::Lock(l) => l.bind(py).get().inner.is_held_by_current_thread(),
            BoundLock::RLock(l) => l.bind(py).get().inner.is_held_by_current_thread(),
        }
    }

    /// `wait`: the lock given up, the wait, the lock taken again; whether notified.
    fn wait_inner(&self, py: Python<'_>, timeout: Option<f64>) -> PyResult<bool> {
        let timeout = deadline(timeout)?;
        let label = self.label();
        match &self.lock {
            BoundLock::Lock(l) => {
                let lock = l.bind(py).get();
                let guard = lock.inner.held_guard().map_err(|e| to_py(py, e, &label))?;
                wait_interruptible(py, &self.inner, guard, timeout, &lock.last, &label, |g| {
                    (g.token(), g.previous_owner_died())
                })
            }
            BoundLock::RLock(l) => {
                let lock = l.bind(py).get();
                let guard = lock.inner.held_guard().map_err(|e| to_py(py, e, &label))?;
                wait_interruptible(py, &self.inner, guard, timeout, &lock.last, &label, |g| {
                    (g.token(), g.previous_owner_died())
                })
            }
        }
    }
}

/// The wait of a condition, with `guard` over the calling thread's hold; the guard it ends
/// with is forgotten (the hold stays, for Python's `release()`), its token and owner-died
/// noted in `last`.
///
/// One core wait, with the GIL given up (`Condition::wait_interruptible`): on the main thread
/// it takes the GIL back at each of the core's wake-ups without a notification (every 20 ms at
/// most) to run signal handlers, and a handler's exception (`KeyboardInterrupt`) ends the wait
/// with the lock held again, as Python's `Condition.wait` holds it when it raises. The waiter
/// stays counted in all along, so a notification is never missed and a wait never ends without
/// one (or the timeout).
fn wait_interruptible<'a, G: ConditionGuard<'a>>(
    py: Python<'_>,
    cond: &interlock::Condition,
    guard: G,
    timeout: Option<Duration>,
    last: &Last,
    label: &str,
    parts: impl Fn(&G) -> (u64, bool),
) -> PyResult<bool> {
    let main = on_main_thread();
    let mut interrupt: Option<PyErr> = None;
    let g = SameThread(guard);
    let result = py.detach(|| {
        let g = g;
        SameThread(cond.wait_interruptible(g.0, timeout, || {
            if !main {
                return false;
            }
            match Python::attach(|py| py.check_signals()) {
                Ok(()) => false,
                Err(e) => {
                    interrupt = Some(e);
                    true
                }
            }
        }))
    });
    let (guard, r) = result.0.map_err(|e| to_py(py, e, label))?;
    let (token, owner_died) = parts(&guard);
    last.note(Taken { token, owner_died });
    // The hold stays: Python's `release()` (or `__exit__`) ends it.
    std::mem::forget(guard);
    match interrupt {
        Some(e) => Err(e),
        None => Ok(!r.timed_out()),
    }
}

#[pymethods]
impl PyCondition {
    /// A new anonymous condition bound to `lock` (an interlock Lock or RLock; None: a new
    /// RLock, as multiprocessing.Condition makes).
    #[new]
    #[pyo3(signature = (lock = None))]
    fn py_new(py: Python<'_>, lock: Option<Bound<'_, PyAny>>) -> PyResult<PyCondition> {
        PyCondition::make(py, lock, Source::Anonymous, |o| o.create())
    }

    /// Opens (creating if needed, bound to `lock`) the condition named `name`; it must be
    /// bound to `lock` if it exists.
    #[staticmethod]
    fn open(py: Python<'_>, name: &str, lock: Bound<'_, PyAny>) -> PyResult<PyCondition> {
        PyCondition::make(py, Some(lock), Source::Name(name.to_owned()), |o| {
            o.open(name)
        })
    }

    /// Opens (creating if needed, bound to `lock`, with `mode`) the condition file at `path`.
    #[staticmethod]
    #[pyo3(signature = (path, lock, mode = 0o600))]
    fn open_path(
        py: Python<'_>,
        path: PathBuf,
        lock: Bound<'_, PyAny>,
        mode: u32,
    ) -> PyResult<PyCondition> {
        let at = path.clone();
        PyCondition::make(py, Some(lock), Source::Path(path), move |o| {
            o.mode(mode).open_path(&at)
        })
    }

    /// The lock the condition is bound to.
    #[getter]
    fn lock<'py>(&self, py: Python<'py>) -> Bound<'py, PyAny> {
        self.lock_object(py)
    }

    /// The lock's acquire.
    #[pyo3(signature = (block = true, timeout = None))]
    fn acquire(&self, py: Python<'_>, block: bool, timeout: Option<f64>) -> PyResult<bool> {
        self.lock_object(py)
            .call_method1("acquire", (block, timeout))?
            .extract()
    }

    /// The lock's release.
    fn release(&self, py: Python<'_>) -> PyResult<()> {
        self.lock_object(py).call_method0("release").map(drop)
    }

    fn __enter__(&self, py: Python<'_>) -> PyResult<bool> {
        self.acquire(py, true, None)
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

    /// Releases the lock (every level of an RLock), waits until notified or `timeout` seconds
    /// pass, and takes the lock again. True unless the time ran out. Wait in a loop that
    /// checks what it waits for (or use `wait_for`): a wake-up without a notification of its
    /// own is possible. Raises `NotOwner` (an AssertionError, as multiprocessing's) when the
    /// calling thread does not hold the lock.
    #[pyo3(signature = (timeout = None))]
    fn wait(&self, py: Python<'_>, timeout: Option<f64>) -> PyResult<bool> {
        self.wait_inner(py, timeout)
    }

    /// Waits until `predicate()` is true (checked first, then after each wake-up) or
    /// `timeout` seconds pass; returns the predicate's last value.
    #[pyo3(signature = (predicate, timeout = None))]
    fn wait_for<'py>(
        &self,
        py: Python<'py>,
        predicate: Bound<'py, PyAny>,
        timeout: Option<f64>,
    ) -> PyResult<Bound<'py, PyAny>> {
        // None: for ever (no timeout, or one too far to represent).
        let end = deadline(timeout)?.and_then(|d| Instant::now().checked_add(d));
        loop {
            let result = predicate.call0()?;
            if result.is_truthy()? {
                return Ok(result);
            }
            let wait = match end {
                Some(end) => {
                    let left = end.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return Ok(result);
                    }
                    Some(left.as_secs_f64())
                }
                None => None,
            };
            self.wait_inner(py, wait)?;
        }
    }

    /// Wakes up to `n` waiters. Raises `NotOwner` when the calling thread does not hold the
    /// lock (multiprocessing asserts it).
    #[pyo3(signature = (n = 1))]
    fn notify(&self, py: Python<'_>, n: u32) -> PyResult<()> {
        self.check_owned(py)?;
        self.inner.notify(n);
        Ok(())
    }

    /// Wakes every waiter. Raises `NotOwner` when the calling thread does not hold the lock.
    fn notify_all(&self, py: Python<'_>) -> PyResult<()> {
        self.check_owned(py)?;
        self.inner.notify_all();
        Ok(())
    }

    /// Threads waiting now (killed waiters included until a living waiter counts them out).
    #[getter]
    fn waiters(&self) -> u32 {
        self.inner.status().waiters
    }

    #[getter]
    fn name(&self) -> Option<String> {
        self.source.name()
    }

    fn __reduce__<'py>(
        slf: &Bound<'py, Self>,
    ) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyTuple>)> {
        let lock = slf.get().lock_object(slf.py());
        reduce(
            slf.as_any(),
            &slf.get().source,
            vec![lock.clone()],
            vec![lock],
        )
    }

    fn _export_fd(&self) -> PyResult<RawFd> {
        export_once(&self.exported, &self.label(), || self.inner.try_clone_fd())
    }

    /// Adopts a condition received as descriptor `fd` (which stays the caller's), bound to
    /// `lock`.
    #[staticmethod]
    fn _adopt_fd(py: Python<'_>, fd: RawFd, lock: Bound<'_, PyAny>) -> PyResult<PyCondition> {
        PyCondition::make(py, Some(lock), Source::Anonymous, |o| {
            adopt_fd(fd, |fd| o.from_fd(fd))
        })
    }

    fn __repr__(&self) -> String {
        let s = self.inner.status();
        format!(
            "<interlock.Condition {}, {} waiting>",
            self.label(),
            s.waiters
        )
    }
}

impl PyCondition {
    fn check_owned(&self, py: Python<'_>) -> PyResult<()> {
        if self.held_by_me(py) {
            return Ok(());
        }
        let err = Error::NotOwner {
            lock: format!("{} (cannot notify on an un-acquired lock)", self.label()),
            holder: None,
        };
        Err(to_py(py, err, &self.label()))
    }
}

/// The read side of an rwlock, for the shared acquisition loop.
struct ReadSide<'a>(&'a interlock::RwLock);

/// The write side of an rwlock, for the shared acquisition loop.
struct WriteSide<'a>(&'a interlock::RwLock);

impl Handle for ReadSide<'_> {
    fn take(&self, wait: Wait) -> Result<Option<Taken>, Error> {
        let guard = match wait {
            Wait::Never => self.0.try_read()?,
            Wait::For(d) => self.0.try_read_for(d)?,
            Wait::Forever => Some(self.0.read()?),
        };
        Ok(guard.map(|g| {
            let taken = Taken {
                token: 0,
                owner_died: g.previous_owner_died(),
            };
            // Python's `release_read()` ends it (`RwLock::release_read`).
            std::mem::forget(g);
            taken
        }))
    }
}

impl Handle for WriteSide<'_> {
    fn take(&self, wait: Wait) -> Result<Option<Taken>, Error> {
        let guard = match wait {
            Wait::Never => self.0.try_write()?,
            Wait::For(d) => self.0.try_write_for(d)?,
            Wait::Forever => Some(self.0.write()?),
        };
        Ok(guard.map(|g| {
            let taken = Taken {
                token: g.token(),
                owner_died: g.previous_owner_died(),
            };
            // Python's `release_write()` ends it (`RwLock::release_write`).
            std::mem::forget(g);
            taken
        }))
    }
}

/// A reader-writer lock across processes: many readers or one writer; a reader or writer
/// SIGKILLed inside gives its hold back, and the next writer (or the next reader, after a dead
/// writer) is told. Writers are preferred.
#[pyclass(frozen, module = "interlock", name = "RwLock")]
pub(crate) struct PyRwLock {
    inner: interlock::RwLock,
    source: Source,
    last: Last,
    exported: Mutex<Option<OwnedFd>>,
}

impl PyRwLock {
    fn wrap(inner: interlock::RwLock, source: Source) -> PyRwLock {
        PyRwLock {
            inner,
            source,
            last: Last::default(),
            exported: Mutex::new(None),
        }
    }

    fn label(&self) -> String {
        self.source.label("RwLock")
    }

    fn take(
        &self,
        py: Python<'_>,
        write: bool,
        block: bool,
        timeout: Option<f64>,
    ) -> PyResult<bool> {
        let got = if write {
            acquire(
                py,
                &WriteSide(&self.inner),
                &|| self.label(),
                block,
                timeout,
            )?
        } else {
            acquire(py, &ReadSide(&self.inner), &|| self.label(), block, timeout)?
        };
        match got {
            // A read has no token: `token` stays the latest write's.
            Some(taken) if write => {
                self.last.note(taken);
                Ok(true)
            }
            Some(taken) => {
                self.last
                    .owner_died
                    .store(taken.owner_died, std::sync::atomic::Ordering::Relaxed);
                Ok(true)
            }
            None => Ok(false),
        }
    }

    fn options(
        py: Python<'_>,
        label: &str,
        readers: Option<i128>,
        prefer_readers: Option<bool>,
    ) -> PyResult<interlock::Options<interlock::RwLock>> {
        let mut options = interlock::RwLock::options();
        if let Some(n) = readers {
            options = options.readers(count(py, n, label, "an rwlock's reader slots")?);
        }
        Ok(match prefer_readers {
            Some(true) => options.policy(interlock::RwPolicy::PreferReaders),
            Some(false) => options.policy(interlock::RwPolicy::PreferWriters),
            None => options,
        })
    }
}

#[pymethods]
impl PyRwLock {
    /// A new anonymous rwlock with `readers` reader slots (at most that many readers at once;
    /// 64 by default, at most 128). `prefer_readers=True`: new readers pass a writer that
    /// waits for the readers inside (glibc's default policy; a writer may then wait for
    /// ever under overlapping readers); by default a waiting writer keeps new readers out.
    #[new]
    #[pyo3(signature = (readers = None, *, prefer_readers = None))]
    fn py_new(
        py: Python<'_>,
        readers: Option<i128>,
        prefer_readers: Option<bool>,
    ) -> PyResult<PyRwLock> {
        let inner = PyRwLock::options(py, "RwLock", readers, prefer_readers)?
            .create()
            .map_err(|e| to_py(py, e, "RwLock"))?;
        Ok(PyRwLock::wrap(inner, Source::Anonymous))
    }

    /// Opens (creating if needed) the rwlock named `name`. `prefer_readers` (True or False)
    /// sets the policy of a new one and must match an existing one's; None takes either.
    #[staticmethod]
    #[pyo3(signature = (name, readers = None, *, prefer_readers = None))]
    fn open(
        py: Python<'_>,
        name: &str,
        readers: Option<i128>,
        prefer_readers: Option<bool>,
    ) -> PyResult<PyRwLock> {
        let inner = PyRwLock::options(py, name, readers, prefer_readers)?
            .open(name)
            .map_err(|e| to_py(py, e, name))?;
        Ok(PyRwLock::wrap(inner, Source::Name(name.to_owned())))
    }

    /// Opens (creating if needed, with `mode`) the rwlock file at `path`.
    #[staticmethod]
    #[pyo3(signature = (path, readers = None, mode = 0o600, *, prefer_readers = None))]
    fn open_path(
        py: Python<'_>,
        path: PathBuf,
        readers: Option<i128>,
        mode: u32,
        prefer_readers: Option<bool>,
    ) -> PyResult<PyRwLock> {
        let label = path.display().to_string();
        let inner = PyRwLock::options(py, &label, readers, prefer_readers)?
            .mode(mode)
            .open_path(&path)
            .map_err(|e| to_py(py, e, &label))?;
        Ok(PyRwLock::wrap(inner, Source::Path(path)))
    }

    /// Takes a read: True when taken, False when not in time (or at once, for block=False).
    #[pyo3(signature = (block = true, timeout = None))]
    fn acquire_read(&self, py: Python<'_>, block: bool, timeout: Option<f64>) -> PyResult<bool> {
        self.take(py, false, block, timeout)
    }

    /// Gives back a read of the calling thread; NotOwner when it holds none.
    fn release_read(&self, py: Python<'_>) -> PyResult<()> {
        self.inner
            .release_read()
            .map_err(|e| to_py(py, e, &self.label()))
    }

    /// Takes the write: True when taken, False when not in time (or at once, for block=False).
    #[pyo3(signature = (block = true, timeout = None))]
    fn acquire_write(&self, py: Python<'_>, block: bool, timeout: Option<f64>) -> PyResult<bool> {
        self.take(py, true, block, timeout)
    }

    /// Gives back the calling thread's write; NotOwner when it does not hold it.
    fn release_write(&self, py: Python<'_>) -> PyResult<()> {
        self.inner
            .release_write()
            .map_err(|e| to_py(py, e, &self.label()))
    }

    /// `with rw.read(timeout=None):` — a read for the block; raises `interlock.Timeout` (naming
    /// the writer) when not taken in time.
    #[pyo3(signature = (timeout = None))]
    fn read(slf: &Bound<'_, Self>, timeout: Option<f64>) -> RwHold {
        RwHold {
            rw: slf.clone().unbind(),
            write: false,
            timeout,
        }
    }

    /// `with rw.write(timeout=None):` — the write for the block; raises `interlock.Timeout`
    /// (naming a holder) when not taken in time.
    #[pyo3(signature = (timeout = None))]
    fn write(slf: &Bound<'_, Self>, timeout: Option<f64>) -> RwHold {
        RwHold {
            rw: slf.clone().unbind(),
            write: true,
            timeout,
        }
    }

    /// True when this process's latest acquisition through this object found that a holder
    /// had died inside (a writer, or for a write also a reader).
    #[getter]
    fn previous_owner_died(&self) -> bool {
        self.last
            .owner_died
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The fencing token of this process's latest write through this object.
    #[getter]
    fn token(&self) -> u64 {
        self.last.token.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Whether the rwlock is poisoned (a writer died inside; nobody cleared it since).
    #[getter]
    fn is_poisoned(&self) -> bool {
        self.inner.is_poisoned()
    }

    /// Clears the poison mark, after the protected state was checked or repaired.
    fn clear_poison(&self) {
        self.inner.clear_poison()
    }

    /// How many reader slots it has.
    #[getter]
    fn reader_slots(&self) -> usize {
        self.inner.reader_slots()
    }

    /// `"prefer_writers"` (the default) or `"prefer_readers"`: the rwlock's policy, fixed when
    /// it was created.
    #[getter]
    fn policy(&self) -> &'static str {
        match self.inner.policy() {
            interlock::RwPolicy::PreferReaders => "prefer_readers",
            _ => "prefer_writers",
        }
    }

    /// How many readers hold it now.
    #[getter]
    fn readers(&self) -> usize {
        self.inner.status().readers.len()
    }

    /// Whether a writer holds it now.
    #[getter]
    fn write_locked(&self) -> bool {
        self.inner.status().writer.is_some()
    }

    #[getter]
    fn name(&self) -> Option<String> {
        self.source.name()
    }

    fn __reduce__<'py>(
        slf: &Bound<'py, Self>,
    ) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyTuple>)> {
        let slots = slf.get().inner.reader_slots() as u64;
        reduce(
            slf.as_any(),
            &slf.get().source,
            ints(slf.py(), &[slots])?,
            vec![],
        )
    }

    fn _export_fd(&self) -> PyResult<RawFd> {
        export_once(&self.exported, &self.label(), || self.inner.try_clone_fd())
    }

    #[staticmethod]
    fn _adopt_fd(py: Python<'_>, fd: RawFd) -> PyResult<PyRwLock> {
        let inner = adopt_fd(fd, interlock::RwLock::from_fd).map_err(|e| to_py(py, e, "RwLock"))?;
        Ok(PyRwLock::wrap(inner, Source::Anonymous))
    }

    /// `RwHold`'s entry: a read or the write, or `interlock.Timeout`.
    #[pyo3(signature = (write, timeout = None))]
    fn _acquire_or_raise(&self, py: Python<'_>, write: bool, timeout: Option<f64>) -> PyResult<()> {
        let started = Instant::now();
        if self.take(py, write, true, timeout)? {
            return Ok(());
        }
        let status = self.inner.status();
        let holder = status
            .writer
            .or_else(|| status.readers.into_iter().next().map(|r| r.holder));
        let err = Error::Timeout {
            lock: self.label(),
            waited: started.elapsed(),
            holder: holder.map(Box::new),
        };
        Err(to_py(py, err, &self.label()))
    }

    fn __repr__(&self) -> String {
        let s = self.inner.status();
        let state = match &s.writer {
            Some(w) => format!("written by pid {}", w.pid),
            None if s.readers.is_empty() => "free".into(),
            None => format!("{} readers", s.readers.len()),
        };
        format!("<interlock.RwLock {}, {state}>", self.label())
    }
}

/// `rw.read(timeout)` / `rw.write(timeout)`: takes on entry (raising `interlock.Timeout`),
/// gives back on exit.
#[pyclass(frozen, module = "interlock")]
pub(crate) struct RwHold {
    rw: Py<PyRwLock>,
    write: bool,
    timeout: Option<f64>,
}

#[pymethods]
impl RwHold {
    fn __enter__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyRwLock>> {
        let rw = self.rw.bind(py);
        rw.get()._acquire_or_raise(py, self.write, self.timeout)?;
        Ok(rw.clone())
    }

    #[pyo3(signature = (_exc_type = None, _exc_value = None, _traceback = None))]
    fn __exit__(
        &self,
        py: Python<'_>,
        _exc_type: Option<&Bound<'_, PyAny>>,
        _exc_value: Option<&Bound<'_, PyAny>>,
        _traceback: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        let rw = self.rw.bind(py).get();
        if self.write {
            rw.release_write(py)
        } else {
            rw.release_read(py)
        }
    }
}
