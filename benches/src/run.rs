//! One run of a loop workload: its knobs ([`Params`]) and what it measured ([`Run`]). The data
//! that the harness (Rust competitors), the `python` row and the reports share, so that none of
//! them imports another for it.

use std::time::Duration;

#[cfg(doc)]
use crate::work;

/// The knobs of one run.
#[derive(Debug, Clone, Copy)]
pub struct Params {
    /// Iterations of [`work`] inside the critical section.
    pub inside: u32,
    /// Iterations of [`work`] between sections.
    pub outside: u32,
    /// How long a run lasts.
    pub duration: Duration,
}

/// What one run of a loop workload measured.
#[derive(Debug, Clone)]
pub struct Run {
    /// Lock+unlock operations per process.
    pub ops: Vec<u64>,
    /// Each process's own time between start and seeing the stop flag.
    pub elapsed: Vec<Duration>,
    /// The parent's window between "start" and "stop".
    pub window: Duration,
    /// Contended runs: each process's 99th percentile of the time `lock` took to get the lock,
    /// sampled every [`WAIT_SAMPLE_EVERY`]th acquisition (empty when not measured).
    pub wait_p99: Vec<Duration>,
}

/// Contended runs time one acquisition in this many: two clock reads per sample would
/// otherwise be a visible part of a 25 ns lock+unlock.
pub const WAIT_SAMPLE_EVERY: u64 = 64;

impl Run {
    /// All processes' operations.
    pub fn total(&self) -> u64 {
        self.ops.iter().sum()
    }

    /// Nanoseconds per operation of a one-process run, on its own clock.
    pub fn ns_per_op(&self) -> f64 {
        self.elapsed[0].as_nanos() as f64 / self.ops[0].max(1) as f64
    }

    /// Operations per second over the parent's window.
    pub fn ops_per_sec(&self) -> f64 {
        self.total() as f64 / self.window.as_secs_f64()
    }

    /// The worst process's 99th-percentile wait, if measured.
    pub fn worst_wait_p99(&self) -> Option<Duration> {
        self.wait_p99.iter().max().copied()
    }

    /// The busiest process's operations over the idlest's (1 is perfectly fair; infinite when
    /// a process got nothing).
    pub fn share_ratio(&self) -> f64 {
        let max = *self.ops.iter().max().unwrap_or(&0) as f64;
        let min = *self.ops.iter().min().unwrap_or(&0) as f64;
        if min == 0.0 {
            f64::INFINITY
        } else {
            max / min
        }
    }

    /// The largest and smallest per-process shares of all operations, in percent.
    pub fn shares(&self) -> (f64, f64) {
        let total = self.total().max(1) as f64;
        let pct = |n: u64| 100.0 * n as f64 / total;
        (
            pct(*self.ops.iter().max().unwrap_or(&0)),
            pct(*self.ops.iter().min().unwrap_or(&0)),
        )
    }
}
