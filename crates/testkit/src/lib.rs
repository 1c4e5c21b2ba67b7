//! The interlock workspace's test kit: what the library's integration tests and the benchmarks
//! need to run real processes against each other (STYLE.md §6). Dev-only, never published.
//!
//! - [`process`]: [`fork`] runs a closure in a forked child that ends in `_exit`; the parent
//!   reaps the [`Forked`] child and asserts how it ended, raw wait status in the message. A
//!   [`Gang`] of children starts together. `/proc` diagnostics for stuck children.
//! - [`pipe`](mod@pipe): [`channel`] carries line messages between a parent and its forked children ("I
//!   hold it", "release it now"); a [`Gate`] holds children at a start line.
//! - [`shm`]: memory shared with forked children: a typed [`Shared<T>`](Shared) or counter
//!   slots ([`SharedMem`], [`bump`]).
//! - [`role`](mod@role): the running test binary re-run as a child in a role (rusty-fork's method),
//!   talking over its stdin and stdout ([`RoleChild`]).
//! - [`etcd`]: a real etcd cluster of 1 or 3 members on 127.0.0.1 for one test
//!   ([`EtcdCluster`]), killed by pid when it drops.
//! - [`names`]: lock names and directories that no other test (or run) uses.
//! - [`skip`]: root-only tests fail in CI and say SKIPPED loudly elsewhere.
//!
//! Nothing here knows interlock: a test crate adds what is its own (kinds of lock, namespaces)
//! around these.
//!
//! Waits are bounded by [`PATIENCE`] unless a caller says otherwise: a stuck child fails the
//! test with what `/proc` shows of it, never hangs it. Tests use these handshakes, never sleeps,
//! to order processes (decision 0015).
//!
//! # Safety
//!
//! `unsafe` here is the OS's: `fork`, `_exit`, `waitpid`, `kill`, `pipe2`, `poll`, `fcntl`,
//! `mmap`/`munmap` and `geteuid`/`gettid`. Each block carries its `SAFETY:`.

use std::time::{Duration, Instant};

pub mod etcd;
pub mod names;
pub mod pipe;
pub mod process;
pub mod role;
pub mod shm;
pub mod skip;

pub use etcd::EtcdCluster;
pub use names::{test_name, unique_name};
pub use pipe::{channel, pipe, Gate, Receiver, Sender};
pub use process::{
    describe_status, fork, gettid, hold_until_killed, proc_diag, start_time, Forked, Gang,
};
pub use role::{hear_from_parent, role, role_command, tell_parent, RoleChild, ROLE_VAR};
pub use shm::{bump, Shared, SharedMem, ShmSafe};
pub use skip::{have_root, loud_skip};

/// How long a test waits for a child's message or exit before calling it stuck. Generous: these
/// are liveness bounds, not performance claims.
pub const PATIENCE: Duration = Duration::from_secs(30);

/// Polls `cond` until it holds or [`PATIENCE`] runs out (then panics with `what`). For waiting on
/// state a test can observe but not be told about (e.g. "a waiter is blocked in `lock()`").
///
/// # Panics
///
/// When `cond` still fails after [`PATIENCE`].
pub fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + PATIENCE;
    while !cond() {
        assert!(
            Instant::now() < deadline,
            "gave up after {PATIENCE:?} waiting until {what}"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
}
