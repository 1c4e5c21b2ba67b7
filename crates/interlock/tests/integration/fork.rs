//! Locks shared through `fork`: mutual exclusion between processes and the threads inside them,
//! what another process sees while the lock is held, and guards copied into children.

use crate::common;

use std::cell::RefCell;
use std::sync::atomic::Ordering;
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use common::{bump, channel, fork, LockUnderTest, SharedMem};
use interlock::{Error, Lock, LockGuard};

const INCREMENTS: u64 = 10_000;

fn increment_under_lock(lock: &Lock, counter: &std::sync::atomic::AtomicU64, n: u64) {
    for i in 0..n {
        let guard = lock.lock().expect("lock");
        bump(counter, i);
        drop(guard);
    }
}

each_flavor! {
    /// 8 processes × 10,000 non-atomic increments of a counter in shared memory: none is lost.
    fn eight_processes_never_lose_an_increment(flavor) {
        let l = LockUnderTest::new(flavor);
        let mem = SharedMem::new(1);
        let children: Vec<_> = (0..8)
            .map(|_| fork(|| increment_under_lock(&l.lock, mem.slot(0), INCREMENTS)))
            .collect();
        for child in children {
            child.join();
        }
        let status = l.lock.status();
        assert_eq!(mem.slot(0).load(Ordering::SeqCst), 8 * INCREMENTS, "lost increments; {status:?}");
        assert_eq!(status.acquisitions, 8 * INCREMENTS, "every acquisition got its own token");
        assert!(status.holder.is_none() && status.waiters == 0, "{status:?}");
        assert_eq!(status.owner_deaths, 0);
        assert!(!status.poisoned);
    }
}

each_flavor! {
    /// 4 processes with 2 threads each (threads started after the fork) × 10,000 increments.
    fn threads_inside_four_processes_never_lose_an_increment(flavor) {
        let l = LockUnderTest::new(flavor);
        let mem = SharedMem::new(1);
        let children: Vec<_> = (0..4)
            .map(|_| {
                fork(|| {
                    std::thread::scope(|s| {
                        for _ in 0..2 {
                            s.spawn(|| increment_under_lock(&l.lock, mem.slot(0), INCREMENTS));
                        }
                    })
                })
            })
            .collect();
        for child in children {
            child.join();
        }
        let status = l.lock.status();
        assert_eq!(mem.slot(0).load(Ordering::SeqCst), 8 * INCREMENTS, "lost increments; {status:?}");
        assert_eq!(status.acquisitions, 8 * INCREMENTS);
        assert!(status.holder.is_none() && status.waiters == 0, "{status:?}");
    }
}

each_flavor! {
    /// While a child holds the lock: `try_lock` is `None`, `lock_timeout` is a `Timeout` naming
    /// the child and ends in bounded time, `try_lock_for` is `Ok(None)`; once it lets go, the
    /// lock is free again.
    fn lock_held_by_another_process_is_refused_and_its_holder_named(flavor) {
        let l = LockUnderTest::new(flavor);
        let lock = &l.lock;
        let (to_parent, from_child) = channel();
        let (to_child, from_parent) = channel();
        let child = fork(|| {
            let guard = lock.lock().expect("child: lock");
            to_parent.send("held");
            from_parent.expect("release");
            guard.unlock().expect("child: its own unlock");
        });
        from_child.expect("held");

        assert!(lock.try_lock().expect("try_lock").is_none(), "try_lock took a lock another process holds");

        let t0 = Instant::now();
        let err = lock.lock_timeout(Duration::from_millis(200)).map(|g| g.token()).unwrap_err();
        let elapsed = t0.elapsed();
        match &err {
            Error::Timeout { holder: Some(h), waited, .. } => {
                assert_eq!(h.pid, child.pid(), "Timeout names the wrong holder: {err}");
                assert!(h.alive, "a live holder reported as not running: {err}");
                assert!(*waited >= Duration::from_millis(200), "waited only {waited:?}");
            }
            other => panic!("expected Timeout naming the holder, got {other:?}"),
        }
        assert!(
            err.to_string().contains(&format!("pid {}", child.pid())),
            "the message should name the holder: {err}"
        );
        // Bounded: it returned at all while the holder kept the lock (PATIENCE is a liveness
        // bound, not a claim about how late a loaded machine wakes a timed waiter).
        assert!(
            elapsed >= Duration::from_millis(200) && elapsed < common::PATIENCE,
            "lock_timeout(200ms) returned after {elapsed:?}"
        );

        let t0 = Instant::now();
        assert!(lock.try_lock_for(Duration::from_millis(50)).expect("try_lock_for").is_none());
        assert!(t0.elapsed() >= Duration::from_millis(50), "try_lock_for gave up after {:?}", t0.elapsed());

        to_child.send("release");
        child.join();
        let guard = lock.try_lock().expect("try_lock").expect("free once the child released it");
        assert!(!guard.previous_owner_died(), "a clean release was reported as a death");
        assert_eq!(lock.status().owner_deaths, 0);
    }
}

