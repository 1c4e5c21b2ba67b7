//! Handing a lock to spawned programs: `pass_to` in the parent, `from_env` in the child (this
//! test binary re-run in a child role). The child gets the very same lock, only the programs it
//! is passed to get its descriptor, and a bad hand-over is a clear `Error::Inherit`.

use crate::common;

use std::fs::{File, OpenOptions};
use std::os::fd::AsRawFd;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::process::Command;

use common::{hear_from_parent, increment_file, role, role_command, tell_parent, RoleChild};
use interlock::{Error, Kind, Lock, RLock, SegmentFault};

const LOCK_VAR: &str = "INTERLOCK_TEST_LOCK";
const RLOCK_VAR: &str = "INTERLOCK_TEST_RLOCK";
const COUNTER_VAR: &str = "INTERLOCK_TEST_COUNTER";

fn open_rw(path: &str) -> File {
    OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .expect("open counter file")
}

/// The parent and two spawned programs, each adopting the lock with `from_env`, increment one
/// counter file 3,000 times each under it: the total is exact, and the shared record counted
/// every acquisition — all three used one lock.
#[test]
fn lock_passed_to_spawned_programs_excludes_them_exactly() {
    const N: u64 = 3_000;
    if role().as_deref() == Some("counter") {
        let lock = Lock::from_env(LOCK_VAR).expect("Lock::from_env");
        let file = open_rw(&std::env::var(COUNTER_VAR).expect("counter path"));
        tell_parent("adopted");
        assert_eq!(hear_from_parent(), "go");
        increment_file(&lock, &file, N);
        return;
    }
    let lock = Lock::new().expect("Lock::new");
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("counter");
    std::fs::write(&path, 0u64.to_ne_bytes()).expect("create counter");
    let mut children: Vec<RoleChild> = (0..2)
        .map(|_| {
            let mut cmd = role_command("counter");
            cmd.env(COUNTER_VAR, &path);
            lock.pass_to(&mut cmd, LOCK_VAR).expect("pass_to");
            RoleChild::spawn(cmd)
        })
        .collect();
    for child in &children {
        child.expect("adopted");
    }
    for child in &mut children {
        child.send("go");
    }
    increment_file(&lock, &open_rw(path.to_str().unwrap()), N);
    for child in children {
        child.finish();
    }
    let total = u64::from_ne_bytes(
        std::fs::read(&path).expect("read counter")[..8]
            .try_into()
            .unwrap(),
    );
    assert_eq!(
        total,
        3 * N,
        "lost increments between the parent and the spawned programs"
    );
    let status = lock.status();
    assert_eq!(
        status.acquisitions,
        3 * N,
        "the children did not use the parent's lock: {status:?}"
    );
    assert!(status.holder.is_none() && !status.poisoned, "{status:?}");
}

/// A spawned program that adopted the lock and is SIGKILLed holding it is reported to the
/// parent's next acquisition.
#[test]
fn spawned_holder_killed_is_reported_to_the_parent() {
    if role().as_deref() == Some("holder") {
        let lock = Lock::from_env(LOCK_VAR).expect("Lock::from_env");
        let _guard = lock.lock().expect("lock");
        tell_parent("held");
        hear_from_parent(); // never comes: the parent kills us
        unreachable!("the parent should have killed this holder");
    }
    let lock = Lock::new().expect("Lock::new");
    let mut cmd = role_command("holder");
    lock.pass_to(&mut cmd, LOCK_VAR).expect("pass_to");
    let mut child = RoleChild::spawn(cmd);
    child.expect("held");
    let holder = lock
        .status()
        .holder
        .expect("the spawned program holds the lock");
    assert_eq!(holder.pid, child.pid());
    child.kill();
    let guard = lock
        .lock_timeout(common::PATIENCE)
        .expect("recover the killed program's lock");
    assert!(
        guard.previous_owner_died(),
        "the spawned holder's death was not reported"
    );
    assert!(guard.is_poisoned());
    assert_eq!(lock.status().owner_deaths, 1);
    drop(guard);
    child.finish_killed();
}

fn fd_is_open(fd: i32) -> bool {
    // SAFETY: fcntl(F_GETFD) on an integer only reports; EBADF for a closed descriptor.
    (unsafe { libc::fcntl(fd, libc::F_GETFD) }) >= 0
}

fn inherit_reason(result: Result<Lock, Error>, var: &str) -> String {
    match result {
        Err(Error::Inherit { var: v, reason }) => {
            assert_eq!(v, var, "the error names the wrong variable");
            reason
        }
        other => panic!("from_env({var}) gave {other:?}, expected Error::Inherit"),
    }
}

