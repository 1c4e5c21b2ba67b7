//! What the wait-for graph shows: who waits for whom, and the cycles among them.

use std::time::Duration;

/// One thread in a deadlock cycle: who it is, the lock it waits for, who holds that lock.
///
/// `#[non_exhaustive]`: it may gain fields (what a new primitive's waiter waits for).
///
/// # Examples
///
/// ```
/// for cycle in interlock::deadlock::cycles()? {
///     for member in &cycle {
///         println!("pid {} waits for {} held by tid {}", member.pid, member.waits_for, member.held_by);
///     }
/// }
/// # Ok::<(), interlock::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct CycleMember {
    /// The waiting process.
    pub pid: u32,
    /// The waiting thread.
    pub tid: u32,
    /// The lock it waits for: a lock name when it is a named lock of this namespace, else
    /// `dev:inode[index]`.
    pub waits_for: String,
    /// The thread holding that lock (the next member of the cycle).
    #[cfg_attr(feature = "serde", serde(rename = "held_by_tid"))]
    pub held_by: u32,
}

/// One edge of the wait-for graph: a thread blocked longer than the deadlock timeout, the
/// lock it waits for and the thread holding it (as the waiter last saw it, within 25 ms).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct WaitEdge {
    /// The waiting process.
    pub pid: u32,
    /// The waiting thread.
    pub tid: u32,
    /// The lock it waits for (a name, or `dev:inode[index]`; see [`CycleMember::waits_for`]).
    pub waits_for: String,
    /// The thread holding that lock (0: being handed over).
    #[cfg_attr(feature = "serde", serde(rename = "held_by_tid"))]
    pub held_by: u32,
    /// How long it has waited.
    #[cfg_attr(
        feature = "serde",
        serde(rename = "waited_ms", serialize_with = "super::ser::millis")
    )]
    pub waited: Duration,
}
