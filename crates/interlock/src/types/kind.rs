//! What a segment holds: the kinds of lock (and of shared memory) interlock makes.

use std::fmt;

/// What a segment holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// A non-recursive [`Lock`](crate::Lock).
    Lock,
    /// A recursive [`RLock`](crate::RLock).
    RLock,
    /// A [`Value`](crate::Value) in shared memory with its lock.
    Value,
    /// A fair [`Lock`](crate::Lock) ([`Lock::new_fair`](crate::Lock::new_fair)): a release
    /// with sleepers hands the lock to the longest sleeper.
    FairLock,
    /// A [`LockTable`](crate::LockTable): many locks, one 128-byte record each, in one segment.
    LockTable,
    /// The namespace's registry of blocked waiters, for deadlock detection (not a lock).
    WaitRegistry,
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Kind::Lock => "Lock",
            Kind::RLock => "RLock",
            Kind::Value => "Value",
            Kind::FairLock => "FairLock",
            Kind::LockTable => "LockTable",
            Kind::WaitRegistry => "WaitRegistry",
        })
    }
}