/// `from_env` with the variable missing, malformed, naming a closed descriptor, or naming an
/// open descriptor that is not the lock (a reused number) is `Error::Inherit`, each with its own
/// reason, and takes over no descriptor. A descriptor that is the right file but not a lock is
/// `BadSegment`; an RLock adopted as a Lock (or back) is `KindMismatch`.
#[test]
fn from_env_errors_say_what_is_wrong() {
    if role().as_deref() == Some("adopter") {
        // Only this test runs in this process (`--exact`, one test thread), so setting
        // variables here races with nobody.
        let missing = inherit_reason(
            Lock::from_env("INTERLOCK_TEST_NEVER_SET"),
            "INTERLOCK_TEST_NEVER_SET",
        );
        assert!(missing.contains("not set"), "{missing}");

        std::env::set_var("INTERLOCK_TEST_MALFORMED", "fd=3;dev=1");
        let malformed = inherit_reason(
            Lock::from_env("INTERLOCK_TEST_MALFORMED"),
            "INTERLOCK_TEST_MALFORMED",
        );
        assert!(
            malformed.contains("malformed") && malformed.contains("fd=3;dev=1"),
            "{malformed}"
        );

        // The real value, but the descriptor number closed (not inherited) or reused.
        let real = std::env::var(LOCK_VAR).expect("the parent passed a lock");
        let real_fd: i32 = real
            .split(':')
            .find_map(|part| part.strip_prefix("fd="))
            .and_then(|fd| fd.parse().ok())
            .unwrap_or_else(|| panic!("cannot read the descriptor in {real:?}"));
        let closed_fd = (900..1000)
            .find(|&fd| !fd_is_open(fd))
            .expect("a closed descriptor number");
        std::env::set_var(
            "INTERLOCK_TEST_CLOSED",
            real.replace(&format!("fd={real_fd}:"), &format!("fd={closed_fd}:")),
        );
        let closed = inherit_reason(
            Lock::from_env("INTERLOCK_TEST_CLOSED"),
            "INTERLOCK_TEST_CLOSED",
        );
        assert!(
            closed.contains("not open") && closed.contains(&closed_fd.to_string()),
            "{closed}"
        );

        let other = tempfile::tempfile().expect("tempfile");
        let other_fd = other.as_raw_fd();
        std::env::set_var(
            "INTERLOCK_TEST_REUSED",
            real.replace(&format!("fd={real_fd}:"), &format!("fd={other_fd}:")),
        );
        let reused = inherit_reason(
            Lock::from_env("INTERLOCK_TEST_REUSED"),
            "INTERLOCK_TEST_REUSED",
        );
        assert!(reused.contains("not the lock that was passed"), "{reused}");
        assert!(
            fd_is_open(other_fd),
            "from_env closed a descriptor it did not own"
        );

        let reasons = [&missing, &malformed, &closed, &reused];
        for (i, a) in reasons.iter().enumerate() {
            for b in &reasons[i + 1..] {
                assert_ne!(a, b, "two different faults gave the same reason");
            }
        }
        let shown = Lock::from_env("INTERLOCK_TEST_MALFORMED")
            .unwrap_err()
            .to_string();
        assert!(
            shown.contains("$INTERLOCK_TEST_MALFORMED"),
            "the message names the variable: {shown}"
        );

        // The right file, but no lock in it.
        let garbage = tempfile::tempfile().expect("tempfile");
        garbage.write_all_at(&[0xAB; 192], 0).expect("write");
        let meta = garbage.metadata().expect("metadata");
        std::env::set_var(
            "INTERLOCK_TEST_GARBAGE",
            format!(
                "interlock:v1:fd={}:dev={}:ino={}",
                garbage.as_raw_fd(),
                meta.dev(),
                meta.ino()
            ),
        );
        match Lock::from_env("INTERLOCK_TEST_GARBAGE") {
            Err(Error::BadSegment {
                fault: SegmentFault::Foreign { found },
                ..
            }) => assert_eq!(found, [0xAB; 8]),
            other => panic!(
                "a passed file that is not a lock gave {other:?}, expected BadSegment(Foreign)"
            ),
        }

        match Lock::from_env(RLOCK_VAR) {
            Err(Error::KindMismatch {
                expected: Kind::Lock,
                found: Kind::RLock,
                ..
            }) => {}
            other => panic!("an RLock adopted as a Lock gave {other:?}, expected KindMismatch"),
        }
        match RLock::from_env(LOCK_VAR) {
            Err(Error::KindMismatch {
                expected: Kind::RLock,
                found: Kind::Lock,
                ..
            }) => {}
            other => panic!("a Lock adopted as an RLock gave {other:?}, expected KindMismatch"),
        }
        RLock::from_env(RLOCK_VAR).expect("the RLock adopted as an RLock");
        Lock::from_env(LOCK_VAR).expect("the Lock adopted as a Lock");
        return;
    }
    let lock = Lock::new().expect("Lock::new");
    let rlock = RLock::new().expect("RLock::new");
    let mut cmd = role_command("adopter");
    lock.pass_to(&mut cmd, LOCK_VAR).expect("pass_to");
    rlock.pass_to(&mut cmd, RLOCK_VAR).expect("pass_to");
    RoleChild::spawn(cmd).finish();
}

