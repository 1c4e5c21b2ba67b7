use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::{Duration, Instant};

use interlock_testkit::EtcdCluster;

use crate::util::{describe, stderr, stdout, Ns};

/// `interlock run --etcd ENDPOINTS --etcd-ttl 2 NAME -- sh -c 'echo held; read x'`, started
/// and waited for until its command runs; it releases when its stdin closes.
fn hold(ns: &Ns, endpoints: &str, name: &str) -> std::process::Child {
    let mut child = ns
        .cmd()
        .args(["run", "--etcd", endpoints, "--etcd-ttl", "2", name, "--"])
        .args(["sh", "-c", "echo held $INTERLOCK_TOKEN; read x || true"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert!(
        line.starts_with("held "),
        "the holder did not start: {line:?}"
    );
    child
}

#[test]
fn run_etcd_passes_the_token_and_status_and_list_show_the_lock() {
    let cluster = EtcdCluster::start(1);
    let endpoints = cluster.endpoints();
    let ns = Ns::new();
    let out = ns.run(&[
        "run",
        "--etcd",
        &endpoints,
        "job",
        "--",
        "sh",
        "-c",
        "echo token=$INTERLOCK_TOKEN died=$INTERLOCK_PREVIOUS_OWNER_DIED; exit 7",
    ]);
    assert_eq!(out.status.code(), Some(7), "{}", describe(&out));
    let token: u64 = stdout(&out)
        .trim()
        .strip_prefix("token=")
        .and_then(|t| t.strip_suffix(" died=0"))
        .unwrap_or_else(|| panic!("{}", describe(&out)))
        .parse()
        .unwrap();
    assert!(token > 0);

    let mut holder = hold(&ns, &endpoints, "job");
    let out = ns.run(&[
        "run",
        "--etcd",
        &endpoints,
        "--no-wait",
        "job",
        "--",
        "true",
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let pid = holder.id();
    assert!(
        stderr(&out).contains(&format!("is held by pid {pid}")),
        "names the holder: {}",
        describe(&out)
    );
    let out = ns.run(&[
        "run", "--etcd", &endpoints, "--wait", "0.3", "job", "--", "true",
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    assert!(stderr(&out).contains("timed out"), "{}", describe(&out));

    // The endpoints from the environment; JSON.
    let out = ns
        .cmd()
        .env("INTERLOCK_ETCD_ENDPOINTS", &endpoints)
        .args(["status", "--json", "job"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", describe(&out));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["held"], true, "{json}");
    assert_eq!(json["holder"]["pid"], pid, "{json}");
    assert!(json["holder"]["token"].as_u64().unwrap() > token, "{json}");
    let out = ns.run(&["list", "--etcd", &endpoints]);
    assert!(out.status.success(), "{}", describe(&out));
    assert!(
        stdout(&out).starts_with(&format!("job: held by pid {pid}")),
        "{}",
        describe(&out)
    );

    drop(holder.stdin.take());
    assert!(holder.wait().unwrap().success());
    let out = ns.run(&["status", "--etcd", &endpoints, "job"]);
    assert!(stdout(&out).contains("was released"), "{}", describe(&out));
    let out = ns.run(&["status", "--etcd", &endpoints, "never-taken"]);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
}

#[test]
fn a_killed_etcd_runner_is_reported_to_the_next_within_the_ttl() {
    let cluster = EtcdCluster::start(1);
    let endpoints = cluster.endpoints();
    let ns = Ns::new();
    let mut holder = hold(&ns, &endpoints, "crash");
    holder.kill().unwrap();
    let killed = Instant::now();
    holder.wait().unwrap();
    let out = ns.run(&[
        "run",
        "--etcd",
        &endpoints,
        "--wait",
        "30",
        "crash",
        "--",
        "sh",
        "-c",
        "echo died=$INTERLOCK_PREVIOUS_OWNER_DIED",
    ]);
    let took = killed.elapsed();
    assert!(out.status.success(), "{}", describe(&out));
    assert_eq!(stdout(&out), "died=1\n", "{}", describe(&out));
    assert!(
        stderr(&out).contains("lost its lease while holding it"),
        "{}",
        describe(&out)
    );
    // TTL 2 s, the server's 500 ms sweep, a second of margin for the new process.
    assert!(took < Duration::from_secs(4), "{took:?}");
}

#[test]
fn run_etcd_refuses_bad_input_with_usage_and_system_codes() {
    let ns = Ns::new();
    let out = ns.run(&["run", "--etcd", "127.0.0.1:1", "bad/name", "true"]);
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    let port = interlock_testkit::etcd::free_ports(1)[0].to_string();
    let out = ns.run(&["run", "--etcd", &format!("127.0.0.1:{port}"), "x", "true"]);
    assert_eq!(out.status.code(), Some(3), "{}", describe(&out));
    assert!(stderr(&out).contains(&port), "{}", describe(&out));
    let out = ns.run(&["run", "--etcd", "127.0.0.1:1", "--slots", "2", "x", "true"]);
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
}

#[test]
fn a_paused_etcd_runner_stops_its_command_once_it_learns_its_lease_is_lost() {
    let cluster = EtcdCluster::start(1);
    let endpoints = cluster.endpoints();
    let ns = Ns::new();
    let mut holder = hold(&ns, &endpoints, "paused");
    let pid = holder.id() as i32;
    // SAFETY: kill(2) on our child, not reaped yet.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGSTOP) }, 0);
    // The next runner gets the lock once the paused one's lease lapses (TTL 2 s; bounded).
    let out = ns.run(&[
        "run",
        "--etcd",
        &endpoints,
        "--wait",
        "20",
        "paused",
        "--",
        "sh",
        "-c",
        "echo died=$INTERLOCK_PREVIOUS_OWNER_DIED",
    ]);
    assert_eq!(stdout(&out), "died=1\n", "{}", describe(&out));
    // SAFETY: as above.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGCONT) }, 0);
    // Resumed, it finds its lease lost, stops COMMAND (SIGTERM) and exits 3.
    let start = Instant::now();
    let status = loop {
        if let Some(status) = holder.try_wait().unwrap() {
            break status;
        }
        assert!(start.elapsed() < Duration::from_secs(10), "still running");
        std::thread::sleep(Duration::from_millis(10));
    };
    let mut err = String::new();
    std::io::Read::read_to_string(&mut holder.stderr.take().unwrap(), &mut err).unwrap();
    assert_eq!(status.code(), Some(3), "{err}");
    assert!(err.contains("lost the lease"), "{err}");
}

#[test]
fn sigterm_to_an_etcd_runner_reaches_command_and_the_lock_is_released_cleanly() {
    let cluster = EtcdCluster::start(1);
    let endpoints = cluster.endpoints();
    let ns = Ns::new();
    // COMMAND traps TERM, says so, and exits 5.
    let mut runner = ns
        .cmd()
        .args(["run", "--etcd", &endpoints, "term", "--", "sh", "-c"])
        .arg("trap 'echo got-term; exit 5' TERM; echo held; while :; do sleep 0.05; done")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(runner.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    assert_eq!(line, "held\n");
    // SAFETY: kill(2) on our child, not reaped yet.
    assert_eq!(unsafe { libc::kill(runner.id() as i32, libc::SIGTERM) }, 0);
    line.clear();
    out.read_line(&mut line).unwrap();
    assert_eq!(line, "got-term\n", "COMMAND's handler ran");
    let status = runner.wait().unwrap();
    assert_eq!(status.code(), Some(5), "COMMAND's status passes through");
    // Released, not lapsed: the next holder is not told of a death, and gets it at once.
    let out = ns.run(&[
        "run",
        "--etcd",
        &endpoints,
        "--no-wait",
        "term",
        "--",
        "sh",
        "-c",
        "echo died=$INTERLOCK_PREVIOUS_OWNER_DIED",
    ]);
    assert_eq!(stdout(&out), "died=0\n", "{}", describe(&out));
}

#[test]
fn sigint_while_an_etcd_runner_waits_ends_it_by_that_signal() {
    use std::os::unix::process::ExitStatusExt;
    let cluster = EtcdCluster::start(1);
    let endpoints = cluster.endpoints();
    let ns = Ns::new();
    let mut holder = hold(&ns, &endpoints, "wait");
    let mut waiter = ns
        .cmd()
        .args(["run", "--etcd", &endpoints, "wait", "--", "true"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Observable, not told: the waiter's key in the queue.
    crate::util::wait_until("the waiter queued", || {
        let out = ns.run(&["status", "--etcd", &endpoints, "--json", "wait"]);
        serde_json::from_slice::<serde_json::Value>(&out.stdout).is_ok_and(|j| j["waiters"] == 1)
    });
    // SAFETY: kill(2) on our child, not reaped yet.
    assert_eq!(unsafe { libc::kill(waiter.id() as i32, libc::SIGINT) }, 0);
    let status = waiter.wait().unwrap();
    assert_eq!(status.signal(), Some(libc::SIGINT), "{status:?}");
    drop(holder.stdin.take());
    assert!(holder.wait().unwrap().success());
}
