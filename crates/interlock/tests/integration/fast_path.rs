//! The uncontended paths (decision 0008) keep every rule of the full ones: what goes on the
//! thread's robust list and what does not, threads without a list, RLock levels in any order,
//! stale guards, poisoning, timestamps, and a forked child's own first lock. Written from a
//! review of the leaf-code lock and release.

use crate::common;

use std::time::Duration;

use common::robust::{list_is_empty, nothing_pending, robust_head, Head};
use interlock::{Error, Lock, RLock};

/// A lock file other users may write (0666) never goes on the robust list, through either path;
/// a trusted lock goes on it while held and comes off with `list_op_pending` cleared.
#[test]
fn untrusted_segments_are_never_linked_and_trusted_ones_come_off_clean() {
    std::thread::spawn(|| {
        let dir = tempfile::tempdir().unwrap();
        let lock = Lock::open_path(dir.path().join("l"), 0o666).unwrap();
        assert!(list_is_empty());
        for _ in 0..3 {
            let g = lock.lock().unwrap();
            assert!(list_is_empty(), "a word others can write was linked");
            drop(g);
        }
        let r = RLock::open_path(dir.path().join("r"), 0o666).unwrap();
        let a = r.lock().unwrap();
        let b = r.lock().unwrap();
        assert!(list_is_empty());
        drop(a);
        drop(b);
        assert!(!r.is_held_by_current_thread());

        let t = Lock::new().unwrap();
        let g = t.lock().unwrap();
        assert!(!list_is_empty(), "a trusted held word is linked");
        drop(g);
        assert!(list_is_empty());
        assert!(nothing_pending());
    })
    .join()
    .unwrap();
}

/// A thread without a robust list (here: unregistered) still locks, releases, refuses stale
/// guards and nests RLocks, plain and fair, through the UNREPORTED paths.
#[test]
fn a_thread_without_a_robust_list_uses_the_unreported_paths() {
    std::thread::spawn(|| {
        unregister_robust_list();
        assert!(robust_head().is_null());
        for lock in [Lock::new().unwrap(), Lock::new_fair().unwrap()] {
            for _ in 0..3 {
                drop(lock.lock().unwrap());
            }
            let g = lock.lock().unwrap();
            assert!(lock.is_held_by_current_thread());
            drop(g);
            assert!(!lock.is_held_by_current_thread());
            let stale = lock.lock().unwrap();
            lock.release().unwrap();
            let fresh = lock.lock().unwrap();
            drop(stale);
            assert!(lock.is_held_by_current_thread());
            drop(fresh);
            assert!(!lock.is_held_by_current_thread());
        }
        let r = RLock::new().unwrap();
        let a = r.lock().unwrap();
        let b = r.lock().unwrap();
        drop(a);
        assert!(r.is_held_by_current_thread());
        drop(b);
        assert!(!r.is_held_by_current_thread());
    })
    .join()
    .unwrap();
}

/// Leaves the calling thread without a robust list, as a thread whose libc registered none.
#[allow(clippy::disallowed_methods)] // as in `robust_head`
fn unregister_robust_list() {
    // SAFETY: a null head unregisters the calling thread's list; the caller has nothing of ours
    // linked and holds no glibc robust mutex.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_set_robust_list,
            std::ptr::null_mut::<Head>(),
            std::mem::size_of::<Head>(),
        )
    };
    assert_eq!(
        rc,
        0,
        "set_robust_list: {}",
        std::io::Error::last_os_error()
    );
}

/// Nested RLock guards may be dropped in any order: only the last one releases. A forgotten
/// inner guard keeps a level held until `release`.
#[test]
fn rlock_levels_end_in_any_order_and_a_forgotten_one_stays_held() {
    let r = RLock::new().unwrap();
    let a = r.lock().unwrap();
    let b = r.lock().unwrap();
    let c = r.lock().unwrap();
    assert_eq!(r.status().depth, 3);
    drop(a);
    assert_eq!(r.status().depth, 2);
    drop(c);
    assert!(r.is_held_by_current_thread());
    drop(b);
    assert!(!r.is_held_by_current_thread());
    assert!(r.status().holder.is_none());

    let a = r.lock().unwrap();
    std::mem::forget(r.lock().unwrap());
    drop(a);
    assert!(
        r.is_held_by_current_thread(),
        "a forgotten inner level keeps it held"
    );
    r.release().unwrap();
    assert!(!r.is_held_by_current_thread());
}

