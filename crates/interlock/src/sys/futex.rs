//! The seam between the lock word (layer 1) and the platform: the only part of `sys` that
//! `word.rs` uses. Three items on `&AtomicU32`, like std's `futex_wait(futex, expected,
//! timeout)`: [`wait`], [`wake_one`], [`wake_all`] (an `Event`'s set, a `Barrier`'s trip) and the absolute [`Deadline`] they share — the kernel's
//! futex (`sys/linux/futex.rs`), or under loom an emulation (`sys/loom_shim.rs`), so that
//! `word/model.rs` checks the word's protocol with loom.

/// Why a [`wait`] returned. Spurious wake-ups are reported as `Woken`: callers always re-check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WaitOutcome {
    /// Woken by a wake-up (or spuriously).
    Woken,
    /// Never slept (the word had already changed) or interrupted by a signal: not chosen by
    /// any wake-up.
    Changed,
    /// The deadline passed.
    TimedOut,
}

/// The most words one [`wait_any`] sleeps on (the kernel's `FUTEX_WAITV_MAX`).
pub(crate) const WAIT_ANY_MAX: usize = 128;

#[cfg(all(test, loom))]
pub(crate) use super::loom_shim::{deadline_after, wait, wake_all, wake_one, Deadline};

#[cfg(all(not(all(test, loom)), target_os = "linux"))]
pub(crate) use super::linux::futex::{deadline_after, wait, wake_all, wake_one, Deadline};

/// A semaphore's sleep on several permit words at once (`futex_waitv`, Linux 5.16+): until
/// any of `words` is woken, any differs from its expected value, or `deadline`. `None` when
/// the kernel has no `futex_waitv` (`ENOSYS`, remembered: later calls return `None` at once);
/// the caller then sleeps on one word with [`wait`]. At most [`WAIT_ANY_MAX`] words.
#[cfg(all(test, loom))]
pub(crate) use super::loom_shim::wait_any;

#[cfg(all(not(all(test, loom)), target_os = "linux"))]
pub(crate) use super::linux::futex::wait_any;
