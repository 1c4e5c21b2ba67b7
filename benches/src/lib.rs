//! Benchmarks for interlock, with its peers measured side by side in one run.
//!
//! - `cargo bench -p interlock-bench --bench uncontended`: criterion micro benchmarks of an
//!   uncontended lock+unlock (interlock's `Lock` and `RLock`, a bare futex, glibc's pthread
//!   mutexes).
//! - `cargo run -p interlock-bench --release --bin mp -- --help`: the multi-process harness —
//!   uncontended cost, contended throughput and recovery after a SIGKILLed holder, one Markdown
//!   table per workload, each with a ratio column against the lower bound (`futex`) or the
//!   robust reference (`pthread-robust`).
//!
//! Every competitor implements one small trait, [`Competitor`], in the manner of parking_lot's
//! `benchmark/src/bin/mutex.rs`: created before `fork` in memory the children share, attached
//! once per process, then `lock(f)`.
//!
//! # Safety
//!
//! `unsafe` here is the OS's: glibc's `pthread_mutex_*` and `sem_*` on objects in shared
//! memory, and `fcntl(F_OFD_SETLKW)` (rustix wraps only process-associated `F_SETLKW`)
//! ([`peers`]), and `gnu_get_libc_version` ([`machine`]). Each block carries its `SAFETY:`.
//! Forks, pipes and the shared mappings themselves come from the workspace's test kit
//! (`interlock-testkit`).

pub mod futex;
pub mod harness;
pub mod machine;
pub mod peers;
pub mod plot;
pub mod python;
pub mod report;
pub mod robust_futex;
pub mod run;
// Issue 15: reader-writer locks.
pub mod rwlock;
pub mod stats;

pub use peers::Competitor;

/// `n` iterations of work the optimiser cannot remove: the "work inside / outside the critical
/// section" knob of parking_lot's harness.
#[inline]
pub fn work(n: u32) {
    for i in 0..n {
        std::hint::black_box(i);
    }
}
