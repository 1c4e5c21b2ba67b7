//! `RLock`: a recursive lock, re-entrant for the thread that holds it.

use std::fmt;
use std::time::Duration;

use crate::locks::guard::Hold;
use crate::locks::primitive::{LockConfig, Open};
use crate::locks::raw::{Acquisition, Raw, Wait};
use crate::sync::Ordering;
use crate::sys;
use crate::types::{Error, Kind};

/// A recursive lock between processes: the thread holding it may take it again (Python's
/// `multiprocessing.RLock`); it is free when every hold has ended.
///
/// Everything said of [`Lock`](crate::Lock) — sharing, owner death, poisoning — holds here too,
/// and it is made or found the same ways ([`RLock::options`]; a fair one with
/// [`Options::fair`](crate::Options::fair)).
///
/// # Examples
///
/// ```
/// fn layer(rlock: &interlock::RLock, count: u32) -> Result<(), interlock::Error> {
///     if count == 0 {
///         return Ok(());
///     }
///     let guard = rlock.lock()?; // re-entered by the same thread: no deadlock
///     assert_eq!(guard.depth(), 4 - count);
///     layer(rlock, count - 1)
/// }
/// let rlock = interlock::RLock::new()?;
/// layer(&rlock, 3)?;
/// assert_eq!(rlock.status().depth, 0);
/// # Ok::<(), interlock::Error>(())
/// ```
///
/// # Errors
///
/// Re-entering more than `u32::MAX - 1` times is [`Error::RecursionOverflow`], never a wrap.
/// [`RLock::release`] by a thread that does not hold it is [`Error::NotOwner`].
///
/// # Differences from `multiprocessing.RLock`
///
/// The same rules of ownership; in addition a dead holder never wedges it, and its depth
/// counter cannot wrap.
pub struct RLock {
    pub(crate) raw: Raw,
}

