//! Layer 1: a [`Condition`](crate::Condition)'s words — a sequence word that waiters sleep on
//! and every notification moves, and a 64-bit count of waiters and of notifications pending
//! (given by `notify`, not yet taken by a waiter), so that a notification a waiter was woken
//! for and could not take (it was killed) is taken by another.
//!
//! | word       | bits    | meaning                                                          |
//! |------------|---------|------------------------------------------------------------------|
//! | `seq`      | 0..=31  | notifications so far (wrapping): the futex word waiters sleep on  |
//! | `state`    | 0..=31  | `pending`: notifications given and not yet taken                  |
//! | `state`    | 32..=63 | `waiters`: waiters counted in (saturating)                        |
//!
//! **Waiting** (the caller holds the condition's lock): [`enter`] reads `seq` (`s0`) and then
//! counts itself in, *before* the lock is released, so a notification given after the release
//! moves `seq` past `s0` and the futex refuses the sleep (no lost wake-up); the caller then
//! releases the lock and calls [`wait`], which sleeps on the last `seq` it read and takes a
//! pending notification ([`take`]) only once `seq` has moved past `s0` — a notification given
//! before it entered is not its own. **Notifying** ([`notify`]): `pending += min(n, waiters -
//! pending)` in one compare-exchange, then `seq += 1` (Release), then a futex wake of one (or all).
//!
//! **Death.** A waiter woken by the futex and killed before it took its notification leaves the
//! notification pending: every waiter sleeps in bounded slices (the caller's), and one that
//! entered before that notification finds it at its next look and takes it over. A waiter killed
//! at any other instant leaves its count in `waiters`: `pending` may then run ahead of the living
//! waiters by that many, which costs spurious wake-ups (a waiter returns without a notification
//! of its own: allowed, as for every condition variable) and never a lost one. Nothing counts
//! down on a death, so the counts are never trusted for more than a bound: `waiters` saturates,
//! `pending` never exceeds `waiters`.

use crate::sync::{AtomicU32, AtomicU64, Ordering};
use crate::sys::futex::{self, Deadline, WaitOutcome};

/// The pending notifications, in `state`.
const PENDING: u64 = u32::MAX as u64;

/// Waiters counted in `state` value `v`.
pub(crate) fn waiters(v: u64) -> u32 {
    (v >> 32) as u32
}

/// Notifications pending in `state` value `v`.
pub(crate) fn pending(v: u64) -> u32 {
    (v & PENDING) as u32
}

fn pack(waiters: u32, pending: u32) -> u64 {
    u64::from(waiters) << 32 | u64::from(pending)
}

/// Counts a waiter in; returns `s0`, the sequence it waits past. Called while holding the
/// condition's lock, before releasing it. `seq` is read first: a notification racing the count
/// (from a notifier that does not hold the lock) is then one this waiter may take, never one
/// it is counted for and cannot take.
pub(crate) fn enter(seq: &AtomicU32, state: &AtomicU64) -> u32 {
    // Acquire: pairs with a notifier's Release of `seq`, so that the `pending` it added before
    // is seen by the `take` that follows a later look at `seq`.
    let s0 = seq.load(Ordering::Acquire);
    let mut v = state.load(Ordering::Relaxed);
    loop {
        // Saturating: a count a killed waiter left can only make it larger.
        let w = waiters(v).saturating_add(1);
        match state.compare_exchange_weak(
            v,
            pack(w, pending(v)),
            Ordering::AcqRel,
            Ordering::Relaxed,
        ) {
            Ok(_) => return s0,
            Err(seen) => v = seen,
        }
    }
}

/// Takes one pending notification and counts the waiter out: whether there was one.
pub(crate) fn take(state: &AtomicU64) -> bool {
    let mut v = state.load(Ordering::Acquire);
    loop {
        if pending(v) == 0 {
            return false;
        }
        let new = pack(waiters(v).saturating_sub(1), pending(v) - 1);
        match state.compare_exchange_weak(v, new, Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) => return true,
            Err(seen) => v = seen,
        }
    }
}

/// Counts a waiter out without a notification (its wait timed out): `pending` stays at most
/// `waiters`, so no notification is kept for nobody.
pub(crate) fn leave(state: &AtomicU64) {
    let mut v = state.load(Ordering::Relaxed);
    loop {
        let w = waiters(v).saturating_sub(1);
        let new = pack(w, pending(v).min(w));
        match state.compare_exchange_weak(v, new, Ordering::AcqRel, Ordering::Relaxed) {
            Ok(_) => return,
            Err(seen) => v = seen,
        }
    }
}

