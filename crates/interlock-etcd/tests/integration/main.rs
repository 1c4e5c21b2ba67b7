//! interlock-etcd against real etcd members on 127.0.0.1, one cluster per test (spawned and
//! killed by pid: `interlock_testkit::EtcdCluster`), and real client processes (the test
//! binary re-run in a role). Waiting for a lease to lapse is time-based by nature: those waits
//! are bounded by the TTL (2 s here) plus a margin, and say so.

mod common;
/// A TCP proxy a test can cut.
mod proxy;

/// One calling code for both backends.
mod any;
/// Cancel-safety of the async API.
mod cancel;
/// The guard contract: tokens, try_lock, timeouts, re-lock, status and list.
mod contract;
/// Many processes × many increments; a SIGKILLed and a SIGSTOPped holder; a waiter whose
/// lease lapsed.
mod crash;
/// Bad input: unreachable endpoints, a silent server, invalid names.
mod errors;
/// Faults: a client cut off, the leader member killed, two of three members stopped.
mod faults;
