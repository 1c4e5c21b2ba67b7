use interlock_etcd::{AnyLock, EtcdClient};
use interlock_testkit::EtcdCluster;

use crate::common::connect;

/// One body for both backends: the calling code does not change.
fn take_twice(client: Option<&EtcdClient>, name: &str) {
    let lock = AnyLock::open(client, name).unwrap();
    let first = lock.lock().unwrap();
    assert!(!first.previous_owner_died());
    assert!(!first.lease_lost());
    let t1 = first.token();
    first.unlock().unwrap();
    let second = lock.try_lock().unwrap().expect("free");
    assert!(second.token() > t1);
    drop(second);
    assert!(matches!(
        AnyLock::open(client, "no/slash"),
        Err(interlock_etcd::Error::InvalidName { .. })
    ));
}

#[test]
fn any_lock_has_one_calling_code_for_both_backends() {
    let name = interlock_testkit::unique_name();
    take_twice(None, &name);
    interlock::namespace::remove(&name).unwrap();
    let cluster = EtcdCluster::start(1);
    let client = connect(&cluster.endpoints());
    take_twice(Some(&client), &name);
}
