//! Layer 1: a [`Barrier`](crate::Barrier)'s word — how many parties have arrived, which
//! generation they are in, and whether it is broken, in one 32-bit futex word: an arrival is
//! one compare-exchange, and the last arrival (the leader) trips the generation with that same
//! compare-exchange.
//!
//! | bits    | name     | meaning                                                           |
//! |---------|----------|-------------------------------------------------------------------|
//! | 0..=11  | arrived  | parties waiting in this generation (below the barrier's parties)  |
//! | 12..=30 | gen      | the generation (wrapping, 2^19): a trip or a reset moves it       |
//! | 31      | `BROKEN` | broken (a party died, a wait timed out, `abort`): until a reset   |
//!
//! Waiters sleep on the whole word; every change that ends a wait (a trip, a break, a reset)
//! wakes them all. An arrival that does not trip changes the word without a wake: a waiter
//! that was about to sleep on the old value finds it changed and re-reads, one already asleep
//! keeps sleeping (the value it slept on is gone, but nobody needs it awake). Who the parties
//! are, and why the barrier broke, is the layer above's (`locks/barrier.rs`): this module knows
//! only the word.

use crate::sync::{AtomicU32, Ordering};
use crate::sys::futex::{self, Deadline, WaitOutcome};

/// Parties arrived in this generation.
const ARRIVED: u32 = 0xfff;
/// The generation's lowest bit.
const GEN_ONE: u32 = 1 << 12;
/// The generation.
const GEN: u32 = 0x7fff_f000;
/// Broken, until a reset.
pub(crate) const BROKEN: u32 = 1 << 31;
/// The most parties the word counts: `arrived` stays below the parties, in 12 bits.
pub(crate) const MAX_PARTIES: u32 = ARRIVED;

/// A barrier word's value, decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct State {
    /// Parties waiting in this generation.
    pub(crate) arrived: u32,
    /// The generation (19 bits, wrapping).
    pub(crate) generation: u32,
    /// Broken, until a reset.
    pub(crate) broken: bool,
}

impl State {
    pub(crate) fn of(v: u32) -> State {
        State {
            arrived: v & ARRIVED,
            generation: generation(v),
            broken: v & BROKEN != 0,
        }
    }
}

fn generation(v: u32) -> u32 {
    (v & GEN) >> 12
}

/// The generation after `generation` (wrapping).
pub(crate) fn following(generation: u32) -> u32 {
    self::generation(next(generation))
}

/// The word of a fresh generation after `generation`: nobody arrived, not broken.
fn next(generation: u32) -> u32 {
    (generation << 12).wrapping_add(GEN_ONE) & GEN
}

/// What an arrival found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Arrival {
    /// The caller was the last party: it tripped generation `generation` and woke the others.
    Leader { index: u32, generation: u32 },
    /// The caller is party `index` of generation `generation` and must wait for the trip.
    Waiting { index: u32, generation: u32 },
    /// The barrier is broken.
    Broken,
}

/// Arrives at the barrier of `parties` parties (1 to [`MAX_PARTIES`]). `before` runs with the
/// index and generation the arrival is about to take, before the compare-exchange that takes
/// them (the layer above records its party there, so that a party killed just after the
/// exchange is already recorded; a failed exchange runs it again with the next guess).
pub(crate) fn arrive(word: &AtomicU32, parties: u32, mut before: impl FnMut(u32, u32)) -> Arrival {
    debug_assert!((1..=MAX_PARTIES).contains(&parties));
    let mut v = word.load(Ordering::Relaxed);
    loop {
        if v & BROKEN != 0 {
            return Arrival::Broken;
        }
        let (index, gen) = (v & ARRIVED, generation(v));
        let leader = index + 1 >= parties;
        let new = if leader { next(gen) } else { v + 1 };
        before(index, gen);
        // AcqRel: every arrival releases what its party wrote before the barrier, and the
        // leader's exchange, at the end of that chain of read-modify-writes, carries them all
        // to the waiters that acquire its value (and acquires theirs for itself).
        let order = if crate::sync::mutant("barrier-arrive-relaxed") {
            Ordering::Relaxed
        } else {
            Ordering::AcqRel
        };
        match word.compare_exchange_weak(v, new, order, Ordering::Relaxed) {
            Ok(_) if leader => {
                futex::wake_all(word);
                return Arrival::Leader {
                    index,
                    generation: gen,
                };
            }
            Ok(_) => {
                return Arrival::Waiting {
                    index,
                    generation: gen,
                }
            }
            Err(seen) => v = seen,
        }
    }
}

