//! Layer 6: a plain-old-data value in shared memory beside its lock — Python's
//! `multiprocessing.Value`, crash-safe.

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};
use std::time::Duration;

use bytemuck::{CheckedBitPattern, NoUninit, Zeroable};

use crate::handles::options::{handle_methods, Options};
use crate::locks::guard::Hold;
use crate::locks::primitive::Open;
use crate::locks::raw::{Acquisition, Raw, Wait};
use crate::shm::MAX_VALUE;
use crate::sync::{AtomicU64, Ordering};
use crate::sys;
use crate::types::{Error, Kind};

/// The largest type a [`Value`] holds, in bytes: 1 MiB. A larger type (or a zero-sized one) is
/// refused with [`Error::ValueTypeSize`] before anything is created.
///
/// # Examples
///
/// ```
/// assert_eq!(interlock::MAX_VALUE_SIZE, 1 << 20);
/// assert!(std::mem::size_of::<[u64; 4096]>() <= interlock::MAX_VALUE_SIZE);
/// ```
pub const MAX_VALUE_SIZE: usize = MAX_VALUE;

/// The types a [`Value`] holds: plain bytes without padding ([`NoUninit`]), read back through
/// a check of their bit pattern ([`CheckedBitPattern`]) whose plain twin (`Bits`) has no
/// padding either. Implemented for every such type; nothing to implement by hand.
///
/// That is every [`Pod`](crate::Pod) type (integers, floats, arrays of them, `#[repr(C)]`
/// structs of them: every bit pattern valid, the check free), and the types with invalid bit
/// patterns whose twin is an integer: `bool`, `char`, the `NonZero` integers, and fieldless
/// `#[repr(u8)]` (or other integer) enums deriving [`NoUninit`] and [`CheckedBitPattern`]. Bytes
/// that are no valid value — written by another program, or by a `Value<u8>` under the same
/// name — are [`Error::ValueBytes`] when read, never undefined behaviour.
///
/// Not (yet) a struct with a `bool` or enum field: the twin that
/// `#[derive(CheckedBitPattern)]` makes for a struct is not [`NoUninit`]. Keep such a field as
/// an integer in a `Pod` struct (`ready: u8`), or hold it in a `Value` of its own.
///
/// # Examples
///
/// ```
/// use interlock::{CheckedBitPattern, NoUninit, Value};
///
/// #[derive(Clone, Copy, Debug, PartialEq, NoUninit, CheckedBitPattern)]
/// #[bytemuck(crate = "interlock::bytemuck")] // no bytemuck dependency of your own needed
/// #[repr(u8)]
/// enum Phase {
///     Idle = 0,
///     Running = 1,
///     Done = 2,
/// }
///
/// let ready = Value::new(false)?;
/// ready.set(true)?;
/// let phase = Value::new(Phase::Idle)?;
/// phase.update(|p| *p = Phase::Running)?;
/// assert_eq!((ready.get()?, phase.get()?), (true, Phase::Running));
///
/// fn reset<T: interlock::ValueType>(v: &Value<T>, to: T) -> Result<(), interlock::Error> {
///     v.set(to)
/// }
/// reset(&phase, Phase::Done)?;
/// # Ok::<(), interlock::Error>(())
/// ```
pub trait ValueType: NoUninit + CheckedBitPattern<Bits: NoUninit> {}

impl<T: NoUninit + CheckedBitPattern<Bits: NoUninit>> ValueType for T {}

