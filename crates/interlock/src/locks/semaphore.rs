//! Layer 4: a counting semaphore whose permits come back when their holder dies — one robust
//! lock record per permit (a *slot*) in one segment, and a sleeper count in record 0.
//!
//! A permit is a slot's lock word, taken with the `Lock` fast path (one compare-exchange) and
//! linked on the thread's robust list like any lock, so that the kernel frees it and wakes a
//! sleeper on it if its holder dies; the next taker is told (`Permit::previous_owner_died`).
//! A thread that finds every slot held spins a little, then announces itself (`Record::sleepers` of record 0, then
//! `WAITERS` on every held slot), looks once more, and sleeps on all those words at once
//! (`futex_waitv`; on kernels before 5.16, on the held slot with the fewest sleepers). A
//! release wakes the slot's sleeper if its word says it has one, and otherwise, when the
//! sleeper count is not zero, one sleeper on another slot whose word still says so
//! (`word::semaphore::steal_and_wake`); a sleeper that was woken takes its permit with
//! `WAITERS` while others are counted, so that its release wakes the next one. The protocol
//! and its invariant are in `word/semaphore.rs`, where loom checks them. A holder's death
//! wakes a sleeper through the kernel's robust-list walk, on whichever slot it held. Every
//! sleep is bounded (`SLICE`): a sleeper whose wake-up was taken by a killed sleeper, or (old
//! kernels) whose slot is not the one that frees up, looks again within it. Decision 0023.

use std::borrow::Cow;
use std::fmt;
use std::time::{Duration, Instant};

use crate::locks::guard::Hold;
use crate::locks::lock::{Lock, LockGuard};
use crate::locks::primitive::Open;
use crate::locks::raw::{Acquisition, Raw, Wait};
use crate::shm::{table_payload, MAX_TABLE};
use crate::sync::{AtomicU32, Ordering};
use crate::sys;
use crate::types::{Error, Kind, LockStatus, SemaphoreStatus};
use crate::word;

/// The longest a sleeper sleeps before it looks at every slot again: the bound on how late it
/// sees a permit freed on a slot nobody slept on, or whose holder's death the kernel did not
/// report (the liveness period of `Raw`).
const SLICE: Duration = Duration::from_millis(50);

/// A counting semaphore shared between processes (Python's `multiprocessing.BoundedSemaphore`):
/// at most `permits` holders at once, and a permit whose holder dies — SIGKILL included —
/// comes back, and its next taker is told.
///
/// Each permit is a robust lock record in the semaphore's segment, so a permit belongs to the
/// thread that took it: it is given back by dropping its [`Permit`] (or [`Permit::release`],
/// or [`Semaphore::release`] for a permit whose guard was leaked), and by the kernel when the
/// thread dies. [`Semaphore::status`] (and the CLI's `status`) shows who holds each.
///
/// Share it like a lock: anonymous and inherited by `fork` ([`Semaphore::new`]), handed to a
/// spawned program ([`Semaphore::pass_to`] / [`Semaphore::from_env`]), or met by name
/// ([`Semaphore::open`]) — shortcuts of [`Semaphore::options`] with its
/// [`permits`](crate::Options::permits).
///
/// # Examples
///
/// ```
/// use interlock::Semaphore;
///
/// let slots = Semaphore::new(2)?;
/// let a = slots.acquire()?;
/// let b = slots.acquire()?;
/// assert!(slots.try_acquire()?.is_none(), "two permits, both taken");
/// drop(a);
/// assert!(slots.try_acquire()?.is_some());
/// # drop(b);
/// # Ok::<(), interlock::Error>(())
/// ```
///
/// # Owner death
///
/// A permit whose holder died is free again at once (the kernel's robust list), and the
/// [`Permit`] of its next taker says so:
///
/// ```no_run
/// # let slots = interlock::Semaphore::new(1)?;
/// let permit = slots.acquire()?;
/// if permit.previous_owner_died() {
///     // The last holder of this permit died holding it: whatever it was doing with the
///     // resource the semaphore guards may be half done.
/// }
/// # Ok::<(), interlock::Error>(())
/// ```
///
/// # Differences from `multiprocessing.Semaphore`
///
/// Every interlock semaphore is bounded: a permit is a slot a thread holds, so a release is
/// always the holder's, and a release with nothing held is [`Error::NotOwner`] — where
/// Python's `Semaphore.release()` would raise the count above its start, and its
/// `BoundedSemaphore` raises `ValueError`. Handing a permit from one process to another
/// (Python's acquire here, release there) is not done: its crash safety would be lost.
/// [`BoundedSemaphore`] is the same type, under Python's name.
pub struct Semaphore {
    slots: Vec<Lock>,
}

