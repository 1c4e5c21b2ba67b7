//! Mutual exclusion between processes — and the threads inside them — that a crashed holder
//! cannot wedge: Python's `multiprocessing.Lock` and `RLock`, done with a robust futex.
//!
//! A [`Lock`] is one 32-bit futex word in shared memory, in the kernel's robust-futex format:
//! taking it uncontended is one compare-exchange, releasing it another, no system call. When a
//! holder dies, the kernel marks the word and wakes a waiter, which gets the lock together with
//! the news ([`LockGuard::previous_owner_died`]). Every lock also records who holds it, since
//! when, how often it was taken ([`LockGuard::token`], a fencing token) and how often an owner
//! died ([`Lock::status`]).
//!
//! ```
//! use interlock::Lock;
//!
//! let lock = Lock::new()?; // created in the parent ...
//! match unsafe { libc::fork() } {
//!     0 => {
//!         // ... used by the child
//!         let guard = lock.lock().unwrap();
//!         drop(guard);
//!         unsafe { libc::_exit(0) };
//!     }
//!     child => {
//!         let guard = lock.lock()?;
//!         drop(guard);
//!         let mut status = 0;
//!         unsafe { libc::waitpid(child, &mut status, 0) };
//!         assert!(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0);
//!     }
//! }
//! # Ok::<(), interlock::Error>(())
//! ```
//!
//! # The types by use
//!
//! - Make or find any handle: [`Lock`], [`RLock`], [`LockTable`], [`Value`] — each with one
//!   builder, [`Options`] (`Lock::options().fair(true).timestamps(true).open("name")`), whose
//!   [`create`](Options::create) / [`open`](Options::open) / [`open_path`](Options::open_path) /
//!   [`from_env`](Options::from_env) every handle shares, and the shortcuts for the defaults:
//!   `new()`, `open(name)`, `open_path(path, mode)`, `from_env(var)`. [`Primitive`] names them
//!   all in generic code.
//! - Share with children: [`Lock::new`] / [`RLock::new`], then `fork`, or [`Lock::pass_to`] and
//!   [`Lock::from_env`] for spawned programs.
//! - Meet by name: [`Lock::open`] (private to the user), [`Lock::open_path`] (shared between
//!   users, explicitly); [`namespace`]`::{`[`list`](namespace::list),
//!   [`status`](namespace::status), [`remove_unheld`](namespace::remove_unheld),
//!   [`remove`](namespace::remove)`}` for the namespace as a whole.
//! - Lock any file, side by side with flock(1) users of it: [`FileLock`] (a `touch`ed lock
//!   file, a data file, a directory; never written); [`path`]`::{`[`status`](path::status),
//!   [`remove_unheld`](path::remove_unheld), [`remove`](path::remove)`}`.
//! - Hold: [`LockGuard`], [`RLockGuard`], [`ValueGuard`], [`FileLockGuard`]; inspect:
//!   [`LockStatus`], [`Holder`], [`PathStatus`], [`FlockEntry`], [`Kind`].
//! - Share resources: [`Value`] (plain data in shared memory beside its lock), [`SharedFile`]
//!   (crash-safe read-modify-write of a file), [`LogWriter`]
//!   (whole lines from many processes, never interleaved).
//! - No silent deadlocks: [`deadlock`]`::{`[`timeout`](deadlock::timeout),
//!   [`set_timeout`](deadlock::set_timeout), [`wait_graph`](deadlock::wait_graph),
//!   [`cycles`](deadlock::cycles)`}`; a cycle's chosen waiter gets [`Error::Deadlock`].
//! - Fail clearly: [`Error`], [`SegmentFault`], [`NamespaceFault`].
//!
//! # Platform
//!
//! Linux (the robust futex list is a Linux interface). Other targets fail to compile with a
//! message saying so.
#![deny(unsafe_code)]
#![doc(test(no_crate_inject))]

// Linux only: on any other target the build stops here, with one sentence, and every item
// below is compiled on Linux alone, so that no cascade of errors about missing Linux interfaces
// follows it.
#[cfg(not(target_os = "linux"))]
compile_error!(
    "interlock-ipc works on Linux only: its locks are futex words on the kernel's robust futex \
     list, which only Linux has"
);