/// A value of type `T` in shared memory, with its own lock: `get`, `set`, and `update` — a
/// read-modify-write under the lock (Python's `with v.get_lock(): v.value += 1`) — or, for
/// longer sections, [`Value::lock`], a guard that reads and writes like `std::sync::MutexGuard`
/// and commits when dropped.
///
/// `T` is a [`ValueType`]: plain bytes, no pointers, no padding — a [`Pod`](crate::Pod) type
/// (`u64`, `[f32; 4]`, a `#[repr(C)]` struct deriving [`Pod`](crate::Pod)), or `bool`, `char`
/// or a fieldless enum, whose bytes are checked on every read — so its bytes mean the same in
/// every process, and bytes written by another program are [`Error::ValueBytes`], never
/// undefined behaviour. interlock re-exports the traits and their derives: a type of your own
/// needs no bytemuck dependency, only `#[bytemuck(crate = "interlock::bytemuck")]` beside the
/// derive (without it the derive names `::bytemuck`, which a crate without that dependency does
/// not have).
///
/// ```
/// #[derive(Clone, Copy, Debug, PartialEq, interlock::Pod, interlock::Zeroable)]
/// #[bytemuck(crate = "interlock::bytemuck")]
/// #[repr(C)]
/// struct Point {
///     x: i32,
///     y: i32,
/// }
///
/// let p = interlock::Value::new(Point { x: 1, y: 2 })?;
/// p.lock()?.x += 10;
/// assert_eq!(p.get()?, Point { x: 11, y: 2 });
///
/// let ready = interlock::Value::new(false)?; // bool: checked, not Pod
/// *ready.lock()? = true;
/// assert!(ready.get()?);
/// # Ok::<(), interlock::Error>(())
/// ```
///
/// Its size is 1 to [`MAX_VALUE_SIZE`] (1 MiB) bytes: a zero-sized type or a
/// larger one is [`Error::ValueTypeSize`], from every constructor, before any memory or file is
/// created. Every hold copies the value out, onto the holding thread's stack (a 1 MiB value
/// needs that much stack: more than half of a spawned thread's default 2 MiB), and, when it
/// changed, back in.
///
/// # Owner death
///
/// A hold works on a copy; the change is written into a second slot and made current with one
/// store when the guard drops. A holder killed at any instant leaves the old value or the new
/// one, never a mix of their bytes. The next holder is told
/// ([`ValueGuard::previous_owner_died`], [`Value::update_checked`]) and the value is poisoned.
///
/// Whole values are all the two slots promise: a read-modify-write split over two holds is
/// **incorrect**, dead holder or not, since another process can update in between.
///
/// ```
/// # let v = interlock::Value::new(0u64)?;
/// // WRONG: let n = v.get()?; v.set(n + 1)?; (an update in between is lost)
/// v.update(|n| *n += 1)?; // one hold
/// # Ok::<(), interlock::Error>(())
/// ```
///
/// # Poisoning
///
/// A panic that starts while the value is held — inside an `update` closure, or while a
/// [`ValueGuard`] lives — **commits nothing**: the value stays what it was before the hold.
/// The lock is released (never left held by the panicking thread) and marked poisoned, for
/// every process, until [`Value::clear_poison`]. As for [`Lock`](crate::Lock), the poison mark
/// comes with the value, never instead of it: `get`, `set` and `update` go on working, since
/// the value itself is always whole. Check [`Value::is_poisoned`] where a failed update means
/// more than a lost change.
///
/// ```
/// let v = interlock::Value::new(1u32)?;
/// let _ = std::panic::catch_unwind(|| v.update(|n| { *n = 2; panic!("half-way") }));
/// assert!(v.is_poisoned());
/// assert_eq!(v.get()?, 1); // the panicking update committed nothing
/// v.clear_poison();
/// # Ok::<(), interlock::Error>(())
/// ```
///
/// # Examples
///
/// ```
/// let counter = interlock::Value::new(0u64)?;
/// counter.update(|n| *n += 1)?;
/// assert_eq!(counter.get()?, 1);
/// counter.set(41)?;
/// assert_eq!(counter.update(|n| { *n += 1; *n })?, 42);
/// {
///     let mut n = counter.lock()?; // held until `n` drops
///     *n *= 2;
/// } // committed here
/// assert_eq!(counter.get()?, 84);
/// # Ok::<(), interlock::Error>(())
/// ```
pub struct Value<T> {
    raw: Raw,
    _type: PhantomData<fn() -> T>,
}

impl<T: ValueType> Value<T> {
    /// Whether a Value can hold a `T`: checked before anything is created.
    fn check_size() -> Result<(), Error> {
        let size = std::mem::size_of::<T>();
        if size == 0 || size > MAX_VALUE_SIZE {
            return Err(Error::ValueTypeSize {
                type_name: std::any::type_name::<T>(),
                size,
                limit: MAX_VALUE_SIZE,
            });
        }
        Ok(())
    }

    fn wrap(raw: Raw) -> Result<Value<T>, Error> {
        let found = raw.segment().header().value_len();
        if found != std::mem::size_of::<T>() {
            return Err(Error::ValueSize {
                what: raw.label(),
                expected: std::mem::size_of::<T>(),
                found,
            });
        }
        Ok(Value {
            raw,
            _type: PhantomData,
        })
    }