/// Python's name for what every interlock [`Semaphore`] is: bounded (a release with no permit
/// held is [`Error::NotOwner`]).
///
/// # Examples
///
/// ```
/// let sem = interlock::BoundedSemaphore::new(1)?;
/// assert!(matches!(sem.release(), Err(interlock::Error::NotOwner { .. })));
/// # Ok::<(), interlock::Error>(())
/// ```
pub type BoundedSemaphore = Semaphore;

impl Semaphore {
    /// The semaphore in `raw`'s segment, which must hold `expected` permits when that is given.
    fn from_raw(raw: Raw, expected: Option<usize>) -> Result<Semaphore, Error> {
        let found = raw.segment().header().records();
        if let Some(n) = expected.filter(|&n| n != found) {
            return Err(Error::SemaphoreSize {
                what: raw.handle_label(),
                reason: format!("it exists with {found} permits, not {n}"),
            });
        }
        Ok(Semaphore {
            slots: raw
                .table_elements()
                .into_iter()
                .map(|raw| Lock { raw })
                .collect(),
        })
    }

    /// How many permits the semaphore has: at most this many holders at once.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(interlock::Semaphore::new(3)?.permits(), 3);
    /// # Ok::<(), interlock::Error>(())
    /// ```
    pub fn permits(&self) -> usize {
        self.slots.len()
    }

    /// How many permits are free now (a snapshot: others may take or give back any moment).
    ///
    /// # Examples
    ///
    /// ```
    /// let sem = interlock::Semaphore::new(3)?;
    /// let _p = sem.acquire()?;
    /// assert_eq!(sem.available(), 2);
    /// # Ok::<(), interlock::Error>(())
    /// ```
    pub fn available(&self) -> usize {
        self.slots
            .iter()
            .filter(|s| s.raw.status().holder.is_none())
            .count()
    }

    /// Each permit's state: its holder (pid, tid, since when, if timestamps are on), owner
    /// deaths, sleepers on it. The segment-wide count of sleepers is [`Semaphore::waiters`].
    ///
    /// # Examples
    ///
    /// ```
    /// let sem = interlock::Semaphore::new(2)?;
    /// let _p = sem.acquire()?;
    /// let held: Vec<_> = sem.holders().into_iter().filter_map(|s| s.holder).collect();
    /// assert_eq!(held.len(), 1);
    /// assert_eq!(held[0].pid, std::process::id());
    /// # Ok::<(), interlock::Error>(())
    /// ```
    pub fn holders(&self) -> Vec<LockStatus> {
        self.slots.iter().map(|s| s.raw.status()).collect()
    }

    /// Every permit's state — its holder (pid, tid, since when if timestamps are on), deaths —
    /// with how many are free and how many threads sleep for one: what `interlock status`
    /// shows of a semaphore. A snapshot, read without taking anything.
    ///
    /// # Examples
    ///
    /// ```
    /// let sem = interlock::Semaphore::options().permits(2).timestamps(true).create()?;
    /// let permit = sem.acquire()?;
    /// let status = sem.status();
    /// assert_eq!(status.free, 1);
    /// let holder = status.permits[permit.slot()].holder.clone().expect("held");
    /// assert_eq!(holder.pid, std::process::id());
    /// assert!(holder.since.is_some());
    /// # Ok::<(), interlock::Error>(())
    /// ```
    pub fn status(&self) -> SemaphoreStatus {
        crate::locks::status::semaphore(self.slots[0].raw.segment())
    }