impl RLock {
    /// Takes the lock, or one more level of it if this thread holds it already.
    ///
    /// # Errors
    ///
    /// [`Error::RecursionOverflow`] when the depth would pass `u32::MAX - 1`;
    /// [`Error::Deadlock`] if the wait closes a lock-order cycle (see
    /// [`Lock::lock`](crate::Lock::lock)).
    ///
    /// # Examples
    ///
    /// ```
    /// let rlock = interlock::RLock::new()?;
    /// let outer = rlock.lock()?;
    /// let inner = rlock.lock()?;
    /// assert_eq!((outer.depth(), inner.depth()), (1, 2));
    /// # Ok::<(), interlock::Error>(())
    /// ```
    #[track_caller]
    #[inline(always)]
    pub fn lock(&self) -> Result<RLockGuard<'_>, Error> {
        // The guard is built here from scalars, whichever path took the lock: merging two whole
        // guards through memory made the compiler copy them with loads wider than the stores
        // that wrote them, a store-forwarding stall on every acquisition.
        let (acq, depth) = if self.held_by_me() {
            self.reenter()?
        } else {
            match self.raw.lock_fast() {
                Some(token) => self.took(token),
                None => self.lock_slow()?,
            }
        };
        Ok(self.guard(acq, depth))
    }

    #[cold]
    #[inline(never)]
    #[track_caller]
    fn lock_slow(&self) -> Result<(Acquisition, u32), Error> {
        self.acquire_slow(Wait::Forever)
            .map(|g| g.expect("an untimed wait only ends holding the lock"))
    }

    /// Takes the lock (or one more level) if that is possible now; `Ok(None)` if another thread
    /// or process holds it.
    ///
    /// # Errors
    ///
    /// [`Error::RecursionOverflow`] as for [`RLock::lock`].
    ///
    /// # Examples
    ///
    /// ```
    /// let rlock = interlock::RLock::new()?;
    /// let a = rlock.try_lock()?.expect("free");
    /// let b = rlock.try_lock()?.expect("re-entered");
    /// # Ok::<(), interlock::Error>(())
    /// ```
    #[track_caller]
    #[inline]
    pub fn try_lock(&self) -> Result<Option<RLockGuard<'_>>, Error> {
        self.acquire(Wait::Never)
    }

    /// Waits at most `timeout` for the lock.
    ///
    /// # Errors
    ///
    /// [`Error::Timeout`] naming the holder; [`Error::RecursionOverflow`]; [`Error::Deadlock`]
    /// if the wait closes a lock-order cycle (see [`Lock::lock`](crate::Lock::lock)).
    ///
    /// # Examples
    ///
    /// ```
    /// let rlock = interlock::RLock::new()?;
    /// let g = rlock.lock_timeout(std::time::Duration::from_secs(1))?;
    /// # Ok::<(), interlock::Error>(())
    /// ```
    #[track_caller]
    pub fn lock_timeout(&self, timeout: Duration) -> Result<RLockGuard<'_>, Error> {
        self.acquire(Wait::For(timeout))
            .map(|g| g.expect("a timed wait ends holding the lock or with Timeout"))
    }

    /// Like [`RLock::lock_timeout`], but a timeout is `Ok(None)` instead of an error.
    ///
    /// # Errors
    ///
    /// [`Error::RecursionOverflow`]; [`Error::Deadlock`] as for [`RLock::lock`].
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let rlock = interlock::RLock::new()?;
    /// let outer = rlock.try_lock_for(Duration::from_millis(5))?.expect("free");
    /// let inner = rlock.try_lock_for(Duration::from_millis(5))?.expect("re-entered");
    /// assert_eq!(inner.depth(), 2);
    /// std::thread::scope(|s| {
    ///     let other = s.spawn(|| rlock.try_lock_for(Duration::from_millis(5)).map(|g| g.is_none()));
    ///     assert!(other.join().unwrap().unwrap(), "held by this thread: the other times out");
    /// });
    /// # drop((inner, outer));
    /// # Ok::<(), interlock::Error>(())
    /// ```
    pub fn try_lock_for(&self, timeout: Duration) -> Result<Option<RLockGuard<'_>>, Error> {
        match self.lock_timeout(timeout) {
            Ok(guard) => Ok(Some(guard)),
            Err(Error::Timeout { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Whether this is a fair recursive lock ([`Options::fair`](crate::Options::fair)): the
    /// outermost release hands it to the longest sleeper.
    ///
    /// # Examples
    ///
    /// ```
    /// use interlock::RLock;
    ///
    /// assert!(!RLock::new()?.is_fair());
    /// assert!(RLock::options().fair(true).create()?.is_fair());
    /// # Ok::<(), interlock::Error>(())
    /// ```
    pub fn is_fair(&self) -> bool {
        self.raw.is_fair()
    }

    #[inline(always)]
    fn acquire(&self, wait: Wait) -> Result<Option<RLockGuard<'_>>, Error> {
        let taken = if self.held_by_me() {
            Some(self.reenter()?)
        } else {
            match self.raw.lock_fast() {
                Some(token) => Some(self.took(token)),
                None => self.acquire_slow(wait)?,
            }
        };
        Ok(taken.map(|(acq, depth)| self.guard(acq, depth)))
    }

    /// The slow paths: re-entry, a first acquisition, a wait. The hold taken and its depth.
    #[cold]
    #[inline(never)]
    fn acquire_slow(&self, wait: Wait) -> Result<Option<(Acquisition, u32)>, Error> {
        let me = sys::me();
        if self.raw.held_by(&me) {
            return self.reenter().map(Some);
        }
        Ok(self.raw.acquire(&me, wait)?.map(|acq| {
            self.raw.record().enter_first_level();
            (acq, 1)
        }))
    }

    /// Whether this thread holds it, as leaf code: false also before this thread's first
    /// acquisition (then the slow path looks again).
    #[inline(always)]
    fn held_by_me(&self) -> bool {
        // An unknown thread is `NOBODY`, which no word names.
        self.raw.held_by(&sys::me_or_nobody())
    }

    /// A hold just taken on the fast path: depth 1.
    #[inline(always)]
    fn took(&self, token: u64) -> (Acquisition, u32) {
        self.raw.record().enter_first_level();
        let acq = Acquisition {
            token,
            owner_died: false,
        };
        (acq, 1)
    }

    #[inline(always)]
    fn guard(&self, acq: Acquisition, depth: u32) -> RLockGuard<'_> {
        RLockGuard {
            hold: Hold::new(&self.raw, acq),
            depth: u64::from(depth),
        }
    }

    /// One more level of this thread's hold.
    #[inline(always)]
    fn reenter(&self) -> Result<(Acquisition, u32), Error> {
        let rec = self.raw.record();
        let depth = rec
            .enter_inner_level()
            .map_err(|depth| self.overflow(depth))?;
        let acq = Acquisition {
            token: rec.acquisitions.load(Ordering::Relaxed),
            owner_died: false,
        };
        Ok((acq, depth))
    }

    #[cold]
    fn overflow(&self, depth: u32) -> Error {
        Error::RecursionOverflow {
            lock: self.raw.label(),
            depth,
        }
    }

    /// Ends one level of the calling thread's hold whose guard was leaked; Python's
    /// `rlock.release()`.
    ///
    /// # Errors
    ///
    /// [`Error::NotOwner`] when the calling thread does not hold it.
    ///
    /// # Examples
    ///
    /// ```
    /// let rlock = interlock::RLock::new()?;
    /// std::mem::forget(rlock.lock()?);
    /// std::mem::forget(rlock.lock()?);
    /// rlock.release()?;
    /// rlock.release()?;
    /// assert!(rlock.release().is_err());
    /// # Ok::<(), interlock::Error>(())
    /// ```
    pub fn release(&self) -> Result<(), Error> {
        let me = sys::me();
        if !self.raw.held_by(&me) {
            return Err(self.raw.not_owner());
        }
        if self.raw.record().leave_inner_level() {
            return Ok(());
        }
        self.raw.release(&me, None)
    }

    /// Whether the calling thread holds the lock.
    ///
    /// # Examples
    ///
    /// ```
    /// let rlock = interlock::RLock::new()?;
    /// assert!(!rlock.is_held_by_current_thread());
    /// # Ok::<(), interlock::Error>(())
    /// ```
    pub fn is_held_by_current_thread(&self) -> bool {
        self.raw.held_by(&sys::me())
    }

    /// A guard over the calling thread's hold, taken earlier with its guards forgotten: one
    /// level of it, as [`release`](RLock::release) ends one. See
    /// [`Lock::held_guard`](crate::Lock::held_guard); a [`Condition`](crate::Condition) wait
    /// with it releases and restores every level.
    ///
    /// # Errors
    ///
    /// [`Error::NotOwner`] when the calling thread does not hold the lock.
    ///
    /// # Examples
    ///
    /// ```
    /// let rlock = interlock::RLock::new()?;
    /// std::mem::forget(rlock.lock()?);
    /// std::mem::forget(rlock.lock()?);
    /// let guard = rlock.held_guard()?;
    /// assert_eq!(guard.depth(), 2);
    /// drop(guard); // one level
    /// rlock.release()?; // the other
    /// assert!(!rlock.is_held_by_current_thread());
    /// # Ok::<(), interlock::Error>(())
    /// ```
    pub fn held_guard(&self) -> Result<RLockGuard<'_>, Error> {
        if !self.raw.held_by(&sys::me()) {
            return Err(self.raw.not_owner());
        }
        let rec = self.raw.record();
        let token = rec.acquisitions.load(Ordering::Relaxed);
        let depth = rec.depth.load(Ordering::Relaxed);
        Ok(self.guard(
            Acquisition {
                token,
                owner_died: false,
            },
            depth,
        ))
    }
}

