//! Who counts as the holder: a dead holder whose pid now belongs to a live process is still dead
//! (PID reuse, forced with `/proc/sys/kernel/ns_last_pid`, needs root), and a live holder —
//! waiting, stopped, or a thread other than its process's first — is never taken for dead.
//!
//! Every test here takes `SERIAL` first: the PID-reuse tests need no other fork or thread start
//! in this process to take the pid they prepared.

use crate::common;

use std::io::Write;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use common::{
    channel, fork, have_root, hold_until_killed, loud_skip, start_time, Forked, LockUnderTest,
};
use interlock::Error;

static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

const NS_LAST_PID: &str = "/proc/sys/kernel/ns_last_pid";

/// Whether the second process starts in the same clock tick as the dead holder — so that pid
/// and start time (`/proc/PID/stat` field 22, in ticks of 10 ms) are both equal — or later.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tick {
    Same,
    Later,
}

/// The scene: a holder A that took the lock and was SIGKILLed and reaped, and a live process B
/// that has A's pid (and so A's thread id), started in the asked-for tick relative to A.
struct ReusedPid {
    l: LockUnderTest,
    dead_pid: u32,
    dead_start: u64,
    reuser: Forked,
    reuser_start: u64,
}

fn set_ns_last_pid(pid: u32) -> std::io::Result<()> {
    std::fs::OpenOptions::new()
        .write(true)
        .open(NS_LAST_PID)?
        .write_all(pid.to_string().as_bytes())
}

fn stage_reused_pid(flavor: common::Flavor, tick: Tick) -> Result<ReusedPid, String> {
    let mut tries = Vec::new();
    for _ in 0..20 {
        let l = LockUnderTest::new(flavor);
        let (tx, rx) = channel();
        let holder = fork(|| {
            let _guard = l.lock.lock().expect("holder: lock");
            tx.send("held");
            hold_until_killed();
        });
        rx.expect("held");
        let dead_pid = holder.pid();
        let dead_start = start_time(dead_pid).expect("holder's start time");
        if tick == Tick::Later {
            // Not synchronisation: the scene needs B to start at least one 10 ms tick after A.
            std::thread::sleep(Duration::from_millis(30));
        }
        holder.kill(libc::SIGKILL);
        holder.join_killed_by(libc::SIGKILL);
        set_ns_last_pid(dead_pid - 1).map_err(|e| format!("write {NS_LAST_PID}: {e}"))?;
        let reuser = fork(|| hold_until_killed());
        let reuser_start = start_time(reuser.pid()).unwrap_or(0);
        let same_tick = reuser_start == dead_start;
        if reuser.pid() == dead_pid && same_tick == (tick == Tick::Same) {
            return Ok(ReusedPid {
                l,
                dead_pid,
                dead_start,
                reuser,
                reuser_start,
            });
        }
        tries.push(format!(
            "holder pid {dead_pid} tick {dead_start} -> new process pid {} tick {reuser_start}",
            reuser.pid()
        ));
    }
    Err(format!(
        "could not stage a {tick:?}-tick reuse of a dead holder's pid: {tries:?}"
    ))
}

/// A dead holder's pid taken by a live process (B): the lock is still recovered with
/// `previous_owner_died`, and `status` does not call the dead holder alive.
fn reused_pid_does_not_hide_a_dead_holder(flavor: common::Flavor, tick: Tick) {
    if !have_root("force PID reuse through /proc/sys/kernel/ns_last_pid") {
        return;
    }
    let _serial = serial();
    let scene = match stage_reused_pid(flavor, tick) {
        Ok(scene) => scene,
        Err(why) => {
            loud_skip(&why, "cannot stage PID reuse");
            return;
        }
    };
    let ReusedPid {
        l,
        dead_pid,
        dead_start,
        reuser,
        reuser_start,
    } = &scene;
    let scene_text = format!(
        "{flavor:?}: holder pid {dead_pid} (start tick {dead_start}) SIGKILLed and reaped; pid {} now a live \
         process (start tick {reuser_start})",
        reuser.pid()
    );
    let before = l.lock.status();
    let t0 = Instant::now();
    // A liveness bound: a holder taken for alive is waited on until it; how fast a dead one
    // is found is the benchmark's business.
    let result = l.lock.lock_timeout(common::PATIENCE);
    let waited = t0.elapsed();
    let guard = result.unwrap_or_else(|e| {
        panic!("{scene_text}: the dead holder's lock was not recovered (waited {waited:?}): {e}\nstatus before: {before:?}")
    });
    assert!(
        guard.previous_owner_died(),
        "{scene_text}: acquired without the news (after {waited:?})"
    );
    match &before.holder {
        None => assert!(before.owner_died_unclaimed, "{scene_text}: {before:?}"),
        Some(h) => {
            assert_eq!(h.pid, *dead_pid);
            assert!(
                !h.alive,
                "{scene_text}: status called the dead holder alive: {before:?}"
            );
        }
    }
    eprintln!("{scene_text}: recovered in {waited:?}");
}