    /// How many threads are asleep waiting for a permit now.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(interlock::Semaphore::new(1)?.waiters(), 0);
    /// # Ok::<(), interlock::Error>(())
    /// ```
    pub fn waiters(&self) -> u32 {
        self.slots[0].raw.record().sleepers.load(Ordering::Relaxed)
    }

    /// Takes a permit, waiting for as long as it takes.
    ///
    /// # Errors
    ///
    /// [`Error::WouldDeadlock`] if the calling thread holds every permit.
    ///
    /// # Examples
    ///
    /// ```
    /// let sem = interlock::Semaphore::new(1)?;
    /// let permit = sem.acquire()?;
    /// assert!(!permit.previous_owner_died());
    /// # Ok::<(), interlock::Error>(())
    /// ```
    #[track_caller]
    #[inline(always)]
    pub fn acquire(&self) -> Result<Permit<'_>, Error> {
        match self.acquire_fast() {
            Some(p) => Ok(p),
            None => self
                .acquire_slow(None)
                .map(|p| p.expect("an untimed wait ends with a permit")),
        }
    }

    /// Takes a permit if one is free now; `Ok(None)` if all are held.
    ///
    /// # Errors
    ///
    /// None in practice; the `Result` is that of every acquisition.
    ///
    /// # Examples
    ///
    /// ```
    /// let sem = interlock::Semaphore::new(1)?;
    /// let p = sem.try_acquire()?;
    /// assert!(p.is_some());
    /// assert!(sem.try_acquire()?.is_none());
    /// # Ok::<(), interlock::Error>(())
    /// ```
    pub fn try_acquire(&self) -> Result<Option<Permit<'_>>, Error> {
        match self.acquire_fast() {
            Some(p) => Ok(Some(p)),
            // Held by this very thread counts as held: a look never blocks.
            None => match self.scan() {
                Err(Error::WouldDeadlock { .. }) => Ok(None),
                other => other,
            },
        }
    }

    /// Waits at most `timeout` for a permit (Python's `acquire(timeout=…)`).
    ///
    /// # Errors
    ///
    /// [`Error::Timeout`] naming a holder when time runs out; [`Error::WouldDeadlock`] if the
    /// calling thread holds every permit.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let sem = interlock::Semaphore::new(1)?;
    /// let _held = sem.acquire()?;
    /// std::thread::scope(|s| {
    ///     s.spawn(|| {
    ///         let err = sem.acquire_timeout(Duration::from_millis(10)).unwrap_err();
    ///         assert!(matches!(err, interlock::Error::Timeout { .. }));
    ///     });
    /// });
    /// # Ok::<(), interlock::Error>(())
    /// ```
    pub fn acquire_timeout(&self, timeout: Duration) -> Result<Permit<'_>, Error> {
        let started = Instant::now();
        match self.try_acquire_for(timeout)? {
            Some(p) => Ok(p),
            None => Err(Error::Timeout {
                lock: self.slots[0].raw.handle_label(),
                waited: started.elapsed(),
                holder: self.slots.iter().find_map(|s| s.raw.holder()),
            }),
        }
    }

    /// Like [`Semaphore::acquire_timeout`], but a timeout is `Ok(None)` instead of an error.
    ///
    /// # Errors
    ///
    /// [`Error::WouldDeadlock`] if the calling thread holds every permit.
    ///
    /// # Examples
    ///
    /// ```
    /// let sem = interlock::Semaphore::new(1)?;
    /// assert!(sem.try_acquire_for(std::time::Duration::from_millis(5))?.is_some());
    /// # Ok::<(), interlock::Error>(())
    /// ```
    pub fn try_acquire_for(&self, timeout: Duration) -> Result<Option<Permit<'_>>, Error> {
        match self.acquire_fast() {
            Some(p) => Ok(Some(p)),
            // A timeout too far to represent is no timeout.
            None => self.acquire_slow(Instant::now().checked_add(timeout)),
        }
    }

    /// Gives back a permit the calling thread holds whose [`Permit`] was leaked
    /// (`std::mem::forget`): the explicit form of Python's `release()`.
    ///
    /// # Errors
    ///
    /// [`Error::NotOwner`] when the calling thread holds no permit: a release above what was
    /// taken (Python's `BoundedSemaphore` raises `ValueError`), or of another thread's or
    /// process's permit.
    ///
    /// # Examples
    ///
    /// ```
    /// let sem = interlock::Semaphore::new(1)?;
    /// std::mem::forget(sem.acquire()?);
    /// sem.release()?;
    /// assert!(matches!(sem.release(), Err(interlock::Error::NotOwner { .. })));
    /// # Ok::<(), interlock::Error>(())
    /// ```
    pub fn release(&self) -> Result<(), Error> {
        let me = sys::me();
        match self.slots.iter().position(|s| s.raw.held_by(&me)) {
            Some(i) => {
                self.slots[i].raw.release(&me, None)?;
                self.wake_after_release(i);
                Ok(())
            }
            None => Err(Error::NotOwner {
                lock: self.slots[0].raw.handle_label(),
                holder: None,
            }),
        }
    }

    /// The uncontended path: one compare-exchange on the first free-looking slot.
    #[inline(always)]
    fn acquire_fast(&self) -> Option<Permit<'_>> {
        for (i, slot) in self.slots.iter().enumerate() {
            // Look before trying: a failed exchange on a held permit takes its line from the
            // holder, and 8 processes over 2 permits did that on every arrival.
            if !word::looks_unlocked(&slot.raw.record().word) {
                continue;
            }
            if let Some(token) = slot.raw.lock_fast() {
                return Some(self.permit(
                    i,
                    Acquisition {
                        token,
                        owner_died: false,
                    },
                ));
            }
        }
        None
    }

    #[inline(always)]
    fn permit(&self, slot: usize, acq: Acquisition) -> Permit<'_> {
        if acq.owner_died {
            // A semaphore guards no data of its own: the death is the taker's to know (its
            // permit says so), not a state the slot keeps.
            self.slots[slot].raw.clear_poison();
        }
        Permit {
            guard: Some(LockGuard {
                hold: Hold::new(&self.slots[slot].raw, acq),
            }),
            sem: self,
            slot,
        }
    }

    /// One look at every slot, taking any free one ([`scan_slots`]).
    #[cold]
    fn scan(&self) -> Result<Option<Permit<'_>>, Error> {
        Ok(scan_slots(&self.slots)?.map(|(i, acq)| self.permit(i, acq)))
    }

    /// The contended path ([`wait_for_slot`]).
    #[cold]
    #[inline(never)]
    fn acquire_slow(&self, end: Option<Instant>) -> Result<Option<Permit<'_>>, Error> {
        Ok(wait_for_slot(&self.slots, end)?.map(|(i, acq)| self.permit(i, acq)))
    }

    /// After slot `released` was given back and its word woke no sleeper: if threads sleep
    /// for a permit, wake one on another slot whose word still carries `WAITERS`
    /// (`word::semaphore::wake_after_release`).
    #[inline(always)]
    fn wake_after_release(&self, released: usize) {
        word::semaphore::wake_after_release(&self.slots[..], released);
    }
}

