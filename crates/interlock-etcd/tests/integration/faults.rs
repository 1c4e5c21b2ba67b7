use std::time::{Duration, Instant};

use interlock_etcd::{Error, EtcdClient, EtcdLock};
use interlock_testkit::EtcdCluster;

use crate::common::{connect, options, TTL};
use crate::proxy::Proxy;

#[test]
fn a_client_cut_off_reports_its_lease_lost_before_anyone_else_holds() {
    let cluster = EtcdCluster::start(3);
    let proxies: Vec<Proxy> = (0..cluster.len())
        .map(|i| Proxy::start(&cluster.endpoint(i)))
        .collect();
    let through: Vec<&str> = proxies.iter().map(Proxy::endpoint).collect();
    let cut_off = connect(&through.join(","));
    let other = connect(&cluster.endpoints());
    let held = EtcdLock::new(&cut_off, "cut").unwrap().lock().unwrap();
    let mut lost = held.lease_lost_signal();
    std::thread::scope(|s| {
        let waiter = s.spawn(|| {
            let guard = EtcdLock::new(&other, "cut")
                .unwrap()
                .lock_timeout(TTL * 10)
                .unwrap();
            // The moment the next holder has the lock, the cut-off one already knows it lost
            // it: never two holders that both believe they hold.
            (guard, held.lease_lost())
        });
        interlock_testkit::wait_until("the waiter queued", || {
            interlock_etcd::status(&other, "cut").unwrap().waiters == 1
        });
        let cut_at = Instant::now();
        for proxy in &proxies {
            proxy.cut();
        }
        let told = cut_off.block_on(async {
            tokio::time::timeout(TTL * 5, lost.wait_for(|lost| *lost))
                .await
                .is_ok()
        });
        let took = cut_at.elapsed();
        assert!(told, "the signal never came");
        // The last renewal acknowledged was sent at most a third of the TTL before the cut.
        assert!(
            took <= TTL + Duration::from_secs(1),
            "lease lost after {took:?}"
        );
        let (next, old_knew) = waiter.join().unwrap();
        assert!(
            old_knew,
            "the next holder got the lock before the old one knew it lost it"
        );
        assert!(next.previous_owner_died());
        assert!(next.token() > held.token());
        eprintln!("cut off: lease lost reported after {took:?} (TTL {TTL:?})");
    });
    // Its release finds the hold gone (and cannot even reach the cluster).
    assert!(held.unlock().is_err());
}

#[test]
fn killing_the_leader_member_keeps_holds_and_acquisitions_resume() {
    // A longer TTL here: an election takes about a second (election timeout 1 s), during which
    // renewals fail; the point is that a hold outlives it.
    let ttl = Duration::from_secs(5);
    let mut cluster = EtcdCluster::start(3);
    let holder = EtcdClient::connect(options(&cluster.endpoints()).ttl(ttl)).unwrap();
    let other = EtcdClient::connect(options(&cluster.endpoints()).ttl(ttl)).unwrap();
    let held = EtcdLock::new(&holder, "held").unwrap().lock().unwrap();
    let mut leader = None;
    interlock_testkit::wait_until("the cluster has a leader", || {
        leader = cluster.leader();
        leader.is_some()
    });
    let leader = leader.unwrap();
    cluster.kill(leader);
    let killed = Instant::now();
    let lock = EtcdLock::new(&other, "after").unwrap();
    let guard = lock.lock_timeout(Duration::from_secs(20)).unwrap();
    let resumed = killed.elapsed();
    assert!(
        resumed < Duration::from_secs(5),
        "new acquisitions resumed after {resumed:?}"
    );
    guard.unlock().unwrap();
    // The hold outlives a whole TTL after the kill (a bounded, time-based wait by nature).
    std::thread::sleep((ttl + Duration::from_secs(1)).saturating_sub(killed.elapsed()));
    assert!(
        !held.lease_lost(),
        "the hold's lease survived the leader's death"
    );
    let status = interlock_etcd::status(&other, "held").unwrap();
    assert_eq!(status.holder.map(|h| h.token), Some(held.token()));
    held.unlock().unwrap();
    eprintln!("leader m{leader} killed: acquisitions resumed after {resumed:?}");
}

#[test]
fn stopping_two_of_three_members_times_out_with_a_clear_error_then_recovers() {
    let mut cluster = EtcdCluster::start(3);
    let client =
        EtcdClient::connect(options(&cluster.endpoints()).request_timeout(Duration::from_secs(2)))
            .unwrap();
    let lock = EtcdLock::new(&client, "quorum").unwrap();
    lock.lock().unwrap().unlock().unwrap();
    cluster.stop(1);
    cluster.stop(2);
    let start = Instant::now();
    let err = lock.lock_timeout(Duration::from_secs(3)).unwrap_err();
    let took = start.elapsed();
    // The wait's own limit, or one request's, whichever ends first; then one withdrawal.
    assert!(took < Duration::from_secs(7), "{err} after {took:?}");
    assert!(
        matches!(err, Error::Timeout { .. } | Error::Unavailable { .. }),
        "{err:?}"
    );
    eprintln!("no quorum: {err} (after {took:?})");
    cluster.cont(1);
    cluster.cont(2);
    let start = Instant::now();
    // Healthy again (a leader elected, reads answered): bounded by PATIENCE.
    for i in 0..cluster.len() {
        cluster.wait_healthy(i);
    }
    let guard = lock.lock_timeout(Duration::from_secs(20)).unwrap();
    eprintln!("quorum back: acquired after {:?}", start.elapsed());
    assert!(!guard.lease_lost());
}
