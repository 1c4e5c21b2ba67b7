//! Layer 1: a [`Condition`](crate::Condition)'s words — a sequence word that waiters sleep on
//! and every notification moves; a 64-bit state of notifications pending (given by `notify`,
//! not yet taken by a waiter) and of the waiters counted in, most of them in *slots* that name
//! them, so that a notification a waiter was woken for and could not take (it was killed) is
//! taken by another, and a killed waiter's count can be taken back.
//!
//! | word    | bits    | meaning                                                              |
//! |---------|---------|----------------------------------------------------------------------|
//! | `seq`   | 0..=31  | notifications so far (wrapping): the futex word waiters sleep on      |
//! | `state` | 0..=15  | `pending`: notifications given and not yet taken                      |
//! | `state` | 16..=31 | waiters counted in without a slot (all slots taken; sticky at max)    |
//! | `state` | 32..=63 | one bit per slot: a waiter counted in that slot                       |
//! | slot i  | 2 words | the waiter's ids (pid, tid, namespace) and process identity (0: none) |
//!
//! **Waiting** (the caller holds the condition's lock): [`enter`] reads `seq` (`s0`) and then
//! counts itself in — a free slot's bit, or the slotless count — *before* the lock is
//! released, so a notification given after the release moves `seq` past `s0` and the futex
//! refuses the sleep (no lost wake-up); the caller names itself in its slot ([`name_slot`]),
//! releases the lock and calls [`wait`], which sleeps on the last `seq` it read and takes a
//! pending notification ([`take`]) only once `seq` has moved past `s0` — a notification given
//! before it entered is not its own. Then [`leave`] counts it out (its slot unnamed first).
//! **Notifying** ([`notify`]): `pending += min(n, waiters - pending)` in one compare-exchange,
//! then `seq += 1` (Release), then a futex wake of one (or all).
//!
//! **Death.** A waiter woken by the futex and killed before it took its notification leaves the
//! notification pending: every waiter sleeps in bounded slices (the caller's), and one that
//! entered before that notification finds it at its next look and takes it over. A waiter
//! killed while it is counted leaves its count: `pending` may then run ahead of the living
//! waiters, which costs spurious wake-ups (a waiter returns without a notification of its own:
//! allowed, as for every condition variable), never a lost one — counts only ever err high.
//! A slot names its waiter, so a living waiter that finds it dead counts it out ([`heal`]):
//! exactly once, since only the one whose compare-exchange unnames the slot may clear its bit,
//! and a slot's bit is cleared only after it is unnamed (by its owner, or by that healer).

use crate::sync::{AtomicU32, AtomicU64, Ordering};
use crate::sys::futex::{self, Deadline, WaitOutcome};

/// How many waiters can have a slot (one bit each in `state`).
pub(crate) const SLOTS: usize = 32;
/// The pending notifications, in `state`.
const PENDING: u64 = 0xffff;
/// The waiters counted without a slot, in `state`.
const SLOTLESS: u64 = 0xffff << 16;
const ONE_SLOTLESS: u64 = 1 << 16;
/// The slots' bits, in `state`.
const SLOT_BITS: u32 = 32;

/// Waiters counted in `state` value `v`: with a slot, and without.
pub(crate) fn waiters(v: u64) -> u32 {
    slots(v).count_ones() + ((v & SLOTLESS) >> 16) as u32
}

/// Notifications pending in `state` value `v`.
pub(crate) fn pending(v: u64) -> u32 {
    (v & PENDING) as u32
}

/// The slots taken in `state` value `v`, one bit each.
pub(crate) fn slots(v: u64) -> u32 {
    (v >> SLOT_BITS) as u32
}

/// `v` with one waiter counted out — `slot`'s bit, or one slotless waiter (the slotless count
/// is sticky at its maximum: once saturated it never counts down, so it never errs low) — and
/// `pending` kept at most the waiters left.
fn counted_out(v: u64, slot: Option<usize>) -> u64 {
    let mut v = match slot {
        Some(i) => v & !(1 << (SLOT_BITS as usize + i)),
        None if v & SLOTLESS == SLOTLESS || v & SLOTLESS == 0 => v,
        None => v - ONE_SLOTLESS,
    };
    let cap = u64::from(waiters(v)).min(PENDING);
    if v & PENDING > cap {
        v = v & !PENDING | cap;
    }
    v
}