/// A permit of a [`Semaphore`]: given back when dropped (or by [`Permit::release`]), and by
/// the kernel if its holder dies.
///
/// `!Send`: the permit's word records the taking thread, like a [`LockGuard`]'s.
///
/// # Examples
///
/// ```
/// let sem = interlock::Semaphore::new(1)?;
/// {
///     let _permit = sem.acquire()?;
///     assert_eq!(sem.available(), 0);
/// }
/// assert_eq!(sem.available(), 1);
/// # Ok::<(), interlock::Error>(())
/// ```
#[must_use = "if unused the permit is given back at once"]
#[clippy::has_significant_drop]
pub struct Permit<'a> {
    guard: Option<LockGuard<'a>>,
    sem: &'a Semaphore,
    slot: usize,
}

impl Permit<'_> {
    /// Whether the previous holder of this permit died holding it.
    ///
    /// # Examples
    ///
    /// ```
    /// let sem = interlock::Semaphore::new(1)?;
    /// assert!(!sem.acquire()?.previous_owner_died());
    /// # Ok::<(), interlock::Error>(())
    /// ```
    pub fn previous_owner_died(&self) -> bool {
        self.guard.as_ref().is_some_and(|g| g.previous_owner_died())
    }

    /// Which of the semaphore's permits this is (0 to `permits() - 1`): as `status` numbers
    /// them.
    ///
    /// # Examples
    ///
    /// ```
    /// let sem = interlock::Semaphore::new(2)?;
    /// let (a, b) = (sem.acquire()?, sem.acquire()?);
    /// assert_ne!(a.slot(), b.slot());
    /// # Ok::<(), interlock::Error>(())
    /// ```
    pub fn slot(&self) -> usize {
        self.slot
    }

    /// The permit's slot as the lock guard it is, for what layer 5 adds to guards (a command
    /// run as a process group the slot's record names).
    pub(crate) fn lock_guard(&self) -> &LockGuard<'_> {
        self.guard
            .as_ref()
            .expect("a permit holds its slot until it is dropped or released")
    }

    /// This hold's fencing token: the number of times this permit's slot has been taken.
    ///
    /// # Examples
    ///
    /// ```
    /// let sem = interlock::Semaphore::new(1)?;
    /// let first = sem.acquire()?.token();
    /// assert!(sem.acquire()?.token() > first);
    /// # Ok::<(), interlock::Error>(())
    /// ```
    pub fn token(&self) -> u64 {
        self.guard.as_ref().map_or(0, |g| g.token())
    }

    /// Gives the permit back, reporting what dropping it would not.
    ///
    /// # Errors
    ///
    /// [`Error::NotOwner`] if the permit was already given back another way
    /// ([`Semaphore::release`]) or this is a forked child's copy.
    ///
    /// # Examples
    ///
    /// ```
    /// let sem = interlock::Semaphore::new(1)?;
    /// sem.acquire()?.release()?;
    /// assert_eq!(sem.available(), 1);
    /// # Ok::<(), interlock::Error>(())
    /// ```
    pub fn release(mut self) -> Result<(), Error> {
        let result = match self.guard.take() {
            Some(g) => g.unlock(),
            None => Ok(()),
        };
        self.sem.wake_after_release(self.slot);
        result
    }
}

