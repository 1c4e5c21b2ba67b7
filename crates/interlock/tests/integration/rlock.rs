//! `RLock` across processes and threads: re-entry by its holder, exclusion of everyone else,
//! and releases by anyone but the holder refused.

use crate::common;

use std::cell::RefCell;
use std::os::unix::fs::FileExt;
use std::sync::atomic::Ordering;
use std::time::Duration;

use common::{bump, channel, fork, SharedMem};
use interlock::{Error, RLock, RLockGuard};

/// Takes `rlock` once per level, innermost last, reporting each layer's depth; at the bottom,
/// says "depth 3" and waits for the parent's "unwind", then lets each level go with a report.
fn layer(rlock: &RLock, level: u32, to_parent: &common::Sender, from_parent: &common::Receiver) {
    let guard = rlock.lock().expect("re-enter");
    assert_eq!(guard.depth(), 4 - level, "Layer {level}: guard depth");
    assert_eq!(
        rlock.status().depth,
        4 - level,
        "Layer {level}: shared depth"
    );
    if level > 1 {
        layer(rlock, level - 1, to_parent, from_parent);
    } else {
        to_parent.send("depth 3");
        from_parent.expect("unwind");
    }
    drop(guard);
    to_parent.send(&format!("left Layer {level}"));
    from_parent.expect("next");
}

/// A forked child enters an RLock three layers deep (Layer 3, 2, 1); the parent sees depth 3 and
/// the child as holder, is refused meanwhile, and sees the depth fall 2, 1, 0 as the child's
/// layers return; only then is the lock free.
#[test]
fn rlock_reentered_three_deep_in_a_forked_child_unwinds_layer_by_layer() {
    let rlock = RLock::new().expect("RLock::new");
    let (to_parent, from_child) = channel();
    let (to_child, from_parent) = channel();
    let child = fork(|| layer(&rlock, 3, &to_parent, &from_parent));

    from_child.expect("depth 3");
    let status = rlock.status();
    assert_eq!(status.depth, 3, "{status:?}");
    assert_eq!(
        status.holder.as_ref().map(|h| h.pid),
        Some(child.pid()),
        "{status:?}"
    );
    assert_eq!(
        status.acquisitions, 1,
        "re-entry is not a new acquisition: {status:?}"
    );
    assert!(
        rlock.try_lock().expect("try_lock").is_none(),
        "re-entry is for the holder only"
    );

    to_child.send("unwind");
    for (level, depth_after) in [(1, 2), (2, 1), (3, 0)] {
        from_child.expect(&format!("left Layer {level}"));
        let status = rlock.status();
        assert_eq!(
            status.depth, depth_after,
            "after Layer {level} returned: {status:?}"
        );
        if depth_after > 0 {
            assert!(
                rlock.try_lock().expect("try_lock").is_none(),
                "free while the child is still {depth_after} deep"
            );
        } else {
            assert!(status.holder.is_none(), "{status:?}");
        }
        to_child.send("next");
    }
    child.join();
    let guard = rlock
        .try_lock()
        .expect("try_lock")
        .expect("free after the last layer");
    assert_eq!(guard.depth(), 1);
    assert!(!guard.previous_owner_died());
}

/// While another process holds an RLock, this one can neither take nor wait it out: `try_lock`
/// is `None` and `lock_timeout` a `Timeout` naming that process.
#[test]
fn rlock_held_by_another_process_excludes_this_one() {
    let rlock = RLock::new().expect("RLock::new");
    let (to_parent, from_child) = channel();
    let (to_child, from_parent) = channel();
    let child = fork(|| {
        let _outer = rlock.lock().expect("lock");
        let _inner = rlock.lock().expect("re-enter");
        to_parent.send("held");
        from_parent.expect("release");
    });
    from_child.expect("held");
    assert!(rlock.try_lock().expect("try_lock").is_none());
    match rlock.lock_timeout(Duration::from_millis(100)) {
        Err(Error::Timeout {
            holder: Some(h), ..
        }) => assert_eq!(h.pid, child.pid()),
        other => panic!("expected Timeout naming the child, got {other:?}"),
    }
    assert!(!rlock.is_held_by_current_thread());
    to_child.send("release");
    child.join();
    assert!(rlock.try_lock().expect("try_lock").is_some());
}

/// `release()` from a thread that does not hold the RLock is `NotOwner` naming the holding
/// thread, and changes nothing: the holder keeps its depth and the other thread stays out.
#[test]
fn rlock_release_from_another_thread_is_not_owner() {
    let rlock = RLock::new().expect("RLock::new");
    let outer = rlock.lock().expect("lock");
    let inner = rlock.lock().expect("re-enter");
    let (me, my_tid) = (std::process::id(), common::gettid());
    std::thread::scope(|s| {
        s.spawn(|| {
            match rlock.release() {
                Err(Error::NotOwner {
                    holder: Some(h), ..
                }) => {
                    assert_eq!(
                        (h.pid, h.tid),
                        (me, my_tid),
                        "NotOwner names the wrong holder"
                    )
                }
                other => panic!("release from another thread gave {other:?}, expected NotOwner"),
            }
            assert!(
                rlock.try_lock().expect("try_lock").is_none(),
                "another thread entered a held RLock"
            );
            assert!(!rlock.is_held_by_current_thread());
        });
    });
    assert!(rlock.is_held_by_current_thread());
    assert_eq!(
        rlock.status().depth,
        2,
        "the refused release changed the depth"
    );
    drop(inner);
    drop(outer);
    assert!(rlock.status().holder.is_none());
}

