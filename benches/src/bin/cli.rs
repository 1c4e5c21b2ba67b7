//! `cli`: the per-invocation overhead of the `interlock` command against util-linux `flock(1)`
//! — `interlock run NAME -- true` next to `flock FILE true`, `true` alone (the process-spawn
//! floor) and both programs' `--version` (startup without locking) — every competitor spawned
//! once per round, in a fresh random order every round, so that noise from the rest of the
//! machine falls on all alike; printed as one Markdown table with ratios against
//! `flock FILE true`. `cli --help` lists the arguments.

use std::ffi::{OsStr, OsString};
use std::fmt::Write as _;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::Instant;

use interlock_bench::machine::Machine;
use interlock_bench::report::sig3;
use interlock_bench::stats::Summary;

const USAGE: &str = "\
usage: cli [options]

Spawns each competitor in turn (std::process::Command, waiting for it to exit), once per
round in a fresh random order, RUNS rounds, and prints the wall-clock time per invocation as
a Markdown table.

  true                                the process-spawn floor
  flock FILE true                     util-linux flock(1): the reference
  interlock run NAME -- true          the goal: at most 1.2 times flock FILE true
  interlock run --path FILE -- true   FILE an interlock lock file: its lock, then flock(2) on it
  interlock run --path TOUCHED -- true
                                      TOUCHED made by `touch`: a sidecar lock, then flock(2)
  interlock --version                 startup without any locking work
  flock --version
  LC_ALL=C flock FILE true            flock without loading the locale's files (setlocale)

The interlock binary is the release build: `cargo build --release -p interlock-cli` is run
first (quick when up to date), then target/release/interlock is used.

options:
  --runs N            invocations of every competitor          [300]
  --smoke             10 runs (for CI)
  --interlock PATH    use this interlock binary; do not build
  --no-build          do not run cargo; use target/release/interlock as it is
  -h, --help          this text
";

/// The goal: `interlock run NAME -- true` at most this many times `flock FILE true`.
const GOAL: f64 = 1.2;
/// Unrecorded rounds first, so page cache, lock files and branch predictors are warm.
const WARMUP_ROUNDS: usize = 5;

#[derive(Debug)]
struct Args {
    runs: usize,
    interlock: Option<PathBuf>,
    build: bool,
}

fn parse_args(argv: &[String]) -> Result<Args, String> {
    let mut a = Args {
        runs: 300,
        interlock: None,
        build: true,
    };
    let mut it = argv.iter();
    while let Some(flag) = it.next() {
        match flag.as_str() {
            "-h" | "--help" => return Err(String::new()),
            "--smoke" => a.runs = 10,
            "--no-build" => a.build = false,
            "--runs" | "--interlock" => {
                let value = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
                if flag == "--runs" {
                    a.runs = value
                        .parse()
                        .ok()
                        .filter(|&n| n > 0)
                        .ok_or_else(|| format!("{flag}: {value:?} is not a positive count"))?;
                } else {
                    a.interlock = Some(PathBuf::from(value));
                }
            }
            _ => return Err(format!("unknown argument {flag:?}")),
        }
    }
    Ok(a)
}

/// The workspace's root: this crate is `benches/` in it.
fn workspace_root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().unwrap_or(manifest).to_owned()
}

/// Where cargo puts `release/interlock`: `$CARGO_TARGET_DIR`, else the target directory this
/// program was built into (`target/<profile>/cli`), else the workspace's `target/`.
fn release_binary() -> PathBuf {
    if let Some(dir) = std::env::var_os("CARGO_TARGET_DIR").filter(|d| !d.is_empty()) {
        let dir = PathBuf::from(dir);
        let dir = if dir.is_absolute() {
            dir
        } else {
            workspace_root().join(dir)
        };
        return dir.join("release/interlock");
    }
    let beside_us = std::env::current_exe()
        .ok()
        .and_then(|exe| Some(exe.parent()?.parent()?.join("release/interlock")));
    match beside_us {
        Some(path) if path.is_file() => path,
        _ => workspace_root().join("target/release/interlock"),
    }
}

