//! Layer 4's foundation: a lock record in a mapped segment, with everything `Lock` and `RLock`
//! share — acquisition with owner-death detection, the holder record, release with ownership
//! checks, poison, status. The typed layer adds guards and (for `RLock`) re-entry.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::deadlock::{self, LockKey, Registration};
use crate::locks::status;
use crate::shm::{FastRelease, Record, RecordRef, Segment, Took};
use crate::sync::{AtomicU32, Ordering};
use crate::sys::{self, Me};
use crate::types::{CycleMember, Error, Holder, Kind, LockStatus};
use crate::word::{self, Acquired, Blocked, State};
use std::sync::atomic::AtomicU8;

/// How long to wait.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Wait {
    /// Until acquired.
    Forever,
    /// Not at all.
    Never,
    /// At most this long.
    For(Duration),
}

/// What a successful acquisition tells the guard.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Acquisition {
    /// The fencing token (acquisition number) of this hold.
    pub(crate) token: u64,
    /// The previous owner died holding the lock.
    pub(crate) owner_died: bool,
}

/// The bits of a fencing token: the two above are a guard's flags (`guard::Hold`).
pub(crate) const TOKEN_BITS: u64 = (1 << 62) - 1;

/// Poison causes, as stored in `Record::poisoned`.
const POISON_PANIC: u32 = 1;
const POISON_DEATH: u32 = 2;

/// How often a waiter checks whether a holder the kernel will *not* report (one that could not
/// use its robust list, or any holder of a segment other users can write) is still alive.
const LIVENESS_PERIOD: Duration = Duration::from_millis(50);
/// The longest an untimed waiter sleeps before looking again, in case its wake-up went to a
/// waiter that was killed before it could pass it on.
const SAFETY_NET: Duration = Duration::from_millis(100);
/// How long a waiter the wait registry could not take waits before trying again.
const REGISTER_RETRY: Duration = Duration::from_secs(1);

/// A lock record in a mapped segment.
///
/// `pub` only in name, in a module the crate does not export: the one trait a primitive
/// implements (`locks::primitive::Open`) takes and gives a `Raw`, and a `pub(crate)` type in a
/// trait users can see through [`Primitive`](crate::Primitive) would be a private type in a
/// public interface. Nothing outside the crate can name it, and its methods stay `pub(crate)`.
pub struct Raw {
    /// This lock's record (record 0 unless the segment is a LockTable) and its segment.
    at: RecordRef,
    /// The kind this lock reports (a LockTable's locks are each a `Kind::Lock`).
    kind: Kind,
    /// "lock 'name'", "lock at /path" or "anonymous lock": for messages.
    label: Arc<str>,
    /// Whether this process may trust the record's node area enough to put it on its robust
    /// list: false when users other than us can write the segment.
    trusted: bool,
    /// A [`Kind::FairLock`] or [`Kind::FairRLock`]: releases hand over to the longest sleeper.
    fair: bool,
    /// What sends acquisitions through this handle off `Lock::lock`'s inlined path:
    /// `UNTRUSTED` (fixed) and `STAMPED` (`set_timestamps`). One atomic, changed by
    /// read-modify-writes, so that the inlined path tests one byte and two threads toggling
    /// timestamps never leave it saying "plain" while stamping is on.
    off_path: AtomicU8,
    /// The last fair hand-over this handle saw the word stuck in: the acquisition count then
    /// (plus one; 0: none) and when it was first seen, in monotonic ns (see
    /// `Raw::handoff_stranded`). Atomics, not a mutex: a forked child may use the handle.
    handoff_seen: std::sync::atomic::AtomicU64,
    handoff_seen_at: std::sync::atomic::AtomicU64,
    /// An RLock hold that a [`Condition`](crate::Condition) wait released and took again
    /// (`continue_hold`): its first token and the token it has now, so that the guards of its
    /// outer levels, which keep the first, still end it (`current_token`). Process-local, and
    /// meaningful only while the count of acquisitions is still the second.
    continued: [std::sync::atomic::AtomicU64; 2],
}

