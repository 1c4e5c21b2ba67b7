//! `LockGuard::spawn_group` in a program with other threads. The command's `SIGCHLD` is sent to
//! the process, and the kernel gives it to a thread that does not block it — in most programs
//! the main thread, which then ignores it (the default action) — rather than to the spawning
//! thread waiting for it in `sigtimedwait`. Waiting must end all the same.

use crate::common;

use std::process::Command;
use std::sync::mpsc;

use common::{wait_until, PATIENCE};

/// The command runs from a second thread, and has exited (a zombie, not yet reaped) before that
/// thread waits for it: the spawning thread blocks `SIGCHLD` and is not in `sigtimedwait` when
/// the signal comes, so the kernel gives it to a thread that does not block it — this one, or
/// the harness's main thread — which drops it. The spawning thread never receives it.
#[test]
fn wait_ends_when_another_thread_takes_the_commands_sigchld() {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let lock = interlock::Lock::new().unwrap();
        let guard = lock.lock().unwrap();
        let mut child = guard
            .spawn_group(Command::new("sh").args(["-c", "exit 3"]))
            .unwrap();
        let pid = child.id();
        wait_until("the command has exited, unreaped", || {
            std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
                stat.rsplit_once(')')
                    .is_some_and(|(_, s)| s.starts_with(" Z"))
            })
        });
        let status = child.wait().unwrap();
        child.wait_group().unwrap();
        drop(child);
        guard.unlock().unwrap();
        tx.send(status.code()).unwrap();
    });
    let code = rx
        .recv_timeout(PATIENCE)
        .expect("GroupChild::wait never saw the command end (its SIGCHLD went to another thread)");
    assert_eq!(code, Some(3));
}