/// `release()` in a forked child on an RLock the parent holds is `NotOwner` naming the parent;
/// the child's copies of the parent's guards release nothing; the parent still holds it, as
/// deep as before.
#[test]
fn rlock_release_from_another_process_is_not_owner() {
    let rlock = RLock::new().expect("RLock::new");
    let me = std::process::id();
    let guards: RefCell<Vec<RLockGuard<'_>>> = RefCell::new(vec![
        rlock.lock().expect("lock"),
        rlock.lock().expect("re-enter"),
    ]);
    fork(|| {
        match rlock.release() {
            Err(Error::NotOwner {
                holder: Some(h), ..
            }) => assert_eq!(h.pid, me, "NotOwner names {h:?}"),
            other => panic!("release in the child gave {other:?}, expected NotOwner"),
        }
        for copy in guards.borrow_mut().drain(..).rev() {
            assert!(
                matches!(copy.unlock(), Err(Error::NotOwner { .. })),
                "a forked copy of the parent's guard unlocked"
            );
        }
        assert_eq!(
            rlock.status().depth,
            2,
            "the child changed the parent's depth"
        );
        assert!(rlock.try_lock().expect("try_lock").is_none());
    })
    .join();
    let status = rlock.status();
    assert_eq!(
        status.holder.as_ref().map(|h| h.pid),
        Some(me),
        "{status:?}"
    );
    assert_eq!(status.depth, 2, "{status:?}");
    assert!(rlock.is_held_by_current_thread());
    drop(guards);
    assert!(rlock.status().holder.is_none());
}

/// 4 processes × 2,000 increments, each inside a nested (depth 2) hold: no increment lost, and
/// exactly one acquisition per outer hold.
#[test]
fn rlock_nested_holds_in_four_processes_never_lose_an_increment() {
    const N: u64 = 2_000;
    let rlock = RLock::new().expect("RLock::new");
    let mem = SharedMem::new(1);
    let children: Vec<_> = (0..4)
        .map(|_| {
            fork(|| {
                for i in 0..N {
                    let outer = rlock.lock().expect("lock");
                    let inner = rlock.lock().expect("re-enter");
                    assert_eq!(inner.depth(), 2);
                    bump(mem.slot(0), i);
                    drop(inner);
                    drop(outer);
                }
            })
        })
        .collect();
    for child in children {
        child.join();
    }
    let status = rlock.status();
    assert_eq!(
        mem.slot(0).load(Ordering::SeqCst),
        4 * N,
        "lost increments: {status:?}"
    );
    assert_eq!(
        status.acquisitions,
        4 * N,
        "re-entries must not count as acquisitions"
    );
    assert!(status.holder.is_none() && status.depth == 0, "{status:?}");
}

/// The depth counter stops with `RecursionOverflow` at `u32::MAX - 1` instead of wrapping, and
/// the hold survives the refusal.
///
/// Reaching the limit by re-entering 4 billion times is too slow, so the test writes the shared
/// depth (record byte 120, file byte 184 of a file-backed RLock) while holding the lock — the state
/// 4 billion re-entries would leave. `status().depth` confirms the write landed on the depth
/// before anything is asserted of `lock()`.
#[test]
fn rlock_depth_stops_at_the_limit_instead_of_wrapping() {
    const DEPTH_AT: u64 = 64 + 120;
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("deep.lock");
    let rlock = RLock::open_path(&path, 0o600).expect("open_path");
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&path)
        .expect("open the lock file");
    let set_depth = |d: u32| {
        file.write_all_at(&d.to_ne_bytes(), DEPTH_AT)
            .expect("write depth")
    };

    let outer = rlock.lock().expect("lock");
    set_depth(u32::MAX - 2);
    assert_eq!(
        rlock.status().depth,
        u32::MAX - 2,
        "the depth field is not at file byte {DEPTH_AT} any more: update this test\n{}",
        common::header_dump(&path)
    );
    let deepest = rlock
        .lock()
        .expect("re-entering to u32::MAX - 1 is allowed");
    assert_eq!(deepest.depth(), u32::MAX - 1);
    match rlock.lock() {
        Err(Error::RecursionOverflow { depth, .. }) => assert_eq!(depth, u32::MAX - 1),
        other => panic!("re-entering past u32::MAX - 1 gave {other:?}, expected RecursionOverflow"),
    }
    assert!(matches!(
        rlock.try_lock(),
        Err(Error::RecursionOverflow { .. })
    ));
    assert_eq!(
        rlock.status().depth,
        u32::MAX - 1,
        "the refusal changed the depth"
    );
    assert!(
        rlock.is_held_by_current_thread(),
        "the refusal lost the hold"
    );

    drop(deepest);
    assert_eq!(rlock.status().depth, u32::MAX - 2);
    set_depth(1);
    drop(outer);
    assert!(
        rlock.status().holder.is_none(),
        "the outermost guard releases the lock"
    );
}
