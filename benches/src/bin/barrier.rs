//! `barrier`: P processes pass N generations of a barrier — `interlock::Barrier` beside glibc's
//! process-shared `pthread_barrier_t`, in the same run, alternating, R repetitions; prints the
//! median ns per generation and the ratio (issue 15; decision 0022); and CPython's
//! `multiprocessing.Barrier` as a column when `python3` is there (a tenth of the generations).
//!
//! ```text
//! cargo run -p interlock-bench --release --bin barrier -- [--smoke] [--gens N] [--procs 2,4,8] [--reps R] [--no-python]
//! ```
//!
//! No goal: the issue sets none for barriers; the ratio is reported so that a regression shows.

use std::process::Command;
use std::time::Instant;

/// Runs `body` in `procs` processes (this one and `procs - 1` forked children, which `_exit`),
/// waits for the children, and returns the wall time in ns.
fn in_processes(procs: usize, body: &dyn Fn()) -> f64 {
    let t0 = Instant::now();
    let mut children = Vec::new();
    for _ in 1..procs {
        // SAFETY: this harness is single-threaded; the child runs `body` and `_exit`s.
        let pid = unsafe { libc::fork() };
        assert!(pid >= 0, "fork: {}", std::io::Error::last_os_error());
        if pid == 0 {
            body();
            // SAFETY: ends the child at once, running nothing of the parent's.
            unsafe { libc::_exit(0) }
        }
        children.push(pid);
    }
    body();
    for pid in children {
        let mut status = 0;
        // SAFETY: waits for our own child; `status` is a valid out pointer.
        let waited = unsafe { libc::waitpid(pid, &mut status, 0) };
        assert!(
            waited == pid && status == 0,
            "child {pid}: status {status:#x}"
        );
    }
    t0.elapsed().as_nanos() as f64
}

/// A process-shared `pthread_barrier_t` for `procs` in an anonymous shared mapping (never
/// freed: the harness ends soon after).
fn pthread_barrier(procs: usize) -> usize {
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
    // SAFETY: an all-zero attribute object is what `pthread_barrierattr_init` overwrites.
    let mut attr: libc::pthread_barrierattr_t = unsafe { std::mem::zeroed() };
    // SAFETY: `attr` is a valid attribute object for the three calls.
    unsafe { libc::pthread_barrierattr_init(&mut attr) };
    // SAFETY: as above.
    unsafe { libc::pthread_barrierattr_setpshared(&mut attr, libc::PTHREAD_PROCESS_SHARED) };
    let barrier = mem.cast::<libc::pthread_barrier_t>();
    // SAFETY: `barrier` points to 4096 writable, page-aligned bytes, room for the object.
    let rc = unsafe { libc::pthread_barrier_init(barrier, &attr, procs as u32) };
    assert_eq!(rc, 0);
    barrier as usize
}

/// CPython's `multiprocessing.Barrier(P)`, `fork` context: P children each pass one
/// generation (the start), then N timed ones; prints the slowest child's ns per generation.
const PYTHON: &str = r#"
import multiprocessing as mp, sys, time
procs, n = int(sys.argv[1]), int(sys.argv[2])
ctx = mp.get_context("fork")
b = ctx.Barrier(procs)
el = ctx.RawArray("q", procs)
def child(i):
    b.wait()
    t0 = time.perf_counter_ns()
    for _ in range(n):
        b.wait()
    el[i] = time.perf_counter_ns() - t0
ps = [ctx.Process(target=child, args=(i,)) for i in range(procs)]
for p in ps:
    p.start()
for p in ps:
    p.join()
    assert p.exitcode == 0, p.exitcode
print(max(el) / n)
"#;

/// ns per generation of `multiprocessing.Barrier` over `gens` generations of `procs`
/// processes; `None` when `python3` cannot be started.
fn python_gens(procs: usize, gens: usize) -> Option<f64> {
    let out = match Command::new("python3")
        .args(["-c", PYTHON, &procs.to_string(), &gens.to_string()])
        .output()
    {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
        other => other.expect("python3"),
    };
    assert!(
        out.status.success(),
        "python3 failed: {}",
        String::from_utf8_lossy(&out.stderr).trim()
    );
    let text = String::from_utf8_lossy(&out.stdout);
    Some(
        text.trim()
            .parse()
            .unwrap_or_else(|_| panic!("python3 printed {text:?}")),
    )
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let mut gens = 20_000usize;
    let mut procs = vec![2usize, 4, 8];
    let mut reps = 5usize;
    let mut python = true;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = || args.next().unwrap_or_else(|| panic!("{a} needs a value"));
        match a.as_str() {
            "--smoke" => (gens, procs, reps) = (200, vec![2, 3], 1),
            "--no-python" => python = false,
            "--gens" => gens = value().parse().expect("--gens N"),
            "--reps" => reps = value().parse().expect("--reps R"),
            "--procs" => {
                procs = value()
                    .split(',')
                    .map(|p| p.parse().expect("--procs LIST"))
                    .collect()
            }
            other => panic!("unknown argument {other}"),
        }
    }
    println!("## Barrier: P processes pass {gens} generations (median of {reps}; ns per generation, lower is better)\n");
    if python && python_gens(2, 1).is_none() {
        println!("note: python3 not found: the multiprocessing.Barrier column is left out.\n");
        python = false;
    }
    println!(
        "| P | interlock::Barrier | pthread_barrier (pshared) | interlock / pthread | \
         multiprocessing.Barrier | interlock / multiprocessing |"
    );
    println!("|---|---|---|---|---|---|");
    for &p in &procs {
        let (mut ours, mut theirs, mut py) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..reps {
            let b = interlock::Barrier::new(p as u32).expect("Barrier::new");
            ours.push(
                in_processes(p, &|| {
                    for _ in 0..gens {
                        b.wait().expect("Barrier::wait");
                    }
                }) / gens as f64,
            );
            let pb = pthread_barrier(p);
            theirs.push(
                in_processes(p, &|| {
                    for _ in 0..gens {
                        // SAFETY: `pb` is the initialised, process-shared barrier above.
                        unsafe { libc::pthread_barrier_wait(pb as *mut libc::pthread_barrier_t) };
                    }
                }) / gens as f64,
            );
            if python {
                // A tenth of the generations: CPython's barrier is two orders slower.
                py.extend(python_gens(p, (gens / 10).max(1)));
            }
        }
        let (o, t) = (median(ours), median(theirs));
        let (y, oy) = if py.is_empty() {
            ("—".to_owned(), "—".to_owned())
        } else {
            let y = median(py);
            (format!("{y:.0}"), format!("{:.3}×", o / y))
        };
        println!("| {p} | {o:.0} | {t:.0} | {:.2}× | {y} | {oy} |", o / t);
    }
}
