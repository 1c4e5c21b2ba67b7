//! Layer 1: the lock word — a 32-bit futex word in the kernel's robust-futex format.
//!
//! | bits    | name         | meaning                                                        |
//! |---------|--------------|----------------------------------------------------------------|
//! | 0..=28  | `OWNER_TID`  | kernel thread id of the owner; 0 = nobody owns the word        |
//! | 29      | `UNREPORTED` | ours, not the kernel's: the owner's death will *not* be reported by the kernel (its word is not on a robust list), so waiters must check on it |
//! | 30      | `OWNER_DIED` | the kernel (or a checker) found the owner dead while it held it |
//! | 31      | `WAITERS`    | somebody may sleep in `futex_wait`: unlock must `futex_wake`    |
//!
//! The states that occur:
//!
//! | value                    | meaning                                                      |
//! |--------------------------|--------------------------------------------------------------|
//! | `UNLOCKED` (0)           | free                                                         |
//! | `tid [\| UNREPORTED]`    | held by thread `tid`, nobody waits: unlock is one exchange    |
//! | `tid \| WAITERS`          | held, waiters may sleep: unlock swaps and wakes one            |
//! | `OWNER_DIED [\| WAITERS]` | free, but the last owner died holding it: the next acquirer is told |
//! | `HANDOFF \| WAITERS`      | fair locks: the last owner handed the word to the sleeper it woke; only a thread that has slept may take it |
//!
//! The values and bit positions are the kernel's (`FUTEX_TID_MASK`, `FUTEX_OWNER_DIED`,
//! `FUTEX_WAITERS` in `linux/futex.h`): when a thread dies with the word on its robust list, the
//! kernel itself rewrites `tid[|WAITERS]` to `OWNER_DIED[|WAITERS]` and wakes one waiter.
//! Kernel thread ids stay below `PID_MAX_LIMIT` (2^22), so bit 29 is free inside the kernel's
//! `FUTEX_TID_MASK`; a word with it set never matches a dying thread's id, which is right, since
//! such a word is on no robust list. The "owner" value a thread stores (its *owner bits*) is its
//! tid, plus `UNREPORTED` when it does not link the word.
//!
//! This module knows nothing of processes, memory maps or robust lists: it uses only the atomics of
//! `sync` and the `sys::futex::{wait, wake_one}` seam, so `word/model.rs` can check it with loom.
//!
//! The bits are decoded here and nowhere else: the layers above read a word through [`State`]
//! and make owner bits with [`owner_bits`].

use crate::sync::{mutant, spin_hint, AtomicU32, Ordering};

use crate::sys::futex::{self, Deadline, WaitOutcome};

/// Bits holding the owner (`FUTEX_TID_MASK`): its thread id and our `UNREPORTED` flag.
const TID_MASK: u32 = 0x3fff_ffff;
/// The owner's thread id alone.
const OWNER_TID: u32 = 0x1fff_ffff;
/// The owner's death will not be reported by the kernel: waiters check on it themselves.
const UNREPORTED: u32 = 0x2000_0000;
/// Set by the kernel when the owner died holding the word (`FUTEX_OWNER_DIED`).
const OWNER_DIED: u32 = 0x4000_0000;
/// Waiters may be asleep on the word (`FUTEX_WAITERS`).
const WAITERS: u32 = 0x8000_0000;
/// Nobody holds the word and nobody died holding it.
const UNLOCKED: u32 = 0;
/// Fair locks: the owner bits of a word being handed to a woken sleeper. All ones in
/// `OWNER_TID`, above any kernel thread id, so it is nobody's tid (the kernel's robust-list
/// walk never matches it) and never the caller's own.
const HANDOFF: u32 = OWNER_TID;

/// The owner bits a thread with id `tid` stores in a word it takes: the id, plus `UNREPORTED`
/// unless `reported` (the word goes on the thread's robust list, so the kernel reports its
/// death).
#[inline(always)]
pub(crate) const fn owner_bits(tid: u32, reported: bool) -> u32 {
    if reported {
        tid
    } else {
        tid | UNREPORTED
    }
}

