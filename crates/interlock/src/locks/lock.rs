//! `Lock`: a non-recursive lock shared by processes and the threads inside them.

use std::fmt;
use std::time::Duration;

use crate::locks::guard::Hold;
use crate::locks::primitive::{LockConfig, Open};
use crate::locks::raw::{Raw, Wait};
use crate::sys;
use crate::types::{Error, Kind};

/// A mutual-exclusion lock between processes — and between the threads inside them — that a
/// crashed holder cannot wedge.
///
/// Create one with [`Lock::new`] before `fork` (children share it) or hand it to a spawned
/// program with [`Lock::pass_to`] / [`Lock::from_env`]; or let unrelated processes meet by name
/// with [`Lock::open`]. These are shortcuts of [`Lock::options`], the builder for every other
/// setting (fair, timestamps, a lock file's mode). Holding it is a [`LockGuard`]: the lock is
/// released when the guard drops, also while a panic unwinds.
///
/// # Examples
///
/// ```
/// use interlock::Lock;
///
/// let lock = Lock::new()?;
/// {
///     let guard = lock.lock()?; // Python: `with lock:`
///     assert!(!guard.previous_owner_died());
/// } // released here
/// assert!(lock.try_lock()?.is_some());
/// # Ok::<(), interlock::Error>(())
/// ```
///
/// # Owner death
///
/// If a holder dies — SIGKILL, a crash, `exit` inside the section — the kernel marks the lock
/// (the word is on the holder's robust futex list) and wakes a waiter, which gets the lock with
/// [`LockGuard::previous_owner_died`] set. The lock also becomes poisoned: the section was cut
/// short, so the data it protects may be half-written. Check it, repair what needs repairing,
/// then [`LockGuard::clear_poison`].
///
/// ```
/// # let lock = interlock::Lock::new()?;
/// let guard = lock.lock()?;
/// if guard.previous_owner_died() || guard.is_poisoned() {
///     // validate or rebuild the shared resource here, then:
///     guard.clear_poison();
/// }
/// # Ok::<(), interlock::Error>(())
/// ```
///
/// Relying on the lock alone after a death is **incorrect**: the lock being free says nothing
/// about the state the dead holder left.
///
/// ```
/// # let lock = interlock::Lock::new()?;
/// let guard = lock.lock()?;
/// // WRONG if the previous holder may have died between its read and its write:
/// // let n = read_counter(); write_counter(n + 1);
/// # drop(guard);
/// # Ok::<(), interlock::Error>(())
/// ```
///
/// # Poisoning
///
/// A panic that starts inside a section and unwinds through its guard marks the lock poisoned —
/// in shared memory, so every process sees it — until someone calls [`Lock::clear_poison`]. The
/// guard still comes (std's rule: poison comes *with* the guard, never instead of it); the mark
/// is read with [`LockGuard::is_poisoned`] or [`Lock::is_poisoned`].
///
/// ```
/// let lock = interlock::Lock::new()?;
/// let _ = std::panic::catch_unwind(|| {
///     let _g = lock.lock().unwrap();
///     panic!("section failed");
/// });
/// assert!(lock.is_poisoned());
/// assert!(lock.lock()?.is_poisoned(), "the guard comes, with the mark");
/// lock.clear_poison();
/// assert!(!lock.is_poisoned());
/// # Ok::<(), interlock::Error>(())
/// ```
///
/// # Errors
///
/// Locking the lock again on the thread that holds it is [`Error::WouldDeadlock`], not a hang.
/// Timed waits that give up are [`Error::Timeout`], naming the holder.
///
/// # Signal handlers
///
/// After a thread's first lock (which registers a fork handler and reads the thread's identity),
/// `try_lock` and the release of its guard are async-signal-safe: no allocation, no libc lock,
/// no system call while the lock is free — except that a `try_lock` which finds the lock held
/// by a holder the kernel will not report (a lock file others may write) checks on that holder
/// through `/proc`, which allocates. A handler may take and release a lock that way even
/// if it interrupted the same thread in the middle of taking or releasing another: interlock
/// sees the operation under way and takes the handler's hold without the kernel's robust list
/// (its holder's death is then found by waiters checking on it). A handler must not release a
/// lock that was taken *outside* it while the interrupted thread is in the middle of a lock
/// operation: interlock aborts the process with a message rather than corrupt the list. Waiting
/// in a handler (`lock`, timed waits) is not async-signal-safe.
///
/// # Containers and pid namespaces
///
/// Processes in different pid namespaces (containers, `unshare --pid`) that share a lock file
/// exclude each other like any others: ownership is decided by thread id *and* process
/// identity, never by a number alone. A waiter cannot check on a holder in another pid
/// namespace, so the death of a holder that the kernel does not report (a lock file others can
/// write) is found only by waiters in the holder's own namespace; with a private lock file the
/// kernel reports it as usual.
///
/// # Limits
///
/// - One thread may hold any number of locks; the kernel reports the deaths of the first 1,024
///   it holds at once, and waiters find the holders of the rest themselves (decision 0012).
/// - interlock reads each thread's robust-list head from the kernel on the thread's first lock
///   and keeps it. Code that replaces a thread's robust list (`set_robust_list`) afterwards
///   makes the kernel miss that thread's holds; no libc or runtime we know of does so.
/// - Whoever may write a lock file can truncate it; processes that have it mapped then die of
///   `SIGBUS` when they touch it. Named locks and 0600 files: only you and root. Share a lock
///   file with a group only with users you would let kill your processes.
///
/// # Differences from `multiprocessing.Lock`
///
/// - A dead holder never wedges it; Python's semaphore stays taken forever.
/// - It is owned by a *thread*: another thread or process cannot release it ([`Lock::release`]
///   is [`Error::NotOwner`] there), where Python's `Lock` is a bare semaphore anyone may release.
/// - Re-acquiring it on the holding thread is an error instead of a silent self-deadlock.
/// - Unrelated processes can share it by name ([`Lock::open`]); Python's must be inherited.
pub struct Lock {
    pub(crate) raw: Raw,
}

