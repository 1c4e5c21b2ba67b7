//! `etcd`: interlock-etcd on real etcd members (1 and 3 on 127.0.0.1, spawned here and killed
//! by pid), beside its peers in one run: the lock+unlock round trip against a bare
//! lease-grant + put + delete made with the same client, `etcdctl lock NAME true` against
//! `interlock run --etcd ENDPOINTS NAME -- true` (a process each: connect, lock, run, unlock),
//! contended throughput of 4 processes, the hand-over latency after an unlock, and the
//! recovery time after a holder's SIGKILL against its lease's TTL. `etcd --help` lists the
//! arguments.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use interlock_bench::report::{each_flag, parse_value, progress, sig3};
use interlock_bench::stats::Summary;
use interlock_etcd::{EtcdClient, EtcdLock, EtcdOptions};
use interlock_testkit::EtcdCluster;

const USAGE: &str = "\
usage: etcd [options]

Starts an etcd cluster of 1 member, then one of 3 (127.0.0.1, free ports, killed by pid),
and on each measures:

  lock+unlock                 EtcdLock::lock + unlock, one client, nobody else queued: 2
                              requests (one txn creates the key and takes over the owner
                              record, one releases)
  lease-grant + put + delete  a bare lock's three requests with the same client library,
                              interleaved with the row above: the goal is lock+unlock within
                              1.2 times this
  etcdctl lock NAME true      etcd's own CLI (a process: connect, lock, run, unlock)
  interlock run --etcd        ours, the same (when the CLI binary is found: --cli PATH)
  contended                   4 processes taking turns for --secs: lock+unlock per second
  hand-over                   µs from the holder's unlock call to the waiter holding
  recovery                    s from SIGKILL of a holder (TTL 2 s) to a waiter holding

options:
  --rounds N      round trips and hand-overs per measurement   [200]
  --secs S        seconds of the contended run                 [3]
  --recoveries N  SIGKILL rounds per cluster                   [3]
  --cli PATH      the interlock binary for the CLI row (default: target/release/interlock
                  beside this program, if it is there)
  --smoke         20 rounds, 1 s, 1 recovery (for CI)
  -h, --help      this text
";

struct Args {
    rounds: usize,
    secs: f64,
    recoveries: usize,
    cli: Option<PathBuf>,
}

fn parse_args(argv: &[String]) -> Result<Args, String> {
    let smoke = argv.iter().any(|a| a == "--smoke");
    let mut a = Args {
        rounds: if smoke { 20 } else { 200 },
        secs: if smoke { 1.0 } else { 3.0 },
        recoveries: if smoke { 1 } else { 3 },
        cli: None,
    };
    each_flag(argv, |flag, value| {
        match flag {
            "--rounds" => a.rounds = parse_value(flag, value)?,
            "--secs" => a.secs = parse_value(flag, value)?,
            "--recoveries" => a.recoveries = parse_value(flag, value)?,
            "--cli" => a.cli = Some(PathBuf::from(value)),
            _ => return Err(format!("unknown option {flag}")),
        }
        Ok(())
    })?;
    Ok(a)
}

const TTL: Duration = Duration::from_secs(2);

fn connect(endpoints: &str, ttl: Duration) -> EtcdClient {
    EtcdClient::connect(EtcdOptions::parse(endpoints).ttl(ttl)).expect("connect")
}

/// Microseconds of `f`, `n` times, after a few unrecorded ones.
fn time_us(n: usize, mut f: impl FnMut()) -> Summary {
    for _ in 0..3 {
        f();
    }
    let v: Vec<f64> = (0..n)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64() * 1e6
        })
        .collect();
    Summary::of(&v)
}

/// Microseconds of `f` and of `g`, `n` times each, alternating which goes first.
fn time_pair_us(n: usize, mut f: impl FnMut(), mut g: impl FnMut()) -> (Summary, Summary) {
    let (mut a, mut b) = (Vec::new(), Vec::new());
    for round in 0..n + 3 {
        let one = |h: &mut dyn FnMut(), into: &mut Vec<f64>| {
            let t = Instant::now();
            h();
            if round >= 3 {
                into.push(t.elapsed().as_secs_f64() * 1e6);
            }
        };
        if round % 2 == 0 {
            one(&mut f, &mut a);
            one(&mut g, &mut b);
        } else {
            one(&mut g, &mut b);
            one(&mut f, &mut a);
        }
    }
    (Summary::of(&a), Summary::of(&b))
}