/// Whether owner bits (as [`owner_bits`] made them, or [`State::owner_bits`] read them) say
/// the kernel reports the owner's death.
#[inline(always)]
pub(crate) const fn is_reported(owner_bits: u32) -> bool {
    owner_bits & UNREPORTED == 0
}

/// A value of the word, decoded: how the layers above read it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct State(u32);

impl State {
    /// The word's value now.
    #[inline(always)]
    pub(crate) fn load(word: &AtomicU32, order: Ordering) -> State {
        State(word.load(order))
    }

    /// The owner bits (`FUTEX_TID_MASK`): the owner's id, with `UNREPORTED` if its death will
    /// not be reported; 0 when nobody owns the word (free, or free after a death).
    #[inline(always)]
    pub(crate) fn owner_bits(self) -> u32 {
        self.0 & TID_MASK
    }

    /// The owner's thread id (0: nobody; during a fair hand-over, the hand-over's mark, which
    /// is nobody's id).
    #[inline(always)]
    pub(crate) fn owner_tid(self) -> u32 {
        self.0 & OWNER_TID
    }

    /// The thread holding the word: its id, or 0 when it is free or being handed over (a fair
    /// lock's hand-over belongs to nobody until the woken sleeper takes it).
    pub(crate) fn holder_tid(self) -> u32 {
        match self.owner_tid() {
            HANDOFF => 0,
            tid => tid,
        }
    }

    /// Whether the owner's death will not be reported by the kernel (its word is on no robust
    /// list): waiters check on it themselves.
    #[inline(always)]
    pub(crate) fn unreported(self) -> bool {
        !is_reported(self.0)
    }

    /// Whether sleepers have announced themselves (`WAITERS`).
    pub(crate) fn waiters(self) -> bool {
        self.0 & WAITERS != 0
    }

    /// Whether the last owner died holding the word and nobody has taken it since.
    pub(crate) fn died_unclaimed(self) -> bool {
        self.0 & TID_MASK == 0 && self.0 & OWNER_DIED != 0
    }

    /// Whether a fair release handed the word to the sleeper it woke, which has not taken it
    /// yet (`HANDOFF | WAITERS`).
    pub(crate) fn is_handoff(self) -> bool {
        self.0 == HANDOFF | WAITERS
    }
}

/// How many times the contended path re-reads the word before it sleeps. std's futex mutex uses
/// 100; with processes on a 2-core machine a holder is often descheduled, so spinning longer
/// only burns the core the holder needs.
#[cfg(not(all(test, loom)))]
pub(crate) const SPIN_LIMIT: u32 = 100;
#[cfg(all(test, loom))]
pub(crate) const SPIN_LIMIT: u32 = 0;

/// Pauses a spinner that saw the word held, then free, waits before it looks again (see
/// [`spin`]): about 1.1 µs on the project's VM (a pause is ~18 ns) — a hot owner's way round
/// its loop, yet well short of the futex sleep and wake-up it saves. Measured 8, 16, 32, 64
/// and 128 (decision 0019, addendum d): from 32 every contended loop shape ran above glibc's
/// robust mutex, more so the longer; a hand-over to a waiter whose owner did not come back
/// costs about the defer (ping-pong's median hand-over 0.58 → 1.59 µs at 64).
pub(crate) const DEFER: u32 = 64;

/// How an acquisition went when it succeeded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Acquired {
    /// The previous owner released the word normally.
    Clean,
    /// The previous owner died holding it; the caller owns it now.
    OwnerDied,
}

/// Why the contended path gave up without the lock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Blocked {
    /// The caller's own thread id is in the word: waiting would never end.
    WouldDeadlock,
    /// The deadline passed.
    TimedOut,
    /// A non-blocking attempt found the word held.
    Held,
    /// About to sleep on a holder whose death the kernel will not report, and the caller asked
    /// to be told (so that it can wait in slices and check on that holder).
    Unreported,
    /// The wait closes a cycle of waiters (found above this layer, in `deadlock.rs`).
    Deadlock,
}