/// `Raw::off_path`: the segment is one other users can write (never linked).
const UNTRUSTED: u8 = 1;
/// `Raw::off_path`: acquisitions record their time.
const STAMPED: u8 = 2;

impl Raw {
    /// The lock in record 0 of `seg`, which must be of `kind` (a plain `Lock` also takes a fair
    /// one); `label` names it in messages; `trusted`: the segment may go on our robust list
    /// ([`trusted_file`](crate::shm::trusted_file)).
    pub(crate) fn new(
        seg: Segment,
        label: String,
        kind: Kind,
        trusted: bool,
    ) -> Result<Raw, Error> {
        let found = seg.kind(&label)?;
        // A `Lock` (`RLock`) takes a lock as its creator made it, fair or not; asking for a
        // fair one takes only a fair one.
        if found != kind
            && !(kind == Kind::Lock && found == Kind::FairLock)
            && !(kind == Kind::RLock && found == Kind::FairRLock)
        {
            return Err(Error::KindMismatch {
                what: label,
                expected: kind,
                found,
            });
        }
        Ok(Raw {
            at: RecordRef::new(Arc::new(seg), 0),
            kind: found,
            label: label.into(),
            trusted,
            fair: matches!(found, Kind::FairLock | Kind::FairRLock),
            off_path: AtomicU8::new(if trusted { 0 } else { UNTRUSTED }),
            handoff_seen: std::sync::atomic::AtomicU64::new(0),
            handoff_seen_at: std::sync::atomic::AtomicU64::new(0),
            continued: Default::default(),
        })
    }

    pub(crate) fn segment(&self) -> &Segment {
        self.at.segment()
    }

    /// Which lock this is, the same in every process: the segment's device and inode, and the
    /// record's index (a table's lock).
    pub(crate) fn identity(&self) -> (u64, u64, u64) {
        let (dev, ino) = self.at.segment().identity();
        (dev, ino, self.at.index() as u64)
    }

    /// Records that the calling thread's hold `from` (its first token: the outer guards keep
    /// it) continues as hold `to`, taken again after a condition wait released it: see
    /// [`Raw::current_token`]. The thread holds the lock (as `to`).
    pub(crate) fn continue_hold(&self, from: u64, to: u64) {
        let from = self.current_first(from);
        self.continued[0].store(from, Ordering::Relaxed);
        self.continued[1].store(to, Ordering::Relaxed);
    }

    /// The first token of the hold that guard token `token` belongs to: itself, unless it is
    /// a continued hold's current token.
    fn current_first(&self, token: u64) -> u64 {
        if self.continued[1].load(Ordering::Relaxed) == token {
            self.continued[0].load(Ordering::Relaxed)
        } else {
            token
        }
    }

    /// The token a guard of token `token` ends its hold with: the hold's current token if the
    /// hold was continued ([`Raw::continue_hold`]) since the guard was made, and is still the
    /// current acquisition; `token` otherwise (and the release checks it as usual).
    pub(crate) fn current_token(&self, token: u64) -> u64 {
        let to = self.continued[1].load(Ordering::Relaxed);
        if to != 0
            && token < to
            && token >= self.continued[0].load(Ordering::Relaxed)
            && self.record().acquisitions.load(Ordering::Relaxed) == to
        {
            to
        } else {
            token
        }
    }

    /// The locks of a LockTable segment (`self` made of a
    /// `Kind::LockTable` segment): one `Raw` per record, sharing the mapping, each with
    /// `self`'s timestamps setting.
    pub(crate) fn table_elements(self) -> Vec<Raw> {
        self.table_elements_of(Kind::Lock)
    }

