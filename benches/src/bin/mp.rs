//! `mp`: interlock against its peers across processes — uncontended cost, contended throughput,
//! recovery after a SIGKILLed holder — printed as Markdown tables with ratios measured side by
//! side in one run. `mp --help` lists the arguments.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use interlock_bench::harness::{self, Params, Peer, MAX_PROCS};
use interlock_bench::machine::Machine;
use interlock_bench::{python, report};

const USAGE: &str = "\
usage: mp [options]

Runs every competitor in forked processes, interleaving the repetitions so that noise from
the rest of the machine falls on all of them alike, and prints one Markdown table per workload.

options:
  --procs LIST              process counts of the contended workload   [2,8]
  --inside N                work iterations inside the critical section  [0]
  --outside N               work iterations between sections             [0]
  --seconds S               seconds per contended run                    [1]
  --uncontended-seconds S   seconds per uncontended run                  [0.5]
  --reps N                  repetitions of every run                     [5]
  --rounds N                SIGKILL rounds of the recovery workload      [20]
  --only LIST               only these competitors (futex, pthread, pthread-robust, sem,
                            flock, ofd, interlock, interlock-liveness, python)
  --workloads LIST          uncontended, contended, recovery            [all three]
  --smoke                   tiny defaults for CI: procs 2, 0.05 s runs, 1 repetition, 3 rounds
  -h, --help                this text
";

#[derive(Debug)]
struct Args {
    procs: Vec<usize>,
    inside: u32,
    outside: u32,
    seconds: f64,
    uncontended_seconds: f64,
    reps: usize,
    rounds: usize,
    peers: Vec<Peer>,
    uncontended: bool,
    contended: bool,
    recovery: bool,
}

fn list<T>(s: &str, what: &str, parse: impl Fn(&str) -> Option<T>) -> Result<Vec<T>, String> {
    s.split(',')
        .map(|x| parse(x.trim()).ok_or_else(|| format!("{what}: cannot use {x:?}")))
        .collect()
}

fn parse_args(argv: &[String]) -> Result<Args, String> {
    let smoke = argv.iter().any(|a| a == "--smoke");
    let mut a = Args {
        procs: if smoke { vec![2] } else { vec![2, 8] },
        inside: 0,
        outside: 0,
        seconds: if smoke { 0.05 } else { 1.0 },
        uncontended_seconds: if smoke { 0.05 } else { 0.5 },
        reps: if smoke { 1 } else { 5 },
        rounds: if smoke { 3 } else { 20 },
        peers: Peer::ALL.to_vec(),
        uncontended: true,
        contended: true,
        recovery: true,
    };
    let mut it = argv.iter();
    while let Some(flag) = it.next() {
        if flag == "--smoke" {
            continue;
        }
        if flag == "-h" || flag == "--help" {
            return Err(String::new());
        }
        let value = it
            .next()
            .ok_or_else(|| format!("{flag} needs a value"))?
            .as_str();
        let bad = || format!("{flag}: cannot use {value:?}");
        match flag.as_str() {
            "--procs" => {
                a.procs = list(value, flag, |x| x.parse().ok())?;
                if a.procs.iter().any(|&p| p == 0 || p > MAX_PROCS) {
                    return Err(format!("{flag}: process counts are 1..={MAX_PROCS}"));
                }
            }
            "--inside" => a.inside = value.parse().map_err(|_| bad())?,
            "--outside" => a.outside = value.parse().map_err(|_| bad())?,
            "--seconds" => a.seconds = value.parse().map_err(|_| bad())?,
            "--uncontended-seconds" => a.uncontended_seconds = value.parse().map_err(|_| bad())?,
            "--reps" => a.reps = value.parse().map_err(|_| bad())?,
            "--rounds" => a.rounds = value.parse().map_err(|_| bad())?,
            "--only" => a.peers = list(value, flag, Peer::from_name)?,
            "--workloads" => {
                let w = list(value, flag, |x| {
                    ["uncontended", "contended", "recovery"]
                        .contains(&x)
                        .then(|| x.to_owned())
                })?;
                a.uncontended = w.iter().any(|x| x == "uncontended");
                a.contended = w.iter().any(|x| x == "contended");
                a.recovery = w.iter().any(|x| x == "recovery");
            }
            _ => return Err(format!("unknown argument {flag:?}")),
        }
    }
    let positive = |x: f64| x.is_finite() && x > 0.0;
    if a.reps == 0 || a.rounds == 0 || !positive(a.seconds) || !positive(a.uncontended_seconds) {
        return Err("--reps, --rounds and the durations must be positive".into());
    }
    Ok(a)
}

