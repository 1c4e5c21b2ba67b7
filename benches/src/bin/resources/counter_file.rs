//! Part 1: the multiprocessing counter example's file — a text file holding a number,
//! incremented under a lock by P forked processes — kept by `SharedFile` (plain and slotted,
//! with and without fsync), by the example's own cycle under an `interlock::Lock`, and by the
//! Python example itself.

use std::fmt::Write as _;
use std::io;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use interlock::{Format, Lock, SharedFile};
use interlock_bench::harness::fork_gang;
use interlock_bench::report::sig3;
use interlock_bench::stats::Summary;

use crate::args::Args;

/// The goal this part checks: a crash-safe `SharedFile` this much faster than Python.
const GOAL_SPEEDUP_VS_PYTHON: f64 = 10.0;

/// Child `i`'s part of `total` split over `procs`.
fn share(total: u64, procs: usize, i: usize) -> u64 {
    let procs = procs as u64;
    total / procs + u64::from((i as u64) < total % procs)
}

/// The ways the counter file is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FileRow {
    /// `SharedFile::update_parsed(|n| n + 1)`.
    Shared,
    /// The same with `.durable(true)`.
    Durable,
    /// `SharedFile` in `Format::Slots`: committed in place.
    Slots,
    /// The same with `.durable(true)`.
    SlotsDurable,
    /// The counter example's cycle in Rust: `read_to_string`, then `std::fs::write`, under a
    /// `Lock`.
    Naive,
    /// The Python counter example without its sleeps.
    Python,
}

impl FileRow {
    pub(crate) const ALL: [FileRow; 6] = [
        FileRow::Slots,
        FileRow::SlotsDurable,
        FileRow::Shared,
        FileRow::Durable,
        FileRow::Naive,
        FileRow::Python,
    ];

    pub(crate) fn name(self) -> &'static str {
        match self {
            FileRow::Shared => "interlock SharedFile::update_parsed",
            FileRow::Durable => "interlock SharedFile::update_parsed, .durable(true)",
            FileRow::Slots => "interlock SharedFile::update_parsed, Format::Slots",
            FileRow::SlotsDurable => {
                "interlock SharedFile::update_parsed, Format::Slots, .durable(true)"
            }
            FileRow::Naive => {
                "counter example's cycle (read_to_string + fs::write) under interlock::Lock"
            }
            FileRow::Python => "the Python counter example: multiprocessing.Lock + open/read/write",
        }
    }

    pub(crate) fn short(self) -> &'static str {
        match self {
            FileRow::Shared => "shared",
            FileRow::Durable => "durable",
            FileRow::Slots => "slots",
            FileRow::SlotsDurable => "slots-durable",
            FileRow::Naive => "naive",
            FileRow::Python => "python",
        }
    }

    pub(crate) fn durable(self) -> bool {
        matches!(self, FileRow::Durable | FileRow::SlotsDurable)
    }

    pub(crate) fn format(self) -> Format {
        match self {
            FileRow::Slots | FileRow::SlotsDurable => Format::Slots,
            _ => Format::Plain,
        }
    }

    pub(crate) fn crash_safe(self) -> &'static str {
        match self {
            FileRow::Shared => "yes (rename)",
            FileRow::Durable => "yes + power loss (fsync)",
            FileRow::Slots => "yes (two checksummed slots)",
            FileRow::SlotsDurable => "yes + power loss (fdatasync)",
            FileRow::Naive | FileRow::Python => "no (O_TRUNC first)",
        }
    }
}

/// One run of a counter-file row.
#[derive(Debug, Clone, Copy)]
pub(crate) struct FileRun {
    increments: u64,
    /// From the start signal to the last worker's exit.
    wall: Duration,
    /// Python only: the whole `python3` process, interpreter start-up included.
    process: Option<Duration>,
}

impl FileRun {
    fn us_per_increment(&self) -> f64 {
        self.wall.as_secs_f64() * 1e6 / self.increments as f64
    }
}

/// The counter's value as the example reads it: `int(text) if text else 0`.
pub(crate) fn parse_counter(text: &str) -> u64 {
    let text = text.trim();
    if text.is_empty() {
        0
    } else {
        text.parse()
            .unwrap_or_else(|e| panic!("counter file holds {text:?}: {e}"))
    }
}

pub(crate) fn read_counter(path: &Path) -> u64 {
    parse_counter(&std::fs::read_to_string(path).expect("read the counter file"))
}

