//! interlock's guards over an etcd v3 cluster: when a program outgrows one machine, the same
//! calls — `lock`, `try_lock`, `lock_timeout`, a fencing [`token`](EtcdGuard::token), "the
//! previous owner died" — with a lease standing in for the process.
//!
//! The lock algorithm is the one of etcd's own `concurrency` package, on the client (the
//! server's lock service in 3.4 has pitfalls: a lock without a lease lapses after 60 s, a
//! waiter whose lease lapsed is told it holds the lock, and the same lease re-locking is a
//! no-op): each client queues one key per lock under its lease; a waiter watches the key just
//! ahead of its own until it is deleted, then confirms its own key still exists. The key's
//! create revision is the fencing token. A holder's release records itself in the lock's
//! owner record, so the next holder can tell a release from a lapse
//! ([`EtcdGuard::previous_owner_died`]). The module docs of [`EtcdLock`] give the keys.
//!
//! ```no_run
//! use std::time::Duration;
//! use interlock_etcd::{EtcdClient, EtcdLock, EtcdOptions};
//!
//! let client = EtcdClient::connect(
//!     EtcdOptions::parse("10.0.0.1:2379,10.0.0.2:2379,10.0.0.3:2379").ttl(Duration::from_secs(10)),
//! )?;
//! let lock = EtcdLock::new(&client, "nightly-backup")?;
//! let guard = lock.lock_timeout(Duration::from_secs(60))?;
//! if guard.previous_owner_died() {
//!     // the last backup was cut short
//! }
//! let token = guard.token(); // pass it to the storage, which refuses older tokens
//! # let _ = token;
//! # Ok::<(), interlock_etcd::Error>(())
//! ```
//!
//! # The types by use
//!
//! - Connect: [`EtcdOptions`] (endpoints, TTL, prefix, time limits), [`EtcdClient`] (blocking,
//!   with a runtime of its own, or on the caller's tokio runtime).
//! - Lock: [`EtcdLock`] (`lock`, `try_lock`, `lock_timeout`, and `…_async`), [`EtcdGuard`]
//!   (`token`, `previous_owner_died`, `lease_lost`, `lease_lost_signal`, `unlock`);
//!   [`EtcdRLock`], [`EtcdRLockGuard`] (recursive: the depth counted on the client).
//! - Choose the backend at run time: [`AnyLock`], [`AnyGuard`].
//! - Inspect: [`status()`], [`list()`] ([`EtcdStatus`], [`EtcdHolder`]).
//! - Fail clearly: [`Error`].
//!
//! # What is guaranteed
//!
//! While a hold's lease lives, no other client holds the lock. A holder that stops renewing
//! (killed, paused, cut off) loses it after at most the TTL, and the next holder is told. A
//! paused holder cannot know it was paused until it runs again, so exclusion in *time* is not
//! guaranteed across a lapse: what the lock protects must check [`EtcdGuard::token`] (fencing).
//! There is no cross-machine deadlock detection.
#![deny(unsafe_code)]
#![doc(test(no_crate_inject))]

mod any;
mod client;
mod error;
mod lock;
mod record;
mod rlock;
mod status;

pub use any::{AnyGuard, AnyLock};
pub use client::{EtcdClient, EtcdOptions};
pub use error::Error;
pub use lock::{EtcdGuard, EtcdLock};
pub use rlock::{EtcdRLock, EtcdRLockGuard};
pub use status::{list, list_async, status, status_async, EtcdHolder, EtcdStatus};
