//! `condvar`: notify-to-wake latency — two processes play ping-pong through a lock and a
//! condition variable: `interlock::Lock` + `interlock::Condition` beside glibc's process-shared
//! `pthread_mutex_t` + `pthread_cond_t` in shared memory, in the same run, alternating, R
//! repetitions; and CPython's `multiprocessing.Condition` as a row when `python3` is there.
//! Prints the median ns per hand-over (one notify and the wake of the waiter it was for: half
//! a round trip), the spread (min–max) and the ratio (issue 15; decision 0026).
//!
//! ```text
//! cargo run -p interlock-bench --release --bin condvar -- [--smoke] [--trips N] [--reps R] [--no-python] [--only interlock|pthread]
//! ```
//!
//! Goal (issue 15): interlock within 1.5× glibc's process-shared `pthread_cond`.

use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

/// One page of anonymous shared memory (never freed: the harness ends soon after).
fn shared_page() -> *mut u8 {
    // SAFETY: a fresh anonymous shared mapping; no pointer is involved but the result.
    let mem = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            4096,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_SHARED | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    assert_ne!(mem, libc::MAP_FAILED);
    mem.cast()
}

/// Runs `child` in a forked child (which `_exit`s) and `parent` here; returns the parent's
/// wall time in ns once the child has ended.
fn ping_pong(parent: &dyn Fn(), child: &dyn Fn()) -> f64 {
    // SAFETY: this harness is single-threaded; the child runs `child` and `_exit`s.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork: {}", std::io::Error::last_os_error());
    if pid == 0 {
        child();
        // SAFETY: ends the child at once, running nothing of the parent's.
        unsafe { libc::_exit(0) }
    }
    let t0 = Instant::now();
    parent();
    let ns = t0.elapsed().as_nanos() as f64;
    let mut status = 0;
    // SAFETY: waits for our own child; `status` is a valid out pointer.
    let waited = unsafe { libc::waitpid(pid, &mut status, 0) };
    assert!(
        waited == pid && status == 0,
        "child {pid}: status {status:#x}"
    );
    ns
}

/// `trips` round trips through interlock: ns per hand-over.
fn interlock_trips(trips: u64) -> f64 {
    let lock = interlock::Lock::new().expect("Lock::new");
    let cond = interlock::Condition::new(&lock).expect("Condition::new");
    // SAFETY: the page is 4096 bytes, page-aligned, zeroed: a valid AtomicU64 at its start,
    // shared with the child, alive for the whole program.
    let turn = unsafe { &*shared_page().cast::<AtomicU64>() };
    let ns = ping_pong(
        &|| {
            let mut g = lock.lock().unwrap();
            for _ in 0..trips {
                turn.store(1, Ordering::Relaxed);
                cond.notify_one();
                while turn.load(Ordering::Relaxed) != 0 {
                    g = cond.wait(g).unwrap();
                }
            }
            drop(g);
        },
        &|| {
            let mut g = lock.lock().unwrap();
            for _ in 0..trips {
                while turn.load(Ordering::Relaxed) != 1 {
                    g = cond.wait(g).unwrap();
                }
                turn.store(0, Ordering::Relaxed);
                cond.notify_one();
            }
            drop(g);
        },
    );
    ns / (2 * trips) as f64
}

/// A process-shared mutex and condition variable at the start of a shared page.
fn pthread_pair() -> (*mut libc::pthread_mutex_t, *mut libc::pthread_cond_t) {
    let page = shared_page();
    let mutex = page.cast::<libc::pthread_mutex_t>();
    let cond = page.wrapping_add(128).cast::<libc::pthread_cond_t>();
    // SAFETY: zeroed attribute objects are what the `_init` calls overwrite.
    let mut mattr: libc::pthread_mutexattr_t = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    let mut cattr: libc::pthread_condattr_t = unsafe { std::mem::zeroed() };
    // SAFETY: `mattr` is a valid attribute object.
    unsafe { libc::pthread_mutexattr_init(&mut mattr) };
    // SAFETY: as above.
    unsafe { libc::pthread_mutexattr_setpshared(&mut mattr, libc::PTHREAD_PROCESS_SHARED) };
    // SAFETY: `cattr` is a valid attribute object.
    unsafe { libc::pthread_condattr_init(&mut cattr) };
    // SAFETY: as above.
    unsafe { libc::pthread_condattr_setpshared(&mut cattr, libc::PTHREAD_PROCESS_SHARED) };
    // SAFETY: `mutex` points to writable, aligned bytes of the page, room for the object.
    assert_eq!(unsafe { libc::pthread_mutex_init(mutex, &mattr) }, 0);
    // SAFETY: `cond` is 128 bytes into the page, aligned, not overlapping the mutex (40 bytes).
    assert_eq!(unsafe { libc::pthread_cond_init(cond, &cattr) }, 0);
    (mutex, cond)
}