    /// Blocks until the calling thread holds the value; the guard reads and writes a copy of
    /// it, committed when the guard drops (if it was written, and no panic began meanwhile).
    ///
    /// # Errors
    ///
    /// As [`Lock::lock`](crate::Lock::lock): [`Error::WouldDeadlock`] if this thread holds the
    /// value already; [`Error::Deadlock`].
    /// [`Error::ValueBytes`] if the value's bytes are no valid `T` (written by another program,
    /// or through a handle of another type): the lock is released, and [`Value::set`], which
    /// reads nothing, replaces them.
    ///
    /// # Examples
    ///
    /// ```
    /// let v = interlock::Value::new([0u8; 3])?;
    /// {
    ///     let mut bytes = v.lock()?;
    ///     bytes[1] = 7;
    ///     assert!(matches!(v.lock(), Err(interlock::Error::WouldDeadlock { .. })));
    /// }
    /// assert_eq!(v.get()?, [0, 7, 0]);
    /// # Ok::<(), interlock::Error>(())
    /// ```
    #[track_caller]
    #[inline(always)]
    pub fn lock(&self) -> Result<ValueGuard<'_, T>, Error> {
        match self.raw.lock_fast() {
            Some(token) => self.guard(Acquisition {
                token,
                owner_died: false,
            }),
            None => self.lock_slow(),
        }
    }

    #[cold]
    #[inline(never)]
    fn lock_slow(&self) -> Result<ValueGuard<'_, T>, Error> {
        self.guard(self.acquire_slow()?)
    }

    /// The wait of [`Value::lock`] when the lock is not free now.
    #[cold]
    #[inline(never)]
    fn acquire_slow(&self) -> Result<Acquisition, Error> {
        let acq = self.raw.acquire(&sys::me(), Wait::Forever)?;
        Ok(acq.expect("an untimed wait only ends holding the lock"))
    }

    /// [`Value::lock`], then `f` on the guard, which drops (commits, releases) when `f`
    /// returns or panics: `get`, `set` and `update`. The guard is built where it stays. Moved
    /// out of the `Result` of `lock()?`, it was copied through the stack with 16-byte loads of
    /// 8- and 1-byte stores (a store-forwarding stall, as in decision 0001): an uncontended
    /// update took 30 ns instead of 20.
    #[inline(always)]
    fn with_lock<R>(&self, f: impl FnOnce(&mut ValueGuard<'_, T>) -> R) -> Result<R, Error> {
        match self.raw.lock_fast() {
            Some(token) => {
                let hold = Hold::new(
                    &self.raw,
                    Acquisition {
                        token,
                        owner_died: false,
                    },
                );
                let value = self.load(&hold)?;
                let mut guard = ValueGuard {
                    hold,
                    value,
                    changed: false,
                };
                Ok(f(&mut guard))
            }
            None => Ok(f(&mut self.lock_slow()?)),
        }
    }

    /// Takes the value if it is free now; `Ok(None)` if another thread or process holds it.
    ///
    /// # Errors
    ///
    /// [`Error::WouldDeadlock`] if this thread holds it already.
    ///
    /// # Examples
    ///
    /// ```
    /// let v = interlock::Value::new(5i64)?;
    /// assert_eq!(v.try_lock()?.map(|n| *n), Some(5));
    /// # Ok::<(), interlock::Error>(())
    /// ```
    #[track_caller]
    pub fn try_lock(&self) -> Result<Option<ValueGuard<'_, T>>, Error> {
        self.acquire(Wait::Never)
    }

    /// Waits at most `timeout` for the value.
    ///
    /// # Errors
    ///
    /// [`Error::Timeout`] naming the holder when time runs out; otherwise as [`Value::lock`].
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let v = interlock::Value::new(0u32)?;
    /// let _held = v.lock()?;
    /// std::thread::scope(|s| {
    ///     s.spawn(|| {
    ///         let err = v.lock_timeout(Duration::from_millis(10)).unwrap_err();
    ///         assert!(matches!(err, interlock::Error::Timeout { holder: Some(_), .. }));
    ///     });
    /// });
    /// # Ok::<(), interlock::Error>(())
    /// ```
    #[track_caller]
    pub fn lock_timeout(&self, timeout: Duration) -> Result<ValueGuard<'_, T>, Error> {
        self.acquire(Wait::For(timeout))
            .map(|g| g.expect("a timed wait ends holding the lock or with Timeout"))
    }

    /// Like [`Value::lock_timeout`], but a timeout is `Ok(None)` instead of an error.
    ///
    /// # Errors
    ///
    /// As [`Value::lock`].
    ///
    /// # Examples
    ///
    /// ```
    /// let v = interlock::Value::new(1u8)?;
    /// let guard = v.try_lock_for(std::time::Duration::from_millis(5))?;
    /// assert_eq!(guard.map(|n| *n), Some(1));
    /// # Ok::<(), interlock::Error>(())
    /// ```
    pub fn try_lock_for(&self, timeout: Duration) -> Result<Option<ValueGuard<'_, T>>, Error> {
        match self.lock_timeout(timeout) {
            Ok(guard) => Ok(Some(guard)),
            Err(Error::Timeout { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    #[inline]
    fn acquire(&self, wait: Wait) -> Result<Option<ValueGuard<'_, T>>, Error> {
        self.raw
            .acquire(&sys::me(), wait)?
            .map(|acq| self.guard(acq))
            .transpose()
    }

    #[inline(always)]
    fn guard(&self, acq: Acquisition) -> Result<ValueGuard<'_, T>, Error> {
        let hold = Hold::new(&self.raw, acq);
        let value = self.load(&hold)?;
        Ok(ValueGuard {
            hold,
            value,
            changed: false,
        })
    }

    /// The value, read under `hold`; bytes that are no valid `T` release the hold (without
    /// poisoning: nothing was changed) and are [`Error::ValueBytes`].
    #[inline(always)]
    fn load(&self, hold: &Hold<'_>) -> Result<T, Error> {
        match load(&self.raw) {
            Some(value) => Ok(value),
            None => Err(self.invalid(hold)),
        }
    }

    #[cold]
    #[inline(never)]
    fn invalid(&self, hold: &Hold<'_>) -> Error {
        hold.drop_hold(false);
        Error::ValueBytes {
            what: self.raw.label(),
            type_name: std::any::type_name::<T>(),
        }
    }

    /// Read-modify-write under the lock: `f` gets the value and may change it; its result is
    /// returned. Also tells whether the previous holder died inside its section (the value is
    /// then its old or its new value, whole).
    ///
    /// If `f` panics, nothing is committed, the lock is released and poisoned, and the panic
    /// goes on (see [Poisoning](Value#poisoning)).
    ///
    /// # Errors
    ///
    /// As [`Value::lock`].
    ///
    /// # Examples
    ///
    /// ```
    /// let v = interlock::Value::new(10i32)?;
    /// let (doubled, died) = v.update_checked(|n| { *n *= 2; *n })?;
    /// assert_eq!((doubled, died), (20, false));
    /// # Ok::<(), interlock::Error>(())
    /// ```
    pub fn update_checked<R>(&self, f: impl FnOnce(&mut T) -> R) -> Result<(R, bool), Error> {
        self.with_lock(|guard| {
            let died = guard.previous_owner_died();
            (f(guard), died)
        })
    }

    /// Read-modify-write under the lock; returns `f`'s result. A panic in `f` commits nothing
    /// (see [Poisoning](Value#poisoning)).
    ///
    /// # Errors
    ///
    /// As [`Value::lock`].
    ///
    /// # Examples
    ///
    /// ```
    /// let v = interlock::Value::new(0u64)?;
    /// v.update(|n| *n += 5)?;
    /// assert_eq!(v.get()?, 5);
    /// # Ok::<(), interlock::Error>(())
    /// ```
    pub fn update<R>(&self, f: impl FnOnce(&mut T) -> R) -> Result<R, Error> {
        self.with_lock(|guard| f(guard))
    }

    /// [`Value::update`], waiting at most `timeout` for the lock; `f` does not run if time
    /// runs out.
    ///
    /// # Errors
    ///
    /// As [`Value::lock_timeout`]: [`Error::Timeout`] naming the holder.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let v = interlock::Value::new(1u64)?;
    /// assert_eq!(v.update_timeout(Duration::from_secs(1), |n| { *n += 1; *n })?, 2);
    /// # Ok::<(), interlock::Error>(())
    /// ```
    pub fn update_timeout<R>(
        &self,
        timeout: Duration,
        f: impl FnOnce(&mut T) -> R,
    ) -> Result<R, Error> {
        let mut guard = self.lock_timeout(timeout)?;
        Ok(f(&mut guard))
    }

    /// The current value (read under the lock).
    ///
    /// # Errors
    ///
    /// As [`Value::lock`].
    ///
    /// # Examples
    ///
    /// ```
    /// let v = interlock::Value::new(7u8)?;
    /// assert_eq!(v.get()?, 7);
    /// # Ok::<(), interlock::Error>(())
    /// ```
    pub fn get(&self) -> Result<T, Error> {
        self.with_lock(|guard| **guard)
    }

    /// The current value, waiting at most `timeout` for the lock.
    ///
    /// # Errors
    ///
    /// As [`Value::lock_timeout`]: [`Error::Timeout`] naming the holder.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let v = interlock::Value::new(3u16)?;
    /// let held = v.lock()?;
    /// std::thread::scope(|s| {
    ///     let err = s.spawn(|| v.get_timeout(Duration::from_millis(10))).join().unwrap();
    ///     assert!(matches!(err, Err(interlock::Error::Timeout { .. })));
    /// });
    /// drop(held);
    /// assert_eq!(v.get_timeout(Duration::from_millis(10))?, 3);
    /// # Ok::<(), interlock::Error>(())
    /// ```
    pub fn get_timeout(&self, timeout: Duration) -> Result<T, Error> {
        Ok(*self.lock_timeout(timeout)?)
    }

    /// Replaces the value (under the lock). It reads nothing, so it also replaces bytes that
    /// are no valid `T` ([`Error::ValueBytes`] from every read).
    ///
    /// # Errors
    ///
    /// As [`Value::lock`], but never [`Error::ValueBytes`].
    ///
    /// # Examples
    ///
    /// ```
    /// let v = interlock::Value::new(0u16)?;
    /// v.set(9)?;
    /// assert_eq!(v.get()?, 9);
    /// # Ok::<(), interlock::Error>(())
    /// ```
    pub fn set(&self, value: T) -> Result<(), Error> {
        let acq = match self.raw.lock_fast() {
            Some(token) => Acquisition {
                token,
                owner_died: false,
            },
            None => self.acquire_slow()?,
        };
        // Nothing read: a written guard of the new value, committed as it drops. So `set`
        // also replaces bytes that are no valid `T` (Error::ValueBytes from every read).
        drop(ValueGuard {
            hold: Hold::new(&self.raw, acq),
            value,
            changed: true,
        });
        Ok(())
    }
}

