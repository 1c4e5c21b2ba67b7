//! Where the time goes: `SharedFile`'s update and the counter example's cycle, step by step,
//! in one process, and `rename(2)` taken apart.

use std::fmt::Write as _;
use std::fs::{File, OpenOptions};
use std::io::{Read as _, Write as _};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;
use std::time::Instant;

use interlock::{Lock, SharedFile};
use interlock_bench::report::sig3;
use interlock_bench::stats::Summary;

use crate::args::Args;
use crate::counter_file::{parse_counter, read_counter, FileRow};
use crate::progress;

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

/// The step-by-step tables and the rename's anatomy.
pub(crate) fn breakdown(dir: &Path, args: &Args) -> String {
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
