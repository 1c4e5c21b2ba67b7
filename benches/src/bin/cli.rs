//! `cli`: the per-invocation overhead of the `interlock` command against util-linux `flock(1)`
//! — `interlock run NAME -- true` next to `flock FILE true`, `true` alone (the process-spawn
//! floor) and both programs' `--version` (startup without locking) — every competitor spawned
//! once per round, in a fresh random order every round, so that noise from the rest of the
//! machine falls on all alike; printed as one Markdown table with ratios against
//! `flock FILE true`. The goal is judged on the binary the README installs (statically linked:
//! decision 0020); the plain dynamically linked release build has rows of its own, to show what
//! static linking buys. `cli --help` lists the arguments.

use std::ffi::{OsStr, OsString};
use std::fmt::Write as _;
use std::fs::File;
use std::os::unix::fs::{DirBuilderExt, FileExt};
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
  interlock run NAME -- true, dynamic build
  interlock --version, dynamic build  the same two with the plain (dynamic) release build
  flock --version
  LC_ALL=C flock FILE true            flock without loading the locale's files (setlocale)

The interlock rows without a note time the binary the README installs: statically linked,
built first (quick when up to date) with
  RUSTFLAGS='-C target-feature=+crt-static' cargo build --release -p interlock-cli --target HOST
(HOST from `rustc -vV`; the flag is added to RUSTFLAGS as set) into
target/HOST/release/interlock. The goal is judged on that binary. The rows marked \"dynamic
build\" time `cargo build --release -p interlock-cli` (target/release/interlock), built first
too.

options:
  --runs N            invocations of every competitor          [300]
  --smoke             10 runs (for CI)
  --interlock PATH    time this binary in the rows without a note (the goal); build nothing,
                      and leave the dynamic-build rows out unless --dynamic is given
  --dynamic PATH      time this binary in the dynamic-build rows; do not build it
  --no-build          do not run cargo; use both binaries in target/ as they are
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
    dynamic: Option<PathBuf>,
    build: bool,
}