/// A stale RLock guard (its hold ended by `RLock::release`, the lock taken again) leaves the new
/// hold alone, dropped or unlocked.
#[test]
fn a_stale_rlock_guard_leaves_the_new_hold_alone() {
    let r = RLock::new().unwrap();
    let stale = r.lock().unwrap();
    r.release().unwrap();
    let fresh = r.lock().unwrap();
    drop(stale);
    assert!(
        r.is_held_by_current_thread(),
        "dropping a stale guard released the new hold"
    );
    assert_eq!(r.status().depth, 1);
    drop(fresh);
    assert!(!r.is_held_by_current_thread());

    let stale = r.lock().unwrap();
    r.release().unwrap();
    let _fresh = r.lock().unwrap();
    assert!(matches!(stale.unlock(), Err(Error::NotOwner { .. })));
    assert!(r.is_held_by_current_thread());
}

/// A panic inside an RLock's section poisons it; levels taken in a `Drop` that runs while
/// already unwinding do not. The same for a `Lock` taken on the inlined path.
#[test]
fn poisoning_counts_only_panics_that_start_inside() {
    let r = RLock::new().unwrap();
    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let _g = r.lock().unwrap();
        let _h = r.lock().unwrap();
        panic!("inside");
    }));
    assert!(r.is_poisoned());
    assert!(!r.is_held_by_current_thread());
    r.clear_poison();

    struct LocksInDrop<'a>(&'a RLock);
    impl Drop for LocksInDrop<'_> {
        fn drop(&mut self) {
            let _g = self.0.lock().unwrap();
            let _h = self.0.lock().unwrap();
        }
    }
    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let _d = LocksInDrop(&r);
        panic!("outside");
    }));
    assert!(!r.is_poisoned(), "a hold begun while unwinding poisoned");
    assert!(!r.is_held_by_current_thread());

    let l = Lock::new().unwrap();
    drop(l.lock().unwrap()); // the thread is known: the next lock is the inlined one
    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let _g = l.lock().unwrap();
        panic!("inside");
    }));
    assert!(l.is_poisoned());
    assert!(!l.is_held_by_current_thread());
}

/// Timestamps on, off and on again, through `lock`, `try_lock` and `lock_timeout`, for `Lock`
/// and `RLock` (stamping takes acquisitions off the inlined path and back).
#[test]
fn timestamps_follow_their_switch_on_every_path() {
    let l = Lock::new().unwrap();
    drop(l.lock().unwrap());
    l.set_timestamps(true);
    let g = l.lock().unwrap();
    assert!(l.status().holder.unwrap().since.is_some());
    drop(g);
    l.set_timestamps(false);
    let g = l.lock().unwrap();
    assert!(l.status().holder.unwrap().since.is_none());
    drop(g);

    let r = RLock::new().unwrap();
    drop(r.lock().unwrap());
    r.set_timestamps(true);
    let g = r.lock().unwrap();
    let g2 = r.lock().unwrap();
    assert!(r.status().holder.unwrap().since.is_some());
    drop(g2);
    drop(g);
    let g = r.try_lock().unwrap().unwrap();
    assert!(r.status().holder.unwrap().since.is_some());
    drop(g);
    let g = r.lock_timeout(Duration::from_secs(1)).unwrap();
    assert!(r.status().holder.unwrap().since.is_some());
    drop(g);
}

/// After the parent's thread has locked (its identity cached), a forked child's copies of the
/// parent's RLock guards release nothing; the child's own first lock names the child and goes on
/// the child's list; and the child dying with it held is reported by the kernel.
#[test]
fn a_forked_childs_first_lock_is_its_own_and_linked() {
    let lock = Lock::new().unwrap();
    drop(lock.lock().unwrap());
    let r = RLock::new().unwrap();
    let outer = r.lock().unwrap();
    let inner = r.lock().unwrap();
    let copies = std::cell::RefCell::new(Some((outer, inner)));
    common::fork(|| {
        let (outer, inner) = copies.borrow_mut().take().unwrap();
        drop(inner);
        drop(outer);
        assert!(
            r.try_lock().unwrap().is_none(),
            "the child's copies released the parent's RLock"
        );
        assert!(list_is_empty());
        let g = lock.lock().unwrap();
        let holder = lock.status().holder.unwrap();
        assert_eq!(holder.pid, std::process::id());
        assert_eq!(holder.tid, common::gettid());
        assert!(
            !list_is_empty(),
            "the child's word is not on the child's list"
        );
        drop(g);
        assert!(list_is_empty());
        assert!(nothing_pending());
        // Dies holding it: the kernel must report it.
        std::mem::forget(lock.lock().unwrap());
    })
    .join();
    assert!(r.is_held_by_current_thread());
    assert_eq!(r.status().depth, 2);
    let (outer, inner) = copies.borrow_mut().take().unwrap();
    drop(outer);
    drop(inner);
    assert!(!r.is_held_by_current_thread());
    let g = lock.lock_timeout(Duration::from_millis(500)).unwrap();
    assert!(g.previous_owner_died());
}