impl Lock {
    /// Whether this is a fair lock ([`Options::fair`](crate::Options::fair)).
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(!interlock::Lock::new()?.is_fair());
    /// # Ok::<(), interlock::Error>(())
    /// ```
    pub fn is_fair(&self) -> bool {
        self.raw.is_fair()
    }

    /// Blocks until the calling thread holds the lock.
    ///
    /// # Errors
    ///
    /// [`Error::WouldDeadlock`] if this thread holds it already; [`Error::Deadlock`] if the
    /// wait closes a lock-order cycle with other waiters and this one is chosen to give up
    /// (see [`deadlock::set_timeout`](crate::deadlock::set_timeout)).
    ///
    /// # Examples
    ///
    /// ```
    /// let lock = interlock::Lock::new()?;
    /// let guard = lock.lock()?;
    /// assert!(matches!(lock.lock(), Err(interlock::Error::WouldDeadlock { .. })));
    /// drop(guard);
    /// # Ok::<(), interlock::Error>(())
    /// ```
    #[track_caller]
    #[inline(always)]
    pub fn lock(&self) -> Result<LockGuard<'_>, Error> {
        match self.raw.lock_fast() {
            Some(token) => Ok(self.guard(crate::locks::raw::Acquisition {
                token,
                owner_died: false,
            })),
            None => self.lock_slow(),
        }
    }

    #[cold]
    #[inline(never)]
    fn lock_slow(&self) -> Result<LockGuard<'_>, Error> {
        let acq = self.raw.acquire(&sys::me(), Wait::Forever)?;
        Ok(self.guard(acq.expect("an untimed wait only ends holding the lock")))
    }

    #[inline(always)]
    fn guard(&self, acq: crate::locks::raw::Acquisition) -> LockGuard<'_> {
        LockGuard {
            hold: Hold::new(&self.raw, acq),
        }
    }

    /// Takes the lock if it is free now; `Ok(None)` if another thread or process holds it.
    ///
    /// # Errors
    ///
    /// [`Error::WouldDeadlock`] if this thread holds it already.
    ///
    /// # Examples
    ///
    /// ```
    /// let lock = interlock::Lock::new()?;
    /// let first = lock.try_lock()?;
    /// assert!(first.is_some());
    /// let other_thread = std::thread::scope(|s| s.spawn(|| lock.try_lock().map(|g| g.is_some())).join().unwrap());
    /// assert!(!other_thread?);
    /// # Ok::<(), interlock::Error>(())
    /// ```
    #[track_caller]
    #[inline(always)]
    pub fn try_lock(&self) -> Result<Option<LockGuard<'_>>, Error> {
        self.acquire(Wait::Never)
    }

    /// Waits at most `timeout` for the lock.
    ///
    /// # Errors
    ///
    /// [`Error::Timeout`] naming the holder when time runs out; [`Error::WouldDeadlock`] if this
    /// thread holds it already; [`Error::Deadlock`] as for [`Lock::lock`].
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let lock = interlock::Lock::new()?;
    /// let _held = lock.lock()?;
    /// std::thread::scope(|s| {
    ///     s.spawn(|| {
    ///         let err = lock.lock_timeout(Duration::from_millis(10)).unwrap_err();
    ///         assert!(matches!(err, interlock::Error::Timeout { holder: Some(_), .. }));
    ///     });
    /// });
    /// # Ok::<(), interlock::Error>(())
    /// ```
    #[track_caller]
    pub fn lock_timeout(&self, timeout: Duration) -> Result<LockGuard<'_>, Error> {
        self.acquire(Wait::For(timeout))
            .map(|g| g.expect("a timed wait ends holding the lock or with Timeout"))
    }

    /// Like [`Lock::lock_timeout`], but a timeout is `Ok(None)` instead of an error.
    ///
    /// # Errors
    ///
    /// [`Error::WouldDeadlock`] if this thread holds it already.
    ///
    /// # Examples
    ///
    /// ```
    /// let lock = interlock::Lock::new()?;
    /// let guard = lock.try_lock_for(std::time::Duration::from_millis(5))?;
    /// assert!(guard.is_some());
    /// # Ok::<(), interlock::Error>(())
    /// ```
    pub fn try_lock_for(&self, timeout: Duration) -> Result<Option<LockGuard<'_>>, Error> {
        match self.lock_timeout(timeout) {
            Ok(guard) => Ok(Some(guard)),
            Err(Error::Timeout { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    #[inline(always)]
    fn acquire(&self, wait: Wait) -> Result<Option<LockGuard<'_>>, Error> {
        let me = sys::me();
        Ok(self.raw.acquire(&me, wait)?.map(|acq| self.guard(acq)))
    }

    /// Releases the lock held by the calling thread whose guard was leaked
    /// (`std::mem::forget`): the explicit form of Python's `lock.release()`.
    ///
    /// # Errors
    ///
    /// [`Error::NotOwner`] (naming the holder, if any) when the calling thread does not hold it:
    /// another thread or process cannot release a lock it does not own.
    ///
    /// # Examples
    ///
    /// ```
    /// let lock = interlock::Lock::new()?;
    /// std::mem::forget(lock.lock()?);
    /// lock.release()?;
    /// assert!(matches!(lock.release(), Err(interlock::Error::NotOwner { holder: None, .. })));
    /// # Ok::<(), interlock::Error>(())
    /// ```
    pub fn release(&self) -> Result<(), Error> {
        self.raw.release(&sys::me(), None)
    }

    /// Whether the calling thread holds the lock.
    ///
    /// # Examples
    ///
    /// ```
    /// let lock = interlock::Lock::new()?;
    /// let g = lock.lock()?;
    /// assert!(lock.is_held_by_current_thread());
    /// drop(g);
    /// assert!(!lock.is_held_by_current_thread());
    /// # Ok::<(), interlock::Error>(())
    /// ```
    pub fn is_held_by_current_thread(&self) -> bool {
        self.raw.held_by(&sys::me())
    }

    /// A guard over the calling thread's hold of this lock, taken earlier with its guard
    /// forgotten (`std::mem::forget`) — the hold [`release`](Lock::release) ends. For a
    /// binding that acquires in one call and releases in another (Python's `acquire()` and
    /// `release()`) and must give a [`Condition`](crate::Condition) wait a guard in between.
    /// Dropping it releases the lock; forget it again to keep the hold.
    ///
    /// # Errors
    ///
    /// [`Error::NotOwner`] when the calling thread does not hold the lock.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let lock = interlock::Lock::new()?;
    /// let cond = interlock::Condition::new(&lock)?;
    /// std::mem::forget(lock.lock()?); // acquire() in one call,
    /// let (guard, _) = cond.wait_timeout(lock.held_guard()?, Duration::from_millis(1))?;
    /// std::mem::forget(guard); // held again after the wait,
    /// lock.release()?; // release() in another
    /// assert!(matches!(lock.held_guard(), Err(interlock::Error::NotOwner { .. })));
    /// # Ok::<(), interlock::Error>(())
    /// ```
    pub fn held_guard(&self) -> Result<LockGuard<'_>, Error> {
        if !self.raw.held_by(&sys::me()) {
            return Err(self.raw.not_owner());
        }
        let token = self
            .raw
            .record()
            .acquisitions
            .load(crate::sync::Ordering::Relaxed);
        Ok(self.guard(crate::locks::raw::Acquisition {
            token,
            owner_died: false,
        }))
    }
}