    /// [`Raw::table_elements`], each record reporting `kind` (an `RwLock`'s records report
    /// the `RwLock`).
    pub(crate) fn table_elements_of(self, kind: Kind) -> Vec<Raw> {
        let n = self.at.segment().header().records();
        let off_path = self.off_path.load(Ordering::Relaxed);
        (0..n)
            .map(|i| Raw {
                at: RecordRef::new(Arc::clone(self.at.segment()), i),
                kind,
                label: Arc::clone(&self.label),
                trusted: self.trusted,
                fair: false,
                off_path: AtomicU8::new(off_path),
                handoff_seen: std::sync::atomic::AtomicU64::new(0),
                handoff_seen_at: std::sync::atomic::AtomicU64::new(0),
                continued: Default::default(),
            })
            .collect()
    }

    pub(crate) fn is_fair(&self) -> bool {
        self.fair
    }

    /// "lock \"name\"", "lock at /path", "anonymous lock", with `[i]` for a table's lock `i`;
    /// `semaphore "name" permit i` for a semaphore's permit `i`.
    pub(crate) fn label(&self) -> String {
        match self.at.segment().header().kind() {
            Some(Kind::LockTable) => format!("{}[{}]", self.label, self.at.index()),
            Some(Kind::Semaphore) => format!(
                "{} permit {}",
                semaphore_label(&self.label),
                self.at.index()
            ),
            Some(Kind::RwLock) => match self.at.index() {
                0 => rwlock_label(&self.label),
                i => format!("{} reader slot {}", rwlock_label(&self.label), i - 1),
            },
            _ => self.label.to_string(),
        }
    }

    /// The whole handle as messages name it: [`Raw::label`] without a table's or a
    /// semaphore's index (`semaphore "name"`, "anonymous semaphore"); a barrier's and an
    /// event's name their kind too.
    pub(crate) fn handle_label(&self) -> String {
        match self.at.segment().header().kind() {
            Some(Kind::Semaphore) => semaphore_label(&self.label),
            Some(Kind::RwLock) => rwlock_label(&self.label),
            Some(Kind::Barrier) => self.label.replacen("lock", "barrier", 1),
            Some(Kind::Event) => self.label.replacen("lock", "event", 1),
            _ => self.label.to_string(),
        }
    }

    #[inline]
    pub(crate) fn record(&self) -> &Record {
        self.at.get()
    }

    /// This lock's record with its segment, for what must outlive a borrow of the handle (a
    /// spawned child's hook, a [`GroupChild`](crate::GroupChild)).
    pub(crate) fn record_ref(&self) -> &RecordRef {
        &self.at
    }

    /// Takes the lock if it is free, without a system call: the whole uncontended path.
    #[inline(always)]
    pub(crate) fn try_acquire_fast(&self, me: &Me) -> Option<Acquisition> {
        let token = match self.record().try_acquire_fast(me, self.trusted) {
            Took::Linked => self.record_holder_linked(me),
            Took::Unreported => self.record_holder(me),
            Took::No => return None,
        };
        if self.off_path.load(Ordering::Relaxed) & STAMPED != 0 {
            self.stamp(token);
        }
        Some(Acquisition {
            token,
            owner_died: false,
        })
    }

    /// [`Raw::try_acquire_fast`] as leaf code, for `Lock::lock`, in its most common case only:
    /// a trusted segment, no timestamps, a thread with a robust list that has locked before.
    /// `None` (nothing taken) otherwise too, for the slow path, which starts with the full
    /// `try_acquire_fast`.
    #[inline(always)]
    pub(crate) fn lock_fast(&self) -> Option<u64> {
        if self.off_path.load(Ordering::Relaxed) != 0 {
            return None;
        }
        // A thread with a list head is known (the head is null until `sys::me` has run, and
        // again in a forked child): one test for both.
        let me = sys::me_or_nobody();
        if !me.may_link() {
            return None;
        }
        match self.record().try_acquire_linked(&me) {
            Took::Linked => Some(self.record_holder_linked(&me)),
            // Past the thread's link limit: the liveness record (with its token) as for any
            // UNREPORTED holder.
            Took::Unreported => Some(self.record_holder(&me)),
            Took::No => None,
        }
    }

