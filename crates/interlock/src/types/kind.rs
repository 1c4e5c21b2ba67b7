//! What a handle's segment holds: the kinds of lock (and of shared memory) interlock makes.

use std::fmt;

/// What a segment holds: which handle opens it.
///
/// `#[non_exhaustive]`: new primitives add kinds (match with a `_` arm). Interlock's own
/// internal files (the namespace's wait registry) are no handle and have no `Kind`.
///
/// # Examples
///
/// ```
/// use interlock::{Kind, Lock};
///
/// assert_eq!(Lock::new()?.status().kind, Kind::Lock);
/// assert_eq!(Lock::new_fair()?.status().kind, Kind::FairLock);
/// assert_eq!(Kind::FairRLock.to_string(), "FairRLock");
/// # Ok::<(), interlock::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Kind {
    /// A non-recursive [`Lock`](crate::Lock).
    Lock,
    /// A recursive [`RLock`](crate::RLock).
    RLock,
    /// A [`Value`](crate::Value) in shared memory with its lock.
    Value,
    /// A fair [`Lock`](crate::Lock) ([`Lock::new_fair`](crate::Lock::new_fair)): a release with
    /// sleepers hands the lock to the longest sleeper.
    FairLock,
    /// A [`LockTable`](crate::LockTable): many locks, one 128-byte record each, in one segment.
    LockTable,
    /// A fair [`RLock`](crate::RLock).
    FairRLock,
    /// A [`Semaphore`](crate::Semaphore): one 128-byte record per permit, each a robust lock
    /// word, in one segment.
    Semaphore,
    /// An [`Event`](crate::Event): a flag processes wait for.
    Event,
    /// A [`Barrier`](crate::Barrier): n parties wait for each other.
    Barrier,
    // Issue 15: Condition.
    /// A [`Condition`](crate::Condition): processes wait, bound to a lock, until notified.
    Condition,
    /// An [`RwLock`](crate::RwLock): many readers or one writer; a writer's record, then one
    /// 128-byte record per reader slot, each a robust lock word, in one segment.
    RwLock,
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Kind::Lock => "Lock",
            Kind::RLock => "RLock",
            Kind::Value => "Value",
            Kind::FairLock => "FairLock",
            Kind::LockTable => "LockTable",
            Kind::FairRLock => "FairRLock",
            Kind::Semaphore => "Semaphore",
            Kind::Event => "Event",
            Kind::Barrier => "Barrier",
            Kind::Condition => "Condition",
            Kind::RwLock => "RwLock",
        })
    }
}
