//! Holders that do not finish their section: SIGKILLed, `_exit`ing, a thread ending with the
//! lock, a panic unwinding through the guard. The next owner gets the lock — promptly, with the
//! news — and the lock works normally once the poison is cleared.
//!
//! `INTERLOCK_CRASH_ROUNDS` sets how many holders are killed per flavour (default 20; raise it
//! for a stress run).

use crate::common;

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use common::{channel, fork, hold_until_killed, wait_until, LockUnderTest, SharedMem, PATIENCE};
use interlock::{Lock, RLock};

/// The bound on the *median* recovery of a dead holder's lock over [`kill_holders`]' rounds. The
/// kernel reports a robust holder's death at once, waiters' checks find the others within
/// about 50 ms; a median this far above that means a slower mechanism is at work, not a busy
/// machine. Each single recovery is only held to [`PATIENCE`] (a liveness bound: speed is the
/// benchmark's business, `ci/bench-smoke.sh`).
const MEDIAN_RECOVERY_BOUND: Duration = Duration::from_secs(1);

fn crash_rounds() -> u64 {
    match std::env::var("INTERLOCK_CRASH_ROUNDS") {
        Ok(v) => v
            .parse()
            .unwrap_or_else(|_| panic!("INTERLOCK_CRASH_ROUNDS={v:?} is not a number")),
        Err(_) => 20,
    }
}

/// When the parent reaps a killed holder: before it recovers the lock, or only after.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reap {
    /// The usual order for a parent that is also a lock user: it locks first, reaps later. While
    /// it waits, the dead holder is a zombie: its threads are gone, its pid and `/proc` entry
    /// are not.
    AfterRecovery,
    /// The holder is gone entirely before anyone looks for it.
    BeforeRecovery,
}

/// Round after round, a child takes the lock, writes into the protected memory, says so and is
/// SIGKILLed; the parent gets the lock (median recovery under 1 s) with `previous_owner_died`,
/// one more owner death counted, the lock poisoned and the dead holder's write visible; after
/// `clear_poison` the next acquisition is an ordinary one.
fn kill_holders(flavor: common::Flavor, reap: Reap) {
    let l = LockUnderTest::new(flavor);
    let lock = &l.lock;
    let mem = SharedMem::new(1);
    let mut recoveries = Vec::new();
    for round in 1..=crash_rounds() {
        let (tx, rx) = channel();
        let child = fork(|| {
            let _guard = lock.lock().expect("child: lock");
            mem.slot(0).store(round, Ordering::Relaxed);
            tx.send("held");
            hold_until_killed();
        });
        rx.expect("held");
        let before = lock.status();
        let holder = before.holder.clone().expect("the child holds the lock");
        assert_eq!(holder.pid, child.pid(), "round {round}: {before:?}");

        child.kill(libc::SIGKILL);
        let child = match reap {
            Reap::BeforeRecovery => {
                child.join_killed_by(libc::SIGKILL);
                None
            }
            Reap::AfterRecovery => Some(child),
        };
        let t0 = Instant::now();
        let result = lock.lock_timeout(PATIENCE);
        let recovery = t0.elapsed();
        recoveries.push(recovery);
        let guard = result.unwrap_or_else(|e| {
            panic!(
                "round {round}: the dead holder's lock was not recovered (after {recovery:?}; holder reaped: {}): \
                 {e}\nstatus now: {:?}",
                reap == Reap::BeforeRecovery,
                lock.status()
            )
        });
        assert!(
            guard.previous_owner_died(),
            "round {round}: acquired after the holder was SIGKILLed, but not told it died (recovery {recovery:?})"
        );
        assert_eq!(
            mem.slot(0).load(Ordering::Relaxed),
            round,
            "round {round}: the dead holder's write is lost"
        );
        let after = lock.status();
        assert_eq!(
            after.owner_deaths,
            before.owner_deaths + 1,
            "round {round}: {after:?}"
        );
        assert!(
            after.poisoned && guard.is_poisoned() && lock.is_poisoned(),
            "round {round}: death must poison: {after:?}"
        );
        assert!(
            guard.token() > holder.token,
            "round {round}: fencing token did not advance"
        );

        guard.clear_poison();
        assert!(!lock.is_poisoned());
        drop(guard);
        if let Some(child) = child {
            child.join_killed_by(libc::SIGKILL);
        }

        let normal = lock.lock().expect("lock after recovery");
        assert!(
            !normal.previous_owner_died() && !normal.is_poisoned(),
            "round {round}: an ordinary acquisition after recovery still reports the death"
        );
        drop(normal);
        assert!(lock.status().holder.is_none());
    }
    recoveries.sort();
    let median = recoveries
        .get(recoveries.len() / 2)
        .copied()
        .unwrap_or_default();
    eprintln!(
        "{} rounds: median recovery {median:?}, slowest {:?}",
        recoveries.len(),
        recoveries.last()
    );
    assert!(
        median < MEDIAN_RECOVERY_BOUND,
        "{} rounds, median recovery {median:?}: {recoveries:?}",
        recoveries.len()
    );
    assert_eq!(u64::from(lock.status().owner_deaths), crash_rounds());
}

