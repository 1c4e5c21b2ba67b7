//! Part 2: `Value<u64>` against a bare `AtomicU64` and a bare `interlock::Lock`, in one process
//! and in P processes updating one value.

use std::fmt::Write as _;
use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use interlock::{Lock, Value};
use interlock_bench::harness::fork_gang;
use interlock_bench::report::sig3;
use interlock_bench::stats::Summary;
use interlock_testkit::Shared;

use crate::args::{Args, MAX_PROCS};
use crate::progress;

/// The goal this part checks: uncontended `Value<u64>` updates per second.
const GOAL_VALUE_UPDATES_PER_SEC: f64 = 10e6;

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

/// The uncontended table: one process.
pub(crate) fn value_uncontended(args: &Args) -> String {
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
    let gang = fork_gang(row.name(), procs, |i| {
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
    });
    let t0 = gang.start();
    std::thread::sleep(d);
    ctl.stop.store(1, Ordering::Relaxed);
    let window = t0.elapsed();
    gang.join();
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

/// The contended table: P processes updating one value.
pub(crate) fn value_contended(args: &Args) -> String {
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
