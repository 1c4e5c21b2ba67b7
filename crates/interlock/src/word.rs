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
//! `sync` and the `sys::{wait, wake_one}` seam, so `word/model.rs` can check it with loom.

use crate::sync::{spin_hint, AtomicU32, Ordering};
use std::time::Duration;

use crate::sys::{self, Deadline, WaitOutcome};

/// Bits holding the owner (`FUTEX_TID_MASK`): its thread id and our `UNREPORTED` flag.
pub(crate) const TID_MASK: u32 = 0x3fff_ffff;
/// The owner's thread id alone.
pub(crate) const OWNER_TID: u32 = 0x1fff_ffff;
/// The owner's death will not be reported by the kernel: waiters check on it themselves.
pub(crate) const UNREPORTED: u32 = 0x2000_0000;
/// Set by the kernel when the owner died holding the word (`FUTEX_OWNER_DIED`).
pub(crate) const OWNER_DIED: u32 = 0x4000_0000;
/// Waiters may be asleep on the word (`FUTEX_WAITERS`).
pub(crate) const WAITERS: u32 = 0x8000_0000;
/// Nobody holds the word and nobody died holding it.
pub(crate) const UNLOCKED: u32 = 0;
/// Fair locks: the owner bits of a word being handed to a woken sleeper. All ones in
/// `OWNER_TID`, above any kernel thread id, so it is nobody's tid (the kernel's robust-list
/// walk never matches it) and never the caller's own.
pub(crate) const HANDOFF: u32 = OWNER_TID;

/// How many times the contended path re-reads the word before it sleeps. std's futex mutex uses
/// 100; with processes on a 2-core machine a holder is often descheduled, so spinning longer
/// only burns the core the holder needs.
#[cfg(not(all(test, loom)))]
const SPIN_LIMIT: u32 = 100;
#[cfg(all(test, loom))]
const SPIN_LIMIT: u32 = 0;

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
    word.compare_exchange(UNLOCKED, tid, Ordering::Acquire, Ordering::Relaxed)
        .is_ok()
}

/// A non-blocking attempt after the fast path failed: succeeds also on a word whose owner died.
#[cold]
pub(crate) fn try_lock_slow(word: &AtomicU32, tid: u32) -> Result<Acquired, Blocked> {
    let mut state = word.load(Ordering::Relaxed);
    loop {
        if state & TID_MASK == 0 {
            // Free (0) or free-after-death: keep WAITERS, since sleepers may still be there.
            let new = tid | (state & WAITERS);
            match word.compare_exchange(state, new, Ordering::Acquire, Ordering::Relaxed) {
                Ok(_) => return Ok(acquired_from(state)),
                Err(now) => state = now,
            }
        } else if state & OWNER_TID == tid & OWNER_TID {
            return Err(Blocked::WouldDeadlock);
        } else {
            return Err(Blocked::Held);
        }
    }
}

/// Contended path: spin briefly, then sleep in the kernel until the word is free or `deadline`
/// passes. `tid` is the caller's owner bits. With `stop_on_unreported`, returns
/// `Blocked::Unreported` instead of sleeping on an `UNREPORTED` holder. Without a deadline,
/// `safety_net` bounds the sleep (then `TimedOut`, for the caller to call again): a waiter that
/// was woken and then killed before taking the word takes its wake-up with it, and if the word
/// was meanwhile taken without `WAITERS` nobody else would wake the remaining sleepers (the
/// kernel only re-wakes for a dead waiter when the word is free). `waiters` counts sleepers for
/// observers only; the protocol does not depend on it.
#[cold]
pub(crate) fn lock_contended(
    word: &AtomicU32,
    tid: u32,
    deadline: Option<&Deadline>,
    stop_on_unreported: bool,
    safety_net: Option<Duration>,
    waiters: &AtomicU32,
) -> Result<Acquired, Blocked> {
    // The safety-net deadline is computed only if we really go to sleep: acquisitions won by
    // spinning never read the clock.
    let mut net: Option<Deadline> = None;
    let mut state = spin(word);
    let mut counted = false;
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
            match word.compare_exchange(state, tid | WAITERS, Ordering::Acquire, Ordering::Relaxed)
            {
                Ok(_) => break Ok(Acquired::Clean),
                Err(now) => {
                    state = now;
                    continue;
                }
            }
        }
        if state & OWNER_TID == tid & OWNER_TID {
            break Err(Blocked::WouldDeadlock);
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
        let wait_until = match (deadline, safety_net) {
            (Some(d), _) => Some(d),
            (None, Some(period)) => Some(&*net.get_or_insert_with(|| sys::deadline_after(period))),
            (None, None) => None,
        };
        let outcome = sys::wait(word, state, wait_until);
        slept = true;
        woken = outcome != WaitOutcome::Changed;
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
        waiters.fetch_sub(1, Ordering::Relaxed);
    }
    result
}