/// Builds (unless told not to) and finds the release `interlock` binary.
fn interlock_binary(args: &Args) -> Result<PathBuf, String> {
    if let Some(path) = &args.interlock {
        return if path.is_file() {
            Ok(path.clone())
        } else {
            Err(format!("--interlock {}: no such file", path.display()))
        };
    }
    if args.build {
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        progress(format_args!(
            "cargo build --release -p interlock-cli (in {})",
            workspace_root().display()
        ));
        let status = Command::new(&cargo)
            .args(["build", "--release", "-p", "interlock-cli"])
            .current_dir(workspace_root())
            .stdout(Stdio::null())
            .status()
            .map_err(|e| format!("cannot run {}: {e}", cargo.to_string_lossy()))?;
        if !status.success() {
            return Err(format!(
                "`cargo build --release -p interlock-cli` failed ({status})"
            ));
        }
    }
    let path = release_binary();
    if path.is_file() {
        Ok(path)
    } else {
        Err(format!(
            "the release build of the CLI is missing: {} does not exist. Build it with \
             `cargo build --release -p interlock-cli` (or pass --interlock PATH)",
            path.display()
        ))
    }
}

/// `program` found on `$PATH`, as `execvp` would, so that the harness's own spawns do not
/// search; the same absolute path is used for every row.
fn which(program: &str) -> Result<PathBuf, String> {
    let path = std::env::var_os("PATH").unwrap_or_else(|| "/usr/local/bin:/usr/bin:/bin".into());
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|p| p.is_file())
        .ok_or_else(|| format!("{program} not found on $PATH (util-linux provides flock)"))
}

/// What every spawned command's environment differs in from ours.
struct Env {
    /// `$INTERLOCK_DIR`: the namespace of the named lock.
    namespace: PathBuf,
    /// `$LD_LIBRARY_PATH` without what cargo added (`None`: unset it).
    library_path: Option<OsString>,
}

/// `$LD_LIBRARY_PATH` without the directories `cargo run` adds to it (the target directory and
/// its `deps`, the toolchain's libraries), and how many were dropped. Every dynamically linked
/// program — true, flock, interlock, and the `true` they run — would otherwise first look for
/// each of its libraries in each of those, a cost nobody pays outside cargo.
fn library_path_without_cargo() -> (Option<OsString>, usize) {
    let Some(value) = std::env::var_os("LD_LIBRARY_PATH") else {
        return (None, 0);
    };
    let target = std::env::current_exe()
        .ok()
        .and_then(|exe| Some(exe.parent()?.to_owned()));
    let from_cargo = |dir: &Path| {
        let toolchain_lib = dir.join("rustlib").is_dir()
            || dir
                .parent()
                .and_then(Path::parent)
                .is_some_and(|p| p.file_name() == Some(OsStr::new("rustlib")));
        toolchain_lib || target.as_deref().is_some_and(|t| dir.starts_with(t))
    };
    let all: Vec<PathBuf> = std::env::split_paths(&value).collect();
    let kept: Vec<&PathBuf> = all.iter().filter(|d| !from_cargo(d)).collect();
    let dropped = all.len() - kept.len();
    if kept.is_empty() {
        (None, dropped)
    } else {
        (std::env::join_paths(kept).ok(), dropped)
    }
}

/// One row of the table: a label and the command it times.
struct Competitor {
    label: &'static str,
    cmd: Command,
    us: Vec<f64>,
}

impl Competitor {
    fn new(label: &'static str, program: &Path, args: &[&OsStr], env: &Env) -> Self {
        let mut cmd = Command::new(program);
        // The same environment (but for LC_ALL in one row) and redirections for every row, so
        // the harness's own work per spawn (building envp, opening /dev/null) is alike.
        cmd.args(args)
            .env("INTERLOCK_DIR", &env.namespace)
            .stdin(Stdio::null())
            .stdout(Stdio::null());
        match &env.library_path {
            Some(path) => cmd.env("LD_LIBRARY_PATH", path),
            None => cmd.env_remove("LD_LIBRARY_PATH"),
        };
        Competitor {
            label,
            cmd,
            us: Vec::new(),
        }
    }

    /// Spawns the command once and waits for it; the wall-clock time in µs.
    fn once(&mut self) -> f64 {
        let start = Instant::now();
        let status = self.cmd.status();
        let elapsed = start.elapsed();
        match status {
            Ok(s) if s.success() => elapsed.as_nanos() as f64 / 1e3,
            Ok(s) => panic!("`{}` failed: {s}", self.label),
            Err(e) => panic!("`{}` could not be spawned: {e}", self.label),
        }
    }
}