/// Fast path: `UNLOCKED -> tid` in one compare-exchange.
#[inline]
pub(crate) fn try_lock_fast(word: &AtomicU32, tid: u32) -> bool {
    // Acquire: everything the previous owner wrote before its Release swap is visible to us.
    let acquire = if mutant("lock-fast-relaxed") {
        Ordering::Relaxed
    } else {
        Ordering::Acquire
    };
    word.compare_exchange(UNLOCKED, tid, acquire, Ordering::Relaxed)
        .is_ok()
}

/// Whether the word looks free for [`try_lock_fast`] (`UNLOCKED`), from one plain load: a
/// semaphore's scan looks before it tries, since a compare-exchange that fails still takes
/// the word's cache line from its holder.
#[inline(always)]
pub(crate) fn looks_unlocked(word: &AtomicU32) -> bool {
    word.load(Ordering::Relaxed) == UNLOCKED
}

/// Whether the word is held by a thread the kernel will report (linked, not `UNREPORTED`)
/// whose number is not `tid`, from one plain load: such a slot can be neither taken nor
/// recovered now, and a semaphore's scan passes it by without an exchange (decision 0023).
#[inline(always)]
pub(crate) fn held_by_other_reported(word: &AtomicU32, tid: u32) -> bool {
    let s = word.load(Ordering::Relaxed);
    s & TID_MASK != 0 && s & UNREPORTED == 0 && s & OWNER_TID != tid
}

/// Called with `true` just before an exchange that could make the word the caller's, and with
/// `false` before the caller sleeps: the layer above keeps the kernel's `list_op_pending`
/// naming the word only around attempts to take it (see `Record::acquire_contended`).
pub(crate) type Arm<'a> = Option<&'a dyn Fn(bool)>;

fn arm(a: Arm<'_>, on: bool) {
    if let Some(a) = a {
        a(on);
    }
}

/// A non-blocking attempt after the fast path failed: succeeds also on a word whose owner died.
/// A word whose owner bits look like the caller's is somebody else's here — a thread with the
/// same number in another pid namespace — since the layer above has already checked that the
/// caller does not hold it: `Held`.
#[cold]
pub(crate) fn try_lock_slow(word: &AtomicU32, tid: u32, a: Arm<'_>) -> Result<Acquired, Blocked> {
    let mut state = word.load(Ordering::Relaxed);
    loop {
        if state & TID_MASK == 0 || mutant("try-lock-slow-takes-held") {
            // Free (0) or free-after-death: keep WAITERS, since sleepers may still be there.
            let new = tid | (state & WAITERS);
            arm(a, true);
            match word.compare_exchange(state, new, Ordering::Acquire, Ordering::Relaxed) {
                Ok(_) => return Ok(acquired_from(state)),
                Err(now) => state = now,
            }
        } else {
            return Err(Blocked::Held);
        }
    }
}

/// Takes a fair lock's word that was handed over (`HANDOFF | WAITERS`) to a sleeper that never
/// came for it — killed between its wake-up and its exchange: the layer above calls this once
/// it has seen the same hand-over outlast the safety net. False if the word is no longer
/// that hand-over.
#[cold]
pub(crate) fn take_stranded_handoff(word: &AtomicU32, tid: u32, a: Arm<'_>) -> bool {
    arm(a, true);
    word.compare_exchange(
        HANDOFF | WAITERS,
        tid | WAITERS,
        Ordering::Acquire,
        Ordering::Relaxed,
    )
    .is_ok()
}

/// The contended path's first phase, before the caller reads any clock: [`spin`], then one
/// [`try_lock_slow`]. `Err` (the word still held) sends the caller on to [`lock_contended`]
/// with `spun` set; `a`, if armed for a lost exchange, is disarmed there before any sleep.
#[cold]
pub(crate) fn spin_then_try(word: &AtomicU32, tid: u32, a: Arm<'_>) -> Result<Acquired, Blocked> {
    spin(word);
    try_lock_slow(word, tid, a)
}

