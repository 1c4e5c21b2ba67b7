//! `Condition` between real processes: producers and consumers through a bounded queue in
//! shared memory, every item consumed exactly once; `notify_all` wakes every waiter and
//! `notify_one` exactly one; timed waits time out holding the lock again; an `RLock` wait
//! gives every level back; waiters and notifiers SIGKILLed at random instants hang nobody; a
//! re-take from a dead holder is told; bad input is typed.
//!
//! `INTERLOCK_CONDITION_KILLS` sets how many waiters (and notifiers) are SIGKILLed (default
//! 100; `ci/stress.sh` raises it).

use crate::common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use common::{
    channel, fork, hear_from_parent, in_private_namespace, role, role_command, tell_parent,
    wait_until, RoleChild, SharedMem, PATIENCE,
};
use interlock::{Condition, Error, Kind, Lock, RLock};

use crate::event::Rng;

fn kills() -> u64 {
    match std::env::var("INTERLOCK_CONDITION_KILLS") {
        Ok(v) => v
            .parse()
            .unwrap_or_else(|_| panic!("INTERLOCK_CONDITION_KILLS={v:?} is not a number")),
        Err(_) => 100,
    }
}

/// The multiprocessing seed's producer/consumer, across processes: a bounded queue of 4 in
/// shared memory under one lock, two conditions on it (not full, not empty), 3 producers of
/// 300 items each and 3 consumers. Every item is consumed exactly once, the queue never over-
/// or underflows, nobody hangs.
#[test]
fn producers_and_consumers_consume_every_item_exactly_once() {
    const CAP: u64 = 4;
    const PRODUCERS: u64 = 3;
    const EACH: u64 = 300;
    const TOTAL: u64 = PRODUCERS * EACH;
    // Slots: 0 head (items taken), 1 tail (items put), 2..2+CAP the ring, then one count per
    // item id (1..=TOTAL) of how often it was consumed.
    const RING: usize = 2;
    const SEEN: usize = RING + CAP as usize;
    let mem = SharedMem::new(SEEN + TOTAL as usize + 1);
    let lock = Lock::new().unwrap();
    let not_full = Condition::new(&lock).unwrap();
    let not_empty = Condition::new(&lock).unwrap();
    let (head, tail) = (mem.slot(0), mem.slot(1));
    let producers: Vec<_> = (0..PRODUCERS)
        .map(|p| {
            fork(|| {
                for i in 0..EACH {
                    let guard = lock.lock().unwrap();
                    let guard = not_full
                        .wait_while(guard, || {
                            tail.load(Ordering::Relaxed) - head.load(Ordering::Relaxed) == CAP
                        })
                        .unwrap();
                    let t = tail.load(Ordering::Relaxed);
                    assert!(t - head.load(Ordering::Relaxed) < CAP, "overflow");
                    mem.slot(RING + (t % CAP) as usize)
                        .store(p * EACH + i + 1, Ordering::Relaxed);
                    tail.store(t + 1, Ordering::Relaxed);
                    not_empty.notify_one();
                    drop(guard);
                }
            })
        })
        .collect();
    let consumers: Vec<_> = (0..3)
        .map(|_| {
            fork(|| loop {
                let guard = lock.lock().unwrap();
                let guard = not_empty
                    .wait_while(guard, || {
                        let h = head.load(Ordering::Relaxed);
                        h == tail.load(Ordering::Relaxed) && h < TOTAL
                    })
                    .unwrap();
                let h = head.load(Ordering::Relaxed);
                if h == TOTAL {
                    // Everything is taken: the others wake to see it too.
                    not_empty.notify_all();
                    return;
                }
                assert!(h < tail.load(Ordering::Relaxed), "underflow");
                let item = mem.slot(RING + (h % CAP) as usize).load(Ordering::Relaxed);
                head.store(h + 1, Ordering::Relaxed);
                not_full.notify_one();
                if h + 1 == TOTAL {
                    not_empty.notify_all();
                }
                drop(guard);
                mem.slot(SEEN + item as usize)
                    .fetch_add(1, Ordering::Relaxed);
            })
        })
        .collect();
    for child in producers.into_iter().chain(consumers) {
        child.join();
    }
    assert_eq!(head.load(Ordering::Relaxed), TOTAL);
    for id in 1..=TOTAL {
        assert_eq!(
            mem.slot(SEEN + id as usize).load(Ordering::Relaxed),
            1,
            "item {id} consumed other than once"
        );
    }
    for cond in [&not_full, &not_empty] {
        let s = cond.status();
        assert!(s.waiters == 0 && s.pending == 0, "{s:?}");
    }
}