/// What the builder needs to know of an `RLock`: its kind, fair or plain.
impl Open for RLock {
    type Config = LockConfig;

    fn kind(config: &LockConfig) -> Kind {
        if config.fair {
            Kind::FairRLock
        } else {
            Kind::RLock
        }
    }

    fn from_raw(raw: Raw, _: &LockConfig) -> Result<RLock, Error> {
        Ok(RLock { raw })
    }

    fn raw(&self) -> &Raw {
        &self.raw
    }
}

impl fmt::Debug for RLock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.raw.fmt(f)
    }
}

/// Proof that the calling thread holds one level of an [`RLock`]; ends that level when dropped.
///
/// `!Send`, like [`LockGuard`](crate::LockGuard).
///
/// # Examples
///
/// ```
/// let rlock = interlock::RLock::new()?;
/// let g = rlock.lock()?;
/// assert_eq!(g.depth(), 1);
/// # Ok::<(), interlock::Error>(())
/// ```
#[must_use = "if unused the RLock will immediately unlock"]
#[clippy::has_significant_drop]
pub struct RLockGuard<'a> {
    pub(crate) hold: Hold<'a>,
    /// A `u32` kept in a `u64`: a guard without padding bytes stays in registers (see
    /// `guard::Hold`).
    pub(crate) depth: u64,
}