/// Contended path: spin briefly, then sleep in the kernel until the word is free or `deadline`
/// passes. `tid` is the caller's owner bits; the caller has checked that it does not hold the
/// word (a word with the same number belongs to a thread of another pid namespace and is
/// waited for like any other). With `stop_on_unreported`, returns `Blocked::Unreported`
/// instead of sleeping on an `UNREPORTED` holder. Every sleep is bounded by `deadline`, the
/// caller's safety net (so there is no unbounded form): a waiter that was woken and then killed before taking the word
/// takes its wake-up with it, and if the word was meanwhile taken without `WAITERS` nobody else
/// would wake the remaining sleepers (the kernel only re-wakes for a dead waiter when the word
/// is free). `a` is told around attempts to take the word ([`Arm`]). `waiters` counts sleepers
/// for observers only; the protocol does not depend on it. `spun`: the caller has just spun
/// ([`spin_then_try`]), so this starts from one look at the word instead of another spin.
#[cold]
pub(crate) fn lock_contended(
    word: &AtomicU32,
    tid: u32,
    deadline: &Deadline,
    stop_on_unreported: bool,
    a: Arm<'_>,
    waiters: &AtomicU32,
    spun: bool,
) -> Result<Acquired, Blocked> {
    let mut state = if spun {
        word.load(Ordering::Relaxed)
    } else {
        spin(word)
    };
    let mut counted = false;
    // Whether a wait of ours ever ended by a wake-up or a timeout. A wait that found the word
    // already changed (the holder released between our WAITERS and the futex call) never
    // queued, so it took no wake-up meant for others and does not count: counting it (as
    // std's mutex does) made a waiter that lost that race claim the word with WAITERS, whose
    // release then woke nobody with a system call, over and over — two processes taking the
    // lock back to back spent more time in futile futex calls than in the lock (decision 0019).
    let mut slept = false;
    // Whether the last wait ended by a wake-up or timeout (not "the word had changed"): only
    // then may this thread be the sleeper a fair release handed the word to.
    let mut woken = false;
    let result = loop {
        if state & TID_MASK == 0 {
            // Free or owner died. Until we have slept, take it as we find it (keeping WAITERS
            // only if someone set it): an unlock that wakes nobody costs a futex syscall for
            // nothing. Once we have slept, others may sleep too without having said so to us:
            // claim it with WAITERS, so our unlock wakes them (std's futex mutex makes the same
            // two choices: LOCKED after spinning, CONTENDED after sleeping).
            let waiters_bit = if slept { WAITERS } else { state & WAITERS };
            arm(a, true);
            match word.compare_exchange(
                state,
                tid | waiters_bit,
                Ordering::Acquire,
                Ordering::Relaxed,
            ) {
                Ok(_) => break Ok(acquired_from(state)),
                Err(now) => {
                    state = now;
                    continue;
                }
            }
        }
        if woken && state & TID_MASK == HANDOFF {
            // Handed over to a sleeper, and we were woken: we may be the one it is for (if two
            // woken threads race, the exchange picks one; the other sleeps again). A thread
            // that never slept queues behind the sleepers instead.
            arm(a, true);
            match word.compare_exchange(state, tid | WAITERS, Ordering::Acquire, Ordering::Relaxed)
            {
                Ok(_) => break Ok(Acquired::Clean),
                Err(now) => {
                    state = now;
                    continue;
                }
            }
        }
        if stop_on_unreported && state & UNREPORTED != 0 {
            break Err(Blocked::Unreported);
        }
        if state & WAITERS == 0 {
            // Announce that we will sleep. Relaxed: the futex syscall orders the sleep itself,
            // and a failed exchange just re-reads.
            if let Err(now) =
                word.compare_exchange(state, state | WAITERS, Ordering::Relaxed, Ordering::Relaxed)
            {
                state = now;
                continue;
            }
            state |= WAITERS;
        }
        if !counted {
            waiters.fetch_add(1, Ordering::Relaxed);
            counted = true;
        }
        arm(a, false);
        let outcome = futex::wait(word, state, Some(deadline));
        woken = outcome != WaitOutcome::Changed;
        slept |= woken;
        if outcome == WaitOutcome::TimedOut {
            // One last look: the holder may have released (or handed the word over, perhaps to
            // a sleeper that was killed before taking it) just as the clock ran out.
            state = word.load(Ordering::Relaxed);
            if state & TID_MASK != 0 && state & TID_MASK != HANDOFF {
                break Err(Blocked::TimedOut);
            }
            continue;
        }
        state = spin(word);
    };
    if counted {
        // Saturating: an observer may have set a count left by killed waiters back to zero.
        let _ = waiters.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1));
    }
    result
}