    /// The uncontended release of a hold as leaf code, for a guard's drop: `Refused`, changing
    /// nothing, whenever anything is unusual (see `Record::release_hold_fast`; `hold` is the
    /// guard's token, with any flag bits); `Raced` when a sleeper appeared, for
    /// [`Raw::finish_raced_release`].
    #[inline(always)]
    pub(crate) fn release_fast(&self, hold: u64, reentrant: bool) -> FastRelease {
        self.record()
            .release_hold_fast(hold, self.trusted, reentrant)
    }

    /// Completes a release that [`Raw::release_fast`] left `Raced`.
    #[cold]
    pub(crate) fn finish_raced_release(&self) {
        self.record().finish_raced_release(self.fair);
    }

    /// [`Raw::finish_raced_release`] that says whether the release woke a sleeper (a fair
    /// lock's hand-over always goes to one: true).
    #[cold]
    pub(crate) fn finish_raced_release_woke(&self) -> bool {
        if self.fair {
            self.finish_raced_release();
            true
        } else {
            self.record().finish_raced_release_woke()
        }
    }

    /// Takes the lock for the calling thread after the fast path failed (or for `Wait::Never`,
    /// to also take a lock whose owner died). `Ok(None)` only for `Wait::Never` when it is held.
    #[cold]
    #[inline(never)]
    pub(crate) fn acquire_slow(&self, me: &Me, wait: Wait) -> Result<Option<Acquisition>, Error> {
        self.acquire_contended(me, wait, true)
    }

    /// Takes the lock, untimed, for a thread just woken by a [`Condition`](crate::Condition)'s
    /// notification: the fast path, then the contended one *without its first spin*. The
    /// lock is then most often held by the notifier, which notified under it and which our
    /// wake-up may have preempted on this very CPU: spinning cannot see it released, and only
    /// delays the sleep that lets it run (decision 0026: a ping-pong 1.5–1.6× glibc's
    /// `pthread_cond` with the spin, 1.0–1.1× without).
    #[cold]
    #[inline(never)]
    pub(crate) fn acquire_woken(&self, me: &Me) -> Result<Acquisition, Error> {
        let acq = match self.try_acquire_fast(me) {
            Some(acq) => Some(acq),
            None => self.acquire_contended(me, Wait::Forever, false)?,
        };
        Ok(acq.expect("an untimed wait only ends holding the lock"))
    }

    /// [`Raw::acquire_slow`], with or without the contended path's first spin.
    #[inline(always)]
    fn acquire_contended(
        &self,
        me: &Me,
        wait: Wait,
        spin: bool,
    ) -> Result<Option<Acquisition>, Error> {
        let rec = self.record();
        // Read the clock only for timed waits: untimed acquisitions never pay for it.
        let started = matches!(wait, Wait::For(_)).then(Instant::now);
        let mut cycle = None;
        let got = rec.acquire_contended(me, self.trusted, |w, bits, arm| {
            self.wait_for(me, w, bits, arm, wait, spin, &mut cycle)
        });
        match got {
            Ok(how) => {
                // Ours now, so the word's UNREPORTED bit is what we wrote: whether the word
                // went on our list (in a segment we trust, where nobody else writes it).
                let token =
                    if self.trusted && !State::load(&rec.word, Ordering::Relaxed).unreported() {
                        self.record_holder_linked(me)
                    } else {
                        self.record_holder(me)
                    };
                if self.off_path.load(Ordering::Relaxed) & STAMPED != 0 {
                    self.stamp(token);
                }
                if how == Acquired::OwnerDied {
                    self.note_owner_death();
                }
                Ok(Some(Acquisition {
                    token,
                    owner_died: how == Acquired::OwnerDied,
                }))
            }
            Err(Blocked::Held) => Ok(None),
            Err(Blocked::WouldDeadlock) => Err(Error::WouldDeadlock { lock: self.label() }),
            Err(Blocked::Deadlock) => Err(Error::Deadlock {
                lock: self.label(),
                cycle: cycle.unwrap_or_default(),
            }),
            Err(Blocked::TimedOut | Blocked::Unreported) => Err(Error::Timeout {
                lock: self.label(),
                waited: started.map(|s| s.elapsed()).unwrap_or_default(),
                holder: self.holder(),
            }),
        }
    }