/// Six children wait for a flag; one `notify_all` after it is set releases them all.
#[test]
fn notify_all_wakes_every_waiter() {
    let lock = Lock::new().unwrap();
    let cond = Condition::new(&lock).unwrap();
    let mem = SharedMem::new(1);
    let children: Vec<_> = (0..6)
        .map(|_| {
            fork(|| {
                let guard = lock.lock().unwrap();
                let _guard = cond
                    .wait_while(guard, || mem.slot(0).load(Ordering::Relaxed) == 0)
                    .unwrap();
            })
        })
        .collect();
    wait_until("six waiters counted in", || cond.status().waiters == 6);
    {
        let _guard = lock.lock().unwrap();
        mem.slot(0).store(1, Ordering::Relaxed);
        cond.notify_all();
    }
    for child in children {
        child.join();
    }
    let s = cond.status();
    assert!(s.waiters == 0 && s.pending == 0, "{s:?}");
}

/// Three children wait once each; `notify_one` releases exactly one of them (the other two
/// are still counted, no notification left pending), `notify(2)` the other two.
#[test]
fn notify_one_releases_exactly_one_waiter() {
    let lock = Lock::new().unwrap();
    let cond = Condition::new(&lock).unwrap();
    let mem = SharedMem::new(1);
    let children: Vec<_> = (0..3)
        .map(|_| {
            fork(|| {
                let guard = lock.lock().unwrap();
                let (_guard, r) = cond.wait_timeout(guard, PATIENCE).unwrap();
                assert!(!r.timed_out(), "child: never notified");
                mem.slot(0).fetch_add(1, Ordering::Relaxed);
            })
        })
        .collect();
    wait_until("three waiters counted in", || cond.status().waiters == 3);
    cond.notify_one();
    wait_until("one waiter through", || {
        mem.slot(0).load(Ordering::Relaxed) == 1
    });
    let s = cond.status();
    assert_eq!((s.waiters, s.pending), (2, 0), "exactly one took it: {s:?}");
    cond.notify(2);
    for child in children {
        child.join();
    }
    assert_eq!(mem.slot(0).load(Ordering::Relaxed), 3);
}

/// A timed wait nobody notifies times out, holding the lock again, counted out.
#[test]
fn wait_timeout_times_out_holding_the_lock_again() {
    let lock = Lock::new().unwrap();
    let cond = Condition::new(&lock).unwrap();
    let guard = lock.lock().unwrap();
    let token = guard.token();
    let (guard, r) = cond.wait_timeout(guard, Duration::from_millis(30)).unwrap();
    assert!(r.timed_out());
    assert!(lock.is_held_by_current_thread());
    assert!(
        guard.token() > token,
        "a new hold, with a new fencing token"
    );
    assert_eq!(cond.status().waiters, 0);
    let (guard, r) = cond
        .wait_timeout_while(guard, Duration::from_millis(30), || true)
        .unwrap();
    assert!(r.timed_out());
    drop(guard);
    assert!(lock.try_lock().unwrap().is_some(), "released by the guard");
}