impl<T: ValueType> Value<T> {
    /// Whether the calling thread holds the value (a guard of its own lives, or was forgotten).
    ///
    /// # Examples
    ///
    /// ```
    /// let v = interlock::Value::new(0u8)?;
    /// let g = v.lock()?;
    /// assert!(v.is_held_by_current_thread());
    /// drop(g);
    /// assert!(!v.is_held_by_current_thread());
    /// # Ok::<(), interlock::Error>(())
    /// ```
    pub fn is_held_by_current_thread(&self) -> bool {
        self.raw.held_by(&sys::me())
    }

    /// A guard over the calling thread's hold of this value, taken earlier with its guard
    /// forgotten (`std::mem::forget`), and a fresh copy of the committed value. For a binding
    /// that takes the value in one call and gives it back in another (Python's `with v:`,
    /// `acquire()` and `release()`): dropping the guard commits what was written through it
    /// and releases, as any guard; forget it again to keep the hold. A forgotten guard's
    /// uncommitted writes are lost: they lived in its copy.
    ///
    /// # Errors
    ///
    /// [`Error::NotOwner`] when the calling thread does not hold the value;
    /// [`Error::ValueBytes`] as for [`Value::lock`] (the hold is then released).
    ///
    /// # Examples
    ///
    /// ```
    /// let v = interlock::Value::new(1u32)?;
    /// std::mem::forget(v.lock()?); // taken in one call,
    /// let mut g = v.held_guard()?; // written and given back in another
    /// *g += 1;
    /// drop(g);
    /// assert_eq!(v.get()?, 2);
    /// assert!(matches!(v.held_guard(), Err(interlock::Error::NotOwner { .. })));
    /// # Ok::<(), interlock::Error>(())
    /// ```
    pub fn held_guard(&self) -> Result<ValueGuard<'_, T>, Error> {
        if !self.raw.held_by(&sys::me()) {
            return Err(self.raw.not_owner());
        }
        let token = self
            .raw
            .record()
            .acquisitions
            .load(crate::sync::Ordering::Relaxed);
        self.guard(Acquisition {
            token,
            owner_died: false,
        })
    }
}

