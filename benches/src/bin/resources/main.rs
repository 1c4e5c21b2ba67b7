//! `resources`: interlock's resource types on the multiprocessing counter example's workload —
//! its counter file (10,000 increments split over P forked processes) kept by `SharedFile`
//! (crash-safe, with and without `fsync`), by the example's own open/read/write cycle under an
//! `interlock::Lock`, and by the Python example itself; then `Value<u64>` against a bare atomic
//! and a bare lock.
//! Printed as Markdown tables with ratios measured side by side in one run. `resources --help`
//! lists the arguments.
//!
//! Modules: [`args`] (the command line), [`counter_file`] (part 1), [`breakdown`] (where part 1's
//! time goes), [`value`] (part 2).

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use interlock_bench::machine::{self, Machine};
use interlock_bench::report;

mod args;
mod breakdown;
mod counter_file;
mod value;

use args::{parse_args, Args, USAGE};
use counter_file::{file_table, run_python_file, run_rust_file, FileRow, FileRows};

/// One line of progress on stderr.
fn progress(what: std::fmt::Arguments<'_>) {
    report::progress("resources", what);
}

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
    let args = match report::args_or_usage("resources", USAGE, parse_args(&argv[1..])) {
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

    let python = interlock_bench::python::available();
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
    println!("{}", breakdown::breakdown(dir, &args));
    println!("{}", value::value_uncontended(&args));
    println!("{}", value::value_contended(&args));

    println!("load average at the end: {}  ", loadavg());
    println!("total time: {:.1} s", started.elapsed().as_secs_f64());
    ExitCode::SUCCESS
}
