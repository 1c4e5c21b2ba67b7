//! Layer 5: the handles — how a lock's memory is found or made (anonymous, named, at a path,
//! inherited by a spawned program), the named locks of a namespace as a whole, running a
//! command as a process group while holding a lock, and `FileLock` on any file.

pub(crate) mod command;
pub(crate) mod file_lock;
pub(crate) mod inherit;
pub(crate) mod namespace;
pub(crate) mod open;
pub(crate) mod options;
