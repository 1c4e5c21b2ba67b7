//! Layer 4: the typed locks — a lock record in a mapped segment with everything every lock
//! shares (`raw.rs`: acquisition with owner-death detection, the holder record, release with
//! ownership checks, poison), a hold and how it ends (`guard.rs`), `Lock` and `RLock` and
//! their guards, `LockTable`, the status an observer reads, and the one trait each of them (and
//! every primitive to come) implements so that the builder of layer 5 makes and finds it
//! (`primitive.rs`).
//!
//! How a lock's memory is found or made — anonymous, named, at a path, inherited — is the
//! handles' business (layer 5, `handles/open.rs`): nothing here creates a segment.

pub(crate) mod guard;
pub(crate) mod lock;
pub(crate) mod primitive;
pub(crate) mod raw;
pub(crate) mod rlock;
pub(crate) mod status;
pub(crate) mod table;

// Issue 15: the semaphore.
pub(crate) mod semaphore;
// Issue 15: Event and Barrier.
pub(crate) mod barrier;
pub(crate) mod event;

// Issue 15: Condition.
pub(crate) mod condition;
// Issue 15: the reader-writer lock.
pub(crate) mod rwlock;
