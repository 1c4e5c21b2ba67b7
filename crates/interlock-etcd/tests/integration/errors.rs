use std::net::TcpListener;
use std::time::{Duration, Instant};

use interlock_etcd::{Error, EtcdClient, EtcdLock, EtcdOptions};
use interlock_testkit::EtcdCluster;

use crate::common::connect;

fn connect_fails_within(endpoints: &str, limit: Duration) -> Error {
    let start = Instant::now();
    let err =
        EtcdClient::connect(EtcdOptions::parse(endpoints).connect_timeout(Duration::from_secs(1)))
            .expect_err("nothing to connect to");
    let took = start.elapsed();
    assert!(took < limit, "{endpoints}: {err} after {took:?}");
    err
}

#[test]
fn unreachable_endpoints_are_a_typed_error_within_the_timeout() {
    // A port nobody listens on (free a moment ago): refused at once.
    let port = interlock_testkit::etcd::free_ports(1)[0];
    let err = connect_fails_within(&format!("127.0.0.1:{port}"), Duration::from_secs(3));
    assert!(matches!(err, Error::Unreachable { .. }), "{err}");
    assert!(err.to_string().contains(&port.to_string()), "{err}");
}

#[test]
fn a_server_that_never_answers_is_unreachable_within_the_timeout() {
    // Accepts connections and says nothing: not an etcd server.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let _accepting = std::thread::spawn(move || {
        let mut held = Vec::new();
        for conn in listener.incoming() {
            held.push(conn);
        }
    });
    let err = connect_fails_within(&addr.to_string(), Duration::from_secs(3));
    assert!(matches!(err, Error::Unreachable { .. }), "{err}");
}

#[test]
fn bad_settings_and_names_are_typed_errors() {
    assert!(matches!(
        EtcdClient::connect(EtcdOptions::parse(" , ")),
        Err(Error::InvalidConfig(_))
    ));
    assert!(matches!(
        EtcdClient::connect(EtcdOptions::parse("127.0.0.1:1").ttl(Duration::from_millis(10))),
        Err(Error::InvalidConfig(_))
    ));
    let cluster = EtcdCluster::start(1);
    let client = connect(&cluster.endpoints());
    for bad in ["", "a/b", ".hidden", "sp ace", &"x".repeat(201)] {
        match EtcdLock::new(&client, bad) {
            Err(Error::InvalidName { name, reason }) => {
                assert_eq!(name, bad);
                assert!(!reason.is_empty());
            }
            other => panic!("{bad:?}: expected InvalidName, got {other:?}"),
        }
    }
    assert!(matches!(
        interlock_etcd::status(&client, "a/b"),
        Err(Error::InvalidName { .. })
    ));
}