/// `pass_to` refuses variable names the environment cannot hold, saying it is the environment
/// variable's name that is wrong (issue 11, item 9: it used to say "invalid lock name").
#[test]
fn pass_to_refuses_bad_variable_names() {
    let lock = Lock::new().expect("Lock::new");
    for bad in ["", "A=B", "A\0B"] {
        let mut cmd = Command::new("true");
        let err = lock.pass_to(&mut cmd, bad).unwrap_err();
        match &err {
            Error::InvalidVarName { var, .. } => assert_eq!(var, bad),
            other => panic!("pass_to(var = {bad:?}) gave {other:?}, expected InvalidVarName"),
        }
        let shown = err.to_string();
        assert!(
            shown.contains("environment variable")
                && shown.contains(&format!("{bad:?}"))
                && !shown.contains("lock name"),
            "pass_to(var = {bad:?}) gave {err:?}: {shown}"
        );
    }
}

/// The lock's descriptors (`/memfd:interlock`) in this process, as `/proc/self/fd` shows them.
fn interlock_descriptors() -> Vec<String> {
    std::fs::read_dir("/proc/self/fd")
        .expect("/proc/self/fd")
        .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
        .map(|target| target.display().to_string())
        .filter(|target| target.starts_with("/memfd:interlock"))
        .collect()
}

/// A lock's descriptor reaches the programs it is passed to, and no other: locks are
/// close-on-exec unless `pass_to` says otherwise, for that command only.
#[test]
fn lock_descriptor_reaches_only_the_programs_it_is_passed_to() {
    match role().as_deref() {
        Some("given") => {
            assert_eq!(
                interlock_descriptors().len(),
                1,
                "{:?}",
                interlock_descriptors()
            );
            return;
        }
        Some("not-given") => {
            assert!(
                interlock_descriptors().is_empty(),
                "leaked: {:?}",
                interlock_descriptors()
            );
            return;
        }
        _ => {}
    }
    let lock = Lock::new().expect("Lock::new");
    let mut given = role_command("given");
    lock.pass_to(&mut given, LOCK_VAR).expect("pass_to");
    RoleChild::spawn(given).finish();
    RoleChild::spawn(role_command("not-given")).finish();
}

/// A lock file's descriptor is closed once it is mapped (a process may hold thousands of named
/// locks); `pass_to` reopens the file by path. The program gets the very same lock — and a
/// path that names another file by then is refused, not silently a different lock.
#[test]
fn a_lock_file_is_reopened_by_path_for_the_programs_it_is_passed_to() {
    if role().as_deref() == Some("path-holder") {
        let lock = Lock::from_env(LOCK_VAR).expect("Lock::from_env");
        let guard = lock.lock().expect("lock");
        tell_parent("held");
        assert_eq!(hear_from_parent(), "release");
        drop(guard);
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("passed.lock");
    let lock = Lock::open_path(&path, 0o600).expect("open_path");
    assert_eq!(
        descriptors_of(&path),
        0,
        "the mapped lock file is still open"
    );
    let mut cmd = role_command("path-holder");
    lock.pass_to(&mut cmd, LOCK_VAR).expect("pass_to");
    let mut child = RoleChild::spawn(cmd);
    child.expect("held");
    assert!(
        lock.try_lock().expect("try_lock").is_none(),
        "the program's hold is not this lock's"
    );
    assert_eq!(
        descriptors_of(&path),
        0,
        "the command's descriptor stayed here"
    );
    child.send("release");
    child.finish();
    assert!(lock.try_lock().expect("try_lock").is_some());

    // The path replaced by another lock file: refused, naming what happened.
    std::fs::remove_file(&path).expect("remove");
    drop(Lock::open_path(&path, 0o600).expect("a new file at the path"));
    let mut cmd = role_command("path-holder");
    let err = lock.pass_to(&mut cmd, LOCK_VAR).unwrap_err();
    assert!(err.to_string().contains("replaced"), "{err}");
}

/// How many of this process's descriptors are open on `path`.
fn descriptors_of(path: &std::path::Path) -> usize {
    std::fs::read_dir("/proc/self/fd")
        .expect("/proc/self/fd")
        .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
        .filter(|target| target == path)
        .count()
}
