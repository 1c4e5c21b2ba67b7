//! Layer 2: the platform. One `cfg` ladder picks the implementation; every branch offers the same
//! functions, so the layers above never name an OS.
//!
//! The lock word (layer 1) uses only the wait/wake seam, [`futex`]: `wait`, `wake_one` and the
//! absolute `Deadline` they share. Everything else here — thread identity, the robust list,
//! liveness, spawn hooks, process groups, user names — is for layers 3 and up.

pub(crate) mod futex;

#[cfg(all(test, loom))]
pub(crate) mod loom_shim;

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
