//! Layer 2: the platform. One `cfg` ladder picks the implementation; every branch offers the same
//! functions, so the layers above never name an OS.
//!
//! The seam the lock word uses is three items, like std's `futex_wait(futex, expected, timeout)`:
//! [`wait`], [`wake_one`] and the absolute [`Deadline`] they share.

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

#[cfg(all(test, loom))]
mod loom_shim;
#[cfg(all(test, loom))]
pub(crate) use loom_shim::*;

#[cfg(all(not(all(test, loom)), target_os = "linux"))]
mod linux;
#[cfg(all(not(all(test, loom)), target_os = "linux"))]
pub(crate) use linux::*;

#[cfg(all(not(all(test, loom)), target_os = "linux"))]
mod group;
#[cfg(all(not(all(test, loom)), target_os = "linux"))]
pub(crate) use group::*;

#[cfg(not(all(test, loom)))]
mod user;
#[cfg(not(all(test, loom)))]
pub(crate) use user::user_name;

#[cfg(all(not(all(test, loom)), not(target_os = "linux")))]
compile_error!(
    "interlock needs Linux: its locks are futex words on the kernel's robust list. \
     A portable flock(2) backend is planned; see docs/decisions/0001-robustness-mechanism.md."
);
