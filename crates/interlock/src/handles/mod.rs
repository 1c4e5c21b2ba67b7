//! Layer 5: the handles — how a lock's memory is found or made (anonymous, named, at a path,
//! inherited by a spawned program: `open.rs`, `inherit.rs`) and the one builder over it
//! (`options.rs`); the named locks of a namespace as a whole (`namespace.rs`) and the locks at
//! paths (`path.rs`), both public modules; running a command as a process group while holding
//! a lock (`command.rs`); and `FileLock` on any file (`file_lock.rs`).

pub(crate) mod command;
pub(crate) mod file_lock;
pub(crate) mod inherit;
pub mod namespace;
pub(crate) mod open;
pub(crate) mod options;
pub mod path;
