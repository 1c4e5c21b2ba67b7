//! Fair locks (`Lock::new_fair`): a release while others sleep hands the lock to the longest
//! sleeper, so a holder that releases and comes straight back queues behind them — with real
//! processes asleep in the kernel, in a known order.

mod common;

use std::sync::atomic::Ordering;

use common::{fork, in_private_namespace, wait_until, Forked, SharedMem};
use interlock::{Error, Lock};

/// Shared slots: `NEXT` is the next free index of the acquisition order, `ORDER..` the order.
const NEXT: usize = 0;
const ORDER: usize = 1;

fn record(shm: &SharedMem, who: u64) {
    let at = shm.slot(NEXT).fetch_add(1, Ordering::SeqCst) as usize;
    shm.slot(ORDER + at).store(who, Ordering::SeqCst);
}

/// The process state letter from `/proc/PID/stat` ('S': asleep).
fn state(pid: u32) -> char {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    stat.rfind(')')
        .and_then(|i| stat[i + 1..].trim_start().chars().next())
        .unwrap_or('?')
}

/// A child that takes the lock once, records `who`, and leaves.
fn waiter(lock: &Lock, shm: &SharedMem, who: u64) -> Forked {
    fork(|| {
        let guard = lock.lock().expect("lock");
        record(shm, who);
        drop(guard);
    })
}

/// The parent (1) holds the lock while children 2, then 3, go to sleep on it; it releases and
/// asks again at once. Returns the order in which the three got the lock.
fn release_and_come_back(lock: &Lock) -> Vec<u64> {
    let shm = SharedMem::new(8);
    let guard = lock.lock().unwrap();
    let mut children = Vec::new();
    for (who, sleepers) in [(2, 1), (3, 2)] {
        let child = waiter(lock, &shm, who);
        let pid = child.pid();
        // Counted as a waiter, then asleep in the kernel: queued behind any earlier sleeper.
        wait_until(&format!("process {who} sleeps on the lock"), || {
            lock.status().waiters == sleepers && state(pid) == 'S'
        });
        children.push(child);
    }
    drop(guard);
    let again = lock.lock().unwrap();
    record(&shm, 1);
    drop(again);
    for mut child in children {
        assert_eq!(child.wait(), 0, "a waiter failed");
    }
    assert_eq!(shm.slot(NEXT).load(Ordering::SeqCst), 3);
    (0..3)
        .map(|i| shm.slot(ORDER + i).load(Ordering::SeqCst))
        .collect()
}

#[test]
fn a_fair_release_hands_over_to_the_sleepers_in_the_order_they_came() {
    let lock = Lock::new_fair().unwrap();
    for round in 0..5 {
        assert_eq!(
            release_and_come_back(&lock),
            [2, 3, 1],
            "round {round}: the lock went out of turn"
        );
    }
    assert!(!lock.is_poisoned());
}

#[test]
fn an_unfair_release_lets_the_releaser_barge_in() {
    // Not a guarantee of the unfair lock, but what it does nearly always: shown so that the
    // fair test above is known to tell the two apart. A fresh lock per round; one round in
    // five in order would be a fluke, five would mean the test cannot see the difference.
    let barged = (0..5)
        .filter(|_| release_and_come_back(&Lock::new().unwrap())[0] == 1)
        .count();
    assert!(
        barged > 0,
        "the unfair lock never let its releaser back in first"
    );
}

#[test]
fn fair_and_unfair_handles_agree_on_what_the_lock_is() {
    in_private_namespace(|_| {
        let name = "fair-by-name";
        let fair = Lock::open_fair(name).unwrap();
        assert!(fair.is_fair());
        // A plain open takes the lock as its creator made it.
        assert!(Lock::open(name).unwrap().is_fair());
        assert_eq!(fair.status().kind, interlock::Kind::FairLock);
        // Asking for a fair lock where an unfair one exists is refused, not silently unfair.
        drop(Lock::open("plain-by-name").unwrap());
        match Lock::open_fair("plain-by-name") {
            Err(Error::KindMismatch {
                expected, found, ..
            }) => {
                assert_eq!(
                    (expected, found),
                    (interlock::Kind::FairLock, interlock::Kind::Lock)
                );
            }
            other => panic!("expected KindMismatch, got {other:?}"),
        }
        // An RLock refuses a fair lock's file.
        assert!(matches!(
            interlock::RLock::open(name),
            Err(Error::KindMismatch { .. })
        ));
    });
}

/// Eight processes in a tight loop on a fair lock, for a fixed number of acquisitions in all:
/// none is starved (every one gets a share) and the count is exact.
#[test]
fn eight_processes_share_a_fair_lock_and_none_starves() {
    const PROCS: usize = 8;
    const TOTAL: u64 = 8_000;
    let lock = Lock::new_fair().unwrap();
    let shm = SharedMem::new(2 + PROCS);
    let mut children: Vec<Forked> = (0..PROCS)
        .map(|p| {
            let (lock, shm) = (&lock, &shm);
            fork(move || loop {
                let _guard = lock.lock().expect("lock");
                let done = shm.slot(0).load(Ordering::Relaxed);
                if done == TOTAL {
                    return;
                }
                common::bump(shm.slot(0), done);
                shm.slot(2 + p).fetch_add(1, Ordering::Relaxed);
            })
        })
        .collect();
    for child in &mut children {
        assert_eq!(child.wait(), 0, "a worker failed");
    }
    let shares: Vec<u64> = (0..PROCS)
        .map(|p| shm.slot(2 + p).load(Ordering::Relaxed))
        .collect();
    assert_eq!(shares.iter().sum::<u64>(), TOTAL, "{shares:?}");
    assert_eq!(shm.slot(0).load(Ordering::Relaxed), TOTAL);
    assert!(
        shares.iter().all(|&n| n > 0),
        "a process starved: {shares:?}"
    );
    eprintln!("shares: {shares:?}");
}