/// What the builder needs to know of a `Lock`: its kind, fair or plain.
impl Open for Lock {
    type Config = LockConfig;

    fn kind(config: &LockConfig) -> Kind {
        if config.fair {
            Kind::FairLock
        } else {
            Kind::Lock
        }
    }

    fn from_raw(raw: Raw, _: &LockConfig) -> Result<Lock, Error> {
        Ok(Lock { raw })
    }

    fn raw(&self) -> &Raw {
        &self.raw
    }
}

impl fmt::Debug for Lock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.raw.fmt(f)
    }
}

/// Proof that the calling thread holds a [`Lock`]; releases it when dropped.
///
/// `!Send`: the lock belongs to the thread that took it. A copy of a guard in a forked child, or
/// a guard whose hold was already ended by [`Lock::release`], releases nothing when dropped.
///
/// # Examples
///
/// ```
/// let lock = interlock::Lock::new()?;
/// let guard = lock.lock()?;
/// let token = guard.token();
/// guard.unlock()?;
/// assert!(lock.lock()?.token() > token);
/// # Ok::<(), interlock::Error>(())
/// ```
#[must_use = "if unused the Lock will immediately unlock"]
#[clippy::has_significant_drop]
pub struct LockGuard<'a> {
    pub(crate) hold: Hold<'a>,
}

