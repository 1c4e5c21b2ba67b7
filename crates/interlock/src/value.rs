//! Layer 5: a plain-old-data value in shared memory beside its lock — Python's
//! `multiprocessing.Value`, crash-safe.

use std::fmt;
use std::marker::PhantomData;
use std::path::Path;
use std::process::Command;

use bytemuck::Pod;

use crate::error::Error;
use crate::inherit;
use crate::raw::{Raw, Wait};
use crate::segment::Kind;
use crate::status::LockStatus;
use crate::sync::{AtomicU64, Ordering};
use crate::sys;

/// A value of type `T` in shared memory, with its own lock: `get`, `set`, and `update` — a
/// read-modify-write under the lock (Python's `with v.get_lock(): v.value += 1`).
///
/// `T` is [`bytemuck::Pod`]: plain bytes, no pointers, every bit pattern valid, so its bytes mean
/// the same in every process and a value written by another program can never be undefined
/// behaviour here.
///
/// # Owner death
///
/// An update writes the new value into a second slot and then switches slots with one store, so
/// a holder killed at any instant leaves the old value or the new one, never a mix of their
/// bytes. The next `update` is told through [`Value::update_checked`].
///
/// # Examples
///
/// ```
/// let counter = interlock::Value::new(0u64)?;
/// counter.update(|n| *n += 1)?;
/// assert_eq!(counter.get()?, 1);
/// counter.set(41)?;
/// assert_eq!(counter.update(|n| { *n += 1; *n })?, 42);
/// # Ok::<(), interlock::Error>(())
/// ```
pub struct Value<T> {
    raw: Raw,
    _type: PhantomData<fn() -> T>,
}

