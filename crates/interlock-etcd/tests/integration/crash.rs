use std::path::PathBuf;
use std::time::{Duration, Instant};

use interlock_etcd::{Error, EtcdLock};
use interlock_testkit::{hear_from_parent, role, tell_parent, EtcdCluster};

use crate::common::{child_setup, connect, signal, spawn_role, TTL};

#[path = "../../examples/fenced_store/store.rs"]
#[allow(dead_code)]
mod store;

const PROCS: usize = 4;
const LOOPS: u64 = 25;

#[test]
fn n_processes_m_increments_of_a_file_count_exactly() {
    if role().as_deref() == Some("counter") {
        let (client, name) = child_setup();
        let lock = EtcdLock::new(&client, &name).unwrap();
        let file = PathBuf::from(hear_from_parent());
        for _ in 0..LOOPS {
            let guard = lock.lock().unwrap();
            // "COUNT LAST_TOKEN": a read-modify-write that any overlap would lose.
            let text = std::fs::read_to_string(&file).unwrap();
            let (count, last) = text.trim().split_once(' ').unwrap();
            let (count, last): (u64, u64) = (count.parse().unwrap(), last.parse().unwrap());
            assert!(
                guard.token() > last,
                "tokens increase: {} after {last}",
                guard.token()
            );
            std::fs::write(&file, format!("{} {}", count + 1, guard.token())).unwrap();
            drop(guard);
        }
        tell_parent("done");
        return;
    }
    let cluster = EtcdCluster::start(3);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("count");
    std::fs::write(&file, "0 0").unwrap();
    let mut children: Vec<_> = (0..PROCS)
        .map(|_| spawn_role("counter", &cluster.endpoints(), "counter"))
        .collect();
    // All start together: the file's path is the start signal.
    for child in &mut children {
        child.send(file.to_str().unwrap());
    }
    for child in children {
        child.expect("done");
        child.finish();
    }
    let text = std::fs::read_to_string(&file).unwrap();
    let count: u64 = text.split(' ').next().unwrap().parse().unwrap();
    assert_eq!(count, PROCS as u64 * LOOPS, "{text}");
}

#[test]
fn sigkilled_holder_is_reported_to_the_next_owner_within_ttl_plus_1s() {
    if role().as_deref() == Some("holder") {
        let (client, name) = child_setup();
        let guard = EtcdLock::new(&client, &name).unwrap().lock().unwrap();
        tell_parent(&format!("held {}", guard.token()));
        interlock_testkit::hold_until_killed();
    }
    let cluster = EtcdCluster::start(3);
    let client = connect(&cluster.endpoints());
    let mut holder = spawn_role("holder", &cluster.endpoints(), "crash");
    let old: u64 = holder
        .recv()
        .strip_prefix("held ")
        .unwrap()
        .parse()
        .unwrap();
    let lock = EtcdLock::new(&client, "crash").unwrap();
    std::thread::scope(|s| {
        let waiter = s.spawn(|| {
            let guard = lock.lock_timeout(TTL * 10).unwrap();
            (Instant::now(), guard)
        });
        interlock_testkit::wait_until("the waiter queued", || {
            interlock_etcd::status(&client, "crash").unwrap().waiters == 1
        });
        let killed = Instant::now();
        holder.kill();
        let (acquired, guard) = waiter.join().unwrap();
        let took = acquired - killed;
        // The dead holder's lease lapses at most a TTL after its last renewal; the server
        // checks for expired leases every 500 ms.
        assert!(took <= TTL + Duration::from_secs(1), "took {took:?}");
        assert!(guard.token() > old);
        assert!(guard.previous_owner_died(), "the next owner is told");
        assert_eq!(guard.previous_token(), Some(old));
        eprintln!("recovery after SIGKILL: {took:?} (TTL {TTL:?})");
    });
    holder.finish_killed();
}

