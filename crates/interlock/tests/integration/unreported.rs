//! Holders whose death the kernel does not report (a lock file others can write): waiters must
//! find dead ones themselves — also through `try_lock` and through waits shorter than the
//! liveness period.

use crate::common;

use std::time::Duration;

use common::fork;
use interlock::Lock;

/// A forked child takes the lock and exits without releasing it; the parent reaps it.
fn die_holding(lock: &Lock) {
    let mut child = fork(|| std::mem::forget(lock.lock().expect("child: lock")));
    assert_eq!(child.wait(), 0, "the holder child failed");
}

/// Review finding: `try_lock` (and waits of 50 ms or less) never checked on the holder, so
/// a `try_lock` loop could never take a dead UNREPORTED holder's lock.
#[test]
fn try_lock_and_short_waits_recover_a_dead_unreported_holder() {
    let dir = tempfile::tempdir().unwrap();
    let lock = Lock::open_path(dir.path().join("shared.lock"), 0o666).unwrap();

    die_holding(&lock);
    let guard = lock
        .try_lock()
        .unwrap()
        .expect("try_lock found the holder dead");
    assert!(guard.previous_owner_died());
    drop(guard);

    die_holding(&lock);
    let guard = lock
        .lock_timeout(Duration::from_millis(10))
        .expect("a 10 ms wait found the holder dead");
    assert!(guard.previous_owner_died());
    assert_eq!(lock.status().owner_deaths, 2);
}

/// The other side: an UNREPORTED holder that is alive is never taken for dead, by `try_lock`
/// or by a wait spanning several liveness periods.
#[test]
fn a_live_unreported_holder_keeps_its_lock() {
    let dir = tempfile::tempdir().unwrap();
    let lock = Lock::open_path(dir.path().join("shared.lock"), 0o666).unwrap();
    let (tx, rx) = common::channel();
    let (back_tx, back_rx) = common::channel();
    let mut child = fork(|| {
        let _g = lock.lock().expect("child: lock");
        tx.send("held");
        back_rx.expect("go");
    });
    rx.expect("held");
    assert!(lock.try_lock().unwrap().is_none());
    let err = lock.lock_timeout(Duration::from_millis(200)).unwrap_err();
    assert!(matches!(err, interlock::Error::Timeout { .. }), "{err}");
    assert_eq!(lock.status().owner_deaths, 0);
    back_tx.send("go");
    assert_eq!(child.wait(), 0);
}