    /// Takes the lock: the fast path, then the slow one.
    #[inline(always)]
    pub(crate) fn acquire(&self, me: &Me, wait: Wait) -> Result<Option<Acquisition>, Error> {
        match self.try_acquire_fast(me) {
            Some(acq) => Ok(Some(acq)),
            None => self.acquire_slow(me, wait),
        }
    }

    /// The contended path: the word layer's wait, in slices — at most the safety net (100 ms);
    /// the liveness period (50 ms) while the holder is one whose death the kernel will not
    /// report, so that we check on it ourselves; and, past the deadlock timeout, the deadlock
    /// period (25 ms), registering in the wait-for graph and looking for a cycle each time.
    #[allow(clippy::too_many_arguments)]
    fn wait_for(
        &self,
        me: &Me,
        w: &AtomicU32,
        bits: u32,
        arm: word::Arm<'_>,
        wait: Wait,
        spin: bool,
        cycle_out: &mut Option<Vec<CycleMember>>,
    ) -> Result<Acquired, Blocked> {
        let waiters = &self.record().waiters;
        if matches!(wait, Wait::Never) {
            return self.try_once(me, w, bits, arm);
        }
        // A spin first, before any clock is read: most contended acquisitions end here, and
        // the clock reads and deadlines of the sleeping path below cost several times a
        // hand-over (decision 0019). Not for a condition's woken waiter (`acquire_woken`):
        // one look instead.
        if spin {
            if let Ok(how) = word::spin_then_try(w, bits, arm) {
                return Ok(how);
            }
        } else if let Ok(how) = word::try_lock_slow(w, bits, arm) {
            return Ok(how);
        }
        let mut spun = true;
        let user_end = match wait {
            Wait::Never | Wait::Forever => None,
            // A timeout too far to represent is no timeout.
            Wait::For(d) => Instant::now().checked_add(d),
        };
        let started = Instant::now();
        let check_from = started.checked_add(deadlock::timeout());
        // Set once the holder turns out to be UNREPORTED: from then on, wait in liveness slices.
        let mut unreported = false;
        let mut registration: Option<Registration> = None;
        // When to try registering again after the registry could not take us (unusable
        // namespace, or full): until then, just wait.
        let mut register_at = check_from;
        loop {
            // Sleep until the first of: the caller's deadline, the next deadlock look, the next
            // liveness check (UNREPORTED holder) or the safety net (see `word::lock_contended`).
            let now = Instant::now();
            let mut wake = now
                + if unreported {
                    LIVENESS_PERIOD
                } else {
                    SAFETY_NET
                };
            if let Some(from) = check_from {
                let next_look = if registration.is_some() {
                    now + deadlock::PERIOD
                } else {
                    register_at.unwrap_or(from).max(now)
                };
                wake = wake.min(next_look);
            }
            if let Some(end) = user_end {
                wake = wake.min(end);
            }
            let slice = sys::futex::deadline_after(wake.saturating_duration_since(now));
            let got = word::lock_contended(w, bits, &slice, !unreported, arm, waiters, spun);
            spun = false;
            match got {
                Err(Blocked::Unreported) => {
                    unreported = true;
                    continue;
                }
                Err(Blocked::TimedOut) => {}
                other => return other,
            }
            let now = Instant::now();
            if user_end.is_some_and(|end| now >= end) {
                // Out of time: one last look at the holder, so that a wait shorter than the
                // liveness period can still find a dead one.
                return self.try_once(me, w, bits, arm).map_err(|b| match b {
                    Blocked::Held => Blocked::TimedOut,
                    other => other,
                });
            }
            if unreported {
                self.reap_dead_holder(me, w);
            }
            if check_from.is_some_and(|from| now >= from) {
                let holder = State::load(w, Ordering::Relaxed).holder_tid();
                let token = self.record().acquisitions.load(Ordering::Relaxed);
                let key = self.lock_key();
                match &mut registration {
                    Some(r) => r.publish(key, holder, token),
                    None if register_at.is_none_or(|at| now >= at) => {
                        let since =
                            sys::monotonic_ns().saturating_sub(started.elapsed().as_nanos() as u64);
                        registration = Registration::new(me, since, key, holder, token);
                        if registration.is_none() {
                            register_at = Some(now + REGISTER_RETRY);
                        }
                    }
                    None => {}
                }
                if let Some(cycle) = registration.as_mut().and_then(Registration::check) {
                    *cycle_out = Some(cycle);
                    return Err(Blocked::Deadlock);
                }
            }
        }
    }

