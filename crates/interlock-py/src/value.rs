//! `Value` (multiprocessing.Value over the core's crash-safe `interlock::Value<T>`): one typed
//! value in shared memory with its own lock, for the typecodes whose C type is a Rust `Pod`
//! type (and `'?'`, a `bool` the core checks on every read).
//!
//! A hold spans Python calls (`with v:` … `v.value += 1` … exit), so, as for `Lock`, the
//! acquisition forgets its guard and a later call finds the hold again
//! (`interlock::Value::held_guard`). Writes made while holding are kept here (`pending`) and
//! committed when the hold ends, through the core's two-slot commit: a holder SIGKILLed inside
//! `with v:` leaves the value as it was before the block, never half-written, and the next
//! holder is told (`previous_owner_died`).

use std::os::fd::{OwnedFd, RawFd};
use std::path::PathBuf;
use std::sync::Mutex;

use interlock::Error;
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyString, PyTuple};

use crate::{
    acquire, adopt_fd, export_once, reduce, to_py, Handle, Last, LockStatus, Source, Taken, Wait,
};

/// The typecodes a `Value` takes (Python's `array`/`ctypes` letters), for messages.
const TYPECODES: &str = "'b', 'B', 'h', 'H', 'i', 'I', 'l', 'L', 'q', 'Q', 'f', 'd' or '?'";

/// The core value behind each typecode.
enum Cell {
    I8(interlock::Value<i8>),
    U8(interlock::Value<u8>),
    I16(interlock::Value<i16>),
    U16(interlock::Value<u16>),
    I32(interlock::Value<i32>),
    U32(interlock::Value<u32>),
    I64(interlock::Value<i64>),
    U64(interlock::Value<u64>),
    F32(interlock::Value<f32>),
    F64(interlock::Value<f64>),
    Bool(interlock::Value<bool>),
}

/// `$body` with `$v` bound to the typed core value, and `$t` to its Rust type, whichever the
/// typecode is.
macro_rules! with_cell {
    ($cell:expr, $v:ident: $t:ident => $body:expr) => {
        match $cell {
            Cell::I8($v) => {
                #[allow(dead_code, reason = "not every body names the type")]
                type $t = i8;
                $body
            }
            Cell::U8($v) => {
                #[allow(dead_code, reason = "not every body names the type")]
                type $t = u8;
                $body
            }
            Cell::I16($v) => {
                #[allow(dead_code, reason = "not every body names the type")]
                type $t = i16;
                $body
            }
            Cell::U16($v) => {
                #[allow(dead_code, reason = "not every body names the type")]
                type $t = u16;
                $body
            }
            Cell::I32($v) => {
                #[allow(dead_code, reason = "not every body names the type")]
                type $t = i32;
                $body
            }
            Cell::U32($v) => {
                #[allow(dead_code, reason = "not every body names the type")]
                type $t = u32;
                $body
            }
            Cell::I64($v) => {
                #[allow(dead_code, reason = "not every body names the type")]
                type $t = i64;
                $body
            }
            Cell::U64($v) => {
                #[allow(dead_code, reason = "not every body names the type")]
                type $t = u64;
                $body
            }
            Cell::F32($v) => {
                #[allow(dead_code, reason = "not every body names the type")]
                type $t = f32;
                $body
            }
            Cell::F64($v) => {
                #[allow(dead_code, reason = "not every body names the type")]
                type $t = f64;
                $body
            }
            Cell::Bool($v) => {
                #[allow(dead_code, reason = "not every body names the type")]
                type $t = bool;
                $body
            }
        }
    };
}

