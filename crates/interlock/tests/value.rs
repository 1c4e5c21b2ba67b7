//! `Value<T>` between real processes: exact counts, and no torn value after SIGKILL.

mod common;

use std::time::Duration;

use common::{fork, SharedMem};
use interlock::Value;

/// The case: 8 processes × 100,000 `update`s of one shared counter → exactly 800,000.
#[test]
fn eight_processes_update_a_shared_value_exactly() {
    const PROCS: u64 = 8;
    const UPDATES: u64 = 100_000;
    let counter = Value::new(0u64).unwrap();
    let mut children: Vec<_> = (0..PROCS)
        .map(|_| {
            let counter = &counter;
            fork(move || {
                for _ in 0..UPDATES {
                    counter.update(|n| *n += 1).expect("update");
                }
            })
        })
        .collect();
    for child in &mut children {
        assert_eq!(child.wait(), 0, "an updater failed");
    }
    assert_eq!(counter.get().unwrap(), PROCS * UPDATES);
    assert_eq!(counter.status().acquisitions, PROCS * UPDATES + 1);
}

/// Writers that set all 4,096 words of a value (32 KiB: copying it in takes long enough for a
/// kill to land inside) to one number, SIGKILLed at random: the value read afterwards is always
/// one writer's whole value (the two-slot commit), and the next update is told its predecessor
/// died.
#[test]
fn sigkilled_updaters_never_leave_a_torn_value() {
    let value = Value::new([0u64; 4096]).unwrap();
    let progress = SharedMem::new(1);
    let mut deaths_seen = false;
    for round in 0..20u64 {
        let child = fork(|| loop {
            value
                .update(|v| {
                    let next = v[0] + 1;
                    v.iter_mut().for_each(|word| *word = next);
                })
                .expect("update");
            progress
                .slot(0)
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        });
        common::wait_until("the updater makes progress", || {
            progress.slot(0).load(std::sync::atomic::Ordering::Relaxed) > round * 10 + 10
        });
        std::thread::sleep(Duration::from_micros(300));
        child.kill(libc::SIGKILL);
        let (v, died) = value.update_checked(|v| *v).unwrap();
        deaths_seen |= died;
        assert!(
            v.iter().all(|&w| w == v[0]),
            "torn value after SIGKILL: {v:?}"
        );
    }
    assert!(
        deaths_seen,
        "20 kills of a tight update loop never caught it inside the lock"
    );
}