each_flavor! {
    /// [`kill_holders`], the parent recovering the lock while the killed holder is still a
    /// zombie (it reaps afterwards).
    ///
    /// For `shared_file` (no robust list: waiters check on the holder) this needs the liveness
    /// check to count a zombie as dead — its `/proc/PID/stat` start time and `/proc/PID/task/TID`
    /// outlive its threads. This test found that `sys::thread_alive` did not (the lock of a dead,
    /// unreaped holder was never recovered); it now reads the task state (Z/X = dead).
    fn sigkilled_holder_is_reported_to_next_owner(flavor) {
        kill_holders(flavor, Reap::AfterRecovery);
    }
}

each_flavor! {
    /// [`kill_holders`], the killed holder reaped before the parent looks for the lock.
    fn sigkilled_and_reaped_holder_is_reported_to_next_owner(flavor) {
        kill_holders(flavor, Reap::BeforeRecovery);
    }
}

each_flavor! {
    /// Two waiters already blocked when the holder is SIGKILLed — another process in an untimed
    /// `lock()` and a thread of ours in `lock_timeout` — both get the lock in turn, and exactly
    /// one of them is told the owner died.
    fn waiters_blocked_in_lock_get_it_when_the_holder_is_sigkilled(flavor) {
        let l = LockUnderTest::new(flavor);
        let lock = &l.lock;
        let (holder_tx, holder_rx) = channel();
        let (waiter_tx, waiter_rx) = channel();
        let holder = fork(|| {
            let _guard = lock.lock().expect("holder: lock");
            holder_tx.send("held");
            hold_until_killed();
        });
        holder_rx.expect("held");
        let waiter = fork(|| {
            let guard = lock.lock().expect("waiter: lock");
            waiter_tx.send(&format!("{} {}", guard.previous_owner_died(), guard.is_poisoned()));
        });
        let (thread_died, thread_poisoned, child_died, child_poisoned) = std::thread::scope(|s| {
            let thread = s.spawn(|| {
                let guard = lock.lock_timeout(PATIENCE).expect("thread waiter: lock_timeout");
                (guard.previous_owner_died(), guard.is_poisoned())
            });
            wait_until("both waiters are blocked on the lock", || lock.status().waiters >= 2);
            holder.kill(libc::SIGKILL);
            // Reaped at once: this test is about the blocked waiters (zombie holders:
            // `sigkilled_holder_is_reported_to_next_owner`).
            holder.join_killed_by(libc::SIGKILL);
            let said = waiter_rx.recv();
            let (child_died, child_poisoned) = said
                .split_once(' ')
                .map(|(d, p)| (d == "true", p == "true"))
                .unwrap_or_else(|| panic!("waiter said {said:?}"));
            let (thread_died, thread_poisoned) = thread.join().expect("thread waiter panicked");
            (thread_died, thread_poisoned, child_died, child_poisoned)
        });
        waiter.join();
        assert_eq!(
            u32::from(thread_died) + u32::from(child_died),
            1,
            "exactly one waiter must be told of the death (thread: {thread_died}, process: {child_died})"
        );
        assert!(thread_poisoned && child_poisoned, "both acquired while poisoned and must see it");
        let status = lock.status();
        assert_eq!(status.owner_deaths, 1, "{status:?}");
        assert!(status.holder.is_none() && status.waiters == 0, "{status:?}");
    }
}

each_flavor! {
    /// A holder that `_exit`s inside the section is a death like a SIGKILL.
    fn holder_exiting_inside_the_section_is_reported(flavor) {
        let l = LockUnderTest::new(flavor);
        let lock = &l.lock;
        fork(|| {
            let _guard = lock.lock().expect("child: lock");
            // SAFETY: _exit ends this forked child while it holds the lock: the case under test.
            unsafe { libc::_exit(0) };
        })
        .join();
        let guard = lock.lock_timeout(PATIENCE).expect("recover the lock of a holder that exited");
        assert!(guard.previous_owner_died(), "a holder that exited in the section was not reported");
        assert!(guard.is_poisoned());
        assert_eq!(lock.status().owner_deaths, 1);
    }
}