/// An `RLock` held three levels deep: the wait releases every level (a child process takes the
/// lock while this thread waits), and gives all three back; the outer guards, made before the
/// wait, still end their levels, and the lock is free after the last.
#[test]
fn an_rlock_wait_releases_every_level_and_restores_them() {
    let rlock = RLock::new().unwrap();
    let cond = Condition::new(&rlock).unwrap();
    let mem = SharedMem::new(1);
    let outer = rlock.lock().unwrap();
    let middle = rlock.lock().unwrap();
    let inner = rlock.lock().unwrap();
    assert_eq!(inner.depth(), 3);
    let child = fork(|| {
        wait_until("the parent waiting", || cond.status().waiters == 1);
        // Free only if every level was released.
        let g = rlock.lock_timeout(PATIENCE).unwrap();
        assert_eq!(g.depth(), 1);
        mem.slot(0).store(1, Ordering::Relaxed);
        cond.notify_one();
    });
    let inner = cond
        .wait_while(inner, || mem.slot(0).load(Ordering::Relaxed) == 0)
        .unwrap();
    child.join();
    assert_eq!(inner.depth(), 3);
    assert_eq!(rlock.status().depth, 3, "every level restored");
    drop(inner);
    assert_eq!(rlock.status().depth, 2);
    drop(middle);
    assert_eq!(rlock.status().depth, 1);
    drop(outer);
    assert!(
        rlock.status().holder.is_none(),
        "the outer guards released it"
    );
    let other = std::thread::scope(|s| {
        s.spawn(|| rlock.try_lock().map(|g| g.is_some()))
            .join()
            .unwrap()
    });
    assert!(other.unwrap(), "free for another thread");
}

/// Round after round, three children wait for the round's flag and one of them is SIGKILLed
/// at a random instant — before it waits, asleep, woken, or re-taking the lock. The parent
/// sets the flag and gives one `notify_one` per child still expected, waiting for each to
/// leave: it never needs more than one extra (for a victim that took a notification before it
/// died), so no notification is lost to the dead, and no survivor hangs.
#[test]
fn waiters_sigkilled_at_random_instants_never_hang_the_others() {
    let lock = Lock::new().unwrap();
    let cond = Condition::new(&lock).unwrap();
    let mem = SharedMem::new(1);
    let mut rng = Rng::seeded();
    let rounds = kills();
    for round in 1..=rounds {
        let (tx, rx) = channel();
        let mut children: Vec<_> = (0..3)
            .map(|_| {
                fork(|| {
                    tx.send("waiting");
                    let guard = lock.lock().unwrap();
                    let _guard = cond
                        .wait_while(guard, || mem.slot(0).load(Ordering::Relaxed) != round)
                        .unwrap();
                    tx.send(&format!("done {}", std::process::id()));
                })
            })
            .collect();
        for _ in 0..3 {
            rx.expect("waiting");
        }
        let victim = children.remove(rng.below(3) as usize);
        let survivors: Vec<String> = children
            .iter()
            .map(|c| format!("done {}", c.pid()))
            .collect();
        let kill_after_notify = rng.below(2) == 0;
        let pause = Duration::from_micros(rng.below(2_000));
        if !kill_after_notify {
            std::thread::sleep(pause);
            victim.kill(libc::SIGKILL);
        }
        {
            let _guard = lock.lock().unwrap();
            mem.slot(0).store(round, Ordering::Relaxed);
        }
        let mut notified = 0;
        let mut done = 0;
        while done < survivors.len() {
            cond.notify_one();
            notified += 1;
            if kill_after_notify && notified == 1 {
                std::thread::sleep(pause);
                victim.kill(libc::SIGKILL);
            }
            match rx.recv_timeout(Duration::from_secs(5)) {
                Ok(msg) if survivors.contains(&msg) => done += 1,
                // The victim, notified before it was killed.
                Ok(msg) if msg.starts_with("done ") => {}
                Ok(msg) => panic!("round {round}: {msg:?}"),
                Err(_) => {}
            }
            assert!(
                notified <= 3,
                "round {round}: {notified} notify_one calls for 2 survivors: one was lost ({:?})",
                cond.status()
            );
        }
        let mut victim = victim;
        victim.wait();
        for child in children {
            child.join();
        }
    }
    let s = cond.status();
    assert!(
        u64::from(s.waiters) <= rounds && s.pending <= s.waiters,
        "counts bounded by the deaths: {s:?}"
    );
}