/// The settings of a [`Value`] beyond the common ones: its initial value
/// ([`Options::initial`]; zero bytes by default, for a type whose zero bytes are a value).
#[derive(Clone, Copy)]
pub struct ValueConfig<T> {
    initial: Option<T>,
}

impl<T> Default for ValueConfig<T> {
    fn default() -> ValueConfig<T> {
        ValueConfig { initial: None }
    }
}

impl<T> fmt::Debug for ValueConfig<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ValueConfig")
            .field("type", &std::any::type_name::<T>())
            .finish_non_exhaustive()
    }
}

/// What the builder needs to know of a `Value<T>`: its type's size, checked before anything is
/// created and against a value that exists, and its initial bytes.
impl<T: ValueType> Open for Value<T> {
    type Config = ValueConfig<T>;

    fn kind(_: &ValueConfig<T>) -> Kind {
        Kind::Value
    }

    fn payload<'a>(config: &'a ValueConfig<T>, _: &str) -> Result<Cow<'a, [u8]>, Error> {
        Value::<T>::check_size()?;
        match &config.initial {
            Some(initial) => Ok(Cow::Borrowed(bytemuck::bytes_of(initial))),
            None if T::is_valid_bit_pattern(&Zeroable::zeroed()) => {
                Ok(Cow::Owned(vec![0; std::mem::size_of::<T>()]))
            }
            None => Err(Error::ValueInitial {
                type_name: std::any::type_name::<T>(),
            }),
        }
    }

    fn check(_: &ValueConfig<T>) -> Result<(), Error> {
        Value::<T>::check_size()
    }

    fn from_raw(raw: Raw, _: &ValueConfig<T>) -> Result<Value<T>, Error> {
        Value::wrap(raw)
    }

    fn raw(&self) -> &Raw {
        &self.raw
    }
}

