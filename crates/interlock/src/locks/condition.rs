//! Layer 4: [`Condition`], Python's `multiprocessing.Condition(lock)` and Rust's `Condvar`
//! across processes — a condition segment's words (`word/condition.rs`) bound to one
//! [`Lock`] or [`RLock`], whose hold a wait gives up and takes again.

use std::borrow::Cow;
use std::fmt;
use std::time::{Duration, Instant};

use crate::locks::guard::Hold;
use crate::locks::lock::{Lock, LockGuard};
use crate::locks::primitive::Open;
use crate::locks::raw::{Acquisition, Raw};
use crate::locks::rlock::{RLock, RLockGuard};
use crate::shm::{Segment, CONDITION_PAYLOAD_LEN};
use crate::sync::{AtomicU32, AtomicU64, Ordering};
use crate::sys::futex::deadline_after;
use crate::sys::{self, Ids, Liveness, Me};
use crate::types::{ConditionStatus, Error, Kind};
use crate::word::condition;

/// The longest one sleep of a waiter lasts before it looks again: the bound on how long a
/// notification stays with a waiter that was woken for it and killed before it could take it,
/// before another waiter takes it over.
const TAKEOVER_SLICE: Duration = Duration::from_millis(20);

/// How often a waiter looks for waiters that were killed while counted in (and counts them
/// out): once per this much of its wait.
const HEAL_EVERY: Duration = Duration::from_secs(1);

/// The payload's 8-byte words before the slots: the state, the lock's identity, reserved.
const HEAD_WORDS: usize = 8;
const _: () = assert!(CONDITION_PAYLOAD_LEN == 8 * (HEAD_WORDS + 2 * condition::SLOTS));

/// A condition variable between processes, bound to one [`Lock`] or [`RLock`]: Python's
/// `multiprocessing.Condition(lock)`, Rust's [`Condvar`](std::sync::Condvar).
///
/// A waiter holds the lock, finds that what it waits for is not there yet, and calls
/// [`wait`](Condition::wait) with its guard: the wait releases the lock and sleeps, atomically
/// (a [`notify_one`](Condition::notify_one) or [`notify_all`](Condition::notify_all) given
/// after the release is never missed), and takes the lock again before it returns the guard.
/// Wait in a loop that checks the state, or with [`wait_while`](Condition::wait_while): a wait
/// may return without a notification of its own (a *spurious* wake-up, see below).
///
/// The condition is bound to its lock when it is created ([`Condition::new(&lock)`](Condition::new),
/// [`Condition::open(name, &lock)`](Condition::open)): its segment records the lock's identity,
/// a wait given the guard of another lock is [`Error::WrongLock`], and so is opening the
/// condition with another lock. Share it as you share the lock: anonymous and inherited by
/// `fork`, handed to a spawned program ([`pass_to`](Condition::pass_to) /
/// [`from_env`](Condition::from_env)), by name, at a path.
///
/// # Examples
///
/// The parent creates the lock and the condition; a child waits for what the parent makes:
///
/// ```
/// use interlock::{Condition, Lock, Value};
///
/// let lock = Lock::new()?;
/// let ready = Condition::new(&lock)?;
/// let item = Value::new(0u64)?; // the shared state; any shared memory will do
/// let child = unsafe { libc::fork() };
/// if child == 0 {
///     let mut guard = lock.lock().unwrap();
///     while item.get().unwrap() == 0 {
///         guard = ready.wait(guard).unwrap(); // releases the lock while it sleeps
///     }
///     unsafe { libc::_exit(if item.get().unwrap() == 42 { 0 } else { 1 }) };
/// }
/// {
///     let _guard = lock.lock()?;
///     item.set(42)?;
///     ready.notify_one();
/// }
/// let mut status = 0;
/// unsafe { libc::waitpid(child, &mut status, 0) };
/// assert_eq!(status, 0);
/// # Ok::<(), interlock::Error>(())
/// ```
///
/// # What `notify_one` guarantees
///
/// `notify_one` gives one notification to a waiter that was waiting when it was called
/// (`notify(n)` up to `n`, `notify_all` one to each), and wakes one. Exactly one waiter takes
/// each notification — unless no waiter that was waiting when it was given is still alive.
/// A waiter that was woken for a notification and killed before it took it does not take it
/// with it: the notification stays pending, and another waiter that was already waiting takes
/// it over within about 20 ms (waiters sleep in bounded slices and look again). No wake-up is
/// lost. Spurious wake-ups are possible, as with every condition variable: a waiter killed
/// while it waited stays counted as a waiter until a living waiter finds it dead and counts it
/// out (each waiter looks once a second of its wait, through the slot that names the first 32
/// waiters at once), so meanwhile a notification may be given for it and taken by a living
/// waiter that was not the one notified — at most one extra wake-up per such death, per
/// notification.
///
/// # Owner death
///
/// The condition has no holder; its lock has. A waiter killed at any instant — asleep, woken,
/// taking the lock again — wedges no one: asleep, it leaves its count until another waiter
/// counts it out (see above); holding the lock again, it is the lock's dead holder, and the
/// next holder is told as usual ([`LockGuard::previous_owner_died`]). A `wait` that takes the lock back from a dead holder
/// returns a guard that says so. A notifier killed at any instant leaves nothing inconsistent:
/// killed inside `notify`, its notification is delivered at the waiters' next look (it had
/// announced it, not yet woken anyone), with the next notification (it had only counted it),
/// or not at all (it had done neither), as if it had died just after or just before.
///
/// # Differences from `multiprocessing.Condition` and `std::sync::Condvar`
///
/// - Bound to its lock once, as Python's (std's `Condvar` checks the mutex at the first wait);
///   a wait with another lock's guard is an error, not a panic.
/// - The wait takes the guard and gives it back (std's shape); on an [`RLock`] it releases
///   every level of the recursion and restores it (Python's `_release_save` /
///   `_acquire_restore`). The returned guard has a new [fencing token](LockGuard::token).
/// - A waiter killed while it waits hangs nobody. Python's `notify` waits for every waiter it
///   wakes to answer, and so hangs for ever once one was killed.
/// - Notifying without holding the lock is allowed (as with std's; Python's asserts it holds
///   it), but a waiter that checks its state and then waits is only safe from missing a
///   notification if the notifier changed that state under the lock.
pub struct Condition {
    raw: Raw,
}