/// Releases the word. Returns the state it held, so the caller can check that it was the owner.
#[inline]
pub(crate) fn unlock(word: &AtomicU32) -> u32 {
    // Release: our critical section happens-before the next owner's Acquire.
    let prev = word.swap(UNLOCKED, Ordering::Release);
    if prev & WAITERS != 0 {
        wake(word);
    }
    prev
}

/// Releases a word its owner has just read as `seen`, with no `WAITERS`: one compare-exchange
/// in the common case. If a waiter announced itself since, the exchange fails and the word, still
/// ours, goes through [`unlock`] or [`unlock_fair`] out of line. `fair` is taken by reference so
/// that an inlined caller loads it only on that path.
#[inline(always)]
pub(crate) fn unlock_seen(word: &AtomicU32, seen: u32, fair: &bool) {
    debug_assert_eq!(seen & WAITERS, 0);
    // Release: our critical section happens-before the next owner's Acquire.
    if word
        .compare_exchange(seen, UNLOCKED, Ordering::Release, Ordering::Relaxed)
        .is_err()
    {
        unlock_raced(word, fair);
    }
}

#[cold]
#[inline(never)]
fn unlock_raced(word: &AtomicU32, fair: &bool) {
    if *fair {
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
    if sys::wake_one(word) {
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
    {
        sys::wake_one(word);
    }
}

#[cold]
fn wake(word: &AtomicU32) {
    sys::wake_one(word);
}

/// Spins while the word is held with nobody sleeping, like std's `futex::Mutex::spin`:
/// once there are sleepers, spinning only delays our turn in the kernel's queue.
fn spin(word: &AtomicU32) -> u32 {
    let mut spins = SPIN_LIMIT;
    loop {
        let state = word.load(Ordering::Relaxed);
        if state & TID_MASK == 0 || state & WAITERS != 0 || spins == 0 {
            return state;
        }
        spin_hint();
        spins -= 1;
    }
}

fn acquired_from(state: u32) -> Acquired {
    if state & OWNER_DIED != 0 {
        Acquired::OwnerDied
    } else {
        Acquired::Clean
    }
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

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

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
        assert_eq!(try_lock_slow(&w, 9), Ok(Acquired::OwnerDied));
        assert_eq!(w.load(Ordering::Relaxed), 9 | WAITERS);
        assert_eq!(try_lock_slow(&w, 9), Err(Blocked::WouldDeadlock));
        assert_eq!(try_lock_slow(&w, 10), Err(Blocked::Held));
    }

    #[test]
    fn relocking_own_word_is_refused_not_waited_on() {
        let w = AtomicU32::new(5);
        let waiters = AtomicU32::new(0);
        assert_eq!(
            lock_contended(&w, 5, None, false, None, &waiters),
            Err(Blocked::WouldDeadlock)
        );
        assert_eq!(waiters.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn contended_lock_times_out_on_a_held_word() {
        let w = AtomicU32::new(5);
        let waiters = AtomicU32::new(0);
        let deadline = sys::deadline_after(std::time::Duration::from_millis(20));
        assert_eq!(
            lock_contended(&w, 6, Some(&deadline), false, None, &waiters),
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
            lock_contended(&w, 6, None, true, None, &waiters),
            Err(Blocked::Unreported)
        );
        assert_eq!(
            lock_contended(&w, 5 | UNREPORTED, None, true, None, &waiters),
            Err(Blocked::WouldDeadlock),
            "the owner is recognised whatever its flag"
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