impl<T: Pod> Value<T> {
    fn wrap(raw: Raw) -> Result<Value<T>, Error> {
        let found = raw.segment().header().value_size as usize;
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

    /// An anonymous shared value, to share with children (after `fork`, or through
    /// [`Value::pass_to`]).
    ///
    /// # Errors
    ///
    /// [`Error::Io`] if the memory cannot be created or mapped.
    ///
    /// # Examples
    ///
    /// ```
    /// let v = interlock::Value::new([0u32; 4])?;
    /// # Ok::<(), interlock::Error>(())
    /// ```
    pub fn new(initial: T) -> Result<Value<T>, Error> {
        Value::wrap(Raw::anonymous(Kind::Value, bytemuck::bytes_of(&initial))?)
    }

    /// Opens the named value `name` in this user's namespace, creating it with `initial` if it
    /// does not exist.
    ///
    /// # Errors
    ///
    /// As [`Lock::open`](crate::Lock::open); [`Error::ValueSize`] when the value by that name
    /// has another size.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// let hits = interlock::Value::open("page-hits", 0u64)?;
    /// hits.update(|n| *n += 1)?;
    /// # Ok::<(), interlock::Error>(())
    /// ```
    pub fn open(name: &str, initial: T) -> Result<Value<T>, Error> {
        Value::wrap(Raw::named(name, Kind::Value, bytemuck::bytes_of(&initial))?)
    }

    /// Opens (or creates with `mode` and `initial`) the value file at `path`.
    ///
    /// # Errors
    ///
    /// As [`Lock::open_path`](crate::Lock::open_path); [`Error::ValueSize`].
    ///
    /// # Examples
    ///
    /// ```
    /// let dir = tempfile::tempdir().unwrap();
    /// let v = interlock::Value::open_path(dir.path().join("v"), 0o600, 1.5f64)?;
    /// assert_eq!(v.get()?, 1.5);
    /// # Ok::<(), interlock::Error>(())
    /// ```
    pub fn open_path(path: impl AsRef<Path>, mode: u32, initial: T) -> Result<Value<T>, Error> {
        let value = bytemuck::bytes_of(&initial);
        Value::wrap(Raw::at_path(path.as_ref(), mode, Kind::Value, value)?)
    }

    /// Adopts a value handed over by [`Value::pass_to`].
    ///
    /// # Errors
    ///
    /// As [`Lock::from_env`](crate::Lock::from_env); [`Error::ValueSize`].
    ///
    /// # Examples
    ///
    /// ```no_run
    /// let counter = interlock::Value::<u64>::from_env("COUNTER")?;
    /// # Ok::<(), interlock::Error>(())
    /// ```
    pub fn from_env(var: &str) -> Result<Value<T>, Error> {
        Value::wrap(inherit::adopt(var, Kind::Value)?)
    }

    /// Hands this value to the programs `cmd` spawns (see [`Lock::pass_to`](crate::Lock::pass_to)).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidVarName`] when `var` is not a valid environment variable name.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// let v = interlock::Value::new(0u64)?;
    /// let mut cmd = std::process::Command::new("worker");
    /// v.pass_to(&mut cmd, "COUNTER")?;
    /// # Ok::<(), interlock::Error>(())
    /// ```
    pub fn pass_to(&self, cmd: &mut Command, var: &str) -> Result<(), Error> {
        inherit::pass(&self.raw, cmd, var)
    }

    fn words(&self) -> (&AtomicU64, &[AtomicU64], &[AtomicU64]) {
        self.raw.segment().value_words()
    }

    /// Copies the current slot out (under the lock).
    fn load(&self) -> T {
        let (selector, a, b) = self.words();
        let slot = if selector.load(Ordering::Relaxed) & 1 == 0 {
            a
        } else {
            b
        };
        let mut value = T::zeroed();
        for (chunk, word) in bytemuck::bytes_of_mut(&mut value).chunks_mut(8).zip(slot) {
            chunk.copy_from_slice(&word.load(Ordering::Relaxed).to_ne_bytes()[..chunk.len()]);
        }
        value
    }

    /// Writes `value` into the other slot, then makes it current with one store (under the
    /// lock): a writer killed at any instant leaves one whole value or the other.
    fn store(&self, value: &T) {
        let (selector, a, b) = self.words();
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

    /// Read-modify-write under the lock: `f` gets the value and may change it; its result is
    /// returned. Also tells whether the previous holder died inside its section (the value is
    /// then its old or its new value, whole).
    ///
    /// # Errors
    ///
    /// The lock's errors (none in normal use: the lock is taken and released inside).
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
        let me = sys::me();
        let acq = self
            .raw
            .acquire(&me, Wait::Forever)?
            .expect("an untimed wait only ends holding the lock");
        let mut value = self.load();
        let result = f(&mut value);
        self.store(&value);
        self.raw.release(&me, Some(acq.token))?;
        Ok((result, acq.owner_died))
    }

    /// Read-modify-write under the lock; returns `f`'s result.
    ///
    /// # Errors
    ///
    /// As [`Value::update_checked`].
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
        self.update_checked(f).map(|(r, _)| r)
    }

    /// The current value (read under the lock).
    ///
    /// # Errors
    ///
    /// As [`Value::update_checked`].
    ///
    /// # Examples
    ///
    /// ```
    /// let v = interlock::Value::new(7u8)?;
    /// assert_eq!(v.get()?, 7);
    /// # Ok::<(), interlock::Error>(())
    /// ```
    pub fn get(&self) -> Result<T, Error> {
        self.update(|v| *v)
    }

    /// Replaces the value (under the lock).
    ///
    /// # Errors
    ///
    /// As [`Value::update_checked`].
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
        self.update(|v| *v = value)
    }

    /// A snapshot of the value's lock record (holder, acquisitions, deaths).
    ///
    /// # Examples
    ///
    /// ```
    /// let v = interlock::Value::new(0u64)?;
    /// v.set(1)?;
    /// assert_eq!(v.status().acquisitions, 1);
    /// # Ok::<(), interlock::Error>(())
    /// ```
    pub fn status(&self) -> LockStatus {
        self.raw.status()
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
