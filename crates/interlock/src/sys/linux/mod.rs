//! Linux: the platform, one subject a file.
//!
//! | file | what |
//! |---|---|
//! | `futex.rs` | futex wait/wake (the seam's implementation) and clocks |
//! | `thread.rs` | the calling thread's identity, cached; forgotten in forked children |
//! | `robust_list.rs` | joining libc's robust list: link, unlink, `list_op_pending` |
//! | `liveness.rs` | process identity (pidfs inode or start time) and pidfd/`/proc` liveness |
//! | `spawn.rs` | `pre_exec` hooks: a descriptor kept across `exec`, death with the parent |

pub(crate) mod futex;
mod liveness;
mod robust_list;
mod spawn;
mod thread;

pub(crate) use futex::{monotonic_ns, now_coarse_ns};
pub(crate) use liveness::*;
pub(crate) use robust_list::*;
pub(crate) use spawn::*;
pub(crate) use thread::*;