/// How a wait for a generation's trip ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Wake {
    /// The generation moved on: tripped, or reset (the layer above tells which).
    Moved,
    /// The barrier broke while the generation waited.
    Broken,
    /// `deadline` passed first.
    TimedOut,
}

/// Waits until generation `generation` ends (trip, reset or break) or `deadline` passes.
pub(crate) fn wait(word: &AtomicU32, generation: u32, deadline: Option<&Deadline>) -> Wake {
    loop {
        // Acquire: pairs with the leader's exchange (see `arrive`).
        let v = word.load(Ordering::Acquire);
        if self::generation(v) != generation {
            return Wake::Moved;
        }
        if v & BROKEN != 0 {
            return Wake::Broken;
        }
        if futex::wait(word, v, deadline) == WaitOutcome::TimedOut {
            let v = word.load(Ordering::Acquire);
            return if self::generation(v) != generation {
                Wake::Moved
            } else if v & BROKEN != 0 {
                Wake::Broken
            } else {
                Wake::TimedOut
            };
        }
    }
}

/// Breaks the barrier if it is in generation `generation` (any generation: `None`) and not
/// broken yet, waking every waiter: whether this call broke it.
pub(crate) fn break_generation(word: &AtomicU32, generation: Option<u32>) -> bool {
    let mut v = word.load(Ordering::Relaxed);
    loop {
        let other = generation.is_some_and(|g| g != self::generation(v))
            && !crate::sync::mutant("barrier-break-any-generation");
        if v & BROKEN != 0 || other {
            return false;
        }
        // Release: what the breaker recorded (why, who died) is visible to whoever sees BROKEN.
        match word.compare_exchange_weak(v, v | BROKEN, Ordering::Release, Ordering::Relaxed) {
            Ok(_) => {
                futex::wake_all(word);
                return true;
            }
            Err(seen) => v = seen,
        }
    }
}

/// Starts a fresh generation — nobody arrived, not broken — whatever the state, waking every
/// waiter (who find their generation moved: the layer above tells them it was a reset, by what
/// `before` recorded: it runs with the new generation before the exchange that makes it).
/// Returns the new generation.
pub(crate) fn reset(word: &AtomicU32, mut before: impl FnMut(u32)) -> u32 {
    let mut v = word.load(Ordering::Relaxed);
    loop {
        let new = next(generation(v));
        before(generation(new));
        match word.compare_exchange_weak(v, new, Ordering::AcqRel, Ordering::Relaxed) {
            Ok(_) => {
                futex::wake_all(word);
                return generation(new);
            }
            Err(seen) => v = seen,
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn arrivals_count_and_the_last_trips() {
        let w = AtomicU32::new(0);
        assert_eq!(
            arrive(&w, 3, |_, _| {}),
            Arrival::Waiting {
                index: 0,
                generation: 0
            }
        );
        assert_eq!(
            arrive(&w, 3, |_, _| {}),
            Arrival::Waiting {
                index: 1,
                generation: 0
            }
        );
        assert_eq!(
            arrive(&w, 3, |_, _| {}),
            Arrival::Leader {
                index: 2,
                generation: 0
            }
        );
        assert_eq!(
            State::of(w.load(Ordering::Relaxed)),
            State {
                arrived: 0,
                generation: 1,
                broken: false
            }
        );
        assert_eq!(wait(&w, 0, None), Wake::Moved);
    }

    #[test]
    fn broken_stays_broken_until_reset_and_generations_wrap() {
        let w = AtomicU32::new(GEN | 1);
        assert!(break_generation(&w, Some(generation(GEN))));
        assert!(!break_generation(&w, None));
        assert_eq!(arrive(&w, 3, |_, _| {}), Arrival::Broken);
        assert_eq!(wait(&w, generation(GEN), None), Wake::Broken);
        assert_eq!(reset(&w, |_| {}), 0, "the generation wraps");
        assert_eq!(State::of(w.load(Ordering::Relaxed)).arrived, 0);
        let d = futex::deadline_after(std::time::Duration::from_millis(2));
        assert_eq!(wait(&w, 0, Some(&d)), Wake::TimedOut);
        assert!(!break_generation(&w, Some(5)), "another generation");
    }
}