/// Three waiters SIGKILLed while they wait stay counted (and named) until a living waiter
/// finds them dead — each looks once a second of its wait — and counts them out; `status`
/// then counts and names the living one alone, and one `notify_one` reaches it.
#[test]
fn waiters_killed_while_waiting_are_counted_out_by_a_living_one() {
    let lock = Lock::new().unwrap();
    let cond = Condition::new(&lock).unwrap();
    let victims: Vec<_> = (0..3)
        .map(|_| {
            fork(|| {
                let guard = lock.lock().unwrap();
                let _ = cond.wait(guard);
            })
        })
        .collect();
    wait_until("three waiters counted in", || cond.status().waiters == 3);
    let dead: Vec<u32> = victims.iter().map(|v| v.pid()).collect();
    let mut named = cond.status().waiting;
    named.sort_unstable();
    let mut expected = dead.clone();
    expected.sort_unstable();
    assert_eq!(named, expected, "each waiter named in its slot");
    for v in victims {
        v.kill(libc::SIGKILL);
        v.join_killed_by(libc::SIGKILL);
    }
    assert_eq!(
        cond.status().waiters,
        3,
        "nothing counts the dead out by itself"
    );
    let (tx, rx) = channel();
    let living = fork(|| {
        let guard = lock.lock().unwrap();
        tx.send("waiting");
        let (_g, r) = cond.wait_timeout(guard, PATIENCE).unwrap();
        assert!(!r.timed_out(), "living waiter: never notified");
    });
    rx.expect("waiting");
    wait_until("the dead counted out", || {
        let s = cond.status();
        s.waiters == 1 && s.waiting == [living.pid()]
    });
    cond.notify_one();
    living.join();
    let s = cond.status();
    assert!(s.waiters == 0 && s.pending == 0, "{s:?}");
}

/// A notifier SIGKILLed at a random instant in a loop of notifications leaves a consistent
/// condition: pending never above waiters, and a wait and a notification after it work.
#[test]
fn a_notifier_sigkilled_at_random_leaves_nothing_inconsistent() {
    let lock = Lock::new().unwrap();
    let cond = Condition::new(&lock).unwrap();
    let mut rng = Rng::seeded();
    let stop = AtomicBool::new(false);
    for round in 0..kills() {
        std::thread::scope(|s| {
            // A waiter in this process, so that notifications are given.
            let waiter = s.spawn(|| {
                let mut guard = lock.lock().unwrap();
                while !stop.load(Ordering::Relaxed) {
                    guard = cond
                        .wait_timeout(guard, Duration::from_millis(5))
                        .unwrap()
                        .0;
                }
            });
            let (tx, rx) = channel();
            let notifier = fork(|| {
                tx.send("notifying");
                loop {
                    cond.notify_one();
                    cond.notify_all();
                }
            });
            rx.expect("notifying");
            std::thread::sleep(Duration::from_micros(rng.below(3_000)));
            notifier.kill(libc::SIGKILL);
            notifier.join_killed_by(libc::SIGKILL);
            stop.store(true, Ordering::Relaxed);
            waiter.join().unwrap();
            stop.store(false, Ordering::Relaxed);
        });
        let st = cond.status();
        assert!(st.pending <= st.waiters, "round {round}: {st:?}");
    }
    // Still usable: a waiter in a child, notified once.
    let child = fork(|| {
        let guard = lock.lock().unwrap();
        let (_g, r) = cond.wait_timeout(guard, PATIENCE).unwrap();
        assert!(!r.timed_out());
    });
    wait_until("the child waiting", || cond.status().waiters >= 1);
    cond.notify_one();
    child.join();
}