fn parse_args(argv: &[String]) -> Result<Args, String> {
    let mut a = Args {
        runs: 300,
        interlock: None,
        dynamic: None,
        build: true,
    };
    let mut it = argv.iter();
    while let Some(flag) = it.next() {
        match flag.as_str() {
            "-h" | "--help" => return Err(String::new()),
            "--smoke" => a.runs = 10,
            "--no-build" => a.build = false,
            "--runs" | "--interlock" | "--dynamic" => {
                let value = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
                match flag.as_str() {
                    "--runs" => {
                        a.runs =
                            value.parse().ok().filter(|&n| n > 0).ok_or_else(|| {
                                format!("{flag}: {value:?} is not a positive count")
                            })?;
                    }
                    "--interlock" => a.interlock = Some(PathBuf::from(value)),
                    _ => a.dynamic = Some(PathBuf::from(value)),
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

/// Where cargo puts `sub` (`release/interlock`, or `HOST/release/interlock` for a build with
/// `--target`): under `$CARGO_TARGET_DIR`, else the target directory this program was built into
/// (`target/<profile>/cli`), else the workspace's `target/`.
fn built_binary(sub: &Path) -> PathBuf {
    if let Some(dir) = std::env::var_os("CARGO_TARGET_DIR").filter(|d| !d.is_empty()) {
        let dir = PathBuf::from(dir);
        let dir = if dir.is_absolute() {
            dir
        } else {
            workspace_root().join(dir)
        };
        return dir.join(sub);
    }
    let beside_us = std::env::current_exe()
        .ok()
        .and_then(|exe| Some(exe.parent()?.parent()?.join(sub)));
    match beside_us {
        Some(path) if path.is_file() => path,
        _ => workspace_root().join("target").join(sub),
    }
}

/// The host's target triple, from `rustc -vV` (`$RUSTC` if set): what `--target` must name for
/// the static build to be the host's own.
fn host_triple() -> Result<String, String> {
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let out = Command::new(&rustc)
        .arg("-vV")
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| format!("cannot run {} -vV: {e}", rustc.to_string_lossy()))?;
    if !out.status.success() {
        return Err(format!(
            "`{} -vV` failed ({})",
            rustc.to_string_lossy(),
            out.status
        ));
    }
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("host: "))
        .map(|h| h.trim().to_owned())
        .ok_or_else(|| format!("`{} -vV` names no host", rustc.to_string_lossy()))
}

/// The flag that makes the installed binary static, as the README's install line passes it.
const STATIC_FLAG: &str = "-C target-feature=+crt-static";

/// Runs `cargo build --release -p interlock-cli`, with `--target host` and [`STATIC_FLAG`]
/// added to the rustflags in effect when `host` is given.
fn cargo_build(host: Option<&str>) -> Result<(), String> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(&cargo);
    cmd.args(["build", "--release", "-p", "interlock-cli"])
        .current_dir(workspace_root())
        .stdout(Stdio::null());
    let shown = match host {
        None => "cargo build --release -p interlock-cli".to_owned(),
        Some(host) => {
            // `--target` keeps the flag off build scripts and proc-macros (built for the host
            // without it), which a static C runtime breaks. The flag is added to what the caller
            // set (CI sets `-D warnings`); cargo reads CARGO_ENCODED_RUSTFLAGS instead of
            // RUSTFLAGS when that is set, even empty.
            cmd.args(["--target", host]);
            if let Some(encoded) = std::env::var_os("CARGO_ENCODED_RUSTFLAGS") {
                let mut v = encoded;
                for part in STATIC_FLAG.split(' ') {
                    if !v.is_empty() {
                        v.push("\x1f");
                    }
                    v.push(part);
                }
                cmd.env("CARGO_ENCODED_RUSTFLAGS", v);
            } else {
                let mut v = std::env::var_os("RUSTFLAGS").unwrap_or_default();
                if !v.is_empty() {
                    v.push(" ");
                }
                v.push(STATIC_FLAG);
                cmd.env("RUSTFLAGS", v);
            }
            format!(
                "RUSTFLAGS='{STATIC_FLAG}' cargo build --release -p interlock-cli --target {host}"
            )
        }
    };
    progress(format_args!("{shown} (in {})", workspace_root().display()));
    let status = cmd
        .status()
        .map_err(|e| format!("cannot run {}: {e}", cargo.to_string_lossy()))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("`{shown}` failed ({status})"))
    }
}

/// How an ELF executable is linked: whether it names a program interpreter (`PT_INTERP`, the
/// dynamic loader `ld.so`) — a static-pie binary does not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Linkage {
    Static,
    Dynamic,
    /// Not a little-endian 64-bit ELF file, or unreadable.
    Unknown,
}

impl Linkage {
    fn of(path: &Path) -> Linkage {
        Self::read(path).unwrap_or(Linkage::Unknown)
    }

    fn read(path: &Path) -> Option<Linkage> {
        const PT_INTERP: u32 = 3;
        let file = File::open(path).ok()?;
        let mut header = [0u8; 64];
        file.read_exact_at(&mut header, 0).ok()?;
        // ELF magic, ELFCLASS64, ELFDATA2LSB.
        if header[..6] != [0x7f, b'E', b'L', b'F', 2, 1] {
            return None;
        }
        let u16_at = |o: usize| u16::from_le_bytes([header[o], header[o + 1]]);
        let phoff = u64::from_le_bytes(header[0x20..0x28].try_into().ok()?);
        let (phentsize, phnum) = (u64::from(u16_at(0x36)), u16_at(0x38));
        for i in 0..u64::from(phnum) {
            let mut p_type = [0u8; 4];
            file.read_exact_at(&mut p_type, phoff + i * phentsize)
                .ok()?;
            if u32::from_le_bytes(p_type) == PT_INTERP {
                return Some(Linkage::Dynamic);
            }
        }
        Some(Linkage::Static)
    }

    fn describe(self) -> &'static str {
        match self {
            Linkage::Static => "statically linked",
            Linkage::Dynamic => "dynamically linked",
            Linkage::Unknown => "linkage unknown",
        }
    }
}

/// The two `interlock` binaries timed: the installed one (the goal's) and, when there is one,
/// the plain dynamically linked release build.
struct Binaries {
    installed: PathBuf,
    dynamic: Option<PathBuf>,
}