/// A Python object as the Rust type of a typecode: ints for the integer codes (OverflowError
/// out of range, where ctypes would wrap), any real number for 'f' and 'd', any object's
/// truth for '?' (as ctypes' `c_bool`).
trait FromPython: Sized {
    fn from_python(obj: &Bound<'_, PyAny>) -> PyResult<Self>;
}

macro_rules! extracted {
    ($($t:ty),*) => {
        $(impl FromPython for $t {
            fn from_python(obj: &Bound<'_, PyAny>) -> PyResult<$t> {
                obj.extract()
            }
        })*
    };
}

extracted!(i8, u8, i16, u16, i32, u32, i64, u64, f32, f64);

impl FromPython for bool {
    fn from_python(obj: &Bound<'_, PyAny>) -> PyResult<bool> {
        obj.is_truthy()
    }
}

/// The zero of a typecode as the initial value: `Value('i')` is 0, as multiprocessing's.
fn zero(py: Python<'_>) -> Bound<'_, PyAny> {
    0i64.into_pyobject(py).expect("an int converts").into_any()
}

/// A typecode: a one-letter string, or a ctypes type (`ctypes.c_int`), read through its
/// `_type_` letter as multiprocessing accepts either.
fn typecode_of(code: &Bound<'_, PyAny>) -> PyResult<char> {
    let letter = if code.is_instance_of::<PyString>() {
        code.clone()
    } else {
        code.getattr("_type_").map_err(|_| {
            PyTypeError::new_err(format!(
                "a Value's type is a typecode ({TYPECODES}) or a ctypes type, not {}",
                code.repr().map(|r| r.to_string()).unwrap_or_default()
            ))
        })?
    };
    let letter: String = letter.extract()?;
    let mut chars = letter.chars();
    match (chars.next(), chars.next()) {
        (Some(c), None) if "bBhHiIlLqQfd?".contains(c) => Ok(c),
        _ => Err(PyValueError::new_err(format!(
            "unsupported Value typecode {letter:?}: interlock.Value takes {TYPECODES} \
             (one number or flag of a fixed size; not 'c', 'u' or arrays)"
        ))),
    }
}

/// Whether C's `long` is 64 bits here (it is on every 64-bit Linux).
const LONG_IS_64: bool = std::mem::size_of::<std::ffi::c_long>() == 8;

/// The core value of typecode `$code`: `$body` evaluated with `$o` bound to the builder of the
/// right type, its initial value `$initial` converted to that type.
macro_rules! open_cell {
    ($code:expr, $initial:expr, $o:ident => $body:expr) => {{
        macro_rules! arm {
            ($variant:ident, $t:ty) => {{
                let $o = interlock::Value::options().initial(<$t>::from_python($initial)?);
                Cell::$variant($body)
            }};
        }
        match $code {
            'b' => arm!(I8, i8),
            'B' => arm!(U8, u8),
            'h' => arm!(I16, i16),
            'H' => arm!(U16, u16),
            'i' => arm!(I32, i32),
            'I' => arm!(U32, u32),
            'l' if !LONG_IS_64 => arm!(I32, i32),
            'L' if !LONG_IS_64 => arm!(U32, u32),
            'q' | 'l' => arm!(I64, i64),
            'Q' | 'L' => arm!(U64, u64),
            'f' => arm!(F32, f32),
            'd' => arm!(F64, f64),
            _ => arm!(Bool, bool),
        }
    }};
}

impl Handle for Cell {
    fn take(&self, wait: Wait) -> Result<Option<Taken>, Error> {
        with_cell!(self, v: T => {
            let guard = match wait {
                Wait::Never => v.try_lock()?,
                Wait::For(d) => v.try_lock_for(d)?,
                Wait::Forever => Some(v.lock()?),
            };
            Ok(guard.map(|g| {
                let taken = Taken {
                    token: g.token(),
                    owner_died: g.previous_owner_died(),
                };
                // The hold ends in a later call (`end`), through `held_guard`.
                std::mem::forget(g);
                taken
            }))
        })
    }
}

impl Cell {
    /// The committed value, read under the calling thread's hold (which stays).
    fn read_held<'py>(&self, py: Python<'py>, label: &str) -> PyResult<Bound<'py, PyAny>> {
        with_cell!(self, v: T => {
            let guard = v.held_guard().map_err(|e| to_py(py, e, label))?;
            let value: T = *guard;
            std::mem::forget(guard);
            Ok(value.into_pyobject(py)?.to_owned().into_any())
        })
    }