/// The notifier dies holding the lock after notifying: the woken wait takes the lock back from
/// a dead holder and its guard says so.
#[test]
fn a_wait_that_retakes_a_dead_holders_lock_is_told() {
    let lock = Lock::new().unwrap();
    let cond = Condition::new(&lock).unwrap();
    let child = fork(|| {
        wait_until("the parent waiting", || cond.status().waiters == 1);
        let guard = lock.lock().unwrap();
        cond.notify_one();
        std::mem::forget(guard);
        // Exits holding it: the kernel marks the word, the waiter is told.
    });
    let guard = lock.lock().unwrap();
    let guard = cond.wait(guard).unwrap();
    child.join();
    assert!(guard.previous_owner_died(), "the re-take was not told");
    assert!(guard.is_poisoned());
    guard.clear_poison();
}

/// A condition and its lock handed to a spawned program: it adopts both (checking the binding)
/// and waits; the parent notifies.
#[test]
fn a_condition_passed_to_a_spawned_program_is_the_parents() {
    if role().as_deref() == Some("condition-child") {
        let lock = Lock::from_env("COND_LOCK").expect("lock from_env");
        let cond = Condition::options()
            .lock(&lock)
            .from_env("COND")
            .expect("condition from_env");
        let other = Lock::new().unwrap();
        assert!(matches!(
            Condition::options().lock(&other).from_env("COND"),
            Err(Error::WrongLock { .. })
        ));
        tell_parent("adopted");
        assert_eq!(hear_from_parent(), "wait");
        let guard = lock.lock().unwrap();
        let (_g, r) = cond.wait_timeout(guard, PATIENCE).unwrap();
        assert!(!r.timed_out());
        tell_parent("notified");
        return;
    }
    let lock = Lock::new().unwrap();
    let cond = Condition::new(&lock).unwrap();
    let mut cmd = role_command("condition-child");
    lock.pass_to(&mut cmd, "COND_LOCK").unwrap();
    cond.pass_to(&mut cmd, "COND").unwrap();
    let mut child = RoleChild::spawn(cmd);
    child.expect("adopted");
    child.send("wait");
    wait_until("the spawned program waiting", || cond.status().waiters == 1);
    cond.notify_one();
    child.expect("notified");
    child.finish();
}

/// Bad input, typed: the guard of another lock (released, not kept), a condition opened with
/// another lock, one created without a lock, kind mismatches either way; by name and at a path
/// the condition is one.
#[test]
fn bad_input_is_typed() {
    in_private_namespace(|dir| {
        let a = Lock::open("queue").unwrap();
        let b = Lock::new().unwrap();
        let cond = Condition::open("ready", &a).expect("open");
        assert!(cond.is_bound_to(&a) && !cond.is_bound_to(&b));
        let err = cond.wait(b.lock().unwrap()).unwrap_err();
        assert!(
            matches!(&err, Error::WrongLock { condition, .. } if condition.contains("ready")),
            "{err}"
        );
        assert!(
            b.try_lock().unwrap().is_some(),
            "the other lock's guard was released"
        );
        assert!(matches!(
            Condition::open("ready", &b),
            Err(Error::WrongLock { .. })
        ));
        let again = Condition::options().lock(&a).open("ready").expect("again");
        drop(a.lock().unwrap());
        assert!(
            matches!(
                Condition::options().open("ready"),
                Err(Error::WrongLock { .. })
            ),
            "its lock is needed wherever it may be created"
        );
        assert!(matches!(
            Condition::options().create(),
            Err(Error::WrongLock { .. })
        ));
        assert!(matches!(
            Condition::open("queue", &a),
            Err(Error::KindMismatch {
                expected: Kind::Condition,
                found: Kind::Lock,
                ..
            })
        ));
        assert!(matches!(
            Lock::open("ready"),
            Err(Error::KindMismatch {
                expected: Kind::Lock,
                found: Kind::Condition,
                ..
            })
        ));
        assert_eq!(
            interlock::namespace::status("ready").unwrap().status.kind,
            Kind::Condition
        );
        // At a path, two opens are one condition, and the one bound to a table's lock 1 is
        // not bound to its lock 0.
        let p = dir.join("cv.cond");
        let x = Condition::open_path(&p, 0o600, &b).expect("open_path");
        let y = Condition::options().lock(&b).open_path(&p).expect("again");
        assert!(x.is_bound_to(&b) && y.is_bound_to(&b));
        let table = interlock::LockTable::new(2).unwrap();
        let on1 = Condition::new(&table[1]).unwrap();
        assert!(on1.is_bound_to(&table[1]) && !on1.is_bound_to(&table[0]));
        assert!(matches!(
            on1.wait(table[0].lock().unwrap()),
            Err(Error::WrongLock { .. })
        ));
        drop((cond, again));
    });
}