/// Counts a waiter in; returns `s0`, the sequence it waits past, and its slot (`None`: all
/// taken; counted without one). `hint` spreads threads over the slots (any number). Called
/// while holding the condition's lock, before releasing it. `seq` is read first: a
/// notification racing the count (from a notifier that does not hold the lock) is then one
/// this waiter may take, never one it is counted for and cannot take.
pub(crate) fn enter(seq: &AtomicU32, state: &AtomicU64, hint: u32) -> (u32, Option<usize>) {
    // Acquire: pairs with a notifier's Release of `seq`, so that the `pending` it added before
    // is seen by the `take` that follows a later look at `seq`.
    let s0 = seq.load(Ordering::Acquire);
    let mut v = state.load(Ordering::Relaxed);
    loop {
        let free = !slots(v);
        let (new, slot) = if free != 0 {
            // The first free slot at or after the hint, wrapping.
            let from = hint % SLOT_BITS;
            let i = (free.rotate_right(from).trailing_zeros() + from) % SLOT_BITS;
            (v | 1 << (SLOT_BITS + i), Some(i as usize))
        } else if v & SLOTLESS == SLOTLESS {
            (v, None)
        } else {
            (v + ONE_SLOTLESS, None)
        };
        match state.compare_exchange_weak(v, new, Ordering::AcqRel, Ordering::Relaxed) {
            Ok(_) => return (s0, slot),
            Err(seen) => v = seen,
        }
    }
}

/// Names the waiter in its slot (`words`: two per slot, ids then identity): identity last, with
/// Release, so that a healer that reads it sees the ids it goes with. A waiter killed before
/// this leaves its slot taken and unnamed for good: nobody can tell it dead.
pub(crate) fn name_slot(words: &[AtomicU64], slot: usize, ids: u64, identity: u64) {
    words[2 * slot].store(ids, Ordering::Relaxed);
    words[2 * slot + 1].store(identity, Ordering::Release);
}

/// Takes one pending notification: whether there was one. The waiter is still counted in:
/// [`leave`] counts it out.
pub(crate) fn take(state: &AtomicU64) -> bool {
    let mut v = state.load(Ordering::Acquire);
    loop {
        if v & PENDING == 0 {
            return false;
        }
        match state.compare_exchange_weak(v, v - 1, Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) => return true,
            Err(seen) => v = seen,
        }
    }
}

/// Counts the waiter out of its slot (or the slotless count), unnaming the slot first: a slot's
/// bit is cleared only once nobody can heal it. `pending` stays at most `waiters`, so no
/// notification is kept for nobody.
pub(crate) fn leave(state: &AtomicU64, words: &[AtomicU64], slot: Option<usize>) {
    if let Some(i) = slot {
        words[2 * i + 1].store(0, Ordering::Relaxed);
        words[2 * i].store(0, Ordering::Relaxed);
    }
    let mut v = state.load(Ordering::Relaxed);
    loop {
        // Release: the slot is unnamed before a claimer can take its bit (and name it).
        match state.compare_exchange_weak(
            v,
            counted_out(v, slot),
            Ordering::AcqRel,
            Ordering::Relaxed,
        ) {
            Ok(_) => return,
            Err(seen) => v = seen,
        }
    }
}

/// Counts out the waiter named in `slot` if `dead(ids, identity)` proves it dead: whether this
/// call did. The identity is unnamed by compare-exchange first — only the caller that wins it
/// clears the bit, and while a slot is named its bit is its namer's (a bit is cleared only
/// after its slot is unnamed, and claimed only while clear), so a waiter is counted out once.
pub(crate) fn heal(
    state: &AtomicU64,
    words: &[AtomicU64],
    slot: usize,
    dead: impl FnOnce(u64, u64) -> bool,
) -> bool {
    if slots(state.load(Ordering::Acquire)) & 1 << slot == 0 {
        return false;
    }
    let identity = words[2 * slot + 1].load(Ordering::Acquire);
    if identity == 0 {
        return false;
    }
    let ids = words[2 * slot].load(Ordering::Relaxed);
    let claimed = |w: &AtomicU64| {
        if crate::sync::mutant("condition-heal-by-store") {
            w.store(0, Ordering::Release);
            return true;
        }
        w.compare_exchange(identity, 0, Ordering::AcqRel, Ordering::Relaxed)
            .is_ok()
    };
    if !dead(ids, identity) || !claimed(&words[2 * slot + 1]) {
        return false;
    }
    words[2 * slot].store(0, Ordering::Relaxed);
    let mut v = state.load(Ordering::Relaxed);
    loop {
        match state.compare_exchange_weak(
            v,
            counted_out(v, Some(slot)),
            Ordering::AcqRel,
            Ordering::Relaxed,
        ) {
            Ok(_) => return true,
            Err(seen) => v = seen,
        }
    }
}

