//! Layer 6: the shared resources a lock protects — a value in shared memory beside its lock,
//! a file updated crash-safely under a lock, whole log lines from many processes.

pub(crate) mod file;
pub(crate) mod log;
pub(crate) mod value;