impl LockGuard<'_> {
    /// The fencing token of this hold: strictly greater than every earlier hold's, in every
    /// process. Pass it to the resource you protect so it can refuse a stale holder's writes.
    ///
    /// # Examples
    ///
    /// ```
    /// let lock = interlock::Lock::new()?;
    /// let a = lock.lock()?.token();
    /// let b = lock.lock()?.token();
    /// assert!(b > a);
    /// # Ok::<(), interlock::Error>(())
    /// ```
    pub fn token(&self) -> u64 {
        self.hold.token()
    }

    /// True when the previous holder died holding the lock: its section was cut short.
    ///
    /// # Examples
    ///
    /// ```
    /// let lock = interlock::Lock::new()?;
    /// assert!(!lock.lock()?.previous_owner_died());
    /// # Ok::<(), interlock::Error>(())
    /// ```
    pub fn previous_owner_died(&self) -> bool {
        self.hold.owner_died()
    }

    /// Whether the lock is poisoned now (by a panic or an owner's death not yet cleared).
    ///
    /// # Examples
    ///
    /// ```
    /// let lock = interlock::Lock::new()?;
    /// assert!(!lock.lock()?.is_poisoned());
    /// # Ok::<(), interlock::Error>(())
    /// ```
    pub fn is_poisoned(&self) -> bool {
        self.hold.is_poisoned()
    }

    /// Clears the poison mark after the protected state has been checked or repaired.
    ///
    /// # Examples
    ///
    /// ```
    /// let lock = interlock::Lock::new()?;
    /// let g = lock.lock()?;
    /// g.clear_poison();
    /// # Ok::<(), interlock::Error>(())
    /// ```
    pub fn clear_poison(&self) {
        self.hold.raw.clear_poison()
    }

    /// Releases the lock now, reporting what `drop` would silently ignore.
    ///
    /// # Errors
    ///
    /// [`Error::NotOwner`] when this guard's hold already ended (it was copied into a forked
    /// child, or released through [`Lock::release`]).
    ///
    /// # Examples
    ///
    /// ```
    /// let lock = interlock::Lock::new()?;
    /// lock.lock()?.unlock()?;
    /// # Ok::<(), interlock::Error>(())
    /// ```
    pub fn unlock(self) -> Result<(), Error> {
        let result = self.hold.end(false);
        std::mem::forget(self);
        result
    }
}

