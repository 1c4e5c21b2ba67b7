//! `LockTable`: many locks in one segment, 128 bytes each, shared by real processes — each
//! element excludes on its own, recovers on its own, and the file is as small as promised.

use crate::common;

use std::sync::atomic::Ordering;

use common::{bump, channel, fork, in_private_namespace, Forked, SharedMem};
use interlock::{Error, Kind, Lock, LockTable};

/// Four processes increment 64 counters, each under its own lock of the table, in a scrambled
/// order: every counter ends exact, so each element excludes, and elements are independent
/// locks (the run would serialise on one lock otherwise, but stay exact: that is checked by the
/// acquisition counts instead).
#[test]
fn four_processes_keep_sixty_four_counters_exact() {
    const LOCKS: usize = 64;
    const ROUNDS: u64 = 500;
    let table = LockTable::new(LOCKS).unwrap();
    let shm = SharedMem::new(LOCKS);
    let mut children: Vec<Forked> = (0..4u64)
        .map(|p| {
            let (table, shm) = (&table, &shm);
            fork(move || {
                for r in 0..ROUNDS {
                    for k in 0..LOCKS as u64 {
                        let i = ((k * 37 + p * 11 + r) % LOCKS as u64) as usize;
                        let _g = table[i].lock().expect("lock");
                        bump(shm.slot(i), r + k);
                    }
                }
            })
        })
        .collect();
    for c in &mut children {
        assert_eq!(c.wait(), 0, "a worker failed");
    }
    for i in 0..LOCKS {
        assert_eq!(
            shm.slot(i).load(Ordering::Relaxed),
            4 * ROUNDS,
            "counter {i}"
        );
        assert_eq!(table[i].status().acquisitions, 4 * ROUNDS, "lock {i}");
    }
}

/// A holder of one element SIGKILLed: a waiter on that element gets it promptly and is told;
/// the neighbouring elements were never affected.
#[test]
fn a_killed_holder_of_one_element_is_recovered_and_the_others_are_untouched() {
    let table = LockTable::new(8).unwrap();
    let (tx, rx) = channel();
    let holder = fork(|| {
        let _g = table[5].lock().expect("lock");
        let _h = table[6].lock().expect("lock");
        drop(_h); // released normally before the death
        tx.send("held");
        common::hold_until_killed();
    });
    rx.expect("held");
    assert!(table[5].try_lock().unwrap().is_none());
    holder.kill(libc::SIGKILL);
    // A liveness bound: how fast is the benchmark's business.
    let guard = table[5].lock_timeout(common::PATIENCE).unwrap();
    assert!(guard.previous_owner_died());
    drop(guard);
    holder.join_killed_by(libc::SIGKILL);
    for i in [4, 6, 7] {
        let g = table[i].lock().unwrap();
        assert!(!g.previous_owner_died(), "element {i}");
        assert!(!table[i].is_poisoned(), "element {i}");
    }
    assert!(table[5].is_poisoned());
    assert_eq!(table[5].status().owner_deaths, 1);
}

/// A table of 10,000 locks is one file of 64 + 128 × 10,000 bytes: 128 bytes a lock.
#[test]
fn ten_thousand_locks_take_128_bytes_each() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rows.locks");
    let table = LockTable::open_path(&path, 0o600, 10_000).unwrap();
    assert_eq!(table.len(), 10_000);
    let len = std::fs::metadata(&path).unwrap().len();
    assert_eq!(len, 64 + 128 * 10_000);
    for lock in &table {
        drop(lock.lock().unwrap());
    }
    // Reopened, the same locks.
    let again = LockTable::open_path(&path, 0o600, 10_000).unwrap();
    assert_eq!(again[9_999].status().acquisitions, 1);
}

#[test]
fn sizes_and_kinds_are_checked() {
    for n in [0, (1 << 20) + 1] {
        match LockTable::new(n) {
            Err(Error::TableSize { reason, .. }) => assert!(reason.contains("1 to"), "{reason}"),
            other => panic!("LockTable::new({n}) gave {other:?}"),
        }
    }
    assert!(LockTable::new(1 << 20).is_ok(), "the largest table");
    in_private_namespace(|_| {
        let t = LockTable::open("shards", 16).unwrap();
        assert_eq!(LockTable::open("shards", 16).unwrap().len(), 16);
        match LockTable::open("shards", 8) {
            Err(Error::TableSize { reason, .. }) => {
                assert!(reason.contains("16 locks, not 8"), "{reason}")
            }
            other => panic!("expected TableSize, got {other:?}"),
        }
        assert!(matches!(
            Lock::open("shards"),
            Err(Error::KindMismatch {
                found: Kind::LockTable,
                ..
            })
        ));
        drop(Lock::open("single").unwrap());
        assert!(matches!(
            LockTable::open("single", 1),
            Err(Error::KindMismatch {
                found: Kind::Lock,
                ..
            })
        ));
        assert_eq!(t[3].status().kind, Kind::Lock);
    });
}