fn existing(path: PathBuf, flag: &str) -> Result<PathBuf, String> {
    if path.is_file() {
        Ok(path)
    } else {
        Err(format!("{flag} {}: no such file", path.display()))
    }
}

/// Builds (unless told not to) and finds both `interlock` binaries. The static build must come
/// out static: a dynamically linked binary there (the flag lost on its way) is an error, not a
/// row that claims to be the installed binary.
fn interlock_binaries(args: &Args) -> Result<Binaries, String> {
    let dynamic_given = args
        .dynamic
        .clone()
        .map(|p| existing(p, "--dynamic"))
        .transpose()?;
    if let Some(path) = &args.interlock {
        return Ok(Binaries {
            installed: existing(path.clone(), "--interlock")?,
            dynamic: dynamic_given,
        });
    }
    let host = host_triple()?;
    if args.build {
        cargo_build(Some(&host))?;
        if dynamic_given.is_none() {
            cargo_build(None)?;
        }
    }
    let missing = |path: &Path, how: &str| {
        format!(
            "{} does not exist. Build it with `{how}` (or pass --interlock PATH)",
            path.display()
        )
    };
    let installed = built_binary(&Path::new(&host).join("release/interlock"));
    if !installed.is_file() {
        return Err(missing(
            &installed,
            &format!(
                "RUSTFLAGS='{STATIC_FLAG}' cargo build --release -p interlock-cli --target {host}"
            ),
        ));
    }
    let linkage = Linkage::of(&installed);
    if linkage != Linkage::Static {
        return Err(format!(
            "{} should be the static build but is {}: did {STATIC_FLAG} reach the final link?",
            installed.display(),
            linkage.describe()
        ));
    }
    let dynamic = match dynamic_given {
        Some(path) => path,
        None => {
            let path = built_binary(Path::new("release/interlock"));
            if !path.is_file() {
                return Err(missing(&path, "cargo build --release -p interlock-cli"));
            }
            path
        }
    };
    Ok(Binaries {
        installed,
        dynamic: Some(dynamic),
    })
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
    /// The command runs the plain (dynamically linked) release build, not the installed binary.
    dynamic_build: bool,
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
            dynamic_build: false,
            cmd,
            us: Vec::new(),
        }
    }

    /// The same row for the plain release build at `program`.
    fn dynamic_build(label: &'static str, program: &Path, args: &[&OsStr], env: &Env) -> Self {
        Competitor {
            dynamic_build: true,
            ..Competitor::new(label, program, args, env)
        }
    }

    /// The first column: the command, and which build for the dynamic rows.
    fn name(&self) -> String {
        if self.dynamic_build {
            format!("`{}`, dynamic build", self.label)
        } else {
            format!("`{}`", self.label)
        }
    }

    /// Spawns the command once and waits for it; the wall-clock time in µs.
    fn once(&mut self) -> f64 {
        let start = Instant::now();
        let status = self.cmd.status();
        let elapsed = start.elapsed();
        match status {
            Ok(s) if s.success() => elapsed.as_nanos() as f64 / 1e3,
            Ok(s) => panic!("{} failed: {s}", self.name()),
            Err(e) => panic!("{} could not be spawned: {e}", self.name()),
        }
    }
}

const FLOOR: &str = "true";
const REFERENCE: &str = "flock FILE true";
const TARGET: &str = "interlock run NAME -- true";
const REFERENCE_C_LOCALE: &str = "LC_ALL=C flock FILE true";
const VERSION: &str = "interlock --version";

/// What the table's note says of the two `interlock` binaries.
struct Builds {
    /// The installed binary's linkage; `given`: it came from --interlock.
    installed: Linkage,
    given: bool,
    /// The dynamic-build rows' binary's linkage, if they were timed; `dynamic_given`: it came
    /// from --dynamic.
    dynamic: Option<Linkage>,
    dynamic_given: bool,
}