/// A value's own setting.
impl<T: ValueType> Options<Value<T>> {
    /// The value a new `Value` starts with (zero bytes by default); a value that exists keeps
    /// its own.
    ///
    /// # Examples
    ///
    /// ```
    /// let v = interlock::Value::options().initial([1u8, 2, 3]).create()?;
    /// assert_eq!(v.get()?, [1, 2, 3]);
    /// assert_eq!(interlock::Value::<u32>::options().create()?.get()?, 0);
    /// # Ok::<(), interlock::Error>(())
    /// ```
    pub fn initial(mut self, value: T) -> Options<Value<T>> {
        self.config_mut().initial = Some(value);
        self
    }
}

handle_methods! {
    impl[T: ValueType] Value<T>;
    name: "value";
    path: "interlock::Value::<u64>";
    example: "interlock::Value::new(0u64)?";
    options: "interlock::Value::options().initial(0u64).timestamps(true).create()?";
    create(initial: T => initial, "0u64");
    record;
}

/// Copies the current slot of `raw`'s value out (under the lock); `None` if its bytes are no
/// valid `T` (for a [`Pod`](bytemuck::Pod) `T`, whose every bit pattern is valid, the check is
/// `true` at compile time and the copy is all there is).
#[inline]
fn load<T: ValueType>(raw: &Raw) -> Option<T> {
    let (selector, a, b) = raw.segment().value_words();
    let slot = if selector.load(Ordering::Relaxed) & 1 == 0 {
        a
    } else {
        b
    };
    let mut bits = <T::Bits as Zeroable>::zeroed();
    for (chunk, word) in bytemuck::bytes_of_mut(&mut bits).chunks_mut(8).zip(slot) {
        chunk.copy_from_slice(&word.load(Ordering::Relaxed).to_ne_bytes()[..chunk.len()]);
    }
    bytemuck::checked::try_cast(bits).ok()
}

/// Writes `value` into the other slot of `raw`'s value, then makes it current with one store
/// (under the lock): a writer killed at any instant leaves one whole value or the other.
#[inline]
fn store<T: ValueType>(raw: &Raw, value: &T) {
    let (selector, a, b): (&AtomicU64, &[AtomicU64], &[AtomicU64]) = raw.segment().value_words();
    let current = selector.load(Ordering::Relaxed);
    let slot = if current & 1 == 0 { b } else { a };
    for (chunk, word) in bytemuck::bytes_of(value).chunks(8).zip(slot) {
        let mut bytes = [0u8; 8];
        bytes[..chunk.len()].copy_from_slice(chunk);
        word.store(u64::from_ne_bytes(bytes), Ordering::Relaxed);
    }
    // Release: whoever reads the selector after us also reads the slot we filled (the lock
    // orders it already; this keeps the slot switch a clean commit point on its own).
    selector.store(current ^ 1, Ordering::Release);
}