/// Releases the word. Returns the state it held, so the caller can check that it was the owner.
#[inline]
pub(crate) fn unlock(word: &AtomicU32) -> u32 {
    // Release: our critical section happens-before the next owner's Acquire.
    let prev = word.swap(UNLOCKED, Ordering::Release);
    if prev & WAITERS != 0 && !mutant("unlock-no-wake") {
        wake(word);
    }
    prev
}

/// [`unlock`] that says whether it woke a sleeper: a semaphore's release, which wakes a
/// sleeper on another permit only when its own word woke none (decision 0023).
pub(crate) fn unlock_woke(word: &AtomicU32) -> bool {
    // Release: our critical section happens-before the next owner's Acquire.
    let prev = word.swap(UNLOCKED, Ordering::Release);
    prev & WAITERS != 0 && !mutant("unlock-no-wake") && futex::wake_one(word)
}

/// Releases a word its owner knows to be `seen` (its owner bits, no `WAITERS`) with one
/// compare-exchange: false, changing nothing, if a waiter announced itself meanwhile (the
/// word, still ours, then goes through [`unlock_raced`]).
#[inline(always)]
pub(crate) fn try_unlock_seen(word: &AtomicU32, seen: u32) -> bool {
    debug_assert_eq!(seen & WAITERS, 0);
    if mutant("try-unlock-seen-blind") {
        word.store(UNLOCKED, Ordering::Release);
        return true;
    }
    // Release: our critical section happens-before the next owner's Acquire.
    word.compare_exchange(seen, UNLOCKED, Ordering::Release, Ordering::Relaxed)
        .is_ok()
}

/// The release of a word whose [`try_unlock_seen`] lost to a waiter that announced itself:
/// [`unlock`] or [`unlock_fair`], out of line.
#[cold]
#[inline(never)]
pub(crate) fn unlock_raced(word: &AtomicU32, fair: bool) {
    if fair {
        unlock_fair(word);
    } else {
        unlock(word);
    }
}

/// Releases the word of a fair lock: with sleepers, the word goes straight to the one the
/// kernel wakes (the longest sleeper: futex queues are FIFO among equal priorities), so a
/// releaser that comes straight back queues behind everyone already waiting. Returns the state
/// it held, like [`unlock`].
#[inline(never)]
pub(crate) fn unlock_fair(word: &AtomicU32) -> u32 {
    let mut state = word.load(Ordering::Relaxed);
    loop {
        let (new, hand_over) = if state & WAITERS == 0 {
            (UNLOCKED, false)
        } else {
            (HANDOFF | WAITERS, true)
        };
        // Release: our critical section happens-before the next owner's Acquire.
        match word.compare_exchange(state, new, Ordering::Release, Ordering::Relaxed) {
            Ok(_) if hand_over => break,
            Ok(_) => return state,
            Err(now) => state = now,
        }
    }
    hand_over(word);
    state
}

