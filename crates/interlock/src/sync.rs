//! The only place atomics come from: `std` normally, `loom` when the lock word is model-checked.
//!
//! Under `cfg(all(test, loom))` only the lock-word layer is compiled (see `lib.rs`), so the loom
//! types never meet shared memory; everywhere else these are the std types that live in segments.

#[cfg(all(test, loom))]
pub(crate) use loom::sync::atomic::{fence, AtomicU32, AtomicU64, Ordering};

#[cfg(not(all(test, loom)))]
pub(crate) use std::sync::atomic::{compiler_fence, fence, AtomicU32, AtomicU64, Ordering};

/// Spin-loop hint. (Under loom the spin limit is 0, so this never runs there.)
#[inline]
pub(crate) fn spin_hint() {
    std::hint::spin_loop();
}