    /// `obj` as this cell's type, back as the Python object that type gives (3 for 'd' is 3.0):
    /// what `value` reads until the hold commits it.
    fn normalise<'py>(&self, obj: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
        let py = obj.py();
        with_cell!(self, _v: T => {
            let value = T::from_python(obj)?;
            Ok(value.into_pyobject(py)?.to_owned().into_any())
        })
    }

    /// Ends the calling thread's hold: `new` (if any) committed with the core's two-slot
    /// write, then the lock released.
    fn end(&self, py: Python<'_>, new: Option<&Bound<'_, PyAny>>, label: &str) -> PyResult<()> {
        with_cell!(self, v: T => {
            let value = new.map(T::from_python).transpose()?;
            let mut guard = v.held_guard().map_err(|e| to_py(py, e, label))?;
            if let Some(value) = value {
                *guard = value;
            }
            guard.unlock().map_err(|e| to_py(py, e, label))
        })
    }

    fn is_held_by_me(&self) -> bool {
        with_cell!(self, v: T => v.is_held_by_current_thread())
    }

    fn status(&self) -> interlock::LockStatus {
        with_cell!(self, v: T => v.status())
    }

    fn is_poisoned(&self) -> bool {
        with_cell!(self, v: T => v.is_poisoned())
    }

    fn clear_poison(&self) {
        with_cell!(self, v: T => v.clear_poison())
    }

    fn try_clone_fd(&self) -> Result<OwnedFd, Error> {
        with_cell!(self, v: T => v.try_clone_fd())
    }
}

/// multiprocessing.Value: one number (or flag) in shared memory with its own lock, which a
/// holder SIGKILLed inside cannot wedge nor leave half-written.
#[pyclass(frozen, module = "interlock", name = "Value")]
pub(crate) struct PyValue {
    cell: Cell,
    typecode: char,
    source: Source,
    last: Last,
    /// What the holding thread wrote during its hold, committed when the hold ends. Only the
    /// thread that holds the value touches it.
    pending: Mutex<Option<Py<PyAny>>>,
    exported: Mutex<Option<OwnedFd>>,
}

impl PyValue {
    fn wrap(cell: Cell, typecode: char, source: Source) -> PyValue {
        PyValue {
            cell,
            typecode,
            source,
            last: Last::default(),
            pending: Mutex::new(None),
            exported: Mutex::new(None),
        }
    }

    fn label(&self) -> String {
        self.source.label("Value")
    }

    fn pending(&self) -> std::sync::MutexGuard<'_, Option<Py<PyAny>>> {
        self.pending.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Takes the value (the shared acquisition loop: GIL released, Ctrl-C between slices).
    fn take(&self, py: Python<'_>, block: bool, timeout: Option<f64>) -> PyResult<bool> {
        match acquire(py, &self.cell, &|| self.label(), block, timeout)? {
            Some(taken) => {
                self.last.note(taken);
                *self.pending() = None;
                Ok(true)
            }
            None => Ok(false),
        }
    }

    /// Ends the calling thread's hold, committing what it wrote if `commit`.
    fn end(&self, py: Python<'_>, commit: bool) -> PyResult<()> {
        let pending = self.pending().take();
        let new = pending.filter(|_| commit).map(|p| p.into_bound(py));
        self.cell.end(py, new.as_ref(), &self.label())
    }

    fn open_with(
        py: Python<'_>,
        typecode: &Bound<'_, PyAny>,
        value: Option<&Bound<'_, PyAny>>,
        source: Source,
        at: OpenAt,
    ) -> PyResult<PyValue> {
        let code = typecode_of(typecode)?;
        let zero = zero(py);
        let initial = value.unwrap_or(&zero);
        let label = source.label("Value");
        let cell = open_cell!(code, initial, o => at.open(o).map_err(|e| to_py(py, e, &label))?);
        Ok(PyValue::wrap(cell, code, source))
    }
}

