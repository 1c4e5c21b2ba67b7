//! The wait/wake seam as loom sees it: no kernel, so a futex is emulated the way the kernel
//! implements one — a bucket lock, a value check under it, and a condition variable.

use loom::sync::{Condvar, Mutex};

use super::WaitOutcome;
use crate::sync::{AtomicU32, Ordering};

/// Loom models no clock: a deadline never passes.
#[derive(Debug)]
pub(crate) struct Deadline;

pub(crate) fn deadline_after(_: std::time::Duration) -> Deadline {
    Deadline
}

loom::lazy_static! {
    /// One hash bucket for every word in the model, like a kernel with one futex bucket.
    static ref BUCKET: (Mutex<()>, Condvar) = (Mutex::new(()), Condvar::new());
}

pub(crate) fn wait(word: &AtomicU32, expected: u32, _deadline: Option<&Deadline>) -> WaitOutcome {
    let (lock, cv) = &*BUCKET;
    let guard = lock.lock().unwrap();
    // FUTEX_WAIT: sleep only if the word still holds `expected`, checked under the bucket lock.
    if word.load(Ordering::Relaxed) == expected {
        drop(cv.wait(guard).unwrap());
    }
    WaitOutcome::Woken
}

pub(crate) fn wake_one(_word: &AtomicU32) {
    let (lock, cv) = &*BUCKET;
    let _guard = lock.lock().unwrap();
    cv.notify_one();
}