/// The example's increment: read the file, add one, write it back (`open(…, "w")` truncates).
fn naive_increment(path: &Path) {
    let n = parse_counter(&std::fs::read_to_string(path).expect("read"));
    std::fs::write(path, (n + 1).to_string()).expect("write");
}

pub(crate) fn run_rust_file(
    row: FileRow,
    procs: usize,
    total: u64,
    path: &Path,
) -> io::Result<FileRun> {
    let lock = Lock::new().map_err(io::Error::other)?;
    let file = SharedFile::with_lock(path, Lock::new().map_err(io::Error::other)?)
        .durable(row.durable())
        .format(row.format());
    match row.format() {
        Format::Slots => {
            let _ = std::fs::remove_file(path);
            file.update_parsed(|_: u64| 0).map_err(io::Error::other)?;
        }
        _ => std::fs::write(path, "0")?,
    }
    let gang = fork_gang(row.name(), procs, |i| {
        for _ in 0..share(total, procs, i) {
            match row {
                FileRow::Shared | FileRow::Durable | FileRow::Slots | FileRow::SlotsDurable => {
                    file.update_parsed(|n: u64| n + 1).expect("update_parsed");
                }
                FileRow::Naive => {
                    let _guard = lock.lock().expect("lock");
                    naive_increment(path);
                }
                FileRow::Python => unreachable!("not a Rust row"),
            }
        }
    });
    let t0 = gang.start();
    gang.join();
    let wall = t0.elapsed();
    let counter = parse_counter(
        std::str::from_utf8(&file.read().map_err(io::Error::other)?).map_err(io::Error::other)?,
    );
    assert!(
        counter == total,
        "{} with {procs} processes: the counter is {counter}, not {total}",
        row.name()
    );
    Ok(FileRun {
        increments: total,
        wall,
        process: None,
    })
}

/// The Python counter example (`init_data`, `read_data`, `write_data`, `increment_process` as
/// published) without its two `time.sleep`s, P processes instead of two, and a barrier so that
/// the clock starts with every process running: `python3 -c SCRIPT FILE PROCS TOTAL`. Prints
/// `wall_ns=N final=N`.
const PYTHON_COUNTER: &str = r#"
import multiprocessing
import sys
import time

FILE_NAME = sys.argv[1]
process_count = int(sys.argv[2])
total = int(sys.argv[3])

def init_data():
    with open(FILE_NAME, "w") as f:
        f.write("0")

def read_data():
    with open(FILE_NAME, "r") as f:
        text = f.read()
    return int(text) if text else 0

def write_data(n):
    with open(FILE_NAME, "w") as f:
        f.write(str(n))

def increment_process(lock, barrier, loops):
    barrier.wait()
    for _ in range(loops):
        with lock:
            current_val = read_data()
            new_val = current_val + 1
            write_data(new_val)

ctx = multiprocessing.get_context("fork")
lock = ctx.Lock()
init_data()
barrier = ctx.Barrier(process_count + 1)
loops = [total // process_count + (1 if i < total % process_count else 0)
         for i in range(process_count)]
ps = [ctx.Process(target=increment_process, args=(lock, barrier, n)) for n in loops]
for p in ps:
    p.start()
barrier.wait()
t0 = time.perf_counter_ns()
for p in ps:
    p.join()
    assert p.exitcode == 0, p.exitcode
wall = time.perf_counter_ns() - t0
print("wall_ns=%d final=%d" % (wall, read_data()))
"#;

