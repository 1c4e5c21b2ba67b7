//! Forking while another thread runs interlock's one-time per-process set-up.
//!
//! This module gives the test binary its own `pthread_atfork` (a pass-through to glibc's
//! `__register_atfork`) so that a test can hold one caller inside it: the only way to freeze a
//! thread at an exact point of the library's set-up. For every other test of the binary it only
//! passes the call on; the test that holds a caller runs in a fresh process (a child role) in
//! which nothing else has used interlock. Keep other tests out of this module.

use crate::common;

use std::ffi::{c_int, c_void};
use std::sync::atomic::{AtomicBool, Ordering};

use common::channel;
use interlock::Lock;

type Handler = Option<unsafe extern "C" fn()>;

extern "C" {
    /// glibc's registration function behind `pthread_atfork` (exported since GLIBC_2.3.2).
    fn __register_atfork(
        prepare: Handler,
        parent: Handler,
        child: Handler,
        dso_handle: *mut c_void,
    ) -> c_int;
}

/// Set to make the next `pthread_atfork` call wait inside until `RELEASE`.
static HOLD_NEXT: AtomicBool = AtomicBool::new(false);
/// The held caller is inside `pthread_atfork`.
static HELD: AtomicBool = AtomicBool::new(false);
static RELEASE: AtomicBool = AtomicBool::new(false);

/// `pthread_atfork`, as glibc's own wrapper does it (`__register_atfork` with no DSO handle:
/// the executable is never unloaded), but able to hold one caller inside.
///
/// # Safety
///
/// As `pthread_atfork(3)`: the handlers must be safe to call around every `fork`.
#[no_mangle]
pub(crate) unsafe extern "C" fn pthread_atfork(
    prepare: Handler,
    parent: Handler,
    child: Handler,
) -> c_int {
    if HOLD_NEXT.swap(false, Ordering::SeqCst) {
        HELD.store(true, Ordering::SeqCst);
        while !RELEASE.load(Ordering::SeqCst) {
            std::thread::yield_now();
        }
    }
    // SAFETY: forwarded unchanged from our caller, who made pthread_atfork's promises.
    unsafe { __register_atfork(prepare, parent, child, std::ptr::null_mut()) }
}

/// A child forked while another thread of its parent is in that process's very first lock call
/// can still lock.
///
/// Regression test: `sys::init_me` used to register interlock's `pthread_atfork` handler inside
/// a `static Once`, run by the first lock call of the process. A child forked while another
/// thread was inside that `call_once` inherited the `Once` as "running" — by a thread that does
/// not exist in the child — and the child's own first lock call waited on it for ever. The
/// registration now uses a flag set after registering (a duplicate registration is harmless). (Every other test forks through `common::fork`, which
/// completes this set-up before the first fork.)
///
/// Staged exactly, in a fresh process (no thread has used interlock yet): the other thread's
/// first `lock()` is held inside the library's `pthread_atfork` call — inside `ATFORK.call_once`
/// — while this thread forks.
#[test]
fn child_forked_during_another_threads_first_lock_can_lock() {
    if common::role().as_deref() != Some("fresh-process") {
        common::RoleChild::spawn(common::role_command("fresh-process")).finish();
        return;
    }
    let lock = Lock::new().expect("Lock::new"); // creating a lock does not run the set-up
    HOLD_NEXT.store(true, Ordering::SeqCst);
    std::thread::scope(|s| {
        s.spawn(|| drop(lock.lock().expect("other thread: its first lock")));
        common::wait_until(
            "the other thread is inside the library's pthread_atfork call",
            || HELD.load(Ordering::SeqCst),
        );
        let (tx, rx) = channel();
        let child = common::fork_now(|| {
            let guard = lock.lock().expect("child: lock");
            tx.send("locked");
            drop(guard);
        });
        RELEASE.store(true, Ordering::SeqCst);
        match rx.recv_timeout(common::PATIENCE) {
            Ok(msg) => assert_eq!(msg, "locked"),
            Err(_) => panic!(
                "child {} forked while another thread was in the process's first lock call never \
                 got the (free) lock in {:?}: its first lock call waits on interlock's one-time \
                 set-up (sys::init_me), which it inherited half-run.\n{}",
                child.pid(),
                common::PATIENCE,
                common::proc_diag(child.pid())
            ),
        }
        child.join();
    });
    // The parent itself was never in danger: its other thread finished its first lock.
    assert!(lock.try_lock().expect("try_lock").is_some());
}
