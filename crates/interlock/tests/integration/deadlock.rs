//! No silent deadlocks: real processes that form a lock-order cycle — exactly one gets
//! `Error::Deadlock` naming the cycle, the others complete; chains, dead holders and RLock
//! re-entry are never reported.

use crate::common;

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use common::{channel, fork, wait_until, Forked, SharedMem, PATIENCE};
use interlock::{Error, Lock, RLock};

/// Slots: `GO` (set by the parent once every process holds its first lock), `HELD` (processes
/// holding their first lock), then one result slot per process.
const GO: usize = 0;
const HELD: usize = 1;
const RESULT: usize = 2;
const COMPLETED: u64 = 1;
const DEADLOCKED: u64 = 2;

/// The bound the issue sets on reporting a cycle. Printed, not asserted: a loaded machine may
/// keep a member off the CPU past it (the detector confirms a cycle only once every member has
/// refreshed its entry), and speed is the benchmark's business (`mp`, "Deadlock" table). The
/// test's own bound is a liveness bound: a missed cycle ends in `Timeout` after [`PATIENCE`].
const BOUND: Duration = Duration::from_secs(2);

/// Waits until forked process `p` shows in the wait-for graph: it has waited past the deadlock
/// timeout, registered, and looked for a cycle (it looks as it registers).
fn wait_until_registered(p: &Forked) {
    let pid = p.pid();
    wait_until(
        &format!("process {pid} registers in the wait-for graph"),
        || {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            assert!(
                !stat.contains(") Z "),
                "process {pid} ended before it registered: {}",
                p.report()
            );
            interlock::deadlock::wait_graph()
                .expect("wait_graph")
                .iter()
                .any(|e| e.pid == pid)
        },
    );
}

/// Process `i` takes `locks[i]`, waits for everyone, then takes `locks[(i + 1) % n]`: a cycle
/// of `n`. Returns how each process ended and how long the run took from the go signal.
fn cycle_of(n: usize) -> (Vec<u64>, Duration, Vec<String>) {
    let locks: Vec<Lock> = (0..n).map(|_| Lock::new().unwrap()).collect();
    let shm = SharedMem::new(RESULT + 2 * n);
    let children: Vec<Forked> = (0..n)
        .map(|i| {
            let (locks, shm) = (&locks, &shm);
            fork(move || {
                let first = locks[i].lock().expect("first lock");
                shm.slot(HELD).fetch_add(1, Ordering::SeqCst);
                while shm.slot(GO).load(Ordering::SeqCst) == 0 {
                    std::thread::sleep(Duration::from_millis(1));
                }
                // Bounded, so that a detector that misses the cycle fails the test, not hangs it.
                match locks[(i + 1) % n].lock_timeout(PATIENCE) {
                    Ok(second) => {
                        drop(second);
                        shm.slot(RESULT + i).store(COMPLETED, Ordering::SeqCst);
                    }
                    Err(Error::Deadlock { cycle, .. }) => {
                        assert_eq!(cycle.len(), n, "{cycle:?}");
                        assert_eq!(cycle[0].pid, std::process::id());
                        shm.slot(RESULT + i).store(DEADLOCKED, Ordering::SeqCst);
                    }
                    Err(e) => panic!("second lock: {e}"),
                }
                drop(first);
            })
        })
        .collect();
    wait_until("every process holds its first lock", || {
        shm.slot(HELD).load(Ordering::SeqCst) == n as u64
    });
    let go = Instant::now();
    shm.slot(GO).store(1, Ordering::SeqCst);
    let mut messages = Vec::new();
    for mut child in children {
        let code = child.wait();
        messages.push(child.report());
        assert_eq!(code, 0, "a process failed: {}", child.report());
    }
    let took = go.elapsed();
    let results = (0..n)
        .map(|i| shm.slot(RESULT + i).load(Ordering::SeqCst))
        .collect();
    (results, took, messages)
}