/// Runs the Python counter example; `Ok(None)` when `python3` is absent.
pub(crate) fn run_python_file(
    procs: usize,
    total: u64,
    path: &Path,
) -> io::Result<Option<FileRun>> {
    let t0 = Instant::now();
    let out = match Command::new("python3")
        .args(["-c", PYTHON_COUNTER])
        .arg(path)
        .arg(procs.to_string())
        .arg(total.to_string())
        .output()
    {
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        other => other?,
    };
    let process = t0.elapsed();
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        return Err(io::Error::other(format!(
            "python3 failed ({}): {stdout}{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        )));
    }
    let field = |key: &str| -> Option<u64> {
        stdout
            .split_whitespace()
            .find_map(|kv| kv.strip_prefix(key)?.strip_prefix('='))?
            .parse()
            .ok()
    };
    let (Some(wall_ns), Some(counter)) = (field("wall_ns"), field("final")) else {
        return Err(io::Error::other(format!("python3 printed {stdout:?}")));
    };
    assert!(
        counter == total && read_counter(path) == total,
        "python with {procs} processes: the counter is {counter}, not {total}"
    );
    Ok(Some(FileRun {
        increments: total,
        wall: Duration::from_nanos(wall_ns),
        process: Some(process),
    }))
}

/// Per row, the runs of every repetition.
pub(crate) type FileRows = Vec<(FileRow, Vec<FileRun>)>;

/// The run nearest the median wall time, and the summary of the µs per increment.
fn median_file_run(runs: &[FileRun]) -> (FileRun, Summary) {
    let v: Vec<f64> = runs.iter().map(FileRun::us_per_increment).collect();
    let s = Summary::of(&v);
    let run = *runs
        .iter()
        .min_by(|a, b| {
            let da = (a.us_per_increment() - s.median).abs();
            let db = (b.us_per_increment() - s.median).abs();
            da.total_cmp(&db)
        })
        .expect("at least one run");
    (run, s)
}

pub(crate) fn file_table(by_procs: &[(usize, FileRows)], args: &Args) -> String {
    let mut t = String::new();
    let _ = writeln!(
        t,
        "## 1. The counter example's file: {} increments in total split over P processes, no \
         sleeps ({} run{} each{}; lower is better)\n",
        args.increments,
        args.reps,
        if args.reps == 1 { "" } else { "s" },
        if args.reps == 1 {
            ""
        } else {
            ", the median shown"
        }
    );
    t.push_str(
        "| P | implementation | crash-safe | increments | wall s | µs / increment | \
         × faster than python |\n",
    );
    t.push_str("|--:|---|---|--:|--:|--:|--:|\n");
    let mut goals = Vec::new();
    for (procs, rows) in by_procs {
        let python = rows
            .iter()
            .find(|(r, _)| *r == FileRow::Python)
            .map(|(_, runs)| median_file_run(runs).1.median);
        for (row, runs) in rows {
            let (run, s) = median_file_run(runs);
            let speedup = python.map(|p| p / s.median);
            let spread = if runs.len() > 1 {
                format!(" ({}–{})", sig3(s.min), sig3(s.max))
            } else {
                String::new()
            };
            let _ = writeln!(
                t,
                "| {procs} | {} | {} | {} | {} | {}{spread} | {} |",
                row.name(),
                row.crash_safe(),
                run.increments,
                sig3(run.wall.as_secs_f64()),
                sig3(s.median),
                speedup.map_or_else(|| "—".into(), |x| format!("{}×", sig3(x)))
            );
            if *row == FileRow::Slots || *row == FileRow::Shared {
                goals.push((*procs, *row, speedup));
            }
        }
    }
    t.push_str(
        "\nwall: from the start signal (every process forked and waiting) to the last one's \
         exit. Each run starts from a file holding `0` and asserts that it ends holding its \
         increment count. × faster than python: the python row's µs per increment over this \
         row's.\n",
    );
    if args.durable_increments != args.increments {
        let _ = writeln!(
            t,
            "\nThe durable row makes {} increments, not {}: each one waits for two fsyncs \
             (`--durable-increments`).",
            args.durable_increments, args.increments
        );
    }
    let _ = writeln!(
        t,
        "\nGoal: a crash-safe SharedFile (no fsync) at least {GOAL_SPEEDUP_VS_PYTHON}× faster \
         than the Python counter example. Format::Slots is the row the goal is for; the plain \
         format (a rename per commit) is shown against the same bar:\n"
    );
    for (procs, row, speedup) in goals {
        match speedup {
            Some(x) => {
                let verdict = if x >= GOAL_SPEEDUP_VS_PYTHON {
                    "PASS"
                } else {
                    "FAIL"
                };
                let _ = writeln!(
                    t,
                    "- P = {procs}, {}: {}× — **{verdict}**",
                    row.short(),
                    sig3(x)
                );
            }
            None => {
                let _ = writeln!(t, "- P = {procs}: no python row — not checked");
            }
        }
    }
    for (procs, rows) in by_procs {
        if let Some((_, runs)) = rows.iter().find(|(r, _)| *r == FileRow::Python) {
            let (run, _) = median_file_run(runs);
            if let Some(process) = run.process {
                let _ = writeln!(
                    t,
                    "\npython, P = {procs}: the whole `python3` process took {} s (start-up, \
                     fork and join included) for {} s of measured wall time.",
                    sig3(process.as_secs_f64()),
                    sig3(run.wall.as_secs_f64())
                );
            }
        }
    }
    t
}