#[test]
fn paused_holder_loses_its_lease_and_its_fenced_write_is_rejected() {
    if role().as_deref() == Some("holder") {
        let (client, name) = child_setup();
        let store = store::FencedStore::open(hear_from_parent().as_ref()).unwrap();
        let guard = EtcdLock::new(&client, &name).unwrap().lock().unwrap();
        store.write(guard.token(), "first").unwrap();
        tell_parent(&format!("held {}", guard.token()));
        hear_from_parent(); // paused and resumed meanwhile
        let lost = guard.lease_lost();
        let signalled = *guard.lease_lost_signal().borrow();
        let write = store.write(guard.token(), "late");
        tell_parent(&format!(
            "lost={lost} signalled={signalled} write={write:?}"
        ));
        let unlock = guard.unlock();
        tell_parent(&format!(
            "unlock={}",
            matches!(unlock, Err(Error::LeaseLost { .. }))
        ));
        return;
    }
    let cluster = EtcdCluster::start(3);
    let dir = tempfile::tempdir().unwrap();
    let store = store::FencedStore::open(dir.path()).unwrap();
    let client = connect(&cluster.endpoints());
    let mut holder = spawn_role("holder", &cluster.endpoints(), "paused");
    holder.send(dir.path().to_str().unwrap());
    let old: u64 = holder
        .recv()
        .strip_prefix("held ")
        .unwrap()
        .parse()
        .unwrap();
    signal(holder.pid(), libc::SIGSTOP);
    // Bounded wait for the lapse (time-based by nature): TTL + the server's 500 ms sweep.
    let start = Instant::now();
    let guard = EtcdLock::new(&client, "paused")
        .unwrap()
        .lock_timeout(TTL * 10)
        .unwrap();
    assert!(
        start.elapsed() <= TTL + Duration::from_secs(1),
        "{:?}",
        start.elapsed()
    );
    assert!(guard.token() > old && guard.previous_owner_died());
    store.write(guard.token(), "second").unwrap();
    signal(holder.pid(), libc::SIGCONT);
    holder.send("go");
    let expect = format!(
        "lost=true signalled=true write=Err(Rejected {{ token: {old}, newest: {} }})",
        guard.token()
    );
    holder.expect(&expect);
    holder.expect("unlock=true");
    holder.finish();
    assert_eq!(store.read(), Some((guard.token(), "second".to_owned())));
    assert!(!guard.lease_lost(), "the new holder's lease lives");
}

#[test]
fn a_waiter_whose_lease_lapsed_is_not_told_it_holds_the_lock() {
    if role().as_deref() == Some("waiter") {
        let (client, name) = child_setup();
        let lock = EtcdLock::new(&client, &name).unwrap();
        let first = lock.lock();
        tell_parent(&format!(
            "first={}",
            match &first {
                Ok(_) => "held".to_owned(),
                Err(Error::LeaseLost { .. }) => "lease-lost".to_owned(),
                Err(e) => e.to_string(),
            }
        ));
        drop(first);
        // The client renews its lease for the next acquisition.
        let again = lock.lock().unwrap();
        tell_parent(&format!("again={}", !again.lease_lost()));
        return;
    }
    let cluster = EtcdCluster::start(1);
    let client = connect(&cluster.endpoints());
    let guard = EtcdLock::new(&client, "lapsed").unwrap().lock().unwrap();
    let waiter = spawn_role("waiter", &cluster.endpoints(), "lapsed");
    interlock_testkit::wait_until("the waiter queued", || {
        interlock_etcd::status(&client, "lapsed").unwrap().waiters == 1
    });
    signal(waiter.pid(), libc::SIGSTOP);
    // Its key goes with its lease: observable (bounded by PATIENCE; about TTL + 0.5 s).
    interlock_testkit::wait_until("the paused waiter's key lapsed", || {
        interlock_etcd::status(&client, "lapsed").unwrap().waiters == 0
    });
    drop(guard);
    signal(waiter.pid(), libc::SIGCONT);
    waiter.expect("first=lease-lost");
    waiter.expect("again=true");
    waiter.finish();
}
