//! `barrier`: P processes pass N generations of a barrier — `interlock::Barrier` beside glibc's
//! process-shared `pthread_barrier_t`, in the same run, alternating, R repetitions; prints the
//! median ns per generation and the ratio (issue 15; decision 0022).
//!
//! ```text
//! cargo run -p interlock-bench --release --bin barrier -- [--smoke] [--gens N] [--procs 2,4,8] [--reps R]
//! ```
//!
//! No goal: the issue sets none for barriers; the ratio is reported so that a regression shows.

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

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let mut gens = 20_000usize;
    let mut procs = vec![2usize, 4, 8];
    let mut reps = 5usize;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = || args.next().unwrap_or_else(|| panic!("{a} needs a value"));
        match a.as_str() {
            "--smoke" => (gens, procs, reps) = (200, vec![2, 3], 1),
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
    println!("| P | interlock::Barrier | pthread_barrier (pshared) | interlock / pthread |");
    println!("|---|---|---|---|");
    for &p in &procs {
        let (mut ours, mut theirs) = (Vec::new(), Vec::new());
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
        }
        let (o, t) = (median(ours), median(theirs));
        println!("| {p} | {o:.0} | {t:.0} | {:.2}× |", o / t);
    }
}
