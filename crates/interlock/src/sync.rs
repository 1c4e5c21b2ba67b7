//! The only place atomics come from: `std` normally, `loom` when the lock word is model-checked.
//!
//! Under `cfg(all(test, loom))` only the lock-word layer is compiled (see `lib.rs`), so the loom
//! types never meet shared memory; everywhere else these are the std types that live in segments.

#[cfg(all(test, loom))]
pub(crate) use loom::sync::atomic::{AtomicU32, Ordering};

#[cfg(not(all(test, loom)))]
pub(crate) use std::sync::atomic::{compiler_fence, AtomicU32, AtomicU64, Ordering};

/// Spin-loop hint; under loom a yield so the model lets the other threads run.
#[inline]
pub(crate) fn spin_hint() {
    #[cfg(all(test, loom))]
    loom::thread::yield_now();
    #[cfg(not(all(test, loom)))]
    std::hint::spin_loop();
}