/// Gives up to `n` notifications to waiters without one and wakes them: how many were given (0:
/// nobody was waiting without one, and nothing is woken).
pub(crate) fn notify(seq: &AtomicU32, state: &AtomicU64, n: u32) -> u32 {
    let mut v = state.load(Ordering::Acquire);
    let given = loop {
        let room = waiters(v).min(PENDING as u32).saturating_sub(pending(v));
        let give = n.min(room);
        if give == 0 {
            return 0;
        }
        match state.compare_exchange_weak(
            v,
            v + u64::from(give),
            Ordering::AcqRel,
            Ordering::Acquire,
        ) {
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

/// One look without sleeping: if `seq` moved past `s0`, takes a pending notification (`Ok`).
/// Otherwise the `seq` value to sleep on, in `Err`.
pub(crate) fn poll(seq: &AtomicU32, state: &AtomicU64, s0: u32) -> Result<(), u32> {
    let s = seq.load(Ordering::Acquire);
    if s != s0 && (crate::sync::mutant("condition-poll-without-take") || take(state)) {
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

    fn words() -> Vec<AtomicU64> {
        (0..2 * SLOTS).map(|_| AtomicU64::new(0)).collect()
    }

    #[test]
    fn a_notification_before_entering_is_not_taken() {
        let (seq, state, w) = (AtomicU32::new(0), AtomicU64::new(0), words());
        assert_eq!(notify(&seq, &state, 1), 0, "nobody waits: nothing given");
        let (s0, slot) = enter(&seq, &state, 0);
        assert_eq!(slot, Some(0));
        assert!(!wait(&seq, &state, s0, &soon()), "times out");
        assert_eq!(notify(&seq, &state, 1), 1);
        assert!(wait(&seq, &state, s0, &soon()));
        leave(&state, &w, slot);
        assert_eq!(state.load(Ordering::Relaxed), 0, "counted out");
    }

    #[test]
    fn pending_never_exceeds_waiters() {
        let (seq, state, w) = (AtomicU32::new(0), AtomicU64::new(0), words());
        let (a, sa) = enter(&seq, &state, 7);
        let (_b, sb) = enter(&seq, &state, 7);
        assert_eq!((sa, sb), (Some(7), Some(8)), "from the hint on");
        assert_eq!(notify(&seq, &state, u32::MAX), 2);
        assert_eq!(notify(&seq, &state, 1), 0, "both have one already");
        assert!(poll(&seq, &state, a).is_ok());
        leave(&state, &w, sa);
        leave(&state, &w, sb);
        assert_eq!(
            state.load(Ordering::Relaxed),
            0,
            "b's notification went with it"
        );
    }

    #[test]
    fn a_killed_waiters_notification_is_taken_over_and_its_count_healed() {
        let (seq, state, w) = (AtomicU32::new(0), AtomicU64::new(0), words());
        let (_, dead) = enter(&seq, &state, 0);
        name_slot(&w, dead.unwrap(), 11, 111);
        let (alive, slot) = enter(&seq, &state, 0);
        name_slot(&w, slot.unwrap(), 22, 222);
        assert_eq!(notify(&seq, &state, 1), 1);
        // The futex woke `dead`, which was killed before `take`: `alive`'s next look finds it.
        assert!(wait(&seq, &state, alive, &soon()));
        leave(&state, &w, slot);
        assert_eq!(
            waiters(state.load(Ordering::Relaxed)),
            1,
            "the dead one counted"
        );
        assert!(!heal(&state, &w, 0, |_, _| false), "not proven dead");
        assert!(heal(&state, &w, 0, |ids, id| (ids, id) == (11, 111)));
        assert!(!heal(&state, &w, 0, |_, _| true), "once");
        assert_eq!(state.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn past_the_slots_waiters_are_counted_without_one_and_saturate_high() {
        let (seq, state, w) = (AtomicU32::new(0), AtomicU64::new(0), words());
        for _ in 0..SLOTS {
            assert!(enter(&seq, &state, 0).1.is_some());
        }
        assert_eq!(enter(&seq, &state, 0).1, None);
        assert_eq!(waiters(state.load(Ordering::Relaxed)), SLOTS as u32 + 1);
        leave(&state, &w, None);
        assert_eq!(waiters(state.load(Ordering::Relaxed)), SLOTS as u32);
        // Saturated, the slotless count never counts down again.
        state.fetch_or(SLOTLESS, Ordering::Relaxed);
        enter(&seq, &state, 0);
        leave(&state, &w, None);
        assert_eq!((state.load(Ordering::Relaxed) & SLOTLESS) >> 16, 0xffff);
        assert_eq!(
            notify(&seq, &state, u32::MAX),
            0xffff,
            "pending saturates too"
        );
    }
}
