//! The wait/wake seam (`sys/futex.rs`) as loom sees it: no kernel, so a futex is emulated the
//! way the kernel implements one — a bucket lock, a value check under it, and a condition
//! variable.

use loom::sync::{Condvar, Mutex};

use super::futex::WaitOutcome;
use crate::sync::{AtomicU32, Ordering};

/// Loom models no clock: a deadline never passes.
#[derive(Debug)]
pub(crate) struct Deadline;

pub(crate) fn deadline_after(_: std::time::Duration) -> Deadline {
    Deadline
}

/// The bucket's queue: threads asleep, and wake-ups given but not yet taken (the kernel takes
/// a woken waiter off the queue at the wake, so a second wake does not count it again).
struct Queue {
    asleep: u32,
    woken: u32,
    /// Wake-alls so far: a sleeper that went to sleep before one is woken by it, and a
    /// sleeper that comes later cannot take its place (as it could take a `woken` token).
    epoch: u32,
    /// A model thread waits in [`wait_until_asleep`]: each sleeper that queues tells it.
    watched: bool,
}

loom::lazy_static! {
    /// One hash bucket for every word in the model, like a kernel with one futex bucket.
    static ref BUCKET: (Mutex<Queue>, Condvar) =
        (Mutex::new(Queue { asleep: 0, woken: 0, epoch: 0, watched: false }), Condvar::new());
}

pub(crate) fn wait(word: &AtomicU32, expected: u32, _deadline: Option<&Deadline>) -> WaitOutcome {
    let (lock, cv) = &*BUCKET;
    let mut q = lock.lock().unwrap();
    // FUTEX_WAIT: sleep only if the word still holds `expected`, checked under the bucket lock.
    if word.load(Ordering::Relaxed) != expected {
        return WaitOutcome::Changed;
    }
    q.asleep += 1;
    if q.watched {
        cv.notify_all();
    }
    let epoch = q.epoch;
    while q.woken == 0 {
        if q.epoch != epoch {
            return WaitOutcome::Woken;
        }
        q = cv.wait(q).unwrap();
    }
    q.woken -= 1;
    WaitOutcome::Woken
}

/// `futex_waitv`: one bucket holds every word, so this is [`wait`] with every word checked
/// under the bucket lock — woken by a wake of any of them, as the kernel's is.
pub(crate) fn wait_any(words: &[(&AtomicU32, u32)], _deadline: &Deadline) -> Option<WaitOutcome> {
    let (lock, cv) = &*BUCKET;
    let mut q = lock.lock().unwrap();
    if words
        .iter()
        .any(|&(w, expected)| w.load(Ordering::Relaxed) != expected)
    {
        return Some(WaitOutcome::Changed);
    }
    q.asleep += 1;
    if q.watched {
        cv.notify_all();
    }
    let epoch = q.epoch;
    while q.woken == 0 {
        if q.epoch != epoch {
            return Some(WaitOutcome::Woken);
        }
        q = cv.wait(q).unwrap();
    }
    q.woken -= 1;
    Some(WaitOutcome::Woken)
}

/// FUTEX_WAKE of one: whether a sleeper was woken.
pub(crate) fn wake_one(_word: &AtomicU32) -> bool {
    let (lock, cv) = &*BUCKET;
    let mut q = lock.lock().unwrap();
    if q.asleep == 0 {
        return false;
    }
    q.asleep -= 1;
    q.woken += 1;
    cv.notify_all();
    true
}

/// FUTEX_WAKE of all: how many sleepers were woken.
pub(crate) fn wake_all(_word: &AtomicU32) -> u32 {
    let (lock, cv) = &*BUCKET;
    let mut q = lock.lock().unwrap();
    // Every sleeper (those holding a `woken` token too) is woken by the new epoch.
    let n = q.asleep + q.woken;
    q.asleep = 0;
    q.woken = 0;
    q.epoch = q.epoch.wrapping_add(1);
    cv.notify_all();
    n
}

/// For a model: blocks until `n` threads are asleep (queued, not yet woken) — a start gate
/// that lets a model begin from "every sleeper asleep" without a spin loop's branches.
pub(crate) fn wait_until_asleep(n: u32) {
    let (lock, cv) = &*BUCKET;
    let mut q = lock.lock().unwrap();
    q.watched = true;
    while q.asleep < n {
        q = cv.wait(q).unwrap();
    }
    q.watched = false;
}