each_flavor! {
    /// A holding thread that ends (its guard leaked) while its process lives on is reported too.
    fn holder_thread_ending_while_its_process_lives_is_reported(flavor) {
        let l = LockUnderTest::new(flavor);
        let lock = &l.lock;
        let tid = std::thread::scope(|s| {
            s.spawn(|| {
                std::mem::forget(lock.lock().expect("thread: lock"));
                common::gettid()
            })
            .join()
            .expect("thread")
        });
        let t0 = Instant::now();
        let guard = lock
            .lock_timeout(PATIENCE)
            .unwrap_or_else(|e| panic!("the lock of ended thread {tid} was not recovered after {:?}: {e}", t0.elapsed()));
        assert!(guard.previous_owner_died(), "thread {tid} ended holding the lock, not reported");
        assert_eq!(lock.status().owner_deaths, 1);
    }
}

each_flavor! {
    /// A panic inside the section, unwinding through the guard, poisons the lock for every
    /// process; the lock is released (not dead) and works normally after `clear_poison`.
    fn panic_inside_the_section_poisons_the_lock_for_every_process(flavor) {
        let l = LockUnderTest::new(flavor);
        let lock = &l.lock;
        let report = fork(|| {
            let _guard = lock.lock().expect("child: lock");
            panic!("section failed halfway");
        })
        .join_with_code(101);
        assert!(report.contains("section failed halfway"), "child reported {report:?}");

        assert!(lock.is_poisoned(), "a panic in another process's section did not poison the lock");
        let status = lock.status();
        assert!(status.poisoned && status.holder.is_none(), "the unwinding guard must release it: {status:?}");
        assert_eq!(status.owner_deaths, 0, "a panic is not a death: {status:?}");
        let guard = lock.try_lock().expect("try_lock").expect("released by the unwinding guard");
        assert!(!guard.previous_owner_died(), "a panic is not a death");
        assert!(guard.is_poisoned());
        drop(guard);
        fork(|| assert!(lock.is_poisoned(), "another process does not see the poison")).join();

        lock.clear_poison();
        assert!(!lock.is_poisoned());
        fork(|| {
            let guard = lock.lock().expect("lock");
            assert!(!guard.is_poisoned() && !guard.previous_owner_died(), "still poisoned in another process");
        })
        .join();
        assert!(!lock.status().poisoned);
    }
}

/// A lock taken while a panic is already unwinding (in a destructor) is not poisoned when that
/// guard drops: only a panic that starts inside the section poisons.
#[test]
fn panic_that_began_before_the_section_does_not_poison() {
    struct LocksInDrop<'a>(&'a Lock);
    impl Drop for LocksInDrop<'_> {
        fn drop(&mut self) {
            let guard = self.0.lock().expect("lock while unwinding");
            assert!(!guard.is_poisoned());
        }
    }
    let lock = Lock::new().expect("Lock::new");
    let unwound = std::panic::catch_unwind(|| {
        let _locks_in_drop = LocksInDrop(&lock);
        panic!("outside any section");
    });
    assert!(unwound.is_err());
    assert!(
        !lock.is_poisoned(),
        "a guard taken during unwinding poisoned the lock"
    );
}

/// An RLock holder killed three levels deep: the next owner starts a fresh hold at depth 1 (the
/// dead holder's depth is not inherited) and re-enters and releases normally.
#[test]
fn sigkilled_rlock_holder_three_deep_leaves_a_fresh_hold_to_the_next_owner() {
    let dir = tempfile::tempdir().expect("tempdir");
    let rlocks = [
        ("anonymous", RLock::new().expect("RLock::new")),
        (
            "shared file",
            RLock::open_path(dir.path().join("r.lock"), 0o666).expect("open_path"),
        ),
    ];
    for (what, rlock) in &rlocks {
        let (tx, rx) = channel();
        let child = fork(|| {
            let _a = rlock.lock().expect("depth 1");
            let _b = rlock.lock().expect("depth 2");
            let _c = rlock.lock().expect("depth 3");
            tx.send("held");
            hold_until_killed();
        });
        rx.expect("held");
        assert_eq!(rlock.status().depth, 3, "{what}");
        child.kill(libc::SIGKILL);
        child.join_killed_by(libc::SIGKILL); // reaped: zombie holders are another test's concern
        let guard = rlock
            .lock_timeout(PATIENCE)
            .unwrap_or_else(|e| panic!("{what}: {e}"));
        assert!(guard.previous_owner_died(), "{what}");
        assert_eq!(
            (guard.depth(), rlock.status().depth),
            (1, 1),
            "{what}: the dead holder's depth leaked"
        );
        guard.clear_poison();
        let inner = rlock.lock().expect("re-enter");
        assert_eq!((inner.depth(), rlock.status().depth), (2, 2), "{what}");
        drop(inner);
        drop(guard);
        let status = rlock.status();
        assert!(
            status.holder.is_none() && status.depth == 0,
            "{what}: {status:?}"
        );
    }
}