    /// Which lock this is, as every process names it (for the wait registry).
    fn lock_key(&self) -> LockKey {
        let (dev, ino) = self.at.segment().identity();
        LockKey {
            dev,
            ino,
            index: self.at.index() as u32,
        }
    }

    /// One attempt without waiting: also takes a word whose holder is provably dead
    /// (UNREPORTED), and a fair lock's hand-over that this handle has seen stranded for longer
    /// than the safety net (its sleeper was killed before it came for it).
    fn try_once(
        &self,
        me: &Me,
        w: &AtomicU32,
        bits: u32,
        arm: word::Arm<'_>,
    ) -> Result<Acquired, Blocked> {
        match word::try_lock_slow(w, bits, arm) {
            Err(Blocked::Held) if State::load(w, Ordering::Relaxed).unreported() => {
                self.reap_dead_holder(me, w);
                word::try_lock_slow(w, bits, arm)
            }
            Err(Blocked::Held) if self.handoff_stranded(w) => {
                if word::take_stranded_handoff(w, bits, arm) {
                    Ok(Acquired::Clean)
                } else {
                    word::try_lock_slow(w, bits, arm)
                }
            }
            other => other,
        }
    }

    /// Whether the word is a hand-over (`HANDOFF | WAITERS`) that this handle has now seen,
    /// unchanged — the same acquisition count — for at least the safety net: the sleeper it was
    /// for would have come by now (an untimed waiter's sleep is never longer), so it died.
    /// The first sighting only starts the clock.
    #[cold]
    fn handoff_stranded(&self, w: &AtomicU32) -> bool {
        if !State::load(w, Ordering::Relaxed).is_handoff() {
            return false;
        }
        // Count + 1, so that 0 means "nothing seen"; two threads of this process may race
        // here, and either's sighting is as good.
        let count = self.record().acquisitions.load(Ordering::Relaxed) + 1;
        let now = sys::monotonic_ns();
        if self.handoff_seen.load(Ordering::Relaxed) == count {
            let at = self.handoff_seen_at.load(Ordering::Relaxed);
            return now.saturating_sub(at) >= SAFETY_NET.as_nanos() as u64;
        }
        self.handoff_seen_at.store(now, Ordering::Relaxed);
        self.handoff_seen.store(count, Ordering::Relaxed);
        false
    }

