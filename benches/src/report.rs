//! The Markdown tables `mp` prints: one per workload, each with a ratio column measured against
//! a reference row of the same run.

use std::fmt::Write as _;
use std::time::Duration;

use crate::harness::{Peer, Recovery, Shape};
use crate::run::{Params, Run, WAIT_SAMPLE_EVERY};
use crate::stats::Summary;

/// Per competitor, the measurements of every repetition.
pub type Rows<T> = Vec<(Peer, Vec<T>)>;

/// `x` with three significant digits (at least one decimal below 100).
pub fn sig3(x: f64) -> String {
    if !x.is_finite() {
        return "—".into();
    }
    let a = x.abs();
    let decimals = if a >= 100.0 {
        0
    } else if a >= 10.0 {
        1
    } else if a >= 1.0 {
        2
    } else if a == 0.0 {
        1
    } else {
        (2 - a.log10().floor() as i32).clamp(2, 6) as usize
    };
    format!("{x:.decimals$}")
}

fn ratio(x: f64, reference: Option<f64>) -> String {
    match reference {
        Some(r) if r > 0.0 => format!("{}×", sig3(x / r)),
        _ => "—".into(),
    }
}

/// Uncontended rows: per competitor, ns per lock+unlock of each repetition.
pub fn uncontended(rows: &Rows<f64>, reps: usize, duration: Duration) -> String {
    let reference = rows
        .iter()
        .find(|(p, _)| *p == Peer::Futex)
        .map(|(_, v)| Summary::of(v).median);
    let mut t = String::new();
    let _ = writeln!(
        t,
        "## Uncontended lock+unlock (1 process, {reps} × {:.2} s; ns per operation, lower is better)\n",
        duration.as_secs_f64()
    );
    t.push_str("| lock | median ns/op | mean | std.dev | vs futex |\n");
    t.push_str("|---|--:|--:|--:|--:|\n");
    for (peer, v) in rows {
        let s = Summary::of(v);
        let _ = writeln!(
            t,
            "| {} | {} | {} | {} | {} |",
            peer.name(),
            sig3(s.median),
            sig3(s.mean),
            sig3(s.std_dev),
            ratio(s.median, reference)
        );
    }
    t
}

/// One contended workload: per process count, per competitor, the runs of each repetition,
/// and the core-to-core round trips measured before and after that count's rows.
#[derive(Debug, Clone)]
pub struct Contended {
    /// The workload's name (`contended`, `back-to-back`, `work-outside`).
    pub name: &'static str,
    /// The loop its processes ran.
    pub shape: Shape,
    /// Per process count, the rows.
    pub by_procs: Vec<(usize, Rows<Run>)>,
    /// Per process count (in the order of `by_procs`), the round trip before and after, ns.
    pub round_trips: Vec<(f64, f64)>,
}

impl Contended {
    /// `a`'s throughput over `b`'s within each repetition at `procs` processes, if both ran.
    pub fn ratios(&self, procs: usize, a: Peer, b: Peer) -> Option<Vec<f64>> {
        let (_, rows) = self.by_procs.iter().find(|(p, _)| *p == procs)?;
        let runs = |peer: Peer| rows.iter().find(|(p, _)| *p == peer).map(|(_, r)| r);
        let (ra, rb) = (runs(a)?, runs(b)?);
        let v: Vec<f64> = ra
            .iter()
            .zip(rb)
            .map(|(x, y)| x.ops_per_sec() / y.ops_per_sec())
            .collect();
        (!v.is_empty()).then_some(v)
    }
}