#[cold]
fn hand_over(word: &AtomicU32) {
    if futex::wake_one(word) {
        return;
    }
    // Nobody was asleep (WAITERS outlived its sleepers): take the hand-over back, unless a
    // sleeper whose safety net expired took it meanwhile. Someone may have gone to sleep on
    // the hand-over between our wake and this exchange; one more wake finds them, and the
    // word they find free they take with WAITERS, so any others are found in turn.
    if word
        .compare_exchange(
            HANDOFF | WAITERS,
            UNLOCKED,
            Ordering::Release,
            Ordering::Relaxed,
        )
        .is_ok()
        && !mutant("hand-over-one-wake")
    {
        futex::wake_one(word);
    }
}

/// A semaphore's sleeper (`locks/semaphore.rs`), before it sleeps on a held permit word:
/// sets `WAITERS` so that the word's release — or the kernel, if its holder dies — wakes it.
/// Returns the value to sleep on ([`sleep_announced`]), or `None` if the word is free now (or
/// free after a death), so that the caller tries it instead of sleeping.
#[cold]
pub(crate) fn announce_sleep(word: &AtomicU32) -> Option<u32> {
    let mut state = word.load(Ordering::Relaxed);
    loop {
        if state & TID_MASK == 0 {
            return None;
        }
        if state & WAITERS != 0 || mutant("announce-without-waiters") {
            return Some(state);
        }
        // Relaxed: the futex call orders the sleep; a failed exchange re-reads.
        match word.compare_exchange(state, state | WAITERS, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => return Some(state | WAITERS),
            Err(now) => state = now,
        }
    }
}

/// Sleeps on a word that [`announce_sleep`] found at `seen`, until a wake-up, a change of the
/// word, or `deadline`. The caller re-checks whatever it waits for in every case.
#[cold]
pub(crate) fn sleep_announced(word: &AtomicU32, seen: u32, deadline: &Deadline) -> WaitOutcome {
    futex::wait(word, seen, Some(deadline))
}

/// Sleeps on every word [`announce_sleep`] found at its `seen` value at once (a semaphore's
/// held permits: `futex_waitv`), until a wake-up on any of them — a release's, or the
/// kernel's when one's holder dies —, a change of any, or `deadline`. `None`, without
/// sleeping, on a kernel without `futex_waitv`: the caller sleeps on one word instead.
#[cold]
pub(crate) fn sleep_announced_any(
    words: &[(&AtomicU32, u32)],
    deadline: &Deadline,
) -> Option<WaitOutcome> {
    futex::wait_any(words, deadline)
}

#[cold]
fn wake(word: &AtomicU32) {
    futex::wake_one(word);
}

/// Spins while the word is held with nobody sleeping, like std's `futex::Mutex::spin`:
/// once there are sleepers, spinning only delays our turn in the kernel's queue. Backs off
/// exponentially between looks (as parking_lot's `SpinWait`), 8 looks over 127 pauses
/// instead of one look a pause: every look at a word its holder is writing takes the cache
/// line away from the holder, so that a holder taking and releasing the word back to back
/// paid a line transfer per acquisition for as long as a waiter spun (decision 0019).
///
/// A word seen free after it was seen held is not taken at once: its last owner, whose
/// cache holds the word and whatever the lock guards, gets [`DEFER`] pauses to take it back,
/// and if it does, the spin ends (the caller sleeps). Taking the word the moment it is free
/// moved the lock's lines to the spinner on every acquisition of a loop with work between
/// its sections, two processes in lockstep each paying the transfers; a spinner that steps
/// aside lets the owner run on with its lines until the sleeper is woken (decision 0019,
/// addendum d).
fn spin(word: &AtomicU32) -> u32 {
    spin_deferring(word, 1, false)
}