/// Where a value is opened: anonymous, by name, by path (with a mode), or adopted from a
/// descriptor.
enum OpenAt {
    Anonymous,
    Name(String),
    Path(PathBuf, u32),
    Fd(RawFd),
}

impl OpenAt {
    fn open<T: interlock::ValueType>(
        &self,
        options: interlock::Options<interlock::Value<T>>,
    ) -> Result<interlock::Value<T>, Error> {
        match self {
            OpenAt::Anonymous => options.create(),
            OpenAt::Name(name) => options.open(name),
            OpenAt::Path(path, mode) => options.mode(*mode).open_path(path),
            OpenAt::Fd(fd) => adopt_fd(*fd, |fd| options.from_fd(fd)),
        }
    }
}

#[pymethods]
impl PyValue {
    /// A new anonymous value of `typecode_or_type` (a letter, or a ctypes type), starting at
    /// `value` (0 by default). `lock` is accepted for multiprocessing's signature: an interlock
    /// Value always has its lock (False gives the same locked value).
    #[new]
    #[pyo3(signature = (typecode_or_type, value = None, *, lock = None))]
    fn py_new(
        py: Python<'_>,
        typecode_or_type: &Bound<'_, PyAny>,
        value: Option<&Bound<'_, PyAny>>,
        lock: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<PyValue> {
        if lock.is_some_and(|l| !l.is_instance_of::<pyo3::types::PyBool>()) {
            return Err(PyTypeError::new_err(
                "an interlock Value has a lock of its own: lock must be True or False, not a lock",
            ));
        }
        PyValue::open_with(
            py,
            typecode_or_type,
            value,
            Source::Anonymous,
            OpenAt::Anonymous,
        )
    }

    /// Opens (creating if needed, starting at `value`) the value named `name`. A value that
    /// exists keeps its own; one of another size is `KindMismatch`.
    #[staticmethod]
    #[pyo3(signature = (name, typecode_or_type, value = None))]
    fn open(
        py: Python<'_>,
        name: &str,
        typecode_or_type: &Bound<'_, PyAny>,
        value: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<PyValue> {
        PyValue::open_with(
            py,
            typecode_or_type,
            value,
            Source::Name(name.to_owned()),
            OpenAt::Name(name.to_owned()),
        )
    }

    /// Opens (creating if needed, starting at `value`, with `mode`) the value file at `path`.
    #[staticmethod]
    #[pyo3(signature = (path, typecode_or_type, value = None, mode = 0o600))]
    fn open_path(
        py: Python<'_>,
        path: PathBuf,
        typecode_or_type: &Bound<'_, PyAny>,
        value: Option<&Bound<'_, PyAny>>,
        mode: u32,
    ) -> PyResult<PyValue> {
        let at = OpenAt::Path(path.clone(), mode);
        PyValue::open_with(py, typecode_or_type, value, Source::Path(path), at)
    }

    /// The value. Outside a hold, reading or writing takes the lock for that one access.
    /// Inside `with v:` (or between `acquire()` and `release()`) the calling thread reads what
    /// it wrote, and what it wrote is committed, whole, when the hold ends.
    #[getter]
    fn get_value<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        if self.cell.is_held_by_me() {
            if let Some(p) = self.pending().as_ref() {
                return Ok(p.bind(py).clone());
            }
            return self.cell.read_held(py, &self.label());
        }
        self.take(py, true, None)?;
        let read = self.cell.read_held(py, &self.label());
        let ended = self.end(py, false);
        let value = read?;
        ended?;
        Ok(value)
    }

    #[setter]
    fn set_value(&self, py: Python<'_>, value: &Bound<'_, PyAny>) -> PyResult<()> {
        // Checked (TypeError, OverflowError) before anything is taken or kept.
        let value = self.cell.normalise(value)?;
        if self.cell.is_held_by_me() {
            *self.pending() = Some(value.unbind());
            return Ok(());
        }
        self.take(py, true, None)?;
        *self.pending() = Some(value.unbind());
        self.end(py, true)
    }

    /// The typecode ('i', 'd', …; a ctypes type's letter).
    #[getter]
    fn typecode(&self) -> String {
        self.typecode.to_string()
    }

    /// Takes the value's lock: True when taken, False when not in time (or at once, for
    /// block=False). The GIL is released while waiting; Ctrl-C raises KeyboardInterrupt.
    #[pyo3(signature = (block = true, timeout = None))]
    fn acquire(&self, py: Python<'_>, block: bool, timeout: Option<f64>) -> PyResult<bool> {
        self.take(py, block, timeout)
    }

    /// Commits what the calling thread wrote during its hold and releases; NotOwner when it
    /// does not hold the value.
    fn release(&self, py: Python<'_>) -> PyResult<()> {
        self.end(py, true)
    }

    fn __enter__(&self, py: Python<'_>) -> PyResult<bool> {
        self.take(py, true, None)
    }

    /// Commits and releases; when the block raised, commits nothing (the value stays what it
    /// was before the block, as if the block had not run) and releases.
    #[pyo3(signature = (exc_type = None, _exc_value = None, _traceback = None))]
    fn __exit__(
        &self,
        py: Python<'_>,
        exc_type: Option<&Bound<'_, PyAny>>,
        _exc_value: Option<&Bound<'_, PyAny>>,
        _traceback: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<bool> {
        self.end(py, exc_type.is_none_or(|t| t.is_none()))?;
        Ok(false)
    }

    /// The value itself, whose `with` and `acquire`/`release` are its lock's, so that
    /// `with v.get_lock(): v.value += 1` works unchanged.
    fn get_lock<'py>(slf: &Bound<'py, Self>) -> Bound<'py, Self> {
        slf.clone()
    }

