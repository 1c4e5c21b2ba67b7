//! What every etcd test needs: a client of a cluster, with a short TTL.

use std::time::Duration;

use interlock_etcd::{EtcdClient, EtcdOptions};

/// The lease TTL of the tests' clients: short, so that lapses are quick.
pub(crate) const TTL: Duration = Duration::from_secs(2);

/// The environment variable that hands the endpoints to a child role.
pub(crate) const ENDPOINTS: &str = "INTERLOCK_TEST_ETCD_ENDPOINTS";
/// The environment variable that hands the lock's name to a child role.
pub(crate) const NAME: &str = "INTERLOCK_TEST_ETCD_NAME";

pub(crate) fn options(endpoints: &str) -> EtcdOptions {
    EtcdOptions::parse(endpoints)
        .ttl(TTL)
        .connect_timeout(Duration::from_secs(10))
}

pub(crate) fn connect(endpoints: &str) -> EtcdClient {
    EtcdClient::connect(options(endpoints))
        .unwrap_or_else(|e| panic!("connect to {endpoints}: {e}"))
}

/// In a child role: a client of the parent's cluster, and the lock's name.
pub(crate) fn child_setup() -> (EtcdClient, String) {
    let endpoints = std::env::var(ENDPOINTS).expect("endpoints from the parent");
    let name = std::env::var(NAME).expect("name from the parent");
    (connect(&endpoints), name)
}

/// A child role of this test, told the cluster and the lock's name.
pub(crate) fn spawn_role(role: &str, endpoints: &str, name: &str) -> interlock_testkit::RoleChild {
    let mut cmd = interlock_testkit::role_command(role);
    cmd.env(ENDPOINTS, endpoints).env(NAME, name);
    interlock_testkit::RoleChild::spawn(cmd)
}

/// Sends `sig` to `pid`.
pub(crate) fn signal(pid: u32, sig: i32) {
    // SAFETY: kill(2) on a child this test spawned and has not reaped yet.
    let rc = unsafe { libc::kill(pid as i32, sig) };
    assert_eq!(rc, 0, "kill({pid}, {sig})");
}