/// A lock a [`Condition`] can be bound to: [`Lock`] and [`RLock`] (their fair forms too).
/// Sealed.
///
/// # Examples
///
/// ```
/// fn bind(lock: &impl interlock::ConditionLock) -> Result<interlock::Condition, interlock::Error> {
///     interlock::Condition::new(lock)
/// }
/// bind(&interlock::Lock::new()?)?;
/// bind(&interlock::RLock::new()?)?;
/// # Ok::<(), interlock::Error>(())
/// ```
pub trait ConditionLock: Open {}

impl ConditionLock for Lock {}
impl ConditionLock for RLock {}

/// A guard a [`Condition`] waits with: [`LockGuard`] and [`RLockGuard`]. Sealed.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
///
/// fn nap<'a, G: interlock::ConditionGuard<'a>>(cond: &interlock::Condition, guard: G) -> G {
///     cond.wait_timeout(guard, Duration::from_millis(1)).unwrap().0
/// }
/// let lock = interlock::RLock::new()?;
/// let cond = interlock::Condition::new(&lock)?;
/// let guard = nap(&cond, lock.lock()?);
/// assert_eq!(guard.depth(), 1);
/// # Ok::<(), interlock::Error>(())
/// ```
pub trait ConditionGuard<'a>: Rewind<'a> {}

impl<'a, G: Rewind<'a>> ConditionGuard<'a> for G {}

