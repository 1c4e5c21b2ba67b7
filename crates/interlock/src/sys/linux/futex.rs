//! Linux: the futex calls behind the wait/wake seam (`sys/futex.rs`) — always shared, never
//! `FUTEX_PRIVATE_FLAG`, since the word lives in memory other processes map — and the clocks
//! the layers above read.

use std::num::NonZeroU32;
use std::time::Duration;

use rustix::io::Errno;
use rustix::thread::futex;
use rustix::time::{clock_gettime, ClockId, Timespec};

use crate::sync::AtomicU32;
use crate::sys::futex::{WaitOutcome, WAIT_ANY_MAX};

/// Whether `futex_waitv` answered `ENOSYS` once (a kernel older than 5.16): then it never
/// will, and [`wait_any`] says so without asking again.
static NO_WAITV: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// `FUTEX_BITSET_MATCH_ANY`.
const MATCH_ANY: NonZeroU32 = NonZeroU32::MAX;

/// An absolute `CLOCK_MONOTONIC` time, the clock `FUTEX_WAIT_BITSET` measures by default.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Deadline(Timespec);

/// The deadline `d` from now, saturating far in the future.
pub(crate) fn deadline_after(d: Duration) -> Deadline {
    let now = clock_gettime(ClockId::Monotonic);
    let nanos = now.tv_nsec as u64 + u64::from(d.subsec_nanos());
    let secs = (now.tv_sec as u64)
        .saturating_add(d.as_secs())
        .saturating_add(nanos / 1_000_000_000)
        .min(i64::MAX as u64);
    Deadline(Timespec {
        tv_sec: secs as i64,
        tv_nsec: (nanos % 1_000_000_000) as _,
    })
}

/// `syscall(SYS_futex, word, FUTEX_WAIT_BITSET, expected, deadline, NULL, FUTEX_BITSET_MATCH_ANY)`
///
/// Sleeps while `*word == expected`, until woken or the absolute `deadline`. Shared (no
/// `FUTEX_PRIVATE_FLAG`): the word lives in memory other processes map.
///
/// # References
/// - [`futex(2)`](https://man7.org/linux/man-pages/man2/futex.2.html)
pub(crate) fn wait(word: &AtomicU32, expected: u32, deadline: Option<&Deadline>) -> WaitOutcome {
    match futex::wait_bitset(
        word,
        futex::Flags::empty(),
        expected,
        deadline.map(|d| &d.0),
        MATCH_ANY,
    ) {
        Err(Errno::TIMEDOUT) => WaitOutcome::TimedOut,
        Err(Errno::AGAIN | Errno::INTR) => WaitOutcome::Changed,
        // Other errors cannot happen for a valid word; the caller re-checks either way.
        _ => WaitOutcome::Woken,
    }
}

/// `futex_waitv(waiters, n, 0, deadline, CLOCK_MONOTONIC)`, 32-bit shared futexes: sleeps
/// while every `(word, expected)` pair holds, until a wake-up on any word or the absolute
/// `deadline` (the clock `deadline_after` reads). `None` if the kernel has no `futex_waitv`
/// (`ENOSYS`: Linux before 5.16), remembered for later calls. `words` beyond
/// [`WAIT_ANY_MAX`] are not slept on.
///
/// # References
/// - [`futex_waitv(2)`](https://docs.kernel.org/userspace-api/futex2.html)
pub(crate) fn wait_any(words: &[(&AtomicU32, u32)], deadline: &Deadline) -> Option<WaitOutcome> {
    if NO_WAITV.load(std::sync::atomic::Ordering::Relaxed) {
        return None;
    }
    let mut waits = [futex::Wait::new(); WAIT_ANY_MAX];
    let n = words.len().min(WAIT_ANY_MAX);
    for (w, &(word, expected)) in waits.iter_mut().zip(&words[..n]) {
        w.val = u64::from(expected);
        // The kernel only reads the word through this address: it is never written through.
        w.uaddr = futex::WaitPtr::new(word.as_ptr().cast());
        // Shared (no FUTEX2_PRIVATE): the words live in memory other processes map.
        w.flags = futex::WaitFlags::SIZE_U32;
    }
    match futex::waitv(
        &waits[..n],
        futex::WaitvFlags::empty(),
        Some(&deadline.0),
        ClockId::Monotonic,
    ) {
        Err(Errno::NOSYS) => {
            NO_WAITV.store(true, std::sync::atomic::Ordering::Relaxed);
            None
        }
        Err(Errno::TIMEDOUT) => Some(WaitOutcome::TimedOut),
        Err(Errno::AGAIN | Errno::INTR) => Some(WaitOutcome::Changed),
        // As for `wait`: other errors cannot happen for valid words; the caller re-checks.
        _ => Some(WaitOutcome::Woken),
    }
}

/// `syscall(SYS_futex, word, FUTEX_WAKE, 1)`, shared.
///
/// # References
/// - [`futex(2)`](https://man7.org/linux/man-pages/man2/futex.2.html)
pub(crate) fn wake_one(word: &AtomicU32) -> bool {
    // A wake can only fail for a bad address, which a `&AtomicU32` is not.
    futex::wake(word, futex::Flags::empty(), 1).is_ok_and(|woken| woken > 0)
}

/// `syscall(SYS_futex, word, FUTEX_WAKE, INT_MAX)`, shared: wakes every sleeper on `word`
/// (an `Event`'s `set`, a `Barrier`'s trip or break). Returns how many were woken.
///
/// # References
/// - [`futex(2)`](https://man7.org/linux/man-pages/man2/futex.2.html)
pub(crate) fn wake_all(word: &AtomicU32) -> u32 {
    // As for `wake_one`: only a bad address fails, which a `&AtomicU32` is not.
    futex::wake(word, futex::Flags::empty(), i32::MAX as u32).map_or(0, |woken| woken as u32)
}

/// Wall-clock time in nanoseconds since the Unix epoch, from the vDSO's coarse clock (resolution
/// of a scheduler tick, cost of a few loads): good enough for "held since".
#[inline]
pub(crate) fn now_coarse_ns() -> u64 {
    let t = clock_gettime(ClockId::RealtimeCoarse);
    (t.tv_sec as u64)
        .wrapping_mul(1_000_000_000)
        .wrapping_add(t.tv_nsec as u64)
}

/// `CLOCK_MONOTONIC` in nanoseconds (vDSO).
pub(crate) fn monotonic_ns() -> u64 {
    let t = clock_gettime(ClockId::Monotonic);
    (t.tv_sec as u64)
        .wrapping_mul(1_000_000_000)
        .wrapping_add(t.tv_nsec as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deadline_is_in_the_future() {
        // Between the clock read before and the one after, whatever the scheduler did between.
        let ns = |t: Timespec| t.tv_sec as i128 * 1_000_000_000 + t.tv_nsec as i128;
        let before = ns(clock_gettime(ClockId::Monotonic));
        let d = ns(deadline_after(Duration::from_millis(1500)).0);
        let after = ns(clock_gettime(ClockId::Monotonic));
        assert!(
            (before + 1_500_000_000..=after + 1_500_000_000).contains(&d),
            "{before} {d} {after}"
        );
        let far = deadline_after(Duration::MAX);
        assert_eq!(far.0.tv_sec, i64::MAX);
    }
}