impl RLockGuard<'_> {
    /// The recursion depth this guard was taken at (1 for the outermost).
    ///
    /// # Examples
    ///
    /// ```
    /// let rlock = interlock::RLock::new()?;
    /// assert_eq!(rlock.lock()?.depth(), 1);
    /// # Ok::<(), interlock::Error>(())
    /// ```
    pub fn depth(&self) -> u32 {
        self.depth as u32
    }

    /// The fencing token of the outermost hold (shared by the nested guards).
    ///
    /// # Examples
    ///
    /// ```
    /// let rlock = interlock::RLock::new()?;
    /// let a = rlock.lock()?;
    /// let b = rlock.lock()?;
    /// assert_eq!(a.token(), b.token());
    /// # Ok::<(), interlock::Error>(())
    /// ```
    pub fn token(&self) -> u64 {
        self.hold.token()
    }

    /// True when the previous holder died holding the lock.
    ///
    /// # Examples
    ///
    /// ```
    /// let rlock = interlock::RLock::new()?;
    /// assert!(!rlock.lock()?.previous_owner_died());
    /// # Ok::<(), interlock::Error>(())
    /// ```
    pub fn previous_owner_died(&self) -> bool {
        self.hold.owner_died()
    }

    /// Whether the lock is poisoned now.
    ///
    /// # Examples
    ///
    /// ```
    /// let rlock = interlock::RLock::new()?;
    /// assert!(!rlock.lock()?.is_poisoned());
    /// # Ok::<(), interlock::Error>(())
    /// ```
    pub fn is_poisoned(&self) -> bool {
        self.hold.is_poisoned()
    }

    /// Clears the poison mark.
    ///
    /// # Examples
    ///
    /// ```
    /// let rlock = interlock::RLock::new()?;
    /// rlock.lock()?.clear_poison();
    /// # Ok::<(), interlock::Error>(())
    /// ```
    pub fn clear_poison(&self) {
        self.hold.raw.clear_poison()
    }

    /// Ends this level now, reporting what `drop` would ignore.
    ///
    /// # Errors
    ///
    /// [`Error::NotOwner`] when the hold already ended.
    ///
    /// # Examples
    ///
    /// ```
    /// let rlock = interlock::RLock::new()?;
    /// rlock.lock()?.unlock()?;
    /// # Ok::<(), interlock::Error>(())
    /// ```
    pub fn unlock(self) -> Result<(), Error> {
        let result = self.hold.end(true);
        std::mem::forget(self);
        result
    }
}

impl Drop for RLockGuard<'_> {
    fn drop(&mut self) {
        self.hold.drop_hold(true);
    }
}

impl fmt::Debug for RLockGuard<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RLockGuard")
            .field("depth", &self.depth)
            .field("token", &self.hold.token())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn depth_overflow_is_an_error_not_a_wrap() {
        let rlock = RLock::new().unwrap();
        let outer = rlock.lock().unwrap();
        // Reaching u32::MAX real re-entries takes minutes; start near the top instead.
        rlock
            .raw
            .record()
            .depth
            .store(u32::MAX - 2, Ordering::Relaxed);
        let last = rlock.lock().expect("one below the limit is allowed");
        assert_eq!(last.depth(), u32::MAX - 1);
        match rlock.lock() {
            Err(Error::RecursionOverflow { depth, .. }) => assert_eq!(depth, u32::MAX - 1),
            other => panic!("expected RecursionOverflow, got {other:?}"),
        }
        drop(last);
        assert_eq!(
            rlock.status().depth,
            u32::MAX - 2,
            "the failed attempt changed nothing"
        );
        rlock.raw.record().depth.store(1, Ordering::Relaxed);
        drop(outer);
        assert!(rlock.status().holder.is_none());
    }
}