each_flavor! {
    /// [`reused_pid_does_not_hide_a_dead_holder`], the reusing process started in a later tick.
    fn reused_pid_does_not_hide_a_dead_holder_later_tick(flavor) {
        reused_pid_does_not_hide_a_dead_holder(flavor, Tick::Later);
    }
}

each_flavor! {
    /// [`reused_pid_does_not_hide_a_dead_holder`], the reusing process started in the same 10 ms
    /// tick as the dead holder: pid, thread id and `/proc` start time all equal.
    ///
    /// Regression test: `shared_file` failed here while the liveness check identified a holder
    /// by (pid, start time in clock ticks), which a process forked within the same tick repeats.
    /// Holders are now identified by their pidfs inode (`sys::process_identity`).
    fn reused_pid_does_not_hide_a_dead_holder_same_tick(flavor) {
        reused_pid_does_not_hide_a_dead_holder(flavor, Tick::Same);
    }
}

each_flavor! {
    /// A live holder — waiting on a pipe, then SIGSTOPped — is never taken for dead: timed waits
    /// of 100 and 300 ms (several liveness checks for a file others may write) end in `Timeout`
    /// naming it, no death is counted, and the holder's own unlock still succeeds.
    fn live_holder_is_not_taken_for_dead(flavor) {
        let _serial = serial();
        let l = LockUnderTest::new(flavor);
        let lock = &l.lock;
        let (tx, rx) = channel();
        let (to_child, from_parent) = channel();
        let child = fork(|| {
            let guard = lock.lock().expect("holder: lock");
            tx.send("held");
            from_parent.expect("release");
            guard.unlock().expect("the holder's own unlock: its hold was taken away");
        });
        rx.expect("held");
        let expect_timeout = |wait: Duration, state: &str| match lock.lock_timeout(wait) {
            Err(Error::Timeout { holder: Some(h), .. }) => {
                assert_eq!(h.pid, child.pid(), "{state}");
                assert!(h.alive, "{state} holder reported as not running: {h:?}");
            }
            Err(e) => panic!("{state} holder: lock_timeout({wait:?}) gave {e}, expected Timeout"),
            Ok(g) => panic!(
                "{state} holder's lock was taken after lock_timeout({wait:?}) (previous_owner_died: {})",
                g.previous_owner_died()
            ),
        };
        expect_timeout(Duration::from_millis(100), "a waiting");
        expect_timeout(Duration::from_millis(300), "a waiting");
        child.kill(libc::SIGSTOP);
        common::wait_until("the holder is stopped", || {
            std::fs::read_to_string(format!("/proc/{}/stat", child.pid()))
                .is_ok_and(|stat| stat.contains(") T "))
        });
        expect_timeout(Duration::from_millis(300), "a stopped");
        child.kill(libc::SIGCONT);
        assert_eq!(lock.status().owner_deaths, 0);
        to_child.send("release");
        child.join();
        let guard = lock.lock().expect("lock");
        assert!(!guard.previous_owner_died() && !guard.is_poisoned());
        assert_eq!(lock.status().owner_deaths, 0);
    }
}

each_flavor! {
    /// A live holder that is not its process's first thread (thread id ≠ pid) is not taken for
    /// dead either.
    fn live_holder_thread_is_not_taken_for_dead(flavor) {
        let _serial = serial();
        let l = LockUnderTest::new(flavor);
        let lock = &l.lock;
        let (tx, rx) = channel();
        let (to_child, from_parent) = channel();
        let child = fork(|| {
            std::thread::scope(|s| {
                s.spawn(|| {
                    let guard = lock.lock().expect("holder thread: lock");
                    tx.send(&common::gettid().to_string());
                    from_parent.expect("release");
                    guard.unlock().expect("the holder thread's own unlock");
                });
            })
        });
        let tid: u32 = rx.recv().parse().expect("tid");
        assert_ne!(tid, child.pid());
        match lock.lock_timeout(Duration::from_millis(300)) {
            Err(Error::Timeout { holder: Some(h), .. }) => {
                assert_eq!((h.pid, h.tid), (child.pid(), tid));
                assert!(h.alive, "{h:?}");
            }
            Err(e) => panic!("lock_timeout gave {e}, expected Timeout"),
            Ok(g) => panic!("a live holder thread's lock was taken (previous_owner_died: {})", g.previous_owner_died()),
        }
        to_child.send("release");
        child.join();
        assert_eq!(lock.status().owner_deaths, 0);
    }
}