fn progress(what: std::fmt::Arguments<'_>) {
    interlock_bench::report::progress("mp", what);
}

fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args().collect();
    let args = match interlock_bench::report::args_or_usage("mp", USAGE, parse_args(&argv[1..])) {
        Ok(a) => a,
        Err(code) => return code,
    };
    let started = Instant::now();
    println!("# interlock multi-process benchmark\n");
    println!("machine: {}  ", Machine::read());
    println!(
        "command: `{}`\n",
        argv.iter()
            .map(|a| interlock_bench::report::shell_quote(a))
            .collect::<Vec<_>>()
            .join(" ")
    );

    let mut peers = args.peers.clone();
    if peers.contains(&Peer::Python) && !python::available() {
        println!("note: python3 (with multiprocessing) not found: the python rows are skipped.\n");
        peers.retain(|&p| p != Peer::Python);
    }
    let throughput: Vec<Peer> = peers.iter().copied().filter(|p| p.throughput()).collect();

    if args.uncontended && !throughput.is_empty() {
        let p = Params {
            inside: args.inside,
            outside: args.outside,
            duration: Duration::from_secs_f64(args.uncontended_seconds),
        };
        let mut rows: report::Rows<f64> = throughput.iter().map(|&p| (p, vec![])).collect();
        for rep in 0..args.reps {
            progress(format_args!(
                "uncontended, repetition {}/{}",
                rep + 1,
                args.reps
            ));
            for (peer, ns) in &mut rows {
                let run = harness::uncontended(*peer, &p)
                    .unwrap_or_else(|e| panic!("{}: {e}", peer.name()))
                    .expect("python3 was found");
                ns.push(run.ns_per_op());
            }
        }
        println!("{}", report::uncontended(&rows, args.reps, p.duration));
    }

    if args.contended && !throughput.is_empty() {
        let p = Params {
            inside: args.inside,
            outside: args.outside,
            duration: Duration::from_secs_f64(args.seconds),
        };
        let mut by_procs = Vec::new();
        for &procs in &args.procs {
            let mut rows: report::Rows<harness::Run> =
                throughput.iter().map(|&p| (p, vec![])).collect();
            for rep in 0..args.reps {
                progress(format_args!(
                    "contended, {procs} processes, repetition {}/{}",
                    rep + 1,
                    args.reps
                ));
                for (peer, runs) in &mut rows {
                    let run = harness::contended(*peer, procs, &p)
                        .unwrap_or_else(|e| panic!("{}: {e}", peer.name()))
                        .expect("python3 was found");
                    runs.push(run);
                }
            }
            by_procs.push((procs, rows));
        }
        println!(
            "{}",
            report::contended(&by_procs, args.reps, p.duration, args.inside, args.outside)
        );
    }

    let robust: Vec<Peer> = peers.iter().copied().filter(|p| p.robust()).collect();
    if args.recovery && !robust.is_empty() {
        let mut rows = Vec::new();
        for peer in robust {
            progress(format_args!("recovery, {}", peer.name()));
            let r = harness::recovery(peer, args.rounds)
                .unwrap_or_else(|e| panic!("{}: {e}", peer.name()));
            rows.push((peer, r));
        }
        println!("{}", report::recovery(&rows, args.rounds));
    }

    println!("total time: {:.1} s", started.elapsed().as_secs_f64());
    ExitCode::SUCCESS
}