/// One cluster's results, each a summary (µs unless said otherwise).
struct Results {
    lock: Summary,
    bare: Summary,
    etcdctl: Summary,
    cli: Option<Summary>,
    contended_ops: f64,
    handover: Summary,
    recovery_s: Summary,
}

fn measure(members: usize, args: &Args) -> Results {
    let cluster = EtcdCluster::start(members);
    let endpoints = cluster.endpoints();
    progress("etcd", format_args!("{members} member(s) at {endpoints}"));
    let client = connect(&endpoints, Duration::from_secs(10));

    let lock = EtcdLock::new(&client, "rt").unwrap();
    // The bare peer: a lease grant, a put under it and a delete with the same library.
    let mut bare_client = client
        .block_on(etcd_client::Client::connect(
            endpoints.split(',').collect::<Vec<_>>(),
            None,
        ))
        .unwrap();
    // Interleaved, one of each per round, so that the machine's other load falls on both.
    let (lock_rt, bare) = time_pair_us(
        args.rounds,
        || lock.lock().unwrap().unlock().unwrap(),
        || {
            client.block_on(async {
                let lease = bare_client.lease_grant(10, None).await.unwrap().id();
                let options = etcd_client::PutOptions::new().with_lease(lease);
                bare_client
                    .put("bare/key", "v", Some(options))
                    .await
                    .unwrap();
                bare_client.delete("bare/key", None).await.unwrap();
            });
        },
    );

    let etcdctl = time_us(args.rounds.min(50), || {
        let status = Command::new("etcdctl")
            .env("ETCDCTL_API", "3")
            .args(["--endpoints", &endpoints, "lock", "ctl", "true"])
            .stdout(Stdio::null())
            .status()
            .expect("etcdctl (apt-get install etcd-client)");
        assert!(status.success());
    });
    let cli = args.cli.as_ref().map(|cli| {
        time_us(args.rounds.min(50), || {
            let status = Command::new(cli)
                .args(["run", "--etcd", &endpoints, "cli", "--", "true"])
                .status()
                .expect("interlock");
            assert!(status.success());
        })
    });

    // Contended: 4 processes (this program as workers), each counting its holds.
    let workers: Vec<_> = (0..4)
        .map(|_| {
            Command::new(std::env::current_exe().unwrap())
                .args(["--worker", &endpoints, &args.secs.to_string()])
                .stdout(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let total: u64 = workers
        .into_iter()
        .map(|w| {
            let out = w.wait_with_output().unwrap();
            assert!(out.status.success());
            String::from_utf8_lossy(&out.stdout)
                .trim()
                .parse::<u64>()
                .unwrap()
        })
        .sum();
    let contended_ops = total as f64 / args.secs;

    // Hand-over: B queued behind A; from A's unlock call to B holding.
    let other = connect(&endpoints, Duration::from_secs(10));
    let (la, lb) = (
        EtcdLock::new(&client, "handover").unwrap(),
        EtcdLock::new(&other, "handover").unwrap(),
    );
    let mut handovers = Vec::new();
    for _ in 0..args.rounds.min(50) {
        let held = la.lock().unwrap();
        std::thread::scope(|s| {
            let waiter = s.spawn(|| {
                let guard = lb.lock().unwrap();
                let at = Instant::now();
                drop(guard);
                at
            });
            while interlock_etcd::status(&client, "handover").unwrap().waiters == 0 {
                std::thread::sleep(Duration::from_millis(1));
            }
            let released = Instant::now();
            held.unlock().unwrap();
            let acquired = waiter.join().unwrap();
            handovers.push((acquired - released).as_secs_f64() * 1e6);
        });
    }

    // Recovery: a holder (a worker process, TTL 2 s) SIGKILLed; a waiter queued.
    let mut recoveries = Vec::new();
    for _ in 0..args.recoveries {
        let mut holder = Command::new(std::env::current_exe().unwrap())
            .args(["--hold", &endpoints])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(holder.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(line.trim(), "held");
        let lock = EtcdLock::new(&client, "recovery").unwrap();
        std::thread::scope(|s| {
            let waiter = s.spawn(|| {
                let guard = lock.lock_timeout(TTL * 10).unwrap();
                assert!(guard.previous_owner_died());
                Instant::now()
            });
            while interlock_etcd::status(&client, "recovery").unwrap().waiters == 0 {
                std::thread::sleep(Duration::from_millis(1));
            }
            let killed = Instant::now();
            holder.kill().unwrap();
            holder.wait().unwrap();
            recoveries.push((waiter.join().unwrap() - killed).as_secs_f64());
        });
    }
    Results {
        lock: lock_rt,
        bare,
        etcdctl,
        cli,
        contended_ops,
        handover: Summary::of(&handovers),
        recovery_s: Summary::of(&recoveries),
    }
}

fn worker(endpoints: &str, secs: f64) {
    let client = connect(endpoints, Duration::from_secs(10));
    let lock = EtcdLock::new(&client, "contended").unwrap();
    let end = Instant::now() + Duration::from_secs_f64(secs);
    let mut n = 0u64;
    while Instant::now() < end {
        lock.lock().unwrap().unlock().unwrap();
        n += 1;
    }
    println!("{n}");
}

fn hold(endpoints: &str) -> ! {
    let client = connect(endpoints, TTL);
    let guard = EtcdLock::new(&client, "recovery").unwrap().lock().unwrap();
    println!("held");
    std::mem::forget(guard);
    loop {
        std::thread::park();
    }
}

fn row(what: &str, unit: &str, one: &Summary, three: &Summary) -> String {
    format!(
        "| {what} | {} {unit} (p90 {}) | {} {unit} (p90 {}) |\n",
        sig3(one.median),
        sig3(one.p90),
        sig3(three.median),
        sig3(three.p90)
    )
}

fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    match argv.first().map(String::as_str) {
        Some("--worker") => {
            worker(&argv[1], argv[2].parse().unwrap());
            return ExitCode::SUCCESS;
        }
        Some("--hold") => hold(&argv[1]),
        _ => {}
    }
    let mut args = match interlock_bench::report::args_or_usage("etcd", USAGE, parse_args(&argv)) {
        Ok(a) => a,
        Err(code) => return code,
    };
    if args.cli.is_none() {
        let beside = std::env::current_exe().unwrap().with_file_name("interlock");
        args.cli = beside.is_file().then_some(beside);
    }
    let (one, three) = (measure(1, &args), measure(3, &args));
    let mut out = format!(
        "# interlock-etcd on etcd {} (1 and 3 members on 127.0.0.1)\n\n\
         {} round trips per row (etcdctl and CLI rows: at most 50 processes); medians, µs \
         unless said.\n\n| measurement | 1 member | 3 members |\n|---|--:|--:|\n",
        etcd_version(),
        args.rounds
    );
    out += &row("lock+unlock (EtcdLock)", "µs", &one.lock, &three.lock);
    out += &row(
        "bare lease-grant + put + delete",
        "µs",
        &one.bare,
        &three.bare,
    );
    out += &format!(
        "| lock+unlock ÷ bare (goal ≤ 1.2×) | {:.2}× | {:.2}× |\n",
        one.lock.median / one.bare.median,
        three.lock.median / three.bare.median
    );
    out += &row(
        "`etcdctl lock NAME true` (a process)",
        "µs",
        &one.etcdctl,
        &three.etcdctl,
    );
    if let (Some(a), Some(b)) = (&one.cli, &three.cli) {
        out += &row(
            "`interlock run --etcd E NAME -- true` (a process)",
            "µs",
            a,
            b,
        );
    }
    out += &format!(
        "| contended, 4 processes | {:.0} holds/s | {:.0} holds/s |\n",
        one.contended_ops, three.contended_ops
    );
    out += &row(
        "hand-over: unlock call → waiter holds",
        "µs",
        &one.handover,
        &three.handover,
    );
    out += &format!(
        "| recovery: SIGKILL of holder → waiter holds (TTL {} s) | {:.2} s (max {:.2}) | {:.2} s (max {:.2}) |\n",
        TTL.as_secs(),
        one.recovery_s.median,
        one.recovery_s.max,
        three.recovery_s.median,
        three.recovery_s.max
    );
    if args.cli.is_none() {
        out += "\nnote: no interlock binary (--cli PATH): the CLI row is left out\n";
    }
    print!("{out}");
    ExitCode::SUCCESS
}

fn etcd_version() -> String {
    Command::new("etcd")
        .arg("--version")
        .output()
        .ok()
        .and_then(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .next()
                .map(|l| l.trim_start_matches("etcd Version: ").to_owned())
        })
        .unwrap_or_else(|| "?".into())
}