    /// If the holder recorded in the word is provably dead, marks the word as the kernel would.
    /// Only UNREPORTED holders are judged (the kernel reports the others), and only on a record
    /// that provably describes the current hold.
    #[cold]
    fn reap_dead_holder(&self, me: &Me, w: &AtomicU32) {
        let rec = self.record();
        let state = State::load(w, Ordering::Acquire);
        if !state.unreported() {
            return;
        }
        // A seqlock read (see `record_holder`): the token first, then the identity, then the
        // count that must still equal the token.
        let token = rec.owner_token.load(Ordering::Acquire);
        let ids = rec.owner_ids();
        let identity = rec.owner_identity.load(Ordering::Relaxed);
        std::sync::atomic::fence(Ordering::Acquire);
        // The record is the current holder's only if it names the tid in the word and was
        // completed for the current acquisition; a holder between taking the word and
        // recording itself is not evidence of anything.
        let current = ids.tid == state.owner_tid()
            && rec.acquisitions.load(Ordering::Relaxed) == token
            && State::load(w, Ordering::Relaxed).owner_bits() == state.owner_bits();
        if !current {
            return;
        }
        if sys::holder_liveness(me, ids, identity) == sys::Liveness::Dead
            // Re-check after the (slow) liveness check: still the same hold?
            && rec.acquisitions.load(Ordering::Acquire) == token
        {
            word::mark_owner_dead(w, state.owner_bits());
        }
    }

    /// Writes the holder record after the word became ours; returns the new fencing token.
    ///
    /// The record is a seqlock for liveness checkers (`reap_dead_holder`): the count first,
    /// then (after a Release fence) pid, tid and identity, then `owner_token` (Release). A
    /// checker that read identity bytes of a later hold also sees that hold's count, which no
    /// longer equals the token it read, and discards what it read.
    #[inline(always)]
    fn record_holder(&self, me: &Me) -> u64 {
        let rec = self.record();
        let token = (rec.acquisitions.load(Ordering::Relaxed) + 1) & TOKEN_BITS;
        rec.acquisitions.store(token, Ordering::Relaxed);
        std::sync::atomic::fence(Ordering::Release);
        rec.owner_ids.store(me.ids, Ordering::Relaxed);
        rec.owner_identity.store(me.start_time, Ordering::Relaxed);
        rec.owner_token.store(token, Ordering::Release);
        token
    }

    /// [`Raw::record_holder`] less `owner_token`, for a hold linked on the robust list: only
    /// the liveness check of UNREPORTED holders reads `owner_token` (`reap_dead_holder`), and
    /// the kernel reports a linked holder's death itself. (The token stays older than any
    /// acquisition that follows, so it never vouches for a record it does not describe; and
    /// `owner_token != acquisitions` is how the uncontended release knows, without a look at
    /// the word, that the hold is linked: `Record::release_hold_fast`.)
    #[inline(always)]
    fn record_holder_linked(&self, me: &Me) -> u64 {
        let rec = self.record();
        // Relaxed throughout: we own the word, whose Acquire made the previous holder's writes
        // visible, and whose Release (at unlock) publishes ours.
        // Kept within the 62 bits a guard has for it (`guard::Hold`), whatever a writer of the
        // segment left in the count: 2^62 acquisitions are out of reach otherwise.
        let token = (rec.acquisitions.load(Ordering::Relaxed) + 1) & TOKEN_BITS;
        rec.acquisitions.store(token, Ordering::Relaxed);
        rec.owner_ids.store(me.ids, Ordering::Relaxed);
        // Release, after the count: a thread of this process that still has a guard of an
        // earlier hold and sees this identity sees the new count too (`release_hold_fast`).
        rec.owner_identity.store(me.start_time, Ordering::Release);
        token
    }

    /// Records when hold `token` began.
    #[cold]
    fn stamp(&self, token: u64) {
        let rec = self.record();
        rec.acquired_at_ns
            .store(sys::now_coarse_ns(), Ordering::Relaxed);
        rec.stamp_token.store(token, Ordering::Release);
    }

