//! `resources`: interlock's resource types on the multiprocessing counter example's workload —
//! its counter file (10,000 increments split over P forked processes) kept by `SharedFile`
//! (crash-safe, with and without `fsync`), by the example's own open/read/write cycle under an
//! `interlock::Lock`, and by the Python example itself; then `Value<u64>` against a bare atomic
//! and a bare lock.
//! Printed as Markdown tables with ratios measured side by side in one run. `resources --help`
//! lists the arguments.

use std::fmt::Write as _;
use std::fs::{File, OpenOptions};
use std::io::{self, Read as _, Write as _};
use std::os::fd::OwnedFd;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use interlock::{Format, Lock, SharedFile, Value};
use interlock_bench::machine::{self, Machine};
use interlock_bench::report::parse_value;
use interlock_bench::report::{self, sig3};
use interlock_bench::shm::Shared;
use interlock_bench::stats::Summary;
use rustix::process::Pid;

const USAGE: &str = "\
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
const MAX_PROCS: usize = 64;

/// The goals this benchmark checks.
const GOAL_SPEEDUP_VS_PYTHON: f64 = 10.0;
const GOAL_VALUE_UPDATES_PER_SEC: f64 = 10e6;

#[derive(Debug)]
struct Args {
    procs: Vec<usize>,
    increments: u64,
    durable_increments: u64,
    reps: usize,
    breakdown: usize,
    value_seconds: f64,
    value_reps: usize,
    dir: Option<PathBuf>,
}