impl Drop for LockGuard<'_> {
    #[inline(always)]
    fn drop(&mut self) {
        // Not ours any more (forked copy, or released by `Lock::release`): nothing to do.
        self.hold.drop_hold(false);
    }
}

impl fmt::Debug for LockGuard<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LockGuard")
            .field("token", &self.hold.token())
            .field("previous_owner_died", &self.hold.owner_died())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A guard whose hold was ended by `Lock::release` and taken again by the same thread must
    /// not end the new hold: the uncontended release compares the guard's token with the
    /// acquisition count, not just the owner.
    #[test]
    fn stale_guard_leaves_the_same_threads_new_hold_alone() {
        let lock = Lock::new().unwrap();
        let stale = lock.lock().unwrap();
        lock.release().unwrap();
        let fresh = lock.lock().unwrap();
        assert!(matches!(stale.unlock(), Err(Error::NotOwner { .. })));
        assert!(lock.is_held_by_current_thread(), "the new hold survived");
        let stale = lock.lock_timeout(Duration::from_millis(1));
        assert!(matches!(stale, Err(Error::WouldDeadlock { .. })));
        drop(fresh);
        assert!(!lock.is_held_by_current_thread());
        // And through `drop`, the fast path's own route:
        let stale = lock.lock().unwrap();
        lock.release().unwrap();
        let fresh = lock.lock().unwrap();
        drop(stale);
        assert!(
            lock.is_held_by_current_thread(),
            "dropping the stale guard released nothing"
        );
        drop(fresh);
        assert!(lock.try_lock().unwrap().is_some());
    }

    /// A hold whose previous owner died carries a flag in the guard's token bits; its release
    /// takes the full path and still releases.
    #[test]
    fn a_flagged_hold_releases_through_the_full_path() {
        let lock = Lock::new().unwrap();
        let rec = lock.raw.record();
        // Stand-in for a holder's death: a thread (id 12345) takes the word, and the kernel's
        // rewrite of a dead owner's word follows.
        assert!(crate::word::try_lock_fast(&rec.word, 12345));
        assert!(crate::word::mark_owner_dead(&rec.word, 12345));
        let g = lock.lock().unwrap();
        assert!(g.previous_owner_died());
        drop(g);
        assert!(!lock.is_held_by_current_thread());
        assert!(!lock.lock().unwrap().previous_owner_died());
    }

    /// Review finding: a contended `lock_timeout(Duration::MAX)` overflowed `Instant + Duration`.
    #[test]
    fn unrepresentable_timeout_waits_like_lock() {
        let lock = Lock::new().unwrap();
        let held = lock.lock().unwrap();
        std::thread::scope(|s| {
            let waiter = s.spawn(|| lock.lock_timeout(Duration::MAX).map(|g| g.token()));
            // Released only once the waiter waits: the contended path is the one under test.
            while lock.status().waiters == 0 && !waiter.is_finished() {
                std::thread::sleep(Duration::from_millis(1));
            }
            let token = held.token();
            drop(held);
            assert!(waiter.join().unwrap().unwrap() > token);
        });
    }
}
