//! The wait/wake seam as loom sees it: no kernel, so `wait` is a re-check plus a yield (loom's
//! documented way to model a blocking wait) and `wake_one` has nothing to do.

use super::WaitOutcome;
use crate::sync::{AtomicU32, Ordering};

/// Loom models no clock: a deadline never passes.
#[derive(Debug)]
pub(crate) struct Deadline;

pub(crate) fn wait(word: &AtomicU32, expected: u32, _deadline: Option<&Deadline>) -> WaitOutcome {
    if word.load(Ordering::Relaxed) == expected {
        loom::thread::yield_now();
    }
    WaitOutcome::Woken
}

pub(crate) fn wake_one(_word: &AtomicU32) {}
