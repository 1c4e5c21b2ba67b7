//! `FileLock` (issue 12): any file — a `touch`ed one, a data file — locked side by side with
//! flock(2) users of it, its bytes never changed, a killed holder reported to the next one.

use crate::common;

use std::fs::File;
use std::os::fd::AsRawFd;
use std::time::Duration;

use common::{hold_until_killed, role, role_command, shared_namespace, tell_parent, RoleChild};
use interlock::{Error, FileLock};

const FILE_VAR: &str = "INTERLOCK_TEST_FILE";

/// `flock(fd, op)` on a descriptor of our own: what flock(1) does.
fn flock(file: &File, op: i32) -> std::io::Result<()> {
    // SAFETY: flock on a descriptor we own; no memory is passed.
    if unsafe { libc::flock(file.as_raw_fd(), op) } == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// A process holding a `FileLock` on a data file is SIGKILLed: meanwhile neither another
/// `FileLock` nor a plain flock(2) gets in, `status` names it in both records; after the kill
/// the next holder is told, and the data file's bytes are what they were.
#[test]
fn a_killed_holder_of_a_data_file_is_reported_and_the_file_is_untouched() {
    shared_namespace();
    if role().as_deref() == Some("holder") {
        let lock = FileLock::open(std::env::var(FILE_VAR).unwrap(), 0o600).expect("open");
        let _guard = lock.lock().expect("lock");
        tell_parent("held");
        hold_until_killed();
    }
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data.db");
    let content: Vec<u8> = (0..=255u8).cycle().take(10_000).collect();
    std::fs::write(&data, &content).unwrap();
    let mtime = std::fs::metadata(&data).unwrap().modified().unwrap();

    let mut cmd = role_command("holder");
    cmd.env(FILE_VAR, &data);
    let mut holder = RoleChild::spawn(cmd);
    holder.expect("held");
    let lock = FileLock::open(&data, 0o600).expect("open");
    assert!(lock.is_sidecar(), "a data file is no interlock lock file");
    assert!(lock.try_lock().expect("try_lock").is_none());
    let other = File::open(&data).unwrap();
    let err = flock(&other, libc::LOCK_EX | libc::LOCK_NB).unwrap_err();
    assert_eq!(
        err.raw_os_error(),
        Some(libc::EWOULDBLOCK),
        "flock(2) got in"
    );
    let status = lock.status();
    assert_eq!(
        status.status.holder.as_ref().map(|h| h.pid),
        Some(holder.pid())
    );
    assert!(
        status
            .file_locks
            .iter()
            .any(|f| f.pid == holder.pid() && f.exclusive && !f.waiting),
        "{status:?}"
    );
    assert_eq!(status.holder().map(|h| h.token), Some(1), "{status:?}");

    holder.kill();
    holder.finish_killed();
    let guard = lock
        .lock_timeout(common::PATIENCE)
        .expect("lock after the kill");
    assert!(guard.previous_owner_died());
    assert!(guard.is_poisoned());
    assert_eq!(guard.token(), 2);
    guard.clear_poison();
    drop(guard);
    flock(&other, libc::LOCK_EX | libc::LOCK_NB).expect("the flock(2) lock was released");
    assert_eq!(
        std::fs::read(&data).unwrap(),
        content,
        "the data file changed"
    );
    assert_eq!(std::fs::metadata(&data).unwrap().modified().unwrap(), mtime);
    forget_sidecar(&data);
}

/// A flock(2) lock held through another descriptor (what `flock FILE cmd` holds) keeps a
/// `FileLock` out — `try_lock` says so, a timed wait times out naming the flock holder, with
/// token 0 — until it is released; the interlock lock is not kept meanwhile.
#[test]
fn a_flock_holder_keeps_a_file_lock_out_until_it_lets_go() {
    shared_namespace();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("touched.lock");
    let plain = File::create(&path).unwrap();
    let lock = FileLock::open(&path, 0o600).expect("open");
    flock(&plain, libc::LOCK_EX).unwrap();

    assert!(lock.try_lock().expect("try_lock").is_none());
    match lock.lock_timeout(Duration::from_millis(30)) {
        Err(Error::Timeout {
            holder: Some(h), ..
        }) => {
            assert_eq!((h.pid, h.token), (std::process::id(), 0), "{h:?}");
        }
        other => panic!("expected a timeout naming the flock holder, got {other:?}"),
    }
    assert!(
        lock.status().status.holder.is_none(),
        "the interlock lock was kept after the flock(2) step failed"
    );
    std::thread::scope(|s| {
        let waiter = s.spawn(|| lock.lock().map(|g| g.token()));
        // The waiter gets in once the flock(2) lock goes, whenever it reached its wait.
        flock(&plain, libc::LOCK_UN).unwrap();
        assert!(waiter.join().unwrap().expect("lock") > 0);
    });
    assert_eq!(std::fs::metadata(&path).unwrap().len(), 0);
    forget_sidecar(&path);
}

/// Removes the record (sidecar) that `FileLock` keeps for `file` in the namespace. A sidecar
/// outlives its file, and the next file to get the same inode number inherits it, counters
/// included (decision 0017): under `cargo test`, another test of this process, whose files are
/// in the same namespace, would find tokens it never took.
fn forget_sidecar(file: &std::path::Path) {
    interlock::path::remove_unheld(file)
        .unwrap_or_else(|e| panic!("remove the sidecar of {}: {e}", file.display()));
}
