//! `resources`' command line: the usage text, [`Args`] and [`parse_args`].

use std::path::PathBuf;

use interlock_bench::report::parse_value;

pub(crate) const USAGE: &str = "\
usage: resources [options]

The multiprocessing counter example's file (a text file holding a number, incremented under
a lock by P forked processes, INCREMENTS in total) kept six ways, then Value<u64> against a
bare AtomicU64 and a bare interlock::Lock. Every run checks the final count. Markdown tables
on stdout, progress on stderr.

options:
  --procs LIST               process counts of the contended runs            [2,8]
  --increments N             increments of the counter file in total, per run [10000]
  --durable-increments N     the same for the fsync row, whose every increment waits for
                             two fsyncs: lower it on a slow disk       [INCREMENTS]
  --reps N                   repetitions of every counter-file run (median)   [1]
  --breakdown N              single-process updates timed step by step         [1000]
  --value-seconds S          seconds per Value run                            [0.5]
  --value-reps N             repetitions of every Value run (median)          [5]
  --dir DIR                  where the counter files go; must be on the disk being measured
                             [$CARGO_TARGET_DIR, else the target directory of this binary]
  --smoke                    tiny defaults for CI: procs 2, 200 increments, 50 breakdown,
                             1 × 0.05 s Value runs
  -h, --help                 this text
";

/// The most processes one run may use (the size of the shared per-process counters).
pub(crate) const MAX_PROCS: usize = 64;

/// What the command line asked for.
#[derive(Debug)]
pub(crate) struct Args {
    /// Process counts of the contended runs.
    pub(crate) procs: Vec<usize>,
    /// Increments of the counter file in total, per run.
    pub(crate) increments: u64,
    /// The same for the durable rows.
    pub(crate) durable_increments: u64,
    /// Repetitions of every counter-file run.
    pub(crate) reps: usize,
    /// Single-process updates timed step by step.
    pub(crate) breakdown: usize,
    /// Seconds per Value run.
    pub(crate) value_seconds: f64,
    /// Repetitions of every Value run.
    pub(crate) value_reps: usize,
    /// Where the counter files go.
    pub(crate) dir: Option<PathBuf>,
}

/// Parses the arguments after the program name.
pub(crate) fn parse_args(argv: &[String]) -> Result<Args, String> {
    let smoke = argv.iter().any(|a| a == "--smoke");
    let mut a = Args {
        procs: if smoke { vec![2] } else { vec![2, 8] },
        increments: if smoke { 200 } else { 10_000 },
        durable_increments: 0,
        reps: 1,
        breakdown: if smoke { 50 } else { 1000 },
        value_seconds: if smoke { 0.05 } else { 0.5 },
        value_reps: if smoke { 1 } else { 5 },
        dir: None,
    };
    interlock_bench::report::each_flag(argv, |flag, value| {
        let bad = || format!("{flag}: cannot use {value:?}");
        match flag {
            "--procs" => {
                a.procs = value
                    .split(',')
                    .map(|x| x.trim().parse().map_err(|_| bad()))
                    .collect::<Result<_, _>>()?;
                if a.procs.iter().any(|&p| p == 0 || p > MAX_PROCS) {
                    return Err(format!("{flag}: process counts are 1..={MAX_PROCS}"));
                }
            }
            "--increments" => a.increments = parse_value(flag, value)?,
            "--durable-increments" => {
                a.durable_increments = parse_value(flag, value)?;
                if a.durable_increments == 0 {
                    return Err(format!("{flag} must be positive"));
                }
            }
            "--reps" => a.reps = parse_value(flag, value)?,
            "--breakdown" => a.breakdown = parse_value(flag, value)?,
            "--value-seconds" => a.value_seconds = parse_value(flag, value)?,
            "--value-reps" => a.value_reps = parse_value(flag, value)?,
            "--dir" => a.dir = Some(PathBuf::from(value)),
            _ => return Err(format!("unknown argument {flag:?}")),
        }
        Ok(())
    })?;
    if a.reps == 0 || a.value_reps == 0 || a.breakdown == 0 {
        return Err("--reps, --value-reps and --breakdown must be positive".into());
    }
    if a.increments == 0 {
        return Err("--increments must be positive".into());
    }
    if a.durable_increments == 0 {
        a.durable_increments = a.increments;
    }
    if !(a.value_seconds.is_finite() && a.value_seconds > 0.0) {
        return Err("--value-seconds must be positive".into());
    }
    Ok(a)
}