impl Drop for Permit<'_> {
    #[inline(always)]
    fn drop(&mut self) {
        if let Some(g) = self.guard.take() {
            // The guard's release, asked whether it woke a sleeper on this permit's word (its
            // own drop must not run again: it would find the hold ended and do nothing, but
            // only after a look at the record).
            let g = std::mem::ManuallyDrop::new(g);
            if g.hold.drop_hold_woke() {
                // A sleeper woke for this permit: waking another, which finds nothing free
                // and sleeps again, was one futile system call per contended release.
                return;
            }
            self.sem.wake_after_release(self.slot);
        }
    }
}

impl fmt::Debug for Permit<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Permit")
            .field("slot", &self.slot)
            .field("token", &self.token())
            .field("previous_owner_died", &self.previous_owner_died())
            .finish()
    }
}

impl fmt::Debug for Semaphore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Semaphore")
            .field("label", &self.slots[0].raw.handle_label())
            .field("permits", &self.slots.len())
            .field("available", &self.available())
            .finish_non_exhaustive()
    }
}

/// The settings of a [`Semaphore`] beyond the common ones: its permits
/// ([`Options::permits`](crate::Options::permits)).
#[derive(Debug, Clone, Copy, Default)]
pub struct SemaphoreConfig {
    pub(crate) permits: Option<usize>,
}