    /// Whether this handle's uncontended acquisitions record their time.
    pub(crate) fn set_timestamps(&self, on: bool) {
        if on {
            self.off_path.fetch_or(STAMPED, Ordering::Relaxed);
        } else {
            self.off_path.fetch_and(!STAMPED, Ordering::Relaxed);
        }
    }

    #[cold]
    fn note_owner_death(&self) {
        let rec = self.record();
        rec.owner_deaths.fetch_add(1, Ordering::Relaxed);
        let _ =
            rec.poisoned
                .compare_exchange(0, POISON_DEATH, Ordering::Relaxed, Ordering::Relaxed);
    }

    /// Whether the calling thread holds the lock.
    #[inline(always)]
    pub(crate) fn held_by(&self, me: &Me) -> bool {
        self.record().held_by(me)
    }

    /// Releases the calling thread's hold. With `token`, only that hold (a guard's): a guard that
    /// outlived its hold — copied into a forked child, or left after `Lock::release` — does
    /// nothing and gets `NotOwner`.
    #[inline(always)]
    pub(crate) fn release(&self, me: &Me, token: Option<u64>) -> Result<(), Error> {
        match token {
            Some(token) if self.end_hold(me, token, || true) => Ok(()),
            None if self.record().release(me, self.trusted, self.fair) => Ok(()),
            _ => Err(self.not_owner()),
        }
    }

    /// Ends hold `token` of the calling thread: one look at the word and the token decides that
    /// the hold is current, then `before` runs (poison, an RLock's depth) and, if it returns
    /// true, the lock is released. False (and `before` does not run) for a hold that already
    /// ended.
    #[inline(always)]
    pub(crate) fn end_hold(&self, me: &Me, token: u64, before: impl FnOnce() -> bool) -> bool {
        self.record()
            .release_hold(me, token, self.trusted, self.fair, before)
    }

    #[cold]
    pub(crate) fn not_owner(&self) -> Error {
        Error::NotOwner {
            lock: self.label(),
            holder: self.holder(),
        }
    }

    pub(crate) fn holder(&self) -> Option<Box<Holder>> {
        self.status().holder.map(Box::new)
    }

    pub(crate) fn status(&self) -> LockStatus {
        status::read(self.record(), self.kind)
    }

    /// Poisoned by a panic or a death not yet cleared — including a death nobody has claimed
    /// yet (the word says the owner died, no one has taken it since).
    pub(crate) fn is_poisoned(&self) -> bool {
        let rec = self.record();
        rec.poisoned.load(Ordering::Relaxed) != 0
            || State::load(&rec.word, Ordering::Relaxed).died_unclaimed()
    }

    #[cold]
    pub(crate) fn poison(&self) {
        self.record()
            .poisoned
            .store(POISON_PANIC, Ordering::Relaxed);
    }

    pub(crate) fn clear_poison(&self) {
        self.record().poisoned.store(0, Ordering::Relaxed);
    }
}

impl fmt::Debug for Raw {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never blocks: a snapshot of the record.
        let status = self.status();
        let mut d = f.debug_struct("Lock");
        d.field("label", &self.label());
        match &status.holder {
            Some(h) => d.field(
                "holder",
                &format_args!("<locked by pid {} tid {}>", h.pid, h.tid),
            ),
            None => d.field("holder", &format_args!("<unlocked>")),
        };
        d.field("poisoned", &status.poisoned)
            .finish_non_exhaustive()
    }
}

/// A handle's label (`Source::label`: `lock "name"`, "lock at PATH", "anonymous lock",
/// "inherited lock ($VAR)") as a semaphore's: the same with "semaphore" for its first "lock".
fn semaphore_label(label: &str) -> String {
    label.replacen("lock", "semaphore", 1)
}

/// A handle's label as an `RwLock`'s: `rwlock "name"`, "rwlock at PATH", "anonymous rwlock".
fn rwlock_label(label: &str) -> String {
    label.replacen("lock", "rwlock", 1)
}