/// Contended rows for every process count: per competitor, the median of the repetitions,
/// their spread (min–max), and ratios of medians against the reference rows.
pub fn contended(load: &Contended, reps: usize, p: &Params) -> String {
    let mut t = String::new();
    let what = match load.shape {
        Shape::Paced => format!(
            "a loop reading the stop flag between sections, work inside {}, outside {}",
            p.inside, p.outside
        ),
        Shape::BackToBack => format!(
            "batches of {} acquisitions with nothing between them",
            crate::harness::BATCH
        ),
    };
    let _ = writeln!(
        t,
        "## Contended, {}: shared counter incremented under the lock ({what}; {reps} × {:.2} s; \
         higher is better)\n",
        load.name,
        p.duration.as_secs_f64()
    );
    t.push_str(
        "| P | lock | median Mops/s | min–max | share max / min | max ÷ min | p99 wait µs | \
         vs futex | vs pthread-robust | vs flock | round trip ns before / after |\n",
    );
    t.push_str("|--:|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n");
    for ((procs, rows), (before, after)) in load.by_procs.iter().zip(&load.round_trips) {
        let reference = |peer: Peer| {
            rows.iter()
                .find(|(p, _)| *p == peer)
                .map(|(_, runs)| median_run(runs).1.median)
        };
        for (i, (peer, runs)) in rows.iter().enumerate() {
            let (run, s) = median_run(runs);
            let (max, min) = run.shares();
            let _ = writeln!(
                t,
                "| {procs} | {} | {} | {}–{} | {:.0}% / {:.0}% | {} | {} | {} | {} | {} | {} |",
                peer.name(),
                sig3(s.median / 1e6),
                sig3(s.min / 1e6),
                sig3(s.max / 1e6),
                max,
                min,
                sig3(run.share_ratio()),
                run.worst_wait_p99()
                    .map_or_else(|| "—".into(), |d| sig3(d.as_nanos() as f64 / 1e3)),
                ratio(s.median, reference(Peer::Futex)),
                ratio(s.median, reference(Peer::PthreadRobust)),
                ratio(s.median, reference(Peer::Flock)),
                if i == 0 {
                    format!("{:.0} / {:.0}", before, after)
                } else {
                    String::new()
                },
            );
        }
    }
    let _ = writeln!(
        t,
        "\nshare max / min: the busiest and the idlest process's part of all operations in the \
         median repetition (100/P each is fair); max ÷ min their ratio. p99 wait: the worst \
         process's 99th percentile of the time `lock` took, one acquisition in {} timed \
         (the contended and work-outside loops only). Round trip: two processes passing a \
         number through one cache line, before and after the row's runs; the host's placement \
         of the vCPUs moves it (and every contended figure) between runs.",
        WAIT_SAMPLE_EVERY
    );
    t
}

/// The median throughput of `peer` at `procs` processes, if measured.
pub fn median_ops(by_procs: &[(usize, Rows<Run>)], procs: usize, peer: Peer) -> Option<f64> {
    let (_, rows) = by_procs.iter().find(|(p, _)| *p == procs)?;
    let (_, runs) = rows.iter().find(|(p, _)| *p == peer)?;
    Some(median_run(runs).1.median)
}

/// The median repetition's run of `peer` at `procs` processes, if measured.
pub fn median_of(by_procs: &[(usize, Rows<Run>)], procs: usize, peer: Peer) -> Option<&Run> {
    let (_, rows) = by_procs.iter().find(|(p, _)| *p == procs)?;
    let (_, runs) = rows.iter().find(|(p, _)| *p == peer)?;
    Some(median_run(runs).0)
}

/// Ping-pong rows.
pub fn ping_pong(rows: &[(Peer, crate::harness::PingPong)], duration: Duration) -> String {
    let reference = rows
        .iter()
        .find(|(p, _)| *p == Peer::PthreadRobust)
        .map(|(_, r)| r.per_sec);
    let mut t = String::new();
    let _ = writeln!(
        t,
        "## Ping-pong: two processes take turns ({:.2} s; one hand-over = the giver's last \
         instant in the section to the taker holding the lock)\n",
        duration.as_secs_f64()
    );
    t.push_str("| lock | hand-overs/s | median µs | p99 µs | vs pthread-robust |\n");
    t.push_str("|---|--:|--:|--:|--:|\n");
    for (peer, r) in rows {
        let _ = writeln!(
            t,
            "| {} | {} | {} | {} | {} |",
            peer.name(),
            sig3(r.per_sec),
            sig3(r.median.as_nanos() as f64 / 1e3),
            sig3(r.p99.as_nanos() as f64 / 1e3),
            ratio(r.per_sec, reference)
        );
    }
    t.push_str("\nPython's lock is not driven in this workload.\n");
    t
}

/// The repetition whose throughput is nearest the median, and the summary of all of them.
fn median_run(runs: &[Run]) -> (&Run, Summary) {
    let v: Vec<f64> = runs.iter().map(Run::ops_per_sec).collect();
    let s = Summary::of(&v);
    let run = runs
        .iter()
        .min_by(|a, b| {
            let da = (a.ops_per_sec() - s.median).abs();
            let db = (b.ops_per_sec() - s.median).abs();
            da.total_cmp(&db)
        })
        .expect("at least one run");
    (run, s)
}