/// [`spin`] that steps aside `rounds` times [`DEFER`] pauses, each round after a
/// `sched_yield` if `yielding`: an `RwLock`'s reader kept out by a writer steps aside longer,
/// giving its CPU to any other runnable thread first (`word::rwlock::READER_DEFER`).
pub(crate) fn spin_deferring(word: &AtomicU32, rounds: u32, yielding: bool) -> u32 {
    let mut pauses = 1u32;
    loop {
        let state = word.load(Ordering::Relaxed);
        if state & TID_MASK == 0 && pauses > 1 {
            for _ in 0..rounds {
                if yielding {
                    crate::sync::yield_cpu();
                }
                for _ in 0..DEFER {
                    spin_hint();
                }
            }
            return word.load(Ordering::Relaxed);
        }
        if state & TID_MASK == 0 || state & WAITERS != 0 || pauses > SPIN_LIMIT {
            return state;
        }
        for _ in 0..pauses {
            spin_hint();
        }
        pauses *= 2;
    }
}

fn acquired_from(state: u32) -> Acquired {
    if state & OWNER_DIED != 0 && !mutant("death-not-reported") {
        Acquired::OwnerDied
    } else {
        Acquired::Clean
    }
}

/// Marks the caller's word `UNREPORTED`: it took the word without linking it, so its death
/// is for waiters to find.
pub(crate) fn mark_unreported(word: &AtomicU32) {
    word.fetch_or(UNREPORTED, Ordering::Relaxed);
}

/// Marks a word whose owner `tid` is known dead, exactly as the kernel's `handle_futex_death`
/// does: `tid[|WAITERS] -> OWNER_DIED[|WAITERS]`, then wakes one sleeper. Returns false when the
/// word no longer holds `tid` (somebody else already recovered it).
#[cfg_attr(not(all(test, loom)), allow(dead_code))] // used by the loom model; the kernel does it for real
pub(crate) fn mark_owner_dead(word: &AtomicU32, tid: u32) -> bool {
    let mut state = word.load(Ordering::Relaxed);
    while state & TID_MASK == tid {
        let new = (state & WAITERS) | OWNER_DIED;
        // Release: the next owner's Acquire then also orders after what we read of the record.
        match word.compare_exchange(state, new, Ordering::Release, Ordering::Relaxed) {
            Ok(_) => {
                if state & WAITERS != 0 {
                    wake(word);
                }
                return true;
            }
            Err(now) => state = now,
        }
    }
    false
}

#[cfg(all(test, loom))]
mod model;

pub(crate) mod barrier;
pub(crate) mod event;

