use std::time::Duration;

use interlock_etcd::{Error, EtcdClient, EtcdLock};
use interlock_testkit::EtcdCluster;

use crate::common::options;

async fn waiters(client: &EtcdClient, name: &str) -> usize {
    interlock_etcd::status_async(client, name)
        .await
        .unwrap()
        .waiters
}

async fn wait_for_waiters(client: &EtcdClient, name: &str, n: usize) {
    let wait = async {
        while waiters(client, name).await != n {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    tokio::time::timeout(interlock_testkit::PATIENCE, wait)
        .await
        .unwrap_or_else(|_| panic!("{name}: never {n} waiters"));
}

#[test]
fn a_dropped_lock_future_withdraws_its_key() {
    let cluster = EtcdCluster::start(1);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let a = EtcdClient::connect_async(options(&cluster.endpoints()))
            .await
            .unwrap();
        let b = EtcdClient::connect_async(options(&cluster.endpoints()))
            .await
            .unwrap();
        let la = EtcdLock::new(&a, "cancel").unwrap();
        let lb = EtcdLock::new(&b, "cancel").unwrap();
        let held = la.lock_async().await.unwrap();
        {
            let pending = lb.lock_async();
            tokio::pin!(pending);
            tokio::select! {
                _ = &mut pending => panic!("got a held lock"),
                _ = wait_for_waiters(&a, "cancel", 1) => {}
            }
            // `pending` is dropped here, mid-wait.
        }
        wait_for_waiters(&a, "cancel", 0).await;
        // A timed-out wait withdraws too.
        let err = lb
            .lock_timeout_async(Duration::from_millis(200))
            .await
            .unwrap_err();
        assert!(matches!(err, Error::Timeout { .. }), "{err}");
        assert_eq!(waiters(&a, "cancel").await, 0);
        let token = held.token();
        held.unlock_async().await.unwrap();
        let next = lb
            .try_lock_async()
            .await
            .unwrap()
            .expect("free once released");
        assert!(next.token() > token);
        assert!(!next.previous_owner_died());
        // A guard dropped in async code releases in the background; this client's next
        // acquisition waits for that release.
        drop(next);
        let again = lb.lock_async().await.unwrap();
        assert!(!again.previous_owner_died());
        let mut lost = again.lease_lost_signal();
        assert!(!*lost.borrow_and_update());
        again.unlock_async().await.unwrap();
    });
}