const FLOOR: &str = "true";
const REFERENCE: &str = "flock FILE true";
const TARGET: &str = "interlock run NAME -- true";
const REFERENCE_C_LOCALE: &str = "LC_ALL=C flock FILE true";

fn table(rows: &[Competitor], runs: usize) -> String {
    let median = |label: &str| {
        rows.iter()
            .find(|c| c.label == label)
            .map(|c| Summary::of(&c.us).median)
    };
    let reference = median(REFERENCE).expect("the reference row");
    let floor = median(FLOOR).expect("the floor row");
    let target = median(TARGET).expect("the goal row");
    let c_locale = median(REFERENCE_C_LOCALE).expect("the C-locale row");
    let mut t = String::new();
    let _ = writeln!(
        t,
        "## Per-invocation cost ({runs} rounds, each command once per round in shuffled order; \
         µs of wall clock from spawn to exit, lower is better)\n"
    );
    t.push_str(
        "| command | median µs | p90 µs | mean µs | above floor µs | vs flock FILE true |\n",
    );
    t.push_str("|---|--:|--:|--:|--:|--:|\n");
    for c in rows {
        let s = Summary::of(&c.us);
        let ratio = s.median / reference;
        let verdict = if c.label == TARGET {
            let pass = if ratio <= GOAL { "PASS" } else { "FAIL" };
            format!(" {pass} (goal ≤ {GOAL}×)")
        } else {
            String::new()
        };
        let _ = writeln!(
            t,
            "| `{}` | {} | {} | {} | {} | {}×{verdict} |",
            c.label,
            sig3(s.median),
            sig3(s.p90),
            sig3(s.mean),
            sig3(s.median - floor),
            sig3(ratio),
        );
    }
    let _ = writeln!(
        t,
        "\nfloor: spawning `true` and waiting for it costs {} µs (median), part of every row; \
         \"above floor\" is the median minus that. FILE, NAME's namespace ($INTERLOCK_DIR) and \
         --path FILE are in a fresh temporary directory; `true` is the child of both lockers.",
        sig3(floor)
    );
    let _ = writeln!(
        t,
        "\nlocale: flock(1) calls setlocale(LC_ALL, \"\"), which loads the locale's files when \
         LANG/LC_* name one (here {}); with LC_ALL=C it takes {} µs less, and `{TARGET}` is \
         then {}× flock.",
        locale_env(),
        sig3(reference - c_locale),
        sig3(target / c_locale)
    );
    t
}

fn progress(what: std::fmt::Arguments<'_>) {
    interlock_bench::report::progress("cli", what);
}

/// The locale variables as set, for the note under the table.
fn locale_env() -> String {
    let set: Vec<String> = std::env::vars()
        .filter(|(k, v)| (k == "LANG" || k.starts_with("LC_")) && !v.is_empty())
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    if set.is_empty() {
        "none is set".into()
    } else {
        set.join(" ")
    }
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|| "unknown".into())
}

fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args().collect();
    let args = match interlock_bench::report::args_or_usage("cli", USAGE, parse_args(&argv[1..])) {
        Ok(a) => a,
        Err(code) => return code,
    };
    let found = interlock_binary(&args).and_then(|il| Ok((il, which("true")?, which("flock")?)));
    let (interlock, true_bin, flock) = match found {
        Ok(found) => found,
        Err(e) => {
            eprintln!("cli: {e}");
            return ExitCode::FAILURE;
        }
    };

    let dir = match tempfile::tempdir() {
        Ok(d) => d,
        Err(e) => {
            eprintln!("cli: cannot create a temporary directory: {e}");
            return ExitCode::FAILURE;
        }
    };
    let namespace = dir.path().join("namespace");
    if let Err(e) = std::fs::DirBuilder::new().mode(0o700).create(&namespace) {
        eprintln!("cli: cannot create {}: {e}", namespace.display());
        return ExitCode::FAILURE;
    }
    let flock_file: OsString = dir.path().join("flock.lock").into();
    let path_file: OsString = dir.path().join("path.lock").into();
    let touched = dir.path().join("touched.lock");
    if let Err(e) = std::fs::File::create(&touched) {
        eprintln!("cli: cannot create {}: {e}", touched.display());
        return ExitCode::FAILURE;
    }
    let touched: OsString = touched.into();
    let os = |s: &'static str| OsStr::new(s);
    let (library_path, dropped) = library_path_without_cargo();
    let env = &Env {
        namespace,
        library_path,
    };
    let mut rows = vec![
        Competitor::new(FLOOR, &true_bin, &[], env),
        Competitor::new(REFERENCE, &flock, &[&flock_file, os("true")], env),
        Competitor::new(
            TARGET,
            &interlock,
            &[os("run"), os("bench"), os("--"), os("true")],
            env,
        ),
        Competitor::new(
            "interlock run --path FILE -- true",
            &interlock,
            &[os("run"), os("--path"), &path_file, os("--"), os("true")],
            env,
        ),
        Competitor::new(
            "interlock run --path TOUCHED -- true",
            &interlock,
            &[os("run"), os("--path"), &touched, os("--"), os("true")],
            env,
        ),
        Competitor::new("interlock --version", &interlock, &[os("--version")], env),
        Competitor::new("flock --version", &flock, &[os("--version")], env),
        Competitor::new(REFERENCE_C_LOCALE, &flock, &[&flock_file, os("true")], env),
    ];
    rows.last_mut().expect("rows").cmd.env("LC_ALL", "C");

    let started = Instant::now();
    let load_before = load_average();
    println!("# interlock CLI: per-invocation overhead\n");
    let quoted = |args: &[String]| {
        args.iter()
            .map(|a| interlock_bench::report::shell_quote(a))
            .collect::<Vec<_>>()
            .join(" ")
    };
    let profile = if cfg!(debug_assertions) {
        ""
    } else {
        " --release"
    };
    println!(
        "command: `{}` (`cargo run -p interlock-bench{profile} --bin cli --{}{}`); machine: {}; \
         load average at the start: {load_before}  ",
        quoted(&argv),
        if argv.len() > 1 { " " } else { "" },
        quoted(&argv[1..]),
        Machine::read()
    );
    println!(
        "binaries: {}, {} ({}), {}  ",
        interlock.display(),
        flock.display(),
        version_line(&flock),
        true_bin.display()
    );
    if dropped > 0 {
        println!(
            "environment: the {dropped} directories `cargo run` added to LD_LIBRARY_PATH are \
             removed for the commands (every dynamically linked program would first look for \
             its libraries in each of them, which costs nobody outside cargo)  "
        );
    }
    println!();

    let k = rows.len();
    progress(format_args!(
        "{} warm-up + {} rounds of {k} commands",
        WARMUP_ROUNDS, args.runs
    ));
    let mut order: Vec<usize> = (0..k).collect();
    let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
    for round in 0..WARMUP_ROUNDS + args.runs {
        // Every competitor once per round, in a fresh order: a fixed cycle (even rotated) would
        // always put the same competitor before each one, and what ran just before (caches,
        // page cache, the scheduler's state) measurably shifts a row by tens of µs.
        rng.shuffle(&mut order);
        for &i in &order {
            let c = &mut rows[i];
            let us = c.once();
            if round >= WARMUP_ROUNDS {
                c.us.push(us);
            }
        }
    }

    println!("{}", table(&rows, args.runs));
    println!(
        "load average at the end: {}; total time: {:.1} s",
        load_average(),
        started.elapsed().as_secs_f64()
    );
    ExitCode::SUCCESS
}

/// xorshift64: a reproducible order of the competitors in every round, without a dependency.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// Fisher–Yates.
    fn shuffle<T>(&mut self, v: &mut [T]) {
        for i in (1..v.len()).rev() {
            let j = (self.next() % (i as u64 + 1)) as usize;
            v.swap(i, j);
        }
    }
}

/// The first line `program --version` prints, for the header.
fn version_line(program: &Path) -> String {
    Command::new(program)
        .arg("--version")
        .output()
        .ok()
        .and_then(|o| {
            String::from_utf8(o.stdout)
                .ok()?
                .lines()
                .next()
                .map(str::to_owned)
        })
        .unwrap_or_else(|| "version unknown".into())
}