/// Gives up to `n` notifications to waiters without one and wakes them: how many were given (0:
/// nobody was waiting without one, and nothing is woken).
pub(crate) fn notify(seq: &AtomicU32, state: &AtomicU64, n: u32) -> u32 {
    let mut v = state.load(Ordering::Acquire);
    let given = loop {
        let give = n.min(waiters(v) - pending(v).min(waiters(v)));
        if give == 0 {
            return 0;
        }
        let new = pack(waiters(v), pending(v) + give);
        match state.compare_exchange_weak(v, new, Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) => break give,
            Err(seen) => v = seen,
        }
    };
    // After `pending`: a waiter that sees `seq` move (its Acquire load, or the futex's own
    // check under the bucket lock) sees the notification too.
    seq.fetch_add(1, Ordering::Release);
    if given == 1 {
        futex::wake_one(seq);
    } else {
        futex::wake_all(seq);
    }
    given
}

/// One look without sleeping: if `seq` moved past `s0`, takes a pending notification (true).
/// Otherwise the `seq` value to sleep on, in `Err`.
pub(crate) fn poll(seq: &AtomicU32, state: &AtomicU64, s0: u32) -> Result<(), u32> {
    let s = seq.load(Ordering::Acquire);
    if s != s0 && take(state) {
        Ok(())
    } else {
        Err(s)
    }
}

/// Waits (counted in by [`enter`], the lock released) until this waiter takes a notification
/// (true), or `slice` passes (false, still counted in: call again, or [`leave`]). `slice` is
/// the caller's bound on one sleep: a waiter must look again now and then, for a notification
/// whose woken waiter was killed before taking it.
pub(crate) fn wait(seq: &AtomicU32, state: &AtomicU64, s0: u32, slice: &Deadline) -> bool {
    loop {
        let s = match poll(seq, state, s0) {
            Ok(()) => return true,
            Err(s) => s,
        };
        // Sleeps only while `seq` is still `s`: a notification after the look above moved it
        // (its `pending` first), and the kernel refuses the sleep.
        if futex::wait(seq, s, Some(slice)) == WaitOutcome::TimedOut {
            return poll(seq, state, s0).is_ok();
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::time::Duration;

    fn soon() -> Deadline {
        futex::deadline_after(Duration::from_millis(5))
    }

    #[test]
    fn a_notification_before_entering_is_not_taken() {
        let (seq, state) = (AtomicU32::new(0), AtomicU64::new(0));
        assert_eq!(notify(&seq, &state, 1), 0, "nobody waits: nothing given");
        let s0 = enter(&seq, &state);
        assert!(!wait(&seq, &state, s0, &soon()), "times out");
        assert_eq!(notify(&seq, &state, 1), 1);
        assert!(wait(&seq, &state, s0, &soon()));
        assert_eq!(state.load(Ordering::Relaxed), 0, "counted out");
    }

    #[test]
    fn pending_never_exceeds_waiters() {
        let (seq, state) = (AtomicU32::new(0), AtomicU64::new(0));
        let a = enter(&seq, &state);
        let b = enter(&seq, &state);
        assert_eq!(notify(&seq, &state, u32::MAX), 2);
        assert_eq!(notify(&seq, &state, 1), 0, "both have one already");
        assert!(poll(&seq, &state, a).is_ok());
        leave(&state);
        assert_eq!(state.load(Ordering::Relaxed), 0);
        let _ = b;
    }

    #[test]
    fn a_killed_waiters_notification_is_taken_over() {
        let (seq, state) = (AtomicU32::new(0), AtomicU64::new(0));
        let _dead = enter(&seq, &state);
        let alive = enter(&seq, &state);
        assert_eq!(notify(&seq, &state, 1), 1);
        // The futex woke `_dead`, which was killed before `take`: `alive`'s next look finds it.
        assert!(wait(&seq, &state, alive, &soon()));
        assert_eq!(
            waiters(state.load(Ordering::Relaxed)),
            1,
            "the dead one stays counted"
        );
    }

    #[test]
    fn counts_saturate() {
        let (seq, state) = (AtomicU32::new(7), AtomicU64::new(pack(u32::MAX, 0)));
        enter(&seq, &state);
        assert_eq!(waiters(state.load(Ordering::Relaxed)), u32::MAX);
        leave(&AtomicU64::new(0));
        assert_eq!(notify(&seq, &state, u32::MAX), u32::MAX);
        assert_eq!(seq.load(Ordering::Relaxed), 8);
    }
}