fn parse_args(argv: &[String]) -> Result<Args, String> {
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

fn progress(what: std::fmt::Arguments<'_>) {
    report::progress("resources", what);
}

// ---------------------------------------------------------------------------------------------
// Processes

fn read_byte(fd: &OwnedFd) {
    let mut b = [0u8; 1];
    loop {
        match rustix::io::read(fd, &mut b) {
            Ok(1) => return,
            Ok(_) => panic!("pipe closed before its byte came"),
            Err(rustix::io::Errno::INTR) => continue,
            Err(e) => panic!("read from pipe: {e}"),
        }
    }
}

fn write_bytes(fd: &OwnedFd, n: usize) {
    let bytes = vec![b'!'; n];
    let mut done = 0;
    while done < n {
        match rustix::io::write(fd, &bytes[done..]) {
            Ok(k) => done += k,
            Err(rustix::io::Errno::INTR) => continue,
            Err(e) => panic!("write to pipe: {e}"),
        }
    }
}

/// A group of forked children that start together: each says "ready" through one pipe and
/// waits for its byte on another, so that forking and a child's first page faults stay out of
/// the measured time.
struct Gang {
    pids: Vec<Pid>,
    start_w: OwnedFd,
}

impl Gang {
    /// Forks `procs` children running `body(i)` once released; returns when all are ready.
    fn fork(procs: usize, body: impl Fn(usize)) -> io::Result<Gang> {
        let (ready_r, ready_w) = rustix::pipe::pipe()?;
        let (start_r, start_w) = rustix::pipe::pipe()?;
        let mut pids = Vec::with_capacity(procs);
        for i in 0..procs {
            let (body, ready_w, start_r) = (&body, &ready_w, &start_r);
            pids.push(interlock_bench::harness::fork_child(move || {
                write_bytes(ready_w, 1);
                read_byte(start_r);
                body(i);
            }));
        }
        for _ in 0..procs {
            read_byte(&ready_r);
        }
        Ok(Gang { pids, start_w })
    }

    /// Releases every child; the time of the release.
    fn start(&self) -> Instant {
        let t0 = Instant::now();
        write_bytes(&self.start_w, self.pids.len());
        t0
    }

    /// Waits for every child and checks that each succeeded.
    fn join(self, what: &str) {
        for pid in self.pids {
            interlock_bench::harness::reap_ok(pid, what);
        }
    }
}

/// Child `i`'s part of `total` split over `procs`.
fn share(total: u64, procs: usize, i: usize) -> u64 {
    let procs = procs as u64;
    total / procs + u64::from((i as u64) < total % procs)
}

// ---------------------------------------------------------------------------------------------
// Part 1: the multiprocessing counter example's file

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FileRow {
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
    const ALL: [FileRow; 6] = [
        FileRow::Slots,
        FileRow::SlotsDurable,
        FileRow::Shared,
        FileRow::Durable,
        FileRow::Naive,
        FileRow::Python,
    ];

    fn name(self) -> &'static str {
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

    fn short(self) -> &'static str {
        match self {
            FileRow::Shared => "shared",
            FileRow::Durable => "durable",
            FileRow::Slots => "slots",
            FileRow::SlotsDurable => "slots-durable",
            FileRow::Naive => "naive",
            FileRow::Python => "python",
        }
    }

    fn durable(self) -> bool {
        matches!(self, FileRow::Durable | FileRow::SlotsDurable)
    }

    fn format(self) -> Format {
        match self {
            FileRow::Slots | FileRow::SlotsDurable => Format::Slots,
            _ => Format::Plain,
        }
    }

    fn crash_safe(self) -> &'static str {
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
struct FileRun {
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
fn parse_counter(text: &str) -> u64 {
    let text = text.trim();
    if text.is_empty() {
        0
    } else {
        text.parse()
            .unwrap_or_else(|e| panic!("counter file holds {text:?}: {e}"))
    }
}

fn read_counter(path: &Path) -> u64 {
    parse_counter(&std::fs::read_to_string(path).expect("read the counter file"))
}

/// The example's increment: read the file, add one, write it back (`open(…, "w")` truncates).
fn naive_increment(path: &Path) {
    let n = parse_counter(&std::fs::read_to_string(path).expect("read"));
    std::fs::write(path, (n + 1).to_string()).expect("write");
}

fn run_rust_file(row: FileRow, procs: usize, total: u64, path: &Path) -> io::Result<FileRun> {
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
    let gang = Gang::fork(procs, |i| {
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
    })?;
    let t0 = gang.start();
    gang.join(row.name());
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
fn run_python_file(procs: usize, total: u64, path: &Path) -> io::Result<Option<FileRun>> {
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

fn python_available() -> bool {
    Command::new("python3")
        .args(["-c", "import multiprocessing"])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Per row, the runs of every repetition.
type FileRows = Vec<(FileRow, Vec<FileRun>)>;

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

fn file_table(by_procs: &[(usize, FileRows)], args: &Args) -> String {
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

// ---------------------------------------------------------------------------------------------
// Where the time goes: SharedFile's update and the counter example's cycle, step by step, in
// one process

/// Per step, the microseconds of every iteration.
#[derive(Debug, Default)]
struct Steps {
    names: Vec<&'static str>,
    us: Vec<Vec<f64>>,
}

impl Steps {
    /// Runs `f` and files its time under `name` (steps keep their first-seen order).
    fn time<R>(&mut self, name: &'static str, f: impl FnOnce() -> R) -> R {
        let t0 = Instant::now();
        let r = f();
        let us = t0.elapsed().as_nanos() as f64 / 1e3;
        match self.names.iter().position(|&n| n == name) {
            Some(i) => self.us[i].push(us),
            None => {
                self.names.push(name);
                self.us.push(vec![us]);
            }
        }
        r
    }
}

/// One update exactly as `SharedFile::update_parsed` does it (file.rs: `begin`, `parse`,
/// `commit`), each system call timed on its own.
fn timed_shared_update(steps: &mut Steps, lock: &Lock, path: &Path, durable: bool) {
    let dir = path.parent().expect("the counter file has a directory");
    let tmp = dir.join(format!(
        ".{}.{}.tmp",
        path.file_name().expect("a file name").to_string_lossy(),
        std::process::id()
    ));
    let guard = steps.time("lock", || lock.lock().expect("lock"));
    steps.time("stat (begin: read-only check)", || {
        std::fs::metadata(path).expect("stat")
    });
    let content = steps.time("open + read + close", || {
        let mut content = Vec::new();
        File::open(path)
            .and_then(|mut f| f.read_to_end(&mut content))
            .expect("read");
        content
    });
    let n = parse_counter(std::str::from_utf8(&content).expect("UTF-8"));
    let mode = steps.time("stat (commit: permissions)", || {
        std::fs::metadata(path).expect("stat").mode() & 0o7777
    });
    let mut out = steps.time("open temp (O_CREAT, O_TRUNC)", || {
        OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(mode)
            .open(&tmp)
            .expect("open temp")
    });
    steps.time("fchmod temp", || {
        out.set_permissions(std::fs::Permissions::from_mode(mode))
            .expect("fchmod")
    });
    steps.time("write", || {
        out.write_all((n + 1).to_string().as_bytes())
            .expect("write")
    });
    if durable {
        steps.time("fsync temp", || out.sync_all().expect("fsync"));
    }
    steps.time("close temp", || drop(out));
    steps.time("rename temp over file", || {
        std::fs::rename(&tmp, path).expect("rename")
    });
    if durable {
        steps.time("open + fsync + close directory", || {
            File::open(dir)
                .and_then(|d| d.sync_all())
                .expect("fsync directory")
        });
    }
    steps.time("unlock", || drop(guard));
}

/// One increment of the counter example's cycle, each system call timed on its own.
fn timed_naive_update(steps: &mut Steps, lock: &Lock, path: &Path) {
    let guard = steps.time("lock", || lock.lock().expect("lock"));
    let text = steps.time("open + read + close", || {
        std::fs::read_to_string(path).expect("read")
    });
    let n = parse_counter(&text);
    let mut out = steps.time("open file (O_TRUNC)", || {
        File::create(path).expect("open for writing")
    });
    steps.time("write", || {
        out.write_all((n + 1).to_string().as_bytes())
            .expect("write")
    });
    steps.time("close", || drop(out));
    steps.time("unlock", || drop(guard));
}

/// Times `iterations` single-process updates of `SharedFile::update_parsed` itself, for the
/// check that the step-by-step copy costs what the real thing costs.
fn real_shared_update(file: &SharedFile, iterations: usize) -> Vec<f64> {
    (0..iterations)
        .map(|_| {
            let t0 = Instant::now();
            file.update_parsed(|n: u64| n + 1).expect("update_parsed");
            t0.elapsed().as_nanos() as f64 / 1e3
        })
        .collect()
}

fn breakdown(dir: &Path, args: &Args) -> String {
    let lock = Lock::new().expect("lock");
    let plain = args.breakdown;
    let durable = (args.breakdown / 10).max(1);
    let naive = (args.breakdown / 3).max(1);
    let mut sections = Vec::new();
    for (title, iterations, kind) in [
        ("SharedFile::update_parsed", plain, FileRow::Shared),
        (
            "SharedFile::update_parsed, durable",
            durable,
            FileRow::Durable,
        ),
        (
            "counter example's cycle (read_to_string + fs::write)",
            naive,
            FileRow::Naive,
        ),
    ] {
        progress(format_args!("step by step: {title}, {iterations} updates"));
        let path = dir.join(format!("breakdown-{}.txt", kind.short()));
        // Interleaved with the real thing, so both meet the same disk.
        let real_path = dir.join(format!("breakdown-real-{}.txt", kind.short()));
        let real_file = SharedFile::with_lock(&real_path, Lock::new().expect("lock"))
            .durable(kind == FileRow::Durable);
        std::fs::write(&path, "0").expect("init");
        std::fs::write(&real_path, "0").expect("init");
        let mut steps = Steps::default();
        let mut totals = Vec::with_capacity(iterations);
        let mut real = Vec::with_capacity(iterations);
        for chunk in 0..iterations.div_ceil(10) {
            let n = 10.min(iterations - chunk * 10);
            for _ in 0..n {
                let t0 = Instant::now();
                match kind {
                    FileRow::Naive => timed_naive_update(&mut steps, &lock, &path),
                    _ => timed_shared_update(&mut steps, &lock, &path, kind == FileRow::Durable),
                }
                totals.push(t0.elapsed().as_nanos() as f64 / 1e3);
            }
            if kind != FileRow::Naive {
                real.extend(real_shared_update(&real_file, n));
            }
        }
        assert_eq!(
            read_counter(&path),
            iterations as u64,
            "{title}: lost updates"
        );
        sections.push((title, iterations, steps, totals, real));
    }

    let mut t = String::new();
    t.push_str(
        "## Where the time goes: one process, no contention, each system call timed on its own \
         (µs; mean over the updates, share of the mean total)\n\n",
    );
    for (title, iterations, steps, totals, real) in &sections {
        let total = Summary::of(totals);
        let _ = writeln!(t, "### {title} ({iterations} updates)\n");
        t.push_str("| step | mean µs | median µs | p90 µs | share |\n");
        t.push_str("|---|--:|--:|--:|--:|\n");
        for (name, us) in steps.names.iter().zip(&steps.us) {
            let s = Summary::of(us);
            let _ = writeln!(
                t,
                "| {name} | {} | {} | {} | {:.0}% |",
                sig3(s.mean),
                sig3(s.median),
                sig3(s.p90),
                100.0 * s.mean / total.mean
            );
        }
        let _ = writeln!(
            t,
            "| **whole update, timed as above** | {} | {} | {} | 100% |",
            sig3(total.mean),
            sig3(total.median),
            sig3(total.p90)
        );
        if !real.is_empty() {
            let r = Summary::of(real);
            let _ = writeln!(
                t,
                "| the real `update_parsed`, same loop, other file | {} | {} | {} | {:.0}% |",
                sig3(r.mean),
                sig3(r.median),
                sig3(r.p90),
                100.0 * r.mean / total.mean
            );
        }
        t.push('\n');
    }
    t.push_str(&rename_anatomy(dir, naive));
    t
}

/// `rename(2)` of a fresh temporary file, by what the temporary holds and what it replaces:
/// which part of SharedFile's rename is the rename itself, and which the filesystem's work on
/// the file data around it.
fn rename_anatomy(dir: &Path, iterations: usize) -> String {
    /// What the temporary holds, and what it is renamed over (`None`: a name not in use).
    struct Case {
        source: &'static [u8],
        target: Option<&'static [u8]>,
        label: &'static str,
    }
    const DATA: &[u8] = b"123";
    let cases = [
        Case {
            source: b"",
            target: None,
            label: "| empty | nothing (a new name) |",
        },
        Case {
            source: b"",
            target: Some(b""),
            label: "| empty | an empty file |",
        },
        Case {
            source: b"",
            target: Some(DATA),
            label: "| empty | a 3-byte file (one data block), fsynced |",
        },
        Case {
            source: DATA,
            target: Some(b""),
            label: "| 3 bytes | an empty file |",
        },
        Case {
            source: DATA,
            target: Some(DATA),
            label: "| 3 bytes | a 3-byte file (one data block), fsynced |",
        },
    ];
    progress(format_args!(
        "rename anatomy, {iterations} renames per case"
    ));
    let mut t = String::new();
    let _ = writeln!(
        t,
        "### The rename, taken apart ({iterations} renames of a freshly written temporary file \
         per case, each over its own target; µs)\n"
    );
    t.push_str("| temporary holds | target it replaces | median µs | mean µs | p90 µs |\n");
    t.push_str("|---|---|--:|--:|--:|\n");
    for (
        case,
        Case {
            source,
            target,
            label,
        },
    ) in cases.into_iter().enumerate()
    {
        let sub = dir.join(format!("rename-{case}"));
        std::fs::create_dir(&sub).expect("mkdir");
        let name = |i: usize| sub.join(format!("n{i}"));
        if let Some(data) = target {
            for i in 0..iterations {
                let mut f = File::create(name(i)).expect("create target");
                f.write_all(data).expect("write target");
                // On the disk before the measurement: no writeback of it still in flight.
                f.sync_all().expect("fsync target");
            }
            File::open(&sub)
                .and_then(|d| d.sync_all())
                .expect("fsync directory");
        }
        let tmp = sub.join("tmp");
        let mut us = Vec::with_capacity(iterations);
        for i in 0..iterations {
            File::create(&tmp)
                .and_then(|mut f| f.write_all(source))
                .expect("write temporary");
            let t0 = Instant::now();
            std::fs::rename(&tmp, name(i)).expect("rename");
            us.push(t0.elapsed().as_nanos() as f64 / 1e3);
        }
        let s = Summary::of(&us);
        let _ = writeln!(
            t,
            "{label} {} | {} | {} |",
            sig3(s.median),
            sig3(s.mean),
            sig3(s.p90)
        );
        std::fs::remove_dir_all(&sub).expect("clean up");
    }
    t.push_str(
        "\nSharedFile's commit is the last case: a temporary holding the new number, renamed over \
         the file holding the old one.\n",
    );
    t
}

// ---------------------------------------------------------------------------------------------
// Part 2: Value<u64>

/// Runs `op` in batches for `d`; the operations done and the rate per second.
fn rate(d: Duration, mut op: impl FnMut()) -> (u64, f64) {
    const BATCH: u64 = 256;
    let t0 = Instant::now();
    let mut n = 0u64;
    loop {
        for _ in 0..BATCH {
            op();
        }
        n += BATCH;
        let e = t0.elapsed();
        if e >= d {
            return (n, n as f64 / e.as_secs_f64());
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ValueRow {
    Value,
    Atomic,
    Lock,
}

impl ValueRow {
    fn name(self) -> &'static str {
        match self {
            ValueRow::Value => "interlock `Value<u64>::update(\\|n\\| *n += 1)`",
            ValueRow::Atomic => "`AtomicU64::fetch_add(1, Relaxed)`",
            ValueRow::Lock => "interlock::Lock lock + unlock (nothing inside)",
        }
    }
}

fn value_uncontended(args: &Args) -> String {
    let d = Duration::from_secs_f64(args.value_seconds);
    let value = Value::new(0u64).expect("Value::new");
    let atomic = AtomicU64::new(0);
    let lock = Lock::new().expect("Lock::new");
    let rows = [ValueRow::Value, ValueRow::Atomic, ValueRow::Lock];
    let mut rates: Vec<Vec<f64>> = vec![Vec::new(); rows.len()];
    let mut value_ops = 0u64;
    for rep in 0..args.value_reps {
        progress(format_args!(
            "Value uncontended, repetition {}/{}",
            rep + 1,
            args.value_reps
        ));
        for (row, r) in rows.iter().zip(&mut rates) {
            let (n, per_sec) = match row {
                ValueRow::Value => rate(d, || {
                    value.update(|n| *n += 1).expect("update");
                }),
                ValueRow::Atomic => rate(d, || {
                    std::hint::black_box(&atomic).fetch_add(1, Ordering::Relaxed);
                }),
                ValueRow::Lock => rate(d, || drop(lock.lock().expect("lock"))),
            };
            if *row == ValueRow::Value {
                value_ops += n;
            }
            r.push(per_sec);
        }
    }
    let got = value.get().expect("get");
    assert!(
        got == value_ops,
        "Value: {got} after {value_ops} updates: updates were lost"
    );

    let mut t = String::new();
    let _ = writeln!(
        t,
        "## 2. Value<u64>, uncontended (1 process, {} × {:.2} s, the median shown; higher is \
         better)\n",
        args.value_reps,
        d.as_secs_f64()
    );
    t.push_str(
        "| operation | M ops/s | ns/op | min–max M ops/s | vs AtomicU64 | goal ≥ 10 M/s |\n",
    );
    t.push_str("|---|--:|--:|--:|--:|---|\n");
    let atomic_median = Summary::of(&rates[1]).median;
    for (row, r) in rows.iter().zip(&rates) {
        let s = Summary::of(r);
        let goal = match row {
            ValueRow::Value if s.median >= GOAL_VALUE_UPDATES_PER_SEC => "**PASS**",
            ValueRow::Value => "**FAIL**",
            _ => "",
        };
        let _ = writeln!(
            t,
            "| {} | {} | {} | {}–{} | {}× | {goal} |",
            row.name(),
            sig3(s.median / 1e6),
            sig3(1e9 / s.median),
            sig3(s.min / 1e6),
            sig3(s.max / 1e6),
            sig3(s.median / atomic_median)
        );
    }
    let _ = writeln!(
        t,
        "\nThe Value's final count equals its {value_ops} updates. vs AtomicU64: throughput \
         over the bare atomic's."
    );
    t
}

/// Shared-memory control of a contended Value run.
struct Control {
    stop: Shared<AtomicU64>,
    counter: Shared<AtomicU64>,
    ops: Shared<[AtomicU64; MAX_PROCS]>,
}

/// `procs` processes doing `row`'s operation on one shared object for `d`; total ops per second
/// over the parent's window. Asserts that the shared count equals the operations done.
fn value_contended_run(row: ValueRow, procs: usize, d: Duration) -> io::Result<f64> {
    let ctl = Control {
        stop: Shared::new()?,
        counter: Shared::new()?,
        ops: Shared::new()?,
    };
    let value = Value::new(0u64).map_err(io::Error::other)?;
    let gang = Gang::fork(procs, |i| {
        let mut n = 0u64;
        // Relaxed: the flag only has to be seen eventually; it orders nothing.
        while ctl.stop.load(Ordering::Relaxed) == 0 {
            match row {
                ValueRow::Value => value.update(|v| *v += 1).expect("update"),
                ValueRow::Atomic => {
                    ctl.counter.fetch_add(1, Ordering::Relaxed);
                }
                ValueRow::Lock => unreachable!("not a contended row"),
            }
            n += 1;
        }
        ctl.ops[i].store(n, Ordering::Release);
    })?;
    let t0 = gang.start();
    std::thread::sleep(d);
    ctl.stop.store(1, Ordering::Relaxed);
    let window = t0.elapsed();
    gang.join(row.name());
    let total: u64 = (0..procs).map(|i| ctl.ops[i].load(Ordering::Acquire)).sum();
    let counted = match row {
        ValueRow::Value => value.get().map_err(io::Error::other)?,
        _ => ctl.counter.load(Ordering::Relaxed),
    };
    assert!(
        counted == total,
        "{} with {procs} processes: the shared count is {counted} after {total} operations",
        row.name()
    );
    Ok(total as f64 / window.as_secs_f64())
}

fn value_contended(args: &Args) -> String {
    let d = Duration::from_secs_f64(args.value_seconds);
    let rows = [ValueRow::Value, ValueRow::Atomic];
    let mut by_procs = Vec::new();
    for &procs in &args.procs {
        let mut rates: Vec<Vec<f64>> = vec![Vec::new(); rows.len()];
        for rep in 0..args.value_reps {
            progress(format_args!(
                "Value contended, {procs} processes, repetition {}/{}",
                rep + 1,
                args.value_reps
            ));
            for (row, r) in rows.iter().zip(&mut rates) {
                r.push(value_contended_run(*row, procs, d).expect("contended run"));
            }
        }
        by_procs.push((procs, rates));
    }
    let mut t = String::new();
    let _ = writeln!(
        t,
        "## 2b. Value<u64>, contended: P processes updating one value ({} × {:.2} s, the \
         median shown; higher is better)\n",
        args.value_reps,
        d.as_secs_f64()
    );
    t.push_str("| P | operation | M ops/s total | min–max | vs AtomicU64 |\n");
    t.push_str("|--:|---|--:|--:|--:|\n");
    for (procs, rates) in &by_procs {
        let atomic_median = Summary::of(&rates[1]).median;
        for (row, r) in rows.iter().zip(rates) {
            let s = Summary::of(r);
            let _ = writeln!(
                t,
                "| {procs} | {} | {} | {}–{} | {}× |",
                row.name(),
                sig3(s.median / 1e6),
                sig3(s.min / 1e6),
                sig3(s.max / 1e6),
                sig3(s.median / atomic_median)
            );
        }
    }
    t.push_str(
        "\nEvery run asserts that the shared value (or atomic) ends equal to the operations the \
         processes counted.\n",
    );
    t
}

// ---------------------------------------------------------------------------------------------

/// Where the counter files go: `--dir`, else `$CARGO_TARGET_DIR`, else the `target` directory
/// this binary was built in (on the disk, where a build's files are), else the current one.
fn base_dir(args: &Args) -> PathBuf {
    if let Some(dir) = &args.dir {
        return dir.clone();
    }
    if let Some(dir) = std::env::var_os("CARGO_TARGET_DIR") {
        return PathBuf::from(dir);
    }
    std::env::current_exe()
        .ok()
        .and_then(|exe| {
            exe.ancestors()
                .find(|a| a.file_name().is_some_and(|n| n == "target"))
                .map(Path::to_owned)
        })
        .unwrap_or_else(|| PathBuf::from("."))
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args().collect();
    let args =
        match interlock_bench::report::args_or_usage("resources", USAGE, parse_args(&argv[1..])) {
            Ok(a) => a,
            Err(code) => return code,
        };
    let started = Instant::now();
    let base = base_dir(&args);
    let tmp = match tempfile::Builder::new()
        .prefix("resources-bench-")
        .tempdir_in(&base)
    {
        Ok(t) => t,
        Err(e) => {
            eprintln!(
                "resources: cannot make a directory in {}: {e}",
                base.display()
            );
            return ExitCode::FAILURE;
        }
    };
    let dir = tmp.path();
    let fs = machine::filesystem(dir);

    println!("# interlock resources benchmark: the counter example's file, SharedFile, Value\n");
    println!("machine: {}  ", Machine::read());
    println!(
        "command: `{}`  ",
        argv.iter()
            .map(|a| report::shell_quote(a))
            .collect::<Vec<_>>()
            .join(" ")
    );
    println!("load average at start: {}  ", loadavg());
    println!(
        "counter files in: {} — {fs}{}\n",
        dir.display(),
        if fs.starts_with("tmpfs") {
            " — WARNING: memory, not a disk: fsync and rename cost nothing like on a disk"
        } else {
            " — on the disk (not /dev/shm); rename and fsync cost what this filesystem and \
             device make them cost"
        }
    );

    let python = python_available();
    if !python {
        println!("note: python3 (with multiprocessing) not found: the python rows are skipped.\n");
    }
    let rows: Vec<FileRow> = FileRow::ALL
        .into_iter()
        .filter(|&r| python || r != FileRow::Python)
        .collect();

    let mut by_procs = Vec::new();
    for &procs in &args.procs {
        let mut runs: FileRows = rows.iter().map(|&r| (r, Vec::new())).collect();
        for rep in 0..args.reps {
            for (row, v) in &mut runs {
                let total = if row.durable() {
                    args.durable_increments
                } else {
                    args.increments
                };
                progress(format_args!(
                    "counter file, {procs} processes, {}, {total} increments, repetition {}/{}",
                    row.short(),
                    rep + 1,
                    args.reps
                ));
                let path = dir.join(format!("counter-{}-{procs}.txt", row.short()));
                let run = match row {
                    FileRow::Python => run_python_file(procs, total, &path)
                        .unwrap_or_else(|e| panic!("python: {e}"))
                        .expect("python3 was found"),
                    _ => run_rust_file(*row, procs, total, &path)
                        .unwrap_or_else(|e| panic!("{}: {e}", row.name())),
                };
                v.push(run);
            }
        }
        by_procs.push((procs, runs));
    }
    println!("{}", file_table(&by_procs, &args));
    println!("{}", breakdown(dir, &args));
    println!("{}", value_uncontended(&args));
    println!("{}", value_contended(&args));

    println!("load average at the end: {}  ", loadavg());
    println!("total time: {:.1} s", started.elapsed().as_secs_f64());
    ExitCode::SUCCESS
}
