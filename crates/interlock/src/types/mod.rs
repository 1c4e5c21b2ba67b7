//! The ground floor: the public data every layer above hands back — what a segment holds
//! ([`Kind`]), who holds a lock and what its record says ([`Holder`], [`LockStatus`],
//! [`ProcessGroup`]), the wait-for graph ([`CycleMember`], [`WaitEdge`]) — and the [`Error`]
//! built from them. Data only: nothing here imports from the rest of the crate, so `Error` depends
//! on nothing above it. What needs the system lives with the layer that has it (reading a
//! status from a record: `locks/status.rs`; `ProcessGroup::state`: `handles/command.rs`).

mod cycle;
mod error;
mod kind;
#[cfg(feature = "serde")]
mod ser;
mod status;

pub use cycle::{CycleMember, WaitEdge};
pub use error::{Error, NamespaceFault, Owner, SegmentFault};
pub use kind::Kind;
pub use status::{BarrierBreak, BarrierStatus, EventStatus};
pub use status::{GroupState, Holder, LockStatus, ProcessGroup};
// Issue 15: a semaphore's status.
pub use status::{PermitStatus, SemaphoreStatus};
// Issue 15: Condition.
pub use status::ConditionStatus;
// Issue 15: an RwLock's status.
pub use status::{ReaderStatus, RwLockStatus, RwPolicy};