/// What a wait needs of a guard: taken apart (its hold handed to the wait) and built again
/// from the hold taken back. `pub` in a module the crate does not export: [`ConditionGuard`]
/// is sealed.
pub trait Rewind<'a>: Sized {
    /// The hold, without ending it (the guard is forgotten).
    #[doc(hidden)]
    fn into_hold(self) -> (&'a Raw, u64, bool);
    /// A guard over a hold taken again, at `depth` (an RLock's).
    #[doc(hidden)]
    fn from_hold(raw: &'a Raw, token: u64, owner_died: bool, depth: u32) -> Self;
    /// Whether the hold began with its previous holder found dead.
    #[doc(hidden)]
    fn died(&self) -> bool;
}

impl<'a> Rewind<'a> for LockGuard<'a> {
    fn into_hold(self) -> (&'a Raw, u64, bool) {
        let parts = (self.hold.raw, self.hold.token(), false);
        std::mem::forget(self);
        parts
    }

    fn from_hold(raw: &'a Raw, token: u64, owner_died: bool, _: u32) -> LockGuard<'a> {
        LockGuard {
            hold: Hold::new(raw, Acquisition { token, owner_died }),
        }
    }

    fn died(&self) -> bool {
        self.hold.owner_died()
    }
}

impl<'a> Rewind<'a> for RLockGuard<'a> {
    fn into_hold(self) -> (&'a Raw, u64, bool) {
        let parts = (self.hold.raw, self.hold.token(), true);
        std::mem::forget(self);
        parts
    }

    fn from_hold(raw: &'a Raw, token: u64, owner_died: bool, depth: u32) -> RLockGuard<'a> {
        RLockGuard {
            hold: Hold::new(raw, Acquisition { token, owner_died }),
            depth: u64::from(depth),
        }
    }

    fn died(&self) -> bool {
        self.hold.owner_died()
    }
}

/// Whether a timed wait ([`Condition::wait_timeout`], [`Condition::wait_timeout_while`])
/// ended because its time ran out: std's `WaitTimeoutResult`.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
///
/// let lock = interlock::Lock::new()?;
/// let cond = interlock::Condition::new(&lock)?;
/// let (_guard, result) = cond.wait_timeout(lock.lock()?, Duration::from_millis(1))?;
/// assert!(result.timed_out());
/// # Ok::<(), interlock::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WaitTimeoutResult(bool);

impl WaitTimeoutResult {
    /// True if the wait ended because its time ran out (for a `_while` wait: with the
    /// predicate still true).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let lock = interlock::Lock::new()?;
    /// let cond = interlock::Condition::new(&lock)?;
    /// let (_g, r) = cond.wait_timeout_while(lock.lock()?, Duration::from_secs(5), || false)?;
    /// assert!(!r.timed_out(), "the predicate was false at once");
    /// # Ok::<(), interlock::Error>(())
    /// ```
    pub fn timed_out(&self) -> bool {
        self.0
    }
}

/// A [`Condition`]'s own setting: the lock it is bound to ([`Options::lock`](crate::Options::lock)).
#[derive(Debug, Clone, Default)]
pub struct ConditionConfig {
    /// The lock's identity (device, inode, record index) and its name for messages.
    pub(crate) lock: Option<((u64, u64, u64), String)>,
}

impl ConditionConfig {
    /// Binds to `lock`.
    pub(crate) fn bind(&mut self, lock: &impl ConditionLock) {
        let raw = lock.raw();
        self.lock = Some((raw.identity(), raw.label()));
    }
}

impl Condition {
    /// The sequence word (the record's futex word), the state word and the slots' words.
    fn words(&self) -> (&AtomicU32, &AtomicU64, &[AtomicU64]) {
        let seg = self.raw.segment();
        let payload = seg.condition_words();
        (&seg.record().word, &payload[0], &payload[HEAD_WORDS..])
    }

    /// `condition "name"`, "anonymous condition", "condition at PATH".
    fn label(&self) -> String {
        self.raw.label().replacen("lock", "condition", 1)
    }

    /// Releases the lock `guard` holds, waits until notified, and takes the lock again: the
    /// guard of the new hold. Returns without a notification of its own now and then (a
    /// spurious wake-up): wait in a loop that checks what it waits for, or use
    /// [`wait_while`](Condition::wait_while).
    ///
    /// On an [`RLock`] held several levels deep, every level is released and restored.
    ///
    /// # Errors
    ///
    /// [`Error::WrongLock`] if `guard` is not a guard of the condition's lock (the guard is
    /// dropped: its lock released); [`Error::NotOwner`] if its hold already ended (a forked
    /// copy); [`Error::Deadlock`] if taking the lock again closes a lock-order cycle (see
    /// [`Lock::lock`]) — the lock is then not held.
    ///
    /// # Examples
    ///
    /// ```
    /// let lock = interlock::Lock::new()?;
    /// let cond = interlock::Condition::new(&lock)?;
    /// let done = std::sync::atomic::AtomicBool::new(false);
    /// std::thread::scope(|s| {
    ///     s.spawn(|| {
    ///         let _g = lock.lock().unwrap();
    ///         done.store(true, std::sync::atomic::Ordering::Relaxed);
    ///         cond.notify_all();
    ///     });
    ///     let mut guard = lock.lock().unwrap();
    ///     while !done.load(std::sync::atomic::Ordering::Relaxed) {
    ///         guard = cond.wait(guard).unwrap();
    ///     }
    /// });
    /// # Ok::<(), interlock::Error>(())
    /// ```
    pub fn wait<'a, G: ConditionGuard<'a>>(&self, guard: G) -> Result<G, Error> {
        self.wait_inner(guard, None, false, &mut || false)
            .map(|(g, _)| g)
    }

    /// As [`wait`](Condition::wait), for at most `timeout`: the guard (the lock is held again
    /// either way) and whether the time ran out — Python's `wait(timeout)` returning `False`.
    ///
    /// # Errors
    ///
    /// As [`wait`](Condition::wait).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let lock = interlock::Lock::new()?;
    /// let cond = interlock::Condition::new(&lock)?;
    /// let (guard, result) = cond.wait_timeout(lock.lock()?, Duration::from_millis(5))?;
    /// assert!(result.timed_out() && lock.is_held_by_current_thread());
    /// # drop(guard);
    /// # Ok::<(), interlock::Error>(())
    /// ```
    pub fn wait_timeout<'a, G: ConditionGuard<'a>>(
        &self,
        guard: G,
        timeout: Duration,
    ) -> Result<(G, WaitTimeoutResult), Error> {
        // A timeout too far to represent is no timeout.
        let end = Instant::now().checked_add(timeout);
        self.wait_inner(guard, end.map(Some).unwrap_or(None), false, &mut || false)
            .map(|(g, timed_out)| (g, WaitTimeoutResult(timed_out)))
    }

    /// As [`wait_timeout`](Condition::wait_timeout) (`timeout` `None`: no limit), asking
    /// `interrupted` each time the wait wakes without a notification (at least every 20 ms):
    /// when it says true, the wait ends as a timeout does — the lock held again,
    /// [`timed_out`](WaitTimeoutResult::timed_out) true — and the caller, who knows why, can
    /// act on it. The waiter stays counted in between the looks, so no notification is lost
    /// and none is invented: a binding that must check for signals while it waits (Python's
    /// `KeyboardInterrupt`) waits once, not in slices of its own that each re-take the lock.
    ///
    /// # Errors
    ///
    /// As [`wait`](Condition::wait).
    ///
    /// # Examples
    ///
    /// ```
    /// let lock = interlock::Lock::new()?;
    /// let cond = interlock::Condition::new(&lock)?;
    /// let mut looks = 0;
    /// let (guard, result) = cond.wait_interruptible(lock.lock()?, None, || {
    ///     looks += 1;
    ///     looks == 3 // a Ctrl-C arrived, say
    /// })?;
    /// assert!(result.timed_out() && lock.is_held_by_current_thread());
    /// # drop(guard);
    /// # Ok::<(), interlock::Error>(())
    /// ```
    pub fn wait_interruptible<'a, G: ConditionGuard<'a>>(
        &self,
        guard: G,
        timeout: Option<Duration>,
        mut interrupted: impl FnMut() -> bool,
    ) -> Result<(G, WaitTimeoutResult), Error> {
        let end = timeout.and_then(|t| Instant::now().checked_add(t));
        self.wait_inner(guard, end, false, &mut interrupted)
            .map(|(g, timed_out)| (g, WaitTimeoutResult(timed_out)))
    }

    /// Waits while `condition` is true: checks it (holding the lock), and waits and checks
    /// again until it is false — std's `Condvar::wait_while`, Python's `wait_for(predicate)`.
    /// Spurious wake-ups cannot end it. If any of the re-takes of the lock found its holder
    /// dead, the guard returned says so ([`previous_owner_died`](LockGuard::previous_owner_died)).
    ///
    /// # Errors
    ///
    /// As [`wait`](Condition::wait).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::atomic::{AtomicU32, Ordering};
    ///
    /// let lock = interlock::Lock::new()?;
    /// let cond = interlock::Condition::new(&lock)?;
    /// let items = AtomicU32::new(0);
    /// std::thread::scope(|s| {
    ///     s.spawn(|| {
    ///         for _ in 0..3 {
    ///             let _g = lock.lock().unwrap();
    ///             items.fetch_add(1, Ordering::Relaxed);
    ///             cond.notify_one();
    ///         }
    ///     });
    ///     let _g = cond.wait_while(lock.lock().unwrap(), || items.load(Ordering::Relaxed) < 3).unwrap();
    /// });
    /// # Ok::<(), interlock::Error>(())
    /// ```
    pub fn wait_while<'a, G: ConditionGuard<'a>>(
        &self,
        mut guard: G,
        mut condition: impl FnMut() -> bool,
    ) -> Result<G, Error> {
        let mut died = false;
        while condition() {
            let (g, _) = self.wait_inner(guard, None, died, &mut || false)?;
            died = g.died();
            guard = g;
        }
        Ok(guard)
    }

    /// [`wait_while`](Condition::wait_while) for at most `timeout` in all: the guard, and
    /// whether the time ran out with `condition` still true — Python's
    /// `wait_for(predicate, timeout)` (which returns the predicate's last value: `!timed_out()`).
    ///
    /// # Errors
    ///
    /// As [`wait`](Condition::wait).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let lock = interlock::Lock::new()?;
    /// let cond = interlock::Condition::new(&lock)?;
    /// let (_g, result) = cond.wait_timeout_while(lock.lock()?, Duration::from_millis(5), || true)?;
    /// assert!(result.timed_out());
    /// # Ok::<(), interlock::Error>(())
    /// ```
    pub fn wait_timeout_while<'a, G: ConditionGuard<'a>>(
        &self,
        mut guard: G,
        timeout: Duration,
        mut condition: impl FnMut() -> bool,
    ) -> Result<(G, WaitTimeoutResult), Error> {
        let end = Instant::now().checked_add(timeout);
        let mut died = false;
        while condition() {
            if end.is_some_and(|end| Instant::now() >= end) {
                return Ok((guard, WaitTimeoutResult(true)));
            }
            let (g, _) = self.wait_inner(guard, end, died, &mut || false)?;
            died = g.died();
            guard = g;
        }
        Ok((guard, WaitTimeoutResult(false)))
    }

    /// Gives one waiter a notification and wakes it (none if nobody waits). See
    /// [What `notify_one` guarantees](Condition#what-notify_one-guarantees).
    ///
    /// # Examples
    ///
    /// ```
    /// let lock = interlock::Lock::new()?;
    /// let cond = interlock::Condition::new(&lock)?;
    /// cond.notify_one(); // nobody waits: nothing happens, nothing is kept
    /// assert_eq!(cond.status().pending, 0);
    /// # Ok::<(), interlock::Error>(())
    /// ```
    pub fn notify_one(&self) {
        self.notify(1);
    }

    /// Gives every waiter a notification and wakes them all.
    ///
    /// # Examples
    ///
    /// ```
    /// let lock = interlock::Lock::new()?;
    /// let cond = interlock::Condition::new(&lock)?;
    /// cond.notify_all();
    /// # Ok::<(), interlock::Error>(())
    /// ```
    pub fn notify_all(&self) {
        self.notify(u32::MAX);
    }

    /// Gives up to `n` waiters a notification each and wakes them: Python's `notify(n)`.
    ///
    /// # Examples
    ///
    /// ```
    /// let lock = interlock::Lock::new()?;
    /// let cond = interlock::Condition::new(&lock)?;
    /// cond.notify(2);
    /// # Ok::<(), interlock::Error>(())
    /// ```
    pub fn notify(&self, n: u32) {
        let (seq, state, _) = self.words();
        condition::notify(seq, state, n);
    }

    /// The condition's state — waiters counted in, notifications pending, notifications so
    /// far — read without changing it.
    ///
    /// # Examples
    ///
    /// ```
    /// let lock = interlock::Lock::new()?;
    /// let cond = interlock::Condition::new(&lock)?;
    /// assert_eq!(cond.status().waiters, 0);
    /// # Ok::<(), interlock::Error>(())
    /// ```
    pub fn status(&self) -> ConditionStatus {
        read(self.raw.segment())
    }

    /// Whether `lock` is the lock this condition is bound to.
    ///
    /// # Examples
    ///
    /// ```
    /// let (a, b) = (interlock::Lock::new()?, interlock::Lock::new()?);
    /// let cond = interlock::Condition::new(&a)?;
    /// assert!(cond.is_bound_to(&a) && !cond.is_bound_to(&b));
    /// # Ok::<(), interlock::Error>(())
    /// ```
    pub fn is_bound_to(&self, lock: &impl ConditionLock) -> bool {
        self.bound() == Some(lock.raw().identity())
    }

    /// The identity of the lock the segment says it is bound to.
    fn bound(&self) -> Option<(u64, u64, u64)> {
        bound(self.raw.segment())
    }

    /// Counts out every waiter named in a slot (but `mine`) that is provably dead: killed while
    /// it waited, it would stay counted for good. Only positive evidence counts (pidfd and the
    /// process identity; a waiter of another pid namespace is never judged).
    #[cold]
    fn heal(&self, me: &Me, mine: Option<usize>) {
        let (_, state, slots) = self.words();
        let taken = condition::slots(state.load(Ordering::Relaxed));
        for i in (0..condition::SLOTS).filter(|&i| taken & 1 << i != 0 && Some(i) != mine) {
            condition::heal(state, slots, i, |ids, identity| {
                sys::holder_liveness(me, Ids::unpack(ids), identity) == Liveness::Dead
            });
        }
    }

    /// Every wait: binding and hold checked, counted in, released, waited for (until `end`,
    /// if any), re-taken. The guard and whether the time ran out (or `interrupted`, asked at
    /// each wake-up without a notification, said to stop). `died`: a previous re-take (of a
    /// `_while` wait) found the holder dead, which the new guard keeps saying.
    fn wait_inner<'a, G: ConditionGuard<'a>>(
        &self,
        guard: G,
        end: Option<Instant>,
        died: bool,
        interrupted: &mut dyn FnMut() -> bool,
    ) -> Result<(G, bool), Error> {
        let (raw, token, reentrant) = guard.into_hold();
        // From here on the hold is ours to end: `guard` is forgotten.
        let me = sys::me();
        let current = raw.current_token(token);
        let ours = raw.held_by(&me) && raw.record().acquisitions.load(Ordering::Relaxed) == current;
        if self.bound() != Some(raw.identity()) {
            // Dropped, as a guard would be: released if it is ours.
            if ours {
                raw.end_hold(&me, current, || true);
            }
            return Err(Error::WrongLock {
                condition: self.label(),
                reason: format!("it is bound to another lock than {}", raw.label()),
            });
        }
        if !ours {
            return Err(raw.not_owner());
        }
        let depth = if reentrant {
            raw.record().depth.load(Ordering::Relaxed)
        } else {
            1
        };
        let (seq, state, slots) = self.words();
        // Counted in (and named in a slot) before the release: a notification after it is
        // ours to take.
        let (s0, slot) = condition::enter(seq, state, me.tid);
        if let Some(i) = slot {
            condition::name_slot(slots, i, me.ids, me.start_time);
        }
        raw.end_hold(&me, current, || true);
        let mut timed_out = false;
        let mut heal_at = Instant::now() + HEAL_EVERY;
        loop {
            let now = Instant::now();
            let mut wake = (now + TAKEOVER_SLICE).min(heal_at);
            if let Some(end) = end {
                wake = wake.min(end);
            }
            let slice = deadline_after(wake.saturating_duration_since(now));
            if condition::wait(seq, state, s0, &slice) {
                break;
            }
            let now = Instant::now();
            if end.is_some_and(|end| now >= end) || interrupted() {
                timed_out = true;
                break;
            }
            if now >= heal_at {
                self.heal(&me, slot);
                heal_at = now + HEAL_EVERY;
            }
        }
        condition::leave(state, slots, slot);
        // Without the contended path's first spin: the notifier most often holds the lock.
        let acq = raw.acquire_woken(&me)?;
        if reentrant {
            raw.record().depth.store(depth, Ordering::Relaxed);
            raw.continue_hold(current, acq.token);
        }
        let guard = G::from_hold(raw, acq.token, acq.owner_died || died, depth);
        Ok((guard, timed_out))
    }
}

/// The identity of the lock condition segment `seg` is bound to.
fn bound(seg: &Segment) -> Option<(u64, u64, u64)> {
    let w = seg.condition_words();
    let index = w[3].load(Ordering::Relaxed);
    (index != 0).then(|| {
        (
            w[1].load(Ordering::Relaxed),
            w[2].load(Ordering::Relaxed),
            index - 1,
        )
    })
}

/// A condition's state from its segment.
pub(crate) fn read(seg: &Segment) -> ConditionStatus {
    let payload = seg.condition_words();
    let v = payload[0].load(Ordering::Acquire);
    let slots = &payload[HEAD_WORDS..];
    let taken = condition::slots(v);
    let waiting = (0..condition::SLOTS)
        .filter(|&i| taken & 1 << i != 0)
        .filter_map(|i| {
            let identity = slots[2 * i + 1].load(Ordering::Acquire);
            let ids = Ids::unpack(slots[2 * i].load(Ordering::Relaxed));
            (identity != 0 && ids.pid != 0).then_some(ids.pid)
        })
        .collect();
    ConditionStatus {
        waiters: condition::waiters(v),
        pending: condition::pending(v),
        sequence: seg.record().word.load(Ordering::Relaxed),
        waiting,
    }
}

impl fmt::Debug for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let status = self.status();
        f.debug_struct("Condition")
            .field("condition", &self.label())
            .field("waiters", &status.waiters)
            .field("pending", &status.pending)
            .finish()
    }
}

impl Open for Condition {
    type Config = ConditionConfig;

    fn kind(_: &ConditionConfig) -> Kind {
        Kind::Condition
    }

    fn payload<'a>(config: &'a ConditionConfig, what: &str) -> Result<Cow<'a, [u8]>, Error> {
        let Some(((dev, ino, index), _)) = &config.lock else {
            return Err(Error::WrongLock {
                condition: what.replacen("lock", "condition", 1),
                reason: "a condition needs its lock (Condition::new(&lock), Options::lock)"
                    .to_owned(),
            });
        };
        let mut bytes = Vec::with_capacity(32);
        for word in [0, *dev, *ino, index + 1] {
            bytes.extend_from_slice(&word.to_ne_bytes());
        }
        Ok(Cow::Owned(bytes))
    }

    fn from_raw(raw: Raw, config: &ConditionConfig) -> Result<Condition, Error> {
        let condition = Condition { raw };
        if let Some((identity, lock)) = &config.lock {
            if condition.bound() != Some(*identity) {
                return Err(Error::WrongLock {
                    condition: condition.label(),
                    reason: format!("it is bound to another lock than {lock}"),
                });
            }
        }
        Ok(condition)
    }

    fn raw(&self) -> &Raw {
        &self.raw
    }
}