/// What the builder needs to know of a `Semaphore`: its permits, checked before anything is
/// created, and checked against a semaphore that exists.
impl Open for Semaphore {
    type Config = SemaphoreConfig;

    fn kind(_: &SemaphoreConfig) -> Kind {
        Kind::Semaphore
    }

    fn payload<'a>(config: &'a SemaphoreConfig, what: &str) -> Result<Cow<'a, [u8]>, Error> {
        let fault = |reason: String| Error::SemaphoreSize {
            what: what.to_owned(),
            reason,
        };
        match config.permits {
            None => Err(fault(format!(
                "a semaphore's permits are not given (Options::permits: 1 to {MAX_TABLE})"
            ))),
            Some(n) if n == 0 || n > MAX_TABLE => Err(fault(format!(
                "a semaphore has 1 to {MAX_TABLE} permits, not {n}"
            ))),
            Some(n) => Ok(Cow::Owned(table_payload(n as u32).to_vec())),
        }
    }

    fn from_raw(raw: Raw, config: &SemaphoreConfig) -> Result<Semaphore, Error> {
        Semaphore::from_raw(raw, config.permits)
    }

    fn raw(&self) -> &Raw {
        &self.slots[0].raw
    }
}

/// One look at every slot of a table of robust slots (a semaphore's permits, an `RwLock`'s
/// reader slots), taking any free one — also one whose holder died, or whose unreported holder
/// is provably dead: its index and how it was taken. `WouldDeadlock` if the calling thread
/// holds them all.
#[cold]
pub(crate) fn scan_slots(slots: &[Lock]) -> Result<Option<(usize, Acquisition)>, Error> {
    let me = sys::me();
    let mut mine = 0;
    for (i, slot) in slots.iter().enumerate() {
        // Held by another thread the kernel reports if it dies: nothing to take or recover,
        // and no exchange to take the line from its holder.
        if word::held_by_other_reported(&slot.raw.record().word, me.tid) {
            continue;
        }
        match slot.raw.acquire(&me, Wait::Never) {
            Ok(Some(acq)) => return Ok(Some((i, acq))),
            Ok(None) => {}
            Err(Error::WouldDeadlock { .. }) => mine += 1,
            Err(e) => return Err(e),
        }
    }
    if mine == slots.len() {
        return Err(Error::WouldDeadlock {
            lock: slots[0].raw.handle_label(),
        });
    }
    Ok(None)
}

/// The permits' words as the word layer's protocol sees them (`word::semaphore`): each
/// slot's lock word and sleepers, and record 0's count of sleepers for any slot.
impl word::semaphore::Permits for [Lock] {
    fn len(&self) -> usize {
        <[Lock]>::len(self)
    }

    fn word(&self, i: usize) -> &AtomicU32 {
        &self[i].raw.record().word
    }

    fn waiters(&self, i: usize) -> &AtomicU32 {
        &self[i].raw.record().waiters
    }

    fn sleepers(&self) -> &AtomicU32 {
        &self[0].raw.record().sleepers
    }
}

/// The contended path of a table of robust slots: look ([`scan_slots`]), announce (in the
/// first slot's `sleepers`, then on every held slot), look again, sleep on every held slot at
/// once, in slices of at most [`SLICE`]; until a slot is taken or `end` passes (`None`:
/// never). The protocol, and who wakes whom, is `word::semaphore::wait_for_permit`'s.
#[cold]
#[inline(never)]
pub(crate) fn wait_for_slot(
    slots: &[Lock],
    end: Option<Instant>,
) -> Result<Option<(usize, Acquisition)>, Error> {
    word::semaphore::wait_for_permit(
        slots,
        || scan_slots(slots),
        || {
            let now = Instant::now();
            if end.is_some_and(|end| now >= end) {
                return None;
            }
            let wake = end.map_or(now + SLICE, |end| end.min(now + SLICE));
            Some(sys::futex::deadline_after(
                wake.saturating_duration_since(now),
            ))
        },
    )
}
