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

/// Gives the CPU to another runnable thread, if there is one (`sched_yield`); returns at once
/// otherwise. (Under loom the spin limit is 0, so the step-aside that calls it never runs.)
#[inline]
pub(crate) fn yield_cpu() {
    std::thread::yield_now();
}

/// A `SeqCst` fence right after an atomic read-modify-write of the calling thread (an
/// `RwLock`'s Dekker pairing: take one word, then look at another; `word/rwlock.rs`).
///
/// On x86-64 every atomic read-modify-write is a `lock`-prefixed instruction, which the
/// processor never lets a later load pass (Intel SDM vol. 3, 8.2.2: loads are not reordered
/// with locked instructions), so the fence would be a second full barrier in a row (`lock or`
/// on the stack, about 5 ns on the project's VM, a quarter of an uncontended read): only the
/// compiler is fenced there. Everywhere else, and under loom (which checks the pairing with
/// the real fence, and fails without it), it is `fence(SeqCst)`.
#[inline(always)]
pub(crate) fn fence_after_rmw() {
    #[cfg(all(target_arch = "x86_64", not(all(test, loom))))]
    std::sync::atomic::compiler_fence(Ordering::SeqCst);
    #[cfg(not(all(target_arch = "x86_64", not(all(test, loom)))))]
    fence(Ordering::SeqCst);
}

/// Whether the planted mutation `name` is on (issue 18). Only in the loom build, where
/// `INTERLOCK_LOOM_MUTANT=name` turns it on, so that each loom model can be shown to fail on
/// the mutation it is meant to catch (`word/model.rs`, `model_every_mutant_is_caught`, and
/// decision 0030's table); everywhere else a constant `false` the compiler removes.
#[inline(always)]
pub(crate) fn mutant(name: &str) -> bool {
    #[cfg(all(test, loom))]
    {
        static ON: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
        ON.get_or_init(|| std::env::var("INTERLOCK_LOOM_MUTANT").ok())
            .as_deref()
            == Some(name)
    }
    #[cfg(not(all(test, loom)))]
    {
        let _ = name;
        false
    }
}