#[cfg(all(target_os = "linux", not(all(test, loom))))]
pub mod deadlock;
#[cfg(all(target_os = "linux", feature = "fuzzing", not(all(test, loom))))]
#[doc(hidden)]
pub mod fuzzing;
#[cfg(all(target_os = "linux", not(all(test, loom))))]
mod handles;
#[cfg(all(target_os = "linux", not(all(test, loom))))]
mod locks;
#[cfg(all(target_os = "linux", test, not(loom)))]
mod proptests;
#[cfg(all(target_os = "linux", not(all(test, loom))))]
mod resources;
#[cfg(all(target_os = "linux", not(all(test, loom))))]
mod shm;
#[cfg(target_os = "linux")]
mod sync;
#[cfg(target_os = "linux")]
mod sys;
#[cfg(all(target_os = "linux", not(all(test, loom))))]
mod types;
#[cfg(target_os = "linux")]
mod word;

#[cfg(all(target_os = "linux", not(all(test, loom))))]
pub use crate::handles::{namespace, path};

/// The repository's README, whose Rust examples `cargo test --doc` compiles (and runs, unless
/// marked `no_run`: those that fork, loop or use the namespace): issue 15's examples of every
/// primitive had never been compiled. Fragments that use the reader's own variables or another
/// crate are marked `ignore`. Compiled for doc tests only (the packaged crate has no such file).
#[cfg(all(target_os = "linux", doctest))]
#[doc = include_str!("../../../README.md")]
pub struct ReadmeExamples;

// Issue 15: the reader-writer lock.
#[cfg(all(target_os = "linux", not(all(test, loom))))]
pub use crate::{
    locks::rwlock::{RwLock, RwLockConfig, RwLockReadGuard, RwLockWriteGuard},
    types::{ReaderStatus, RwLockStatus, RwPolicy},
};

// Issue 15: Event and Barrier.
#[cfg(all(target_os = "linux", not(all(test, loom))))]
pub use crate::{
    locks::barrier::{Barrier, BarrierWaitResult},
    locks::event::Event,
    types::{BarrierBreak, BarrierStatus, EventStatus},
};

// Issue 15: Condition.
#[cfg(all(target_os = "linux", not(all(test, loom))))]
pub use crate::{
    locks::condition::{Condition, ConditionGuard, ConditionLock, WaitTimeoutResult},
    types::ConditionStatus,
};

// Issue 15: what a `Value` of a user's own type needs, without a bytemuck dependency of its own.
#[cfg(all(target_os = "linux", not(all(test, loom))))]
pub use crate::resources::value::ValueType;
/// The [`bytemuck`](https://docs.rs/bytemuck) crate (1.x), re-exported so that its derives work
/// in a crate that does not depend on it: `#[bytemuck(crate = "interlock::bytemuck")]`.
///
/// # Examples
///
/// ```
/// #[derive(Clone, Copy, interlock::Pod, interlock::Zeroable)]
/// #[bytemuck(crate = "interlock::bytemuck")]
/// #[repr(C)]
/// struct Pair {
///     a: u32,
///     b: u32,
/// }
///
/// let bytes = interlock::bytemuck::bytes_of(&Pair { a: 1, b: 2 });
/// assert_eq!(bytes.len(), 8);
/// ```
#[cfg(all(target_os = "linux", not(all(test, loom))))]
pub use bytemuck;
#[cfg(all(target_os = "linux", not(all(test, loom))))]
pub use bytemuck::{AnyBitPattern, CheckedBitPattern, NoUninit, Pod, Zeroable};

#[cfg(all(target_os = "linux", not(all(test, loom))))]
pub use crate::{
    handles::{
        command::{kill_with_parent, GroupChild},
        file_lock::{FileLock, FileLockGuard, FlockEntry, PathStatus},
        options::Options,
    },
    // Issue 15: the semaphore.
    locks::semaphore::{BoundedSemaphore, Permit, Semaphore, SemaphoreConfig},
    locks::{
        lock::{Lock, LockGuard},
        primitive::Primitive,
        rlock::{RLock, RLockGuard},
        table::LockTable,
    },
    resources::{
        file::{Format, SharedFile, Update},
        log::LogWriter,
        value::{Value, ValueGuard, MAX_VALUE_SIZE},
    },
    types::{
        CycleMember, Error, GroupState, Holder, Kind, LockStatus, NamespaceFault, Owner,
        ProcessGroup, SegmentFault, WaitEdge,
    },
    types::{PermitStatus, SemaphoreStatus},
};