/// Proof that the calling thread holds a [`Value`], and a copy of the value to read and write
/// through `Deref`/`DerefMut` — `std::sync::MutexGuard`'s shape. When the guard drops, a copy
/// that was written (through `DerefMut`) is committed with the two-slot write, then the lock
/// is released.
///
/// If a panic began while the guard lived, its drop commits **nothing**, releases the lock and
/// poisons it (see [Poisoning](Value#poisoning)). `!Send`, as [`LockGuard`](crate::LockGuard):
/// the lock belongs to the thread that took it. A copy of a guard in a forked child commits and
/// releases nothing.
///
/// # Examples
///
/// ```
/// let v = interlock::Value::new([0u32; 2])?;
/// let mut pair = v.lock()?;
/// pair[0] += 1;
/// pair[1] = pair[0] * 10;
/// assert!(!pair.previous_owner_died());
/// drop(pair); // both halves commit together
/// assert_eq!(v.get()?, [1, 10]);
/// # Ok::<(), interlock::Error>(())
/// ```
#[must_use = "if unused the Value will immediately unlock"]
#[clippy::has_significant_drop]
pub struct ValueGuard<'a, T: ValueType> {
    hold: Hold<'a>,
    /// The value as read when the hold began, with the holder's changes.
    value: T,
    /// Written through `DerefMut`: commit on drop.
    changed: bool,
}

impl<T: ValueType> ValueGuard<'_, T> {
    /// True when the previous holder died holding the value: its section was cut short (the
    /// value is its old or its new one, whole).
    ///
    /// # Examples
    ///
    /// ```
    /// let v = interlock::Value::new(0u8)?;
    /// assert!(!v.lock()?.previous_owner_died());
    /// # Ok::<(), interlock::Error>(())
    /// ```
    pub fn previous_owner_died(&self) -> bool {
        self.hold.owner_died()
    }

    /// Whether the value is poisoned now (by a panic or an owner's death not yet cleared).
    ///
    /// # Examples
    ///
    /// ```
    /// let v = interlock::Value::new(0u8)?;
    /// assert!(!v.lock()?.is_poisoned());
    /// # Ok::<(), interlock::Error>(())
    /// ```
    pub fn is_poisoned(&self) -> bool {
        self.hold.is_poisoned()
    }

    /// Clears the poison mark after the value has been checked or repaired.
    ///
    /// # Examples
    ///
    /// ```
    /// let v = interlock::Value::new(0u8)?;
    /// let g = v.lock()?;
    /// g.clear_poison();
    /// # Ok::<(), interlock::Error>(())
    /// ```
    pub fn clear_poison(&self) {
        self.hold.raw.clear_poison()
    }

    /// The fencing token of this hold (see [`LockGuard::token`](crate::LockGuard::token)).
    ///
    /// # Examples
    ///
    /// ```
    /// let v = interlock::Value::new(0u8)?;
    /// let a = v.lock()?.token();
    /// assert!(v.lock()?.token() > a);
    /// # Ok::<(), interlock::Error>(())
    /// ```
    pub fn token(&self) -> u64 {
        self.hold.token()
    }

    /// Commits (if the value was written) and releases now, reporting what `drop` would
    /// silently ignore.
    ///
    /// # Errors
    ///
    /// [`Error::NotOwner`] when this guard's hold already ended (it was copied into a forked
    /// child): nothing was committed.
    ///
    /// # Examples
    ///
    /// ```
    /// let v = interlock::Value::new(1u8)?;
    /// let mut g = v.lock()?;
    /// *g += 1;
    /// g.unlock()?;
    /// assert_eq!(v.get()?, 2);
    /// # Ok::<(), interlock::Error>(())
    /// ```
    pub fn unlock(self) -> Result<(), Error> {
        let this = std::mem::ManuallyDrop::new(self);
        if this.end() {
            Ok(())
        } else {
            Err(this.hold.raw.not_owner())
        }
    }

    /// Commits a written value unless a panic began inside the hold, and releases; false if
    /// the hold already ended.
    #[inline(always)]
    fn end(&self) -> bool {
        let changed = self.changed;
        self.hold.end_after(|poisoning| {
            if changed && !poisoning {
                store(self.hold.raw, &self.value);
            }
        })
    }
}

impl<T: ValueType> Deref for ValueGuard<'_, T> {
    type Target = T;

    #[inline]
    fn deref(&self) -> &T {
        &self.value
    }
}