/// Recovery rows: per robust competitor, the latencies of each round.
pub fn recovery(rows: &[(Peer, Recovery)], rounds: usize) -> String {
    let us = |r: &Recovery| -> Vec<f64> {
        r.latencies
            .iter()
            .map(|d| d.as_nanos() as f64 / 1e3)
            .collect()
    };
    let reference = rows
        .iter()
        .find(|(p, _)| *p == Peer::PthreadRobust)
        .map(|(_, r)| Summary::of(&us(r)).median);
    let mut t = String::new();
    let _ = writeln!(
        t,
        "## Recovery after SIGKILL of the holder ({rounds} rounds; µs from kill to the waiter \
         holding the lock, lower is better)\n"
    );
    t.push_str(
        "| lock | median µs | p90 µs | mean | std.dev | death reported | vs pthread-robust |\n",
    );
    t.push_str("|---|--:|--:|--:|--:|--:|--:|\n");
    for (peer, r) in rows {
        let s = Summary::of(&us(r));
        let reported = match r.deaths_reported {
            Some(n) => format!("{n}/{}", r.latencies.len()),
            None => "no (silent)".into(),
        };
        let _ = writeln!(
            t,
            "| {} | {} | {} | {} | {} | {reported} | {} |",
            peer.name(),
            sig3(s.median),
            sig3(s.p90),
            sig3(s.mean),
            sig3(s.std_dev),
            ratio(s.median, reference)
        );
    }
    t.push_str(
        "\nNot robust, so not measured: futex, pthread, sem, python (a SIGKILLed holder leaves \
         them locked for ever). death reported: acquisitions that were told the previous owner \
         died (EOWNERDEAD, previous_owner_died); flock and OFD locks just become free.\n",
    );
    t
}

/// `s` quoted for a POSIX shell when it needs it, so a printed command line can be pasted back.
pub fn shell_quote(s: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "-_./=,:+@%".contains(c);
    if !s.is_empty() && s.chars().all(plain) {
        s.to_owned()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// A progress line on stderr, prefixed with the harness's name (the tables go to stdout).
pub fn progress(harness: &str, what: std::fmt::Arguments<'_>) {
    eprintln!("{harness}: {what}");
}

/// The parsed arguments, or the exit code after printing the usage: `--help` (an empty error)
/// prints it to stdout and succeeds; a bad argument prints the error and the usage to stderr and
/// exits 2.
pub fn args_or_usage<A>(
    harness: &str,
    usage: &str,
    parsed: Result<A, String>,
) -> Result<A, std::process::ExitCode> {
    match parsed {
        Ok(a) => Ok(a),
        Err(e) if e.is_empty() => {
            print!("{usage}");
            Err(std::process::ExitCode::SUCCESS)
        }
        Err(e) => {
            eprintln!("{harness}: {e}\n\n{usage}");
            Err(std::process::ExitCode::from(2))
        }
    }
}

/// The flag loop of the bench binaries whose flags all take a value: `--smoke` (read by the
/// caller beforehand) is skipped, `-h`/`--help` asks for the usage (`Err` of an empty message),
/// and every other flag is handed to `on` with its value.
///
/// # Errors
///
/// A flag without a value, or whatever `on` returns.
pub fn each_flag(
    argv: &[String],
    mut on: impl FnMut(&str, &str) -> Result<(), String>,
) -> Result<(), String> {
    let mut it = argv.iter();
    while let Some(flag) = it.next() {
        match flag.as_str() {
            "--smoke" => {}
            "-h" | "--help" => return Err(String::new()),
            _ => {
                let value = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
                on(flag, value)?;
            }
        }
    }
    Ok(())
}

/// `value` parsed as a `T`, or a message naming `flag` and the value.
///
/// # Errors
///
/// When it does not parse.
pub fn parse_value<T: std::str::FromStr>(flag: &str, value: &str) -> Result<T, String> {
    value
        .parse()
        .map_err(|_| format!("{flag}: cannot use {value:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn three_significant_digits() {
        assert_eq!(sig3(1234.4), "1234");
        assert_eq!(sig3(12.345), "12.3");
        assert_eq!(sig3(1.2345), "1.23");
        assert_eq!(sig3(0.012345), "0.0123");
        assert_eq!(sig3(0.0), "0.0");
        assert_eq!(ratio(2.0, Some(4.0)), "0.500×");
        assert_eq!(ratio(2.0, None), "—");
    }
}
