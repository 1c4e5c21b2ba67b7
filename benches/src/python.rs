//! The `python` rows: CPython's `multiprocessing.Lock` and `multiprocessing.Semaphore` (each a
//! process-shared POSIX semaphore behind the interpreter), driven by `python3 -c` with the same
//! loops as the Rust competitors.

use std::io;
use std::process::Command;
use std::time::Duration;

use crate::run::{Params, Run};

/// Which loop the script runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// One process, `with lock:` around the inside work only.
    Uncontended,
    /// N processes, `with lock:` around a read-then-write of a shared counter (a lock), or
    /// around the inside work (a semaphore, whose sections may overlap).
    Contended,
}

/// Which `multiprocessing` primitive the script takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Primitive {
    /// `multiprocessing.Lock()`.
    Lock,
    /// `multiprocessing.Semaphore(n)`.
    Semaphore(usize),
}

/// The script: `python3 -c SCRIPT MODE PROCS SECONDS INSIDE OUTSIDE PERMITS` (PERMITS 0: a
/// `Lock`). Prints one line, `ops=N,N.. elapsed_ns=N,N.. window_ns=N counter=N`, and checks
/// the counter itself too (a lock's).
const SCRIPT: &str = r#"
import multiprocessing as mp, sys, time
mode, procs, secs, inside, outside, permits = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6])
ctx = mp.get_context("fork")
lock = ctx.Semaphore(permits) if permits else ctx.Lock()
counter = ctx.RawValue("q", 0)
stop = ctx.RawValue("i", 0)
ops = ctx.RawArray("q", procs)
elapsed = ctx.RawArray("q", procs)
barrier = ctx.Barrier(procs + 1)

def work(n):
    for _ in range(n):
        pass

def child(i):
    barrier.wait()
    t0 = time.perf_counter_ns()
    n = 0
    if mode == "contended" and not permits:
        while not stop.value:
            with lock:
                c = counter.value
                if inside: work(inside)
                counter.value = c + 1
            if outside: work(outside)
            n += 1
    else:
        while not stop.value:
            with lock:
                if inside: work(inside)
            if outside: work(outside)
            n += 1
    elapsed[i] = time.perf_counter_ns() - t0
    ops[i] = n

ps = [ctx.Process(target=child, args=(i,)) for i in range(procs)]
for p in ps:
    p.start()
barrier.wait()
t0 = time.perf_counter_ns()
time.sleep(secs)
stop.value = 1
window = time.perf_counter_ns() - t0
for p in ps:
    p.join()
    assert p.exitcode == 0, p.exitcode
if mode == "contended" and not permits:
    assert counter.value == sum(ops), (counter.value, sum(ops))
print("ops=%s elapsed_ns=%s window_ns=%d counter=%d" % (
    ",".join(map(str, ops)), ",".join(map(str, elapsed)), window, counter.value))
"#;

/// Whether `python3` can be started at all.
pub fn available() -> bool {
    Command::new("python3")
        .args(["-c", "import multiprocessing"])
        .output()
        .is_ok_and(|o| o.status.success())
}

fn field<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    line.split_whitespace()
        .find_map(|kv| kv.strip_prefix(key)?.strip_prefix('='))
}

fn numbers(s: &str) -> Option<Vec<u64>> {
    s.split(',').map(|n| n.parse().ok()).collect()
}

/// Runs the script. `Ok(None)` when `python3` is absent.
///
/// # Errors
///
/// The script failed, or printed something else than its one line.
pub fn run(prim: Primitive, mode: Mode, procs: usize, p: &Params) -> io::Result<Option<Run>> {
    let mode_arg = match mode {
        Mode::Uncontended => "uncontended",
        Mode::Contended => "contended",
    };
    let permits = match prim {
        Primitive::Lock => 0,
        Primitive::Semaphore(n) => {
            assert!(n > 0, "a semaphore of no permits");
            n
        }
    };
    let out = match Command::new("python3")
        .args(["-c", SCRIPT, mode_arg])
        .arg(procs.to_string())
        .arg(p.duration.as_secs_f64().to_string())
        .arg(p.inside.to_string())
        .arg(p.outside.to_string())
        .arg(permits.to_string())
        .output()
    {
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        other => other?,
    };
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        return Err(io::Error::other(format!(
            "python3 failed ({}): {}{}",
            out.status,
            stdout,
            String::from_utf8_lossy(&out.stderr)
        )));
    }
    let bad = || io::Error::other(format!("python3 printed {stdout:?}"));
    let line = stdout.lines().last().ok_or_else(bad)?;
    let ops = field(line, "ops").and_then(numbers).ok_or_else(bad)?;
    let elapsed = field(line, "elapsed_ns")
        .and_then(numbers)
        .ok_or_else(bad)?;
    let window: u64 = field(line, "window_ns")
        .and_then(|s| s.parse().ok())
        .ok_or_else(bad)?;
    let counter: u64 = field(line, "counter")
        .and_then(|s| s.parse().ok())
        .ok_or_else(bad)?;
    let run = Run {
        elapsed: elapsed.into_iter().map(Duration::from_nanos).collect(),
        ops,
        window: Duration::from_nanos(window),
        wait_p99: Vec::new(),
    };
    if mode == Mode::Contended && prim == Primitive::Lock {
        assert!(
            counter == run.total(),
            "python: counter {counter} != operations {}",
            run.total()
        );
    }
    Ok(Some(run))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_script_line() {
        let line = "ops=3,4 elapsed_ns=10,20 window_ns=30 counter=7";
        assert_eq!(field(line, "ops").and_then(numbers), Some(vec![3, 4]));
        assert_eq!(field(line, "window_ns"), Some("30"));
        assert_eq!(field(line, "counter"), Some("7"));
        assert_eq!(field(line, "op"), None);
    }
}