impl<T: ValueType> DerefMut for ValueGuard<'_, T> {
    #[inline]
    fn deref_mut(&mut self) -> &mut T {
        self.changed = true;
        &mut self.value
    }
}

impl<T: ValueType> Drop for ValueGuard<'_, T> {
    #[inline(always)]
    fn drop(&mut self) {
        if self.changed {
            self.end();
        } else {
            // Nothing to commit: the lock's own release (which poisons on a panic).
            self.hold.drop_hold(false);
        }
    }
}

impl<T: ValueType + fmt::Debug> fmt::Debug for ValueGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ValueGuard")
            .field("value", &self.value)
            .field("token", &self.hold.token())
            .field("previous_owner_died", &self.hold.owner_died())
            .finish()
    }
}

impl<T> fmt::Debug for Value<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Value")
            .field("type", &std::any::type_name::<T>())
            .field("lock", &self.raw)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[repr(C)]
    #[derive(Clone, Copy, Debug, PartialEq, bytemuck::Zeroable, bytemuck::Pod)]
    struct Odd {
        a: u8,
        b: [u8; 10],
    }

    #[test]
    fn values_of_odd_sizes_round_trip_through_both_slots() {
        let v = Value::new(Odd { a: 1, b: [2; 10] }).unwrap();
        for i in 0..5u8 {
            v.update(|o| {
                o.a += 1;
                o.b[9] = i;
            })
            .unwrap();
        }
        assert_eq!(
            v.get().unwrap(),
            Odd {
                a: 6,
                b: [2, 2, 2, 2, 2, 2, 2, 2, 2, 4]
            }
        );
    }

    /// A panic while a written guard lives: nothing committed, the lock free and poisoned. A
    /// guard taken while a panic already unwinds (in a destructor) commits as usual.
    #[test]
    fn a_panic_under_a_written_guard_commits_nothing() {
        let v = Value::new(1u32).unwrap();
        let caught = std::panic::catch_unwind(|| {
            let mut g = v.lock().unwrap();
            *g = 2;
            panic!("after the write");
        });
        assert!(caught.is_err());
        assert!(v.status().holder.is_none());
        assert!(v.is_poisoned());
        assert_eq!(v.get().unwrap(), 1);
        v.clear_poison();

        struct SetOnDrop<'a>(&'a Value<u32>);
        impl Drop for SetOnDrop<'_> {
            fn drop(&mut self) {
                assert!(std::thread::panicking());
                self.0.set(3).unwrap();
            }
        }
        let caught = std::panic::catch_unwind(|| {
            let _set = SetOnDrop(&v);
            panic!("unwinding through a destructor that sets");
        });
        assert!(caught.is_err());
        assert_eq!(v.get().unwrap(), 3, "a hold begun while panicking commits");
        assert!(!v.is_poisoned(), "and does not poison");
    }

    /// A hold taken in one call and ended in another (the Python binding's `with v:`): the
    /// forgotten guard's hold is found again, its writes commit when that guard drops, and a
    /// thread that does not hold the value gets `NotOwner`.
    #[test]
    fn a_forgotten_hold_is_found_again_and_commits_through_held_guard() {
        let v = Value::new(5u64).unwrap();
        assert!(matches!(v.held_guard(), Err(Error::NotOwner { .. })));
        let token = {
            let g = v.lock().unwrap();
            let token = g.token();
            std::mem::forget(g);
            token
        };
        assert!(v.is_held_by_current_thread());
        std::thread::scope(|s| {
            s.spawn(|| {
                assert!(!v.is_held_by_current_thread());
                assert!(matches!(v.held_guard(), Err(Error::NotOwner { .. })));
            });
        });
        let g = v.held_guard().unwrap();
        assert_eq!((*g, g.token()), (5, token));
        std::mem::forget(g); // read only: still held
        let mut g = v.held_guard().unwrap();
        *g = 6;
        drop(g);
        assert!(!v.is_held_by_current_thread());
        assert_eq!(v.get().unwrap(), 6);
    }

    #[test]
    fn another_size_under_the_same_name_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v");
        let _small = Value::open_path(&path, 0o600, 1u32).unwrap();
        match Value::open_path(&path, 0o600, 1u64) {
            Err(Error::ValueSize {
                expected, found, ..
            }) => assert_ne!(expected, found),
            other => panic!("expected ValueSize, got {other:?}"),
        }
        assert!(matches!(
            crate::Lock::open_path(&path, 0o600),
            Err(Error::KindMismatch { .. })
        ));
    }
}