fn assert_one_victim(n: usize) {
    let (results, took, _) = cycle_of(n);
    let victims = results.iter().filter(|&&r| r == DEADLOCKED).count();
    let completed = results.iter().filter(|&&r| r == COMPLETED).count();
    assert_eq!(
        (victims, completed),
        (1, n - 1),
        "results {results:?}: exactly one process must get the deadlock error"
    );
    eprintln!(
        "cycle of {n}: broken in {took:?}{}",
        if took < BOUND {
            ""
        } else {
            " (over the 2 s the issue sets: a loaded machine?)"
        }
    );
}

#[test]
fn a_two_process_cycle_errors_in_exactly_one_of_them() {
    assert_one_victim(2);
}

#[test]
fn a_three_process_cycle_errors_in_exactly_one_of_them() {
    assert_one_victim(3);
}

/// The error names the cycle: every member's pid and what it waits for.
#[test]
fn the_error_names_the_locks_and_processes_of_the_cycle() {
    common::in_private_namespace(|_| {
        let a = Lock::open("dl-a").unwrap();
        let b = Lock::open("dl-b").unwrap();
        let shm = SharedMem::new(2);
        let mut other = fork(|| {
            let _b = b.lock().expect("b");
            shm.slot(0).store(1, Ordering::SeqCst);
            // Waits for a: the cycle closes when the parent asks for b.
            match a.lock() {
                Ok(_) | Err(Error::Deadlock { .. }) => {}
                Err(e) => panic!("{e}"),
            }
        });
        let _a = a.lock().unwrap();
        wait_until("the other process holds b", || {
            shm.slot(0).load(Ordering::SeqCst) == 1
        });
        // One of the two gets the error; if it is the other process, ours succeeds.
        match b.lock() {
            Err(e @ Error::Deadlock { .. }) => {
                let text = e.to_string();
                assert!(
                    text.contains("\"dl-a\"") && text.contains("\"dl-b\""),
                    "{text}"
                );
                assert!(text.contains(&format!("pid {}", other.pid())), "{text}");
                assert!(
                    text.contains(&format!("pid {}", std::process::id())),
                    "{text}"
                );
                drop(_a);
            }
            Ok(guard) => drop(guard),
            Err(e) => panic!("{e}"),
        }
        assert_eq!(other.wait(), 0, "{}", other.report());
    });
}

/// A chain of four waiters behind a holder that keeps its lock until every waiter has waited
/// past the deadlock timeout, registered and looked for a cycle: no error anywhere, and all
/// complete once the holder lets go.
#[test]
fn an_acyclic_chain_of_four_waiters_is_not_a_deadlock() {
    let locks: Vec<Lock> = (0..4).map(|_| Lock::new().unwrap()).collect();
    let shm = SharedMem::new(8);
    let holder_ready = || shm.slot(0).load(Ordering::SeqCst);
    let (release_tx, release_rx) = channel();
    // The holder: locks[0] until the parent says so.
    let holder = fork(|| {
        let _g = locks[0].lock().expect("lock");
        shm.slot(0).fetch_add(1, Ordering::SeqCst);
        release_rx.expect("release");
    });
    wait_until("the holder holds", || holder_ready() == 1);
    // Waiter i (1..=3) holds locks[i] and waits for locks[i - 1]; waiter 4 waits for locks[3].
    // Each is forked once the one before holds its own lock: else a later waiter could find
    // its lock still free, go through, and leave no chain.
    let waiters: Vec<Forked> = (1..=4)
        .map(|i| {
            let (locks, shm) = (&locks, &shm);
            let waiter = fork(move || {
                let mine = (i < 4).then(|| locks[i].lock().expect("own lock"));
                shm.slot(0).fetch_add(1, Ordering::SeqCst);
                match locks[i - 1].lock() {
                    Ok(g) => drop(g),
                    Err(e) => panic!("waiter {i}: {e}"),
                }
                drop(mine);
                shm.slot(i).store(1, Ordering::SeqCst);
            });
            wait_until(&format!("waiter {i} holds its own lock"), || {
                holder_ready() == 1 + i as u64
            });
            waiter
        })
        .collect();
    for w in &waiters {
        wait_until_registered(w);
    }
    // Every waiter registered and has looked once; give each a few more looks (a deadlock is
    // reported only when seen twice) while the whole chain stands.
    std::thread::sleep(10 * deadlock_period());
    assert!(
        (1..=4).all(|i| shm.slot(i).load(Ordering::SeqCst) == 0),
        "a waiter got through while the holder held"
    );
    release_tx.send("release");
    for mut c in waiters.into_iter().chain([holder]) {
        assert_eq!(c.wait(), 0, "{}", c.report());
    }
    assert!((1..=4).all(|i| shm.slot(i).load(Ordering::SeqCst) == 1));
}