    /// Whether any thread of any process holds the value now.
    fn locked(&self) -> bool {
        self.cell.status().holder.is_some()
    }

    /// True when this process's latest acquisition through this object found that the
    /// previous holder had died holding the value (which is then its value before that hold).
    #[getter]
    fn previous_owner_died(&self) -> bool {
        self.last
            .owner_died
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The fencing token of this process's latest acquisition through this object.
    #[getter]
    fn token(&self) -> u64 {
        self.last.token.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Whether the value is poisoned (a holder died inside; nobody cleared it since).
    #[getter]
    fn is_poisoned(&self) -> bool {
        self.cell.is_poisoned()
    }

    /// Clears the poison mark, after the value was checked or repaired.
    fn clear_poison(&self) {
        self.cell.clear_poison()
    }

    /// The lock's state, read without taking it.
    fn status(&self, py: Python<'_>) -> PyResult<LockStatus> {
        LockStatus::new(py, &self.cell.status())
    }

    /// The name (`open`), path (`open_path`) or None (anonymous).
    #[getter]
    fn name(&self) -> Option<String> {
        self.source.name()
    }

    fn __reduce__<'py>(
        slf: &Bound<'py, Self>,
    ) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyTuple>)> {
        let code = slf.get().typecode().into_pyobject(slf.py())?.into_any();
        reduce(
            slf.as_any(),
            &slf.get().source,
            vec![code.clone()],
            vec![code],
        )
    }

    fn _export_fd(&self) -> PyResult<RawFd> {
        export_once(&self.exported, &self.label(), || self.cell.try_clone_fd())
    }

    /// Adopts a value received as descriptor `fd` (which stays the caller's) of `typecode`.
    #[staticmethod]
    fn _adopt_fd(py: Python<'_>, fd: RawFd, typecode: &Bound<'_, PyAny>) -> PyResult<PyValue> {
        PyValue::open_with(py, typecode, None, Source::Anonymous, OpenAt::Fd(fd))
    }

    fn __repr__(&self) -> String {
        let state = match self.cell.status().holder {
            Some(h) => format!("held by pid {}", h.pid),
            None => "unlocked".into(),
        };
        format!(
            "<interlock.Value {} of type {:?}, {state}>",
            self.label(),
            self.typecode
        )
    }
}