fn table(rows: &[Competitor], runs: usize, builds: &Builds) -> String {
    let median_of = |label: &str, dynamic_build: bool| {
        rows.iter()
            .find(|c| c.label == label && c.dynamic_build == dynamic_build)
            .map(|c| Summary::of(&c.us).median)
    };
    let median = |label: &str| median_of(label, false);
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
        let verdict = if c.label == TARGET && !c.dynamic_build {
            let pass = if ratio <= GOAL { "PASS" } else { "FAIL" };
            format!(" {pass} (goal ≤ {GOAL}×)")
        } else {
            String::new()
        };
        let _ = writeln!(
            t,
            "| {} | {} | {} | {} | {} | {}×{verdict} |",
            c.name(),
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
    let installed = if builds.given {
        format!(
            "the binary given with --interlock ({})",
            builds.installed.describe()
        )
    } else {
        format!(
            "the binary the README installs (`{STATIC_FLAG}`, {}: no dynamic loader, no \
             libgcc_s)",
            builds.installed.describe()
        )
    };
    let _ = write!(
        t,
        "\nbuilds: the interlock rows without a note time {installed}, and the goal is judged \
         on that binary alone."
    );
    match (
        builds.dynamic,
        median_of(TARGET, true),
        median_of(VERSION, true),
        median(VERSION),
    ) {
        (Some(linkage), Some(dyn_run), Some(dyn_version), Some(version)) => {
            let what = if builds.dynamic_given {
                "the binary given with --dynamic"
            } else {
                "plain `cargo build --release`"
            };
            let _ = writeln!(
                t,
                " The rows marked \"dynamic build\" time {what} ({}): `{TARGET}` {}× flock, {} \
                 µs more than the installed binary ({} µs more for `{VERSION}`).",
                linkage.describe(),
                sig3(dyn_run / reference),
                sig3(dyn_run - target),
                sig3(dyn_version - version),
            );
        }
        _ => {
            let _ = writeln!(
                t,
                " No dynamic build was timed (--interlock without --dynamic)."
            );
        }
    }
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
    let found = interlock_binaries(&args).and_then(|il| Ok((il, which("true")?, which("flock")?)));
    let (binaries, true_bin, flock) = match found {
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
    let interlock = &binaries.installed;
    let mut rows = vec![
        Competitor::new(FLOOR, &true_bin, &[], env),
        Competitor::new(REFERENCE, &flock, &[&flock_file, os("true")], env),
        Competitor::new(
            TARGET,
            interlock,
            &[os("run"), os("bench"), os("--"), os("true")],
            env,
        ),
        Competitor::new(
            "interlock run --path FILE -- true",
            interlock,
            &[os("run"), os("--path"), &path_file, os("--"), os("true")],
            env,
        ),
        Competitor::new(
            "interlock run --path TOUCHED -- true",
            interlock,
            &[os("run"), os("--path"), &touched, os("--"), os("true")],
            env,
        ),
        Competitor::new(VERSION, interlock, &[os("--version")], env),
        Competitor::new("flock --version", &flock, &[os("--version")], env),
        Competitor::new(REFERENCE_C_LOCALE, &flock, &[&flock_file, os("true")], env),
    ];
    rows.last_mut().expect("rows").cmd.env("LC_ALL", "C");
    if let Some(dynamic) = &binaries.dynamic {
        // Beside the installed binary's rows, so that the table reads as a comparison.
        let at = 1 + rows
            .iter()
            .position(|c| c.label == VERSION)
            .expect("the version row");
        let run = [os("run"), os("bench"), os("--"), os("true")];
        let dynamic_rows = [
            Competitor::dynamic_build(TARGET, dynamic, &run, env),
            Competitor::dynamic_build(VERSION, dynamic, &[os("--version")], env),
        ];
        rows.splice(at..at, dynamic_rows);
    }
    let builds = Builds {
        installed: Linkage::of(interlock),
        given: args.interlock.is_some(),
        dynamic: binaries.dynamic.as_deref().map(Linkage::of),
        dynamic_given: args.dynamic.is_some(),
    };

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
    let dynamic = match &binaries.dynamic {
        Some(path) => format!(
            ", {} ({}; the dynamic-build rows)",
            path.display(),
            Linkage::of(path).describe()
        ),
        None => String::new(),
    };
    println!(
        "binaries: {} ({}){dynamic}, {} ({}), {}  ",
        interlock.display(),
        builds.installed.describe(),
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

    println!("{}", table(&rows, args.runs, &builds));
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