/// `trips` round trips through glibc's process-shared mutex and condition: ns per hand-over.
fn pthread_trips(trips: u64) -> f64 {
    let (m, c) = pthread_pair();
    // SAFETY: as in `interlock_trips`.
    let turn = unsafe { &*shared_page().cast::<AtomicU64>() };
    let lock = || {
        // SAFETY: `m` is the initialised process-shared mutex above.
        assert_eq!(unsafe { libc::pthread_mutex_lock(m) }, 0)
    };
    let unlock = || {
        // SAFETY: as above; this thread holds it.
        assert_eq!(unsafe { libc::pthread_mutex_unlock(m) }, 0)
    };
    let wait = || {
        // SAFETY: `c` and `m` are initialised and process-shared; this thread holds `m`.
        assert_eq!(unsafe { libc::pthread_cond_wait(c, m) }, 0)
    };
    let signal = || {
        // SAFETY: `c` is the initialised process-shared condition above.
        assert_eq!(unsafe { libc::pthread_cond_signal(c) }, 0)
    };
    let ns = ping_pong(
        &|| {
            lock();
            for _ in 0..trips {
                turn.store(1, Ordering::Relaxed);
                signal();
                while turn.load(Ordering::Relaxed) != 0 {
                    wait();
                }
            }
            unlock();
        },
        &|| {
            lock();
            for _ in 0..trips {
                while turn.load(Ordering::Relaxed) != 1 {
                    wait();
                }
                turn.store(0, Ordering::Relaxed);
                signal();
            }
            unlock();
        },
    );
    ns / (2 * trips) as f64
}

/// CPython's `multiprocessing.Condition(Lock())` with the same loop, `fork` context.
const PYTHON: &str = r#"
import multiprocessing as mp, sys, time
n = int(sys.argv[1])
ctx = mp.get_context("fork")
cond = ctx.Condition(ctx.Lock())
turn = ctx.RawValue("i", 0)
def child():
    with cond:
        for _ in range(n):
            while turn.value != 1:
                cond.wait()
            turn.value = 0
            cond.notify()
p = ctx.Process(target=child)
p.start()
t0 = time.perf_counter_ns()
with cond:
    for _ in range(n):
        turn.value = 1
        cond.notify()
        while turn.value != 0:
            cond.wait()
t = time.perf_counter_ns() - t0
p.join()
assert p.exitcode == 0
print(t)
"#;

/// `trips` round trips in CPython: ns per hand-over, or `None` without `python3`.
fn python_trips(trips: u64) -> Option<f64> {
    let out = Command::new("python3")
        .args(["-c", PYTHON, &trips.to_string()])
        .output()
        .ok()?;
    if !out.status.success() {
        eprintln!(
            "python3 failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
        return None;
    }
    let ns: f64 = String::from_utf8_lossy(&out.stdout).trim().parse().ok()?;
    Some(ns / (2 * trips) as f64)
}

/// Median, min and max.
fn summary(mut v: Vec<f64>) -> (f64, f64, f64) {
    v.sort_by(f64::total_cmp);
    (v[v.len() / 2], v[0], v[v.len() - 1])
}

fn main() {
    let mut trips = 20_000u64;
    let mut reps = 5usize;
    let mut python = true;
    let mut only: Option<String> = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = || args.next().unwrap_or_else(|| panic!("{a} needs a value"));
        match a.as_str() {
            "--smoke" => (trips, reps, python) = (200, 1, false),
            "--trips" => trips = value().parse().expect("--trips N"),
            "--reps" => reps = value().parse().expect("--reps R"),
            "--no-python" => python = false,
            // One competitor alone (for `strace -c`, `perf`): interlock or pthread.
            "--only" => only = Some(value()),
            other => panic!("unknown argument {other}"),
        }
    }
    if let Some(which) = only {
        let ns = match which.as_str() {
            "interlock" => interlock_trips(trips),
            "pthread" => pthread_trips(trips),
            other => panic!("--only interlock|pthread, not {other}"),
        };
        println!("{which}: {ns:.0} ns per hand-over");
        return;
    }
    let (mut ours, mut theirs, mut py) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..reps {
        ours.push(interlock_trips(trips));
        theirs.push(pthread_trips(trips));
        if python {
            // A tenth of the trips: CPython's condition is two orders of magnitude slower.
            py.extend(python_trips((trips / 10).max(1)));
        }
    }
    // Each repetition runs both back to back: the ratio of each pair sees the same load, and
    // their median is the headline (the medians' ratio beside it).
    let paired = summary(ours.iter().zip(&theirs).map(|(o, t)| o / t).collect());
    let (o, t) = (summary(ours), summary(theirs));
    println!(
        "## Condition: notify-to-wake, two processes ping-pong {trips} round trips (median of {reps}, min–max; ns per hand-over, lower is better)\n"
    );
    println!(
        "| competitor | ns per hand-over | min–max | / pthread_cond (median of paired ratios, min–max) | ratio of medians | ratio of minima |"
    );
    println!("|---|---|---|---|---|---|");
    println!(
        "| interlock Lock + Condition | {:.0} | {:.0}–{:.0} | {:.2}× ({:.2}–{:.2}; goal ≤ 1.5×) | {:.2}× | {:.2}× |",
        o.0,
        o.1,
        o.2,
        paired.0,
        paired.1,
        paired.2,
        o.0 / t.0,
        o.1 / t.1
    );
    println!(
        "| pthread_mutex + pthread_cond (pshared, glibc) | {:.0} | {:.0}–{:.0} | 1.00× | 1.00× | 1.00× |",
        t.0, t.1, t.2
    );
    if !py.is_empty() {
        let p = summary(py);
        println!(
            "| Python multiprocessing.Condition ({} round trips) | {:.0} | {:.0}–{:.0} | | {:.2}× | {:.2}× |",
            (trips / 10).max(1),
            p.0,
            p.1,
            p.2,
            p.0 / t.0,
            p.1 / t.1
        );
    }
}
