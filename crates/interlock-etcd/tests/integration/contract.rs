use std::time::{Duration, Instant};

use interlock_etcd::{Error, EtcdLock};
use interlock_testkit::EtcdCluster;

use crate::common::connect;

#[test]
fn tokens_increase_and_a_clean_release_is_no_death() {
    let cluster = EtcdCluster::start(1);
    let client = connect(&cluster.endpoints());
    let lock = EtcdLock::new(&client, "tokens").unwrap();
    let first = lock.lock().unwrap();
    assert!(!first.previous_owner_died());
    assert_eq!(first.previous_token(), None, "never held before");
    let t1 = first.token();
    first.unlock().unwrap();
    let second = lock.lock().unwrap();
    assert!(second.token() > t1, "{} > {t1}", second.token());
    assert_eq!(second.previous_token(), Some(t1));
    assert!(!second.previous_owner_died(), "the first hold was released");
    assert!(!second.lease_lost());
    drop(second);
    // Another lock's tokens come from the same revision counter: still larger.
    let other = EtcdLock::new(&client, "other").unwrap();
    let third = other.lock().unwrap();
    assert!(third.token() > t1);
}

#[test]
fn try_lock_and_timeouts_see_another_clients_hold() {
    let cluster = EtcdCluster::start(1);
    let a = connect(&cluster.endpoints());
    let b = connect(&cluster.endpoints());
    let la = EtcdLock::new(&a, "held").unwrap();
    let lb = EtcdLock::new(&b, "held").unwrap();
    let guard = la.lock().unwrap();
    assert!(lb.try_lock().unwrap().is_none());
    let start = Instant::now();
    let err = lb.lock_timeout(Duration::from_millis(300)).unwrap_err();
    let waited = start.elapsed();
    match &err {
        Error::Timeout { name, holder, .. } => {
            assert_eq!(name, "held");
            assert_eq!(
                *holder,
                Some(guard.token()),
                "the timeout names the hold in the way"
            );
        }
        other => panic!("expected Timeout, got {other}"),
    }
    assert!(waited < Duration::from_secs(3), "bounded: {waited:?}");
    assert!(lb
        .try_lock_for(Duration::from_millis(100))
        .unwrap()
        .is_none());
    // Neither attempt left a key in the queue.
    let status = interlock_etcd::status(&b, "held").unwrap();
    assert_eq!(status.waiters, 0, "{status:?}");
    assert_eq!(status.holder.as_ref().map(|h| h.token), Some(guard.token()));
    assert_eq!(
        status.holder.as_ref().and_then(|h| h.pid),
        Some(std::process::id())
    );
    drop(guard);
    assert!(lb.try_lock().unwrap().is_some());
    assert_eq!(interlock_etcd::list(&a).unwrap(), vec!["held".to_owned()]);
}

#[test]
fn relocking_on_the_holding_thread_is_an_error_and_other_threads_wait() {
    let cluster = EtcdCluster::start(1);
    let client = connect(&cluster.endpoints());
    let lock = EtcdLock::new(&client, "relock").unwrap();
    let guard = lock.lock().unwrap();
    assert!(matches!(lock.lock(), Err(Error::WouldDeadlock { .. })));
    // A second handle of the same client and name is the same lock.
    let again = EtcdLock::new(&client, "relock").unwrap();
    assert!(matches!(again.try_lock(), Err(Error::WouldDeadlock { .. })));
    // Another thread of the process is excluded (locally, before etcd).
    std::thread::scope(|s| {
        let waiter = s.spawn(|| again.try_lock().unwrap().is_none());
        assert!(
            waiter.join().unwrap(),
            "another thread must not get a held lock"
        );
    });
    let token = guard.token();
    drop(guard);
    let next = std::thread::scope(|s| s.spawn(|| again.lock().unwrap().token()).join().unwrap());
    assert!(next > token);
}

#[test]
fn status_counts_waiters_of_other_clients() {
    let cluster = EtcdCluster::start(1);
    let a = connect(&cluster.endpoints());
    let b = connect(&cluster.endpoints());
    let guard = EtcdLock::new(&a, "queue").unwrap().lock().unwrap();
    std::thread::scope(|s| {
        let waiter = s.spawn(|| {
            let lock = EtcdLock::new(&b, "queue").unwrap();
            lock.lock_timeout(Duration::from_secs(20)).unwrap().token()
        });
        // Observable, not told: poll the status until the waiter's key is there.
        interlock_testkit::wait_until("the waiter queued", || {
            interlock_etcd::status(&a, "queue").unwrap().waiters == 1
        });
        let token = guard.token();
        drop(guard);
        assert!(waiter.join().unwrap() > token);
    });
    let status = interlock_etcd::status(&a, "queue").unwrap();
    assert_eq!((status.holder, status.waiters), (None, 0));
    assert!(matches!(status.last, Some((_, true))), "{:?}", status.last);
}

#[test]
fn rlock_depth_is_counted_on_the_client() {
    use interlock_etcd::EtcdRLock;
    let cluster = EtcdCluster::start(1);
    let a = connect(&cluster.endpoints());
    let b = connect(&cluster.endpoints());
    let rlock = EtcdRLock::new(&a, "recursive").unwrap();
    let other = EtcdLock::new(&b, "recursive").unwrap();
    let outer = rlock.lock().unwrap();
    let inner = rlock.lock().unwrap();
    assert_eq!((outer.depth(), inner.depth()), (1, 2));
    assert_eq!(inner.token(), outer.token(), "one hold, one key");
    let status = interlock_etcd::status(&a, "recursive").unwrap();
    assert_eq!(status.waiters, 0, "{status:?}");
    // Another thread of the same client waits like anyone else.
    std::thread::scope(|s| {
        assert!(s
            .spawn(|| rlock.try_lock().unwrap().is_none())
            .join()
            .unwrap());
    });
    drop(inner);
    assert!(
        other.try_lock().unwrap().is_none(),
        "the outer level still holds"
    );
    drop(outer);
    let next = other
        .try_lock()
        .unwrap()
        .expect("released with the outermost level");
    assert!(!next.previous_owner_died());
}