/// `remove_unheld` of a condition: refused while a waiter is counted in (its word is a count of
/// notifications, not a lock to take), done once nobody waits.
#[test]
fn a_condition_is_removed_only_while_nobody_waits() {
    in_private_namespace(|_| {
        let lock = Lock::open("rm-queue").unwrap();
        let cond = Condition::open("rm-ready", &lock).unwrap();
        std::thread::scope(|s| {
            let waiter = s.spawn(|| {
                let guard = lock.lock().unwrap();
                cond.wait_timeout(guard, PATIENCE).unwrap().1.timed_out()
            });
            wait_until("the waiter counted in", || cond.status().waiters == 1);
            let err = interlock::namespace::remove_unheld("rm-ready").unwrap_err();
            assert!(
                matches!(&err, Error::InUse { lock, holder: None } if lock.contains("condition")),
                "{err}"
            );
            cond.notify_one();
            assert!(!waiter.join().unwrap());
        });
        interlock::namespace::remove_unheld("rm-ready").expect("nobody waits");
        assert!(interlock::namespace::status("rm-ready").is_err(), "removed");
    });
}

/// `wait_interruptible`, the wait of a binding that checks for signals: between its looks the
/// waiter stays counted in (a notification given at any time is its own, taken once, and the
/// wait ends notified), and a look that says stop ends the wait as a timeout, lock held again,
/// counted out.
#[test]
fn an_interruptible_wait_stays_counted_in_between_looks_and_stops_when_told() {
    let lock = Lock::new().unwrap();
    let cond = Condition::new(&lock).unwrap();
    // Slot 0: the child's looks so far; slot 1: set by the parent to ask the child to stop.
    let mem = SharedMem::new(2);
    let child = fork(|| {
        let guard = lock.lock().unwrap();
        let (guard, r) = cond
            .wait_interruptible(guard, None, || {
                mem.slot(0).fetch_add(1, Ordering::Relaxed);
                false
            })
            .unwrap();
        assert!(!r.timed_out(), "child: the notification ended the wait");
        drop(guard);
        let guard = lock.lock().unwrap();
        let (guard, r) = cond
            .wait_interruptible(guard, Some(PATIENCE), || {
                mem.slot(1).load(Ordering::Relaxed) == 1
            })
            .unwrap();
        assert!(r.timed_out(), "child: stopped, not notified");
        assert!(lock.is_held_by_current_thread());
        drop(guard);
    });
    wait_until("the waiter looked five times", || {
        mem.slot(0).load(Ordering::Relaxed) >= 5
    });
    assert_eq!(cond.status().waiters, 1, "counted in between its looks");
    cond.notify_one();
    wait_until("the second wait counted in", || {
        let s = cond.status();
        s.waiters == 1 && s.pending == 0
    });
    mem.slot(1).store(1, Ordering::Relaxed);
    child.join();
    let s = cond.status();
    assert_eq!((s.waiters, s.pending), (0, 0), "counted out: {s:?}");
}