/// How often a registered waiter looks for a cycle (interlock's `deadlock::PERIOD`).
fn deadlock_period() -> Duration {
    Duration::from_millis(25)
}

/// A holder SIGKILLed while another process waits past the deadlock timeout (registered in the
/// wait-for graph): the waiter gets the lock with the news, never a deadlock error.
#[test]
fn a_killed_holder_is_not_a_deadlock() {
    let a = Lock::new().unwrap();
    let b = Lock::new().unwrap();
    let shm = SharedMem::new(2);
    let holder = fork(|| {
        let _a = a.lock().expect("a");
        shm.slot(0).store(1, Ordering::SeqCst);
        common::hold_until_killed();
    });
    wait_until("the holder holds a", || {
        shm.slot(0).load(Ordering::SeqCst) == 1
    });
    let mut waiter = fork(|| {
        let _b = b.lock().expect("b");
        match a.lock() {
            Ok(g) => assert!(g.previous_owner_died()),
            Err(e) => panic!("{e}"),
        }
    });
    wait_until_registered(&waiter);
    holder.kill(libc::SIGKILL);
    holder.join_killed_by(libc::SIGKILL);
    assert_eq!(waiter.wait(), 0, "{}", waiter.report());
}

/// RLock re-entry by its owner is never a wait, so never a cycle: the owner re-enters while
/// another process waits on the RLock past the deadlock timeout (registered in the wait-for
/// graph, looking for cycles).
#[test]
fn rlock_reentry_by_its_owner_is_never_a_cycle() {
    let r = RLock::new().unwrap();
    let shm = SharedMem::new(2);
    let _outer = r.lock().unwrap();
    let mut waiter = fork(|| {
        shm.slot(0).store(1, Ordering::SeqCst);
        drop(r.lock().expect("the waiter gets the RLock in the end"));
    });
    wait_until("the waiter waits", || r.status().waiters == 1);
    wait_until_registered(&waiter);
    for _ in 0..5 {
        let inner = r.lock().expect("re-entry");
        std::thread::sleep(interlock::deadlock::timeout());
        drop(inner);
    }
    drop(_outer);
    assert_eq!(waiter.wait(), 0, "{}", waiter.report());
}

/// A waiter the wait registry cannot take (here: a namespace directory others may enter, which
/// interlock refuses to use) just waits: it must not spin retrying the registry. A second of
/// waiting costs it well under a tenth of that in CPU time.
#[test]
fn a_waiter_that_cannot_register_does_not_spin() {
    common::in_private_namespace(|ns| {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(ns, std::fs::Permissions::from_mode(0o770)).unwrap();
        let lock = Lock::new().unwrap();
        let shm = SharedMem::new(1);
        let _held = lock.lock().unwrap();
        let mut waiter = fork(|| {
            match lock.lock_timeout(Duration::from_secs(1)) {
                Err(Error::Timeout { .. }) => {}
                other => panic!("expected a timeout, got {other:?}"),
            }
            // SAFETY: rusage is plain integers and timevals: all-zero is a valid value.
            let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
            // SAFETY: getrusage writes into the valid, writable struct we pass.
            assert_eq!(unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) }, 0);
            let us = |t: libc::timeval| t.tv_sec as u64 * 1_000_000 + t.tv_usec as u64;
            shm.slot(0)
                .store(us(usage.ru_utime) + us(usage.ru_stime), Ordering::SeqCst);
        });
        assert_eq!(waiter.wait(), 0, "{}", waiter.report());
        let cpu_us = shm.slot(0).load(Ordering::SeqCst);
        assert!(
            cpu_us < 100_000,
            "the waiter used {cpu_us} µs of CPU in a 1 s wait: it spins"
        );
    });
}
