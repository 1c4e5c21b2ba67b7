//! Layer 1: an [`Event`](crate::Event)'s word — a flag, a sleepers bit and a count of sets, in
//! one 32-bit futex word, so that `wait` sleeps on exactly what `set` changes.
//!
//! | bits   | name      | meaning                                                           |
//! |--------|-----------|-------------------------------------------------------------------|
//! | 0      | `SET`     | the flag (`is_set`)                                               |
//! | 1      | `WAITERS` | somebody may sleep on the word: `set` must wake everybody         |
//! | 2..=31 | sets      | how many times the flag went from clear to set (wrapping, 2^30)   |
//!
//! No holder, and no count of sleepers: a waiter SIGKILLed while asleep leaves at most the
//! `WAITERS` bit behind, which costs the next `set` one needless `FUTEX_WAKE` and is cleared by
//! it. The count of sets lets a sleeper that a `set` woke return `true` even if a `clear` came
//! before it ran (Python's `Event.wait` returns `True` once notified): it returns when the flag
//! is set *or* the count has moved since it started waiting.

use crate::sync::{AtomicU32, Ordering};
use crate::sys::futex::{self, Deadline, WaitOutcome};

/// The flag.
pub(crate) const SET: u32 = 1;
/// Somebody may sleep on the word.
pub(crate) const WAITERS: u32 = 2;
/// One set, in the count of sets (bits 2..=31).
const ONE_SET: u32 = 4;
/// The count of sets.
const SETS: u32 = !(SET | WAITERS);

/// The count of sets in word value `v`.
pub(crate) fn sets(v: u32) -> u32 {
    (v & SETS) >> 2
}

/// Whether the flag is set. Acquire: what the setter wrote before `set` is visible after.
pub(crate) fn is_set(word: &AtomicU32) -> bool {
    word.load(Ordering::Acquire) & SET != 0
}

/// Sets the flag and wakes every sleeper; whether the flag was clear (a set was counted).
pub(crate) fn set(word: &AtomicU32) -> bool {
    let mut v = word.load(Ordering::Relaxed);
    loop {
        if v & SET != 0 {
            return false;
        }
        // Flag on, one more set, sleepers bit off: everybody asleep is woken below.
        let one = if crate::sync::mutant("event-set-uncounted") {
            0
        } else {
            ONE_SET
        };
        let new = (v & !WAITERS).wrapping_add(one) | SET;
        // Release: a waiter that sees the flag (or the count move) sees what came before.
        match word.compare_exchange_weak(v, new, Ordering::Release, Ordering::Relaxed) {
            Ok(_) => {
                if v & WAITERS != 0 && !crate::sync::mutant("event-set-no-wake") {
                    futex::wake_all(word);
                }
                return true;
            }
            Err(seen) => v = seen,
        }
    }
}

/// Clears the flag; whether it was set. Relaxed: a clear publishes nothing.
pub(crate) fn clear(word: &AtomicU32) -> bool {
    word.fetch_and(!SET, Ordering::Relaxed) & SET != 0
}

/// Waits until the flag is set, or a `set` happened since the call began, or `deadline`
/// passes: whether the event was set (false only on a deadline). A sleep announces itself with
/// `WAITERS` before it begins, and the futex sleeps only while the word is still the value
/// that carries the announcement, so a `set` between the check and the sleep is never missed.
pub(crate) fn wait(word: &AtomicU32, deadline: Option<&Deadline>) -> bool {
    let mut v = word.load(Ordering::Acquire);
    let start = v & SETS;
    let done = |v: u32| v & SET != 0 || v & SETS != start;
    loop {
        if done(v) {
            return true;
        }
        if v & WAITERS == 0 {
            match word.compare_exchange_weak(v, v | WAITERS, Ordering::Relaxed, Ordering::Acquire) {
                Ok(_) => v |= WAITERS,
                Err(seen) => {
                    v = seen;
                    continue;
                }
            }
        }
        let outcome = futex::wait(word, v, deadline);
        v = word.load(Ordering::Acquire);
        if outcome == WaitOutcome::TimedOut {
            return done(v);
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn set_counts_and_clear_keeps_the_count() {
        let w = AtomicU32::new(0);
        assert!(!is_set(&w));
        assert!(set(&w));
        assert!(!set(&w), "a second set changes nothing");
        assert!(is_set(&w));
        assert_eq!(sets(w.load(Ordering::Relaxed)), 1);
        assert!(clear(&w));
        assert!(!clear(&w));
        assert_eq!(sets(w.load(Ordering::Relaxed)), 1);
        assert!(wait(
            &AtomicU32::new(SET),
            Some(&futex::deadline_after(std::time::Duration::ZERO))
        ));
    }

    #[test]
    fn wait_times_out_on_a_clear_word() {
        let w = AtomicU32::new(0);
        let d = futex::deadline_after(std::time::Duration::from_millis(5));
        assert!(!wait(&w, Some(&d)));
        assert_eq!(
            w.load(Ordering::Relaxed),
            WAITERS,
            "a sleeper leaves only its bit"
        );
        assert!(set(&w));
        assert_eq!(
            w.load(Ordering::Relaxed),
            SET | ONE_SET,
            "set clears the bit"
        );
    }

    #[test]
    fn the_count_wraps() {
        let w = AtomicU32::new(SETS);
        assert!(set(&w));
        assert_eq!(w.load(Ordering::Relaxed), SET);
    }
}