// Issue 15: Condition.
pub(crate) mod condition;
// Issue 15: the RwLock's reader/writer pairing.
pub(crate) mod rwlock;
// Issue 18: an RLock's depth, owner-only data ordered by the word.
pub(crate) mod rlock;
// Issue 15: a semaphore's permit words — the wait for any, the release's wake-up elsewhere.
pub(crate) mod semaphore;

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    /// A deadline no test reaches.
    fn far() -> Deadline {
        futex::deadline_after(std::time::Duration::from_secs(3600))
    }

    #[test]
    fn fast_path_takes_only_a_free_word() {
        let w = AtomicU32::new(UNLOCKED);
        assert!(try_lock_fast(&w, 7));
        assert_eq!(w.load(Ordering::Relaxed), 7);
        assert!(!try_lock_fast(&w, 8));
        assert_eq!(unlock(&w), 7);
        assert_eq!(w.load(Ordering::Relaxed), UNLOCKED);
    }

    #[test]
    fn try_lock_slow_reports_death_and_keeps_waiters() {
        let w = AtomicU32::new(OWNER_DIED | WAITERS);
        assert_eq!(try_lock_slow(&w, 9, None), Ok(Acquired::OwnerDied));
        assert_eq!(w.load(Ordering::Relaxed), 9 | WAITERS);
        assert_eq!(
            try_lock_slow(&w, 9, None),
            Err(Blocked::Held),
            "the same number is another namespace's thread here"
        );
        assert_eq!(try_lock_slow(&w, 10, None), Err(Blocked::Held));
    }

    #[test]
    fn a_word_with_the_callers_number_is_waited_for_and_arming_brackets_the_takes() {
        // The layer above refuses the caller's own word; here the same number is a thread of
        // another pid namespace, which the caller must wait for like any holder.
        let w = AtomicU32::new(5);
        let waiters = AtomicU32::new(0);
        let log = std::cell::RefCell::new(Vec::new());
        let arm = |on: bool| log.borrow_mut().push(on);
        let deadline = futex::deadline_after(std::time::Duration::from_millis(5));
        assert_eq!(
            lock_contended(&w, 5, &deadline, false, Some(&arm), &waiters, false),
            Err(Blocked::TimedOut)
        );
        assert_eq!(w.load(Ordering::Relaxed), 5 | WAITERS);
        assert!(
            log.borrow().iter().all(|on| !on),
            "never armed while the word was held: {:?}",
            log.borrow()
        );
        w.store(UNLOCKED, Ordering::Relaxed);
        log.borrow_mut().clear();
        assert_eq!(
            lock_contended(&w, 6, &far(), false, Some(&arm), &waiters, false),
            Ok(Acquired::Clean)
        );
        assert_eq!(*log.borrow(), [true], "armed just before the take");
    }

    #[test]
    fn the_first_spin_takes_a_free_or_dead_word_and_leaves_a_held_one() {
        let w = AtomicU32::new(UNLOCKED);
        assert_eq!(spin_then_try(&w, 7, None), Ok(Acquired::Clean));
        assert_eq!(w.load(Ordering::Relaxed), 7);
        assert_eq!(spin_then_try(&w, 8, None), Err(Blocked::Held));
        assert_eq!(w.load(Ordering::Relaxed), 7, "a held word is left as it is");
        let w = AtomicU32::new(OWNER_DIED | WAITERS);
        assert_eq!(spin_then_try(&w, 8, None), Ok(Acquired::OwnerDied));
        assert_eq!(
            w.load(Ordering::Relaxed),
            8 | WAITERS,
            "sleepers stay announced"
        );
        let w = AtomicU32::new(HANDOFF | WAITERS);
        assert_eq!(
            spin_then_try(&w, 8, None),
            Err(Blocked::Held),
            "a hand-over is for a woken sleeper"
        );
    }

    #[test]
    fn a_stranded_handoff_is_taken_only_as_it_is() {
        let w = AtomicU32::new(HANDOFF | WAITERS);
        assert!(take_stranded_handoff(&w, 7, None));
        assert_eq!(w.load(Ordering::Relaxed), 7 | WAITERS);
        assert!(!take_stranded_handoff(&w, 8, None));
        assert_eq!(w.load(Ordering::Relaxed), 7 | WAITERS);
    }

    #[test]
    fn contended_lock_times_out_on_a_held_word() {
        let w = AtomicU32::new(5);
        let waiters = AtomicU32::new(0);
        let deadline = futex::deadline_after(std::time::Duration::from_millis(20));
        assert_eq!(
            lock_contended(&w, 6, &deadline, false, None, &waiters, false),
            Err(Blocked::TimedOut)
        );
        assert_eq!(
            w.load(Ordering::Relaxed),
            5 | WAITERS,
            "the waiter announced itself"
        );
        assert_eq!(
            waiters.load(Ordering::Relaxed),
            0,
            "and unregistered when it gave up"
        );
    }

    #[test]
    fn unreported_holders_are_handed_back_to_the_caller() {
        let w = AtomicU32::new(5 | UNREPORTED);
        let waiters = AtomicU32::new(0);
        assert_eq!(
            lock_contended(&w, 6, &far(), true, None, &waiters, false),
            Err(Blocked::Unreported)
        );
    }

    #[test]
    fn mark_owner_dead_only_touches_that_owner() {
        let w = AtomicU32::new(5 | WAITERS);
        assert!(!mark_owner_dead(&w, 6));
        assert!(mark_owner_dead(&w, 5));
        assert_eq!(w.load(Ordering::Relaxed), OWNER_DIED | WAITERS);
    }
}