each_flavor! {
    /// Locking again on the thread that holds the lock is `WouldDeadlock` at once — from every
    /// acquiring method — and leaves the first hold intact. (The attempts run on a detached
    /// thread: were one to hang, the test fails instead of waiting for it.)
    fn relocking_on_the_holding_thread_is_refused_not_a_hang(flavor) {
        let l = Arc::new(LockUnderTest::new(flavor));
        let (tx, rx) = mpsc::channel();
        let shared = Arc::clone(&l);
        std::thread::spawn(move || {
            let lock = &shared.lock;
            let guard = lock.lock().expect("first lock");
            let t0 = Instant::now();
            let results = [
                ("lock", lock.lock().map(drop)),
                ("try_lock", lock.try_lock().map(drop)),
                ("lock_timeout(PATIENCE)", lock.lock_timeout(common::PATIENCE).map(drop)),
                ("try_lock_for(PATIENCE)", lock.try_lock_for(common::PATIENCE).map(drop)),
            ];
            let elapsed = t0.elapsed();
            let still_held = lock.is_held_by_current_thread()
                && lock.status().holder.map(|h| h.token) == Some(guard.token());
            drop(guard);
            tx.send((results, elapsed, still_held)).unwrap();
        });
        // Two timed attempts that waited out their timeouts would take 2 × PATIENCE.
        let (results, elapsed, still_held) = rx
            .recv_timeout(3 * common::PATIENCE)
            .expect("relocking on the holding thread hung instead of failing");
        for (what, result) in results {
            assert!(
                matches!(result, Err(Error::WouldDeadlock { .. })),
                "{what} on the holding thread gave {result:?}, expected WouldDeadlock"
            );
        }
        assert!(elapsed < common::PATIENCE, "the refusals took {elapsed:?}: one waited out its timeout");
        assert!(still_held, "a refused relock disturbed the first hold");
        assert!(l.lock.status().holder.is_none());
    }
}

each_flavor! {
    /// A forked child's copy of the parent's guard neither releases the parent's hold when
    /// dropped nor when `unlock`ed (that is `NotOwner`), and `release()` there is `NotOwner`.
    fn guard_copied_into_a_forked_child_does_not_release_the_parents_hold(flavor) {
        let l = LockUnderTest::new(flavor);
        let lock = &l.lock;
        let me = std::process::id();
        let slot: RefCell<Option<LockGuard<'_>>> = RefCell::new(Some(lock.lock().expect("lock")));
        let token = slot.borrow().as_ref().unwrap().token();

        // The copy dropped.
        fork(|| {
            let copy = slot.borrow_mut().take().expect("the child's copy of the guard");
            drop(copy);
            assert!(lock.try_lock().expect("child: try_lock").is_none(), "the dropped copy released the lock");
        })
        .join();

        // The copy unlocked explicitly, and a bare release.
        fork(|| {
            let copy = slot.borrow_mut().take().expect("the child's copy of the guard");
            match copy.unlock() {
                Err(Error::NotOwner { holder: Some(h), .. }) => assert_eq!(h.pid, me, "NotOwner names {h:?}"),
                other => panic!("unlock of a forked copy gave {other:?}, expected NotOwner naming the parent"),
            }
            match lock.release() {
                Err(Error::NotOwner { holder: Some(h), .. }) => assert_eq!(h.pid, me),
                other => panic!("release in the child gave {other:?}, expected NotOwner"),
            }
            assert!(lock.try_lock().expect("child: try_lock").is_none(), "unlocking the copy released the lock");
        })
        .join();

        let status = lock.status();
        let holder = status.holder.as_ref().expect("the parent still holds the lock");
        assert_eq!((holder.pid, holder.tid, holder.token), (me, common::gettid(), token), "{status:?}");
        assert!(lock.is_held_by_current_thread());
        // Another process still finds it taken: the shared word, not just our view of it.
        fork(|| assert!(lock.try_lock().expect("try_lock").is_none())).join();

        drop(slot.borrow_mut().take());
        assert!(lock.status().holder.is_none(), "the parent's own guard releases it");
        fork(|| assert!(lock.try_lock().expect("try_lock").is_some())).join();
    }
}
