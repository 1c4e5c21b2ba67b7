//! The multi-process workloads: forked children running one [`Competitor`], coordinated through
//! a control block in shared memory.
//!
//! Every function here forks. Call them only from a single-threaded process (the `mp` binary
//! never starts a thread): a child of a multi-threaded process may only run async-signal-safe
//! code, and these children run the lock under test, allocate and panic.

#![allow(unsafe_code)]

use std::io::{self, Write};
use std::os::fd::OwnedFd;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rustix::process::{kill_process, waitpid, Pid, Signal, WaitOptions, WaitStatus};
use rustix::thread::futex;
use rustix::time::{clock_gettime, ClockId};

use crate::peers::{
    Competitor, Flock, Futex, FutexRobust, Interlock, InterlockFair, InterlockLiveness, Ofd,
    Pthread, PthreadRobust, Sem,
};
use crate::python;
use crate::shm::{Shared, ShmSafe};
use crate::work;

/// The most processes one contended run may use.
pub const MAX_PROCS: usize = 64;

/// The competitors, by row name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Peer {
    /// [`Futex`]: the lower bound.
    Futex,
    /// [`FutexRobust`]: the lower bound for a robust lock.
    FutexRobust,
    /// [`Pthread`].
    Pthread,
    /// [`PthreadRobust`]: the reference for recovery.
    PthreadRobust,
    /// [`Sem`].
    Sem,
    /// [`Flock`].
    Flock,
    /// [`Ofd`].
    Ofd,
    /// [`Interlock`].
    Interlock,
    /// [`InterlockFair`].
    InterlockFair,
    /// [`InterlockLiveness`]: recovery only.
    InterlockLiveness,
    /// Python's `multiprocessing.Lock`, run by `python3` (uncontended and contended only).
    Python,
}

impl Peer {
    /// Every competitor, in table order.
    pub const ALL: [Peer; 11] = [
        Peer::Futex,
        Peer::FutexRobust,
        Peer::Pthread,
        Peer::PthreadRobust,
        Peer::Sem,
        Peer::Flock,
        Peer::Ofd,
        Peer::Interlock,
        Peer::InterlockFair,
        Peer::InterlockLiveness,
        Peer::Python,
    ];

    /// The row name.
    pub fn name(self) -> &'static str {
        match self {
            Peer::Futex => Futex::NAME,
            Peer::FutexRobust => FutexRobust::NAME,
            Peer::Pthread => Pthread::NAME,
            Peer::PthreadRobust => PthreadRobust::NAME,
            Peer::Sem => Sem::NAME,
            Peer::Flock => Flock::NAME,
            Peer::Ofd => Ofd::NAME,
            Peer::Interlock => Interlock::NAME,
            Peer::InterlockFair => InterlockFair::NAME,
            Peer::InterlockLiveness => InterlockLiveness::NAME,
            Peer::Python => "python",
        }
    }

    /// The competitor called `name`.
    pub fn from_name(name: &str) -> Option<Peer> {
        Peer::ALL.into_iter().find(|p| p.name() == name)
    }

    /// Whether a SIGKILLed holder's lock is recovered (measured by the recovery workload).
    pub fn robust(self) -> bool {
        match self {
            Peer::Futex => Futex::ROBUST,
            Peer::FutexRobust => FutexRobust::ROBUST,
            Peer::Pthread => Pthread::ROBUST,
            Peer::PthreadRobust => PthreadRobust::ROBUST,
            Peer::Sem => Sem::ROBUST,
            Peer::Flock => Flock::ROBUST,
            Peer::Ofd => Ofd::ROBUST,
            Peer::Interlock => Interlock::ROBUST,
            Peer::InterlockFair => InterlockFair::ROBUST,
            Peer::InterlockLiveness => InterlockLiveness::ROBUST,
            Peer::Python => false,
        }
    }

    /// Whether it takes part in the uncontended and contended workloads (interlock-liveness
    /// differs from interlock only after a death).
    pub fn throughput(self) -> bool {
        self != Peer::InterlockLiveness
    }
}

/// Runs `$f::<C>($args)` for the competitor type of `$peer` (not Python).
macro_rules! dispatch {
    ($peer:expr, $f:ident($($arg:expr),*)) => {
        match $peer {
            Peer::Futex => $f::<Futex>($($arg),*),
            Peer::FutexRobust => $f::<FutexRobust>($($arg),*),
            Peer::Pthread => $f::<Pthread>($($arg),*),
            Peer::PthreadRobust => $f::<PthreadRobust>($($arg),*),
            Peer::Sem => $f::<Sem>($($arg),*),
            Peer::Flock => $f::<Flock>($($arg),*),
            Peer::Ofd => $f::<Ofd>($($arg),*),
            Peer::Interlock => $f::<Interlock>($($arg),*),
            Peer::InterlockFair => $f::<InterlockFair>($($arg),*),
            Peer::InterlockLiveness => $f::<InterlockLiveness>($($arg),*),
            Peer::Python => unreachable!("python is not a Competitor"),
        }
    };
}

/// The knobs of one run.
#[derive(Debug, Clone, Copy)]
pub struct Params {
    /// Iterations of [`work`] inside the critical section.
    pub inside: u32,
    /// Iterations of [`work`] between sections.
    pub outside: u32,
    /// How long a run lasts.
    pub duration: Duration,
}

/// What one run of a loop workload measured.
#[derive(Debug, Clone)]
pub struct Run {
    /// Lock+unlock operations per process.
    pub ops: Vec<u64>,
    /// Each process's own time between start and seeing the stop flag.
    pub elapsed: Vec<Duration>,
    /// The parent's window between "start" and "stop".
    pub window: Duration,
    /// Contended runs: each process's 99th percentile of the time `lock` took to get the lock,
    /// sampled every [`WAIT_SAMPLE_EVERY`]th acquisition (empty when not measured).
    pub wait_p99: Vec<Duration>,
}

/// Contended runs time one acquisition in this many: two clock reads per sample would
/// otherwise be a visible part of a 25 ns lock+unlock.
pub const WAIT_SAMPLE_EVERY: u64 = 64;

impl Run {
    /// All processes' operations.
    pub fn total(&self) -> u64 {
        self.ops.iter().sum()
    }

    /// Nanoseconds per operation of a one-process run, on its own clock.
    pub fn ns_per_op(&self) -> f64 {
        self.elapsed[0].as_nanos() as f64 / self.ops[0].max(1) as f64
    }

    /// Operations per second over the parent's window.
    pub fn ops_per_sec(&self) -> f64 {
        self.total() as f64 / self.window.as_secs_f64()
    }

    /// The worst process's 99th-percentile wait, if measured.
    pub fn worst_wait_p99(&self) -> Option<Duration> {
        self.wait_p99.iter().max().copied()
    }

    /// The busiest process's operations over the idlest's (1 is perfectly fair; infinite when
    /// a process got nothing).
    pub fn share_ratio(&self) -> f64 {
        let max = *self.ops.iter().max().unwrap_or(&0) as f64;
        let min = *self.ops.iter().min().unwrap_or(&0) as f64;
        if min == 0.0 {
            f64::INFINITY
        } else {
            max / min
        }
    }

    /// The largest and smallest per-process shares of all operations, in percent.
    pub fn shares(&self) -> (f64, f64) {
        let total = self.total().max(1) as f64;
        let pct = |n: u64| 100.0 * n as f64 / total;
        (
            pct(*self.ops.iter().max().unwrap_or(&0)),
            pct(*self.ops.iter().min().unwrap_or(&0)),
        )
    }
}

/// Cache-line-separated so the flags the loop reads are not the line the lock protects.
#[repr(C, align(128))]
struct Line<T>(T);

/// On a page of its own: the back-to-back counter shares nothing with the control block.
#[repr(C, align(4096))]
struct Page<T>(T);

/// The control block shared by the parent and its children.
#[repr(C)]
struct Control {
    /// Children that attached and wait for the start.
    ready: Line<AtomicU32>,
    /// 0 before the start; 1 from the start (a futex word the children sleep on).
    start: AtomicU32,
    /// 1 once the run is over.
    stop: AtomicU32,
    /// Recovery: CLOCK_MONOTONIC ns at which the parent sent SIGKILL (0 before).
    kill_ns: AtomicU64,
    /// Recovery: the waiter's acquisition time minus `kill_ns`.
    latency_ns: AtomicU64,
    /// The shared counter, incremented under the lock (read, then written: a lock that lets two
    /// processes in loses increments).
    counter: Line<AtomicU64>,
    ops: Line<[AtomicU64; MAX_PROCS]>,
    elapsed_ns: [AtomicU64; MAX_PROCS],
    wait_p99_ns: [AtomicU64; MAX_PROCS],
    /// Ping-pong: when the last hand-over was given (CLOCK_MONOTONIC ns, inside the section).
    handed_ns: AtomicU64,
    /// The back-to-back shape's counter: read, then written, under the lock.
    page_counter: Page<AtomicU64>,
}

// SAFETY: all fields are atomics (zero is a valid value of each) and padding.
unsafe impl ShmSafe for Control {}

// SAFETY: a `Line` is its field and padding; zero is valid for it when it is for the field.
unsafe impl<T: ShmSafe> ShmSafe for Line<T> {}

impl Control {
    /// Child side: says it is ready, then sleeps until the parent starts the run.
    fn ready_then_wait_for_start(&self) {
        self.ready.0.fetch_add(1, Ordering::AcqRel);
        while self.start.load(Ordering::Acquire) == 0 {
            // EAGAIN (already started) and EINTR: look again.
            let _ = futex::wait(&self.start, futex::Flags::empty(), 0, None);
        }
    }

    /// Parent side: waits (at most 30 s) for `procs` children to be ready, starts them, lets
    /// them run for `duration`, stops them; returns the window between start and stop.
    fn run_window(&self, procs: usize, duration: Duration, name: &str) -> Duration {
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.ready.0.load(Ordering::Acquire) < procs as u32 {
            assert!(
                Instant::now() < deadline,
                "{name}: only {} of {procs} children got ready in 30 s",
                self.ready.0.load(Ordering::Relaxed)
            );
            std::thread::sleep(Duration::from_micros(200));
        }
        self.start.store(1, Ordering::Release);
        let t0 = Instant::now();
        // `i32::MAX`, "all": the kernel reads the count as an `int`, so `u32::MAX` would be -1.
        let _ = futex::wake(&self.start, futex::Flags::empty(), i32::MAX as u32);
        std::thread::sleep(duration);
        self.stop.store(1, Ordering::Relaxed);
        t0.elapsed()
    }
}

/// CLOCK_MONOTONIC in nanoseconds.
pub fn now_ns() -> u64 {
    let t = clock_gettime(ClockId::Monotonic);
    t.tv_sec as u64 * 1_000_000_000 + t.tv_nsec as u64
}

fn threads_in_this_process() -> Option<usize> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("Threads:"))?;
    line["Threads:".len()..].trim().parse().ok()
}

/// Forks a child that runs `body` and ends in `_exit`: 0 if `body` returned, 101 if it
/// panicked (the panic message is printed by the hook first).
///
/// # Panics
///
/// If this process has more than one thread, or `fork` fails.
pub fn fork_child(body: impl FnOnce()) -> Pid {
    assert_eq!(
        threads_in_this_process(),
        Some(1),
        "the harness forks: run it from a single-threaded process"
    );
    // Buffered output would be written twice, once by each process.
    let _ = io::stdout().flush();
    // SAFETY: this process is single-threaded (asserted above), so the child is a complete copy
    // in which any code may run; the child never returns from this function (it `_exit`s).
    let pid = unsafe { libc::fork() };
    match pid {
        -1 => panic!("fork: {}", io::Error::last_os_error()),
        0 => {
            let ok = std::panic::catch_unwind(AssertUnwindSafe(body)).is_ok();
            let _ = io::stdout().flush();
            // SAFETY: `_exit` ends the child at once, without running the destructors and atexit
            // handlers of state copied from the parent (temporary directories, mappings).
            unsafe { libc::_exit(if ok { 0 } else { 101 }) }
        }
        pid => Pid::from_raw(pid).expect("fork returned a positive pid"),
    }
}

fn describe(status: WaitStatus) -> String {
    if let Some(code) = status.exit_status() {
        format!("exit status {code}")
    } else if let Some(sig) = status.terminating_signal() {
        format!("killed by signal {sig}")
    } else {
        format!("wait status {:#x}", status.as_raw())
    }
}

/// Waits for `pid` and asserts that it exited with status 0.
pub fn reap_ok(pid: Pid, what: &str) {
    let (_, status) = waitpid(Some(pid), WaitOptions::empty())
        .expect("waitpid")
        .expect("waitpid without WNOHANG returns a status");
    assert_eq!(
        status.exit_status(),
        Some(0),
        "{what} (pid {}) failed: {}",
        pid.as_raw_nonzero(),
        describe(status)
    );
}

/// Waits at most `limit` for `pid`; kills it and panics with `why` if it is still running then.
fn reap_within(pid: Pid, limit: Duration, what: &str, why: &str) {
    let end = Instant::now() + limit;
    loop {
        match waitpid(Some(pid), WaitOptions::NOHANG).expect("waitpid") {
            Some((_, status)) => {
                assert_eq!(
                    status.exit_status(),
                    Some(0),
                    "{what} (pid {}) failed: {}",
                    pid.as_raw_nonzero(),
                    describe(status)
                );
                return;
            }
            None if Instant::now() < end => std::thread::sleep(Duration::from_micros(200)),
            None => {
                let _ = kill_process(pid, Signal::KILL);
                let _ = waitpid(Some(pid), WaitOptions::empty());
                panic!(
                    "{what} (pid {}) still running after {limit:?}: {why}",
                    pid.as_raw_nonzero()
                );
            }
        }
    }
}

/// The loop a contended process runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// One acquisition per turn of a loop that reads the stop flag (and, one turn in
    /// [`WAIT_SAMPLE_EVERY`], the clock) between a release and the next acquisition, with
    /// `Params::inside` / `Params::outside` work: work between sections, however little.
    Paced,
    /// Batches of [`BATCH`] acquisitions with nothing at all between a release and the next
    /// acquisition (the stop flag is read once a batch), the section a read-then-write of a
    /// counter on a page of its own: a tight loop over a shared structure.
    BackToBack,
}

/// Acquisitions per batch of [`Shape::BackToBack`].
pub const BATCH: u64 = 64;

/// Runs `procs` processes of competitor `C` for `p.duration`; `contended` adds the shared
/// counter increment inside the section and checks it afterwards.
fn run_loop<C: Competitor>(
    procs: usize,
    p: &Params,
    contended: bool,
    shape: Shape,
) -> io::Result<Run> {
    assert!(
        (1..=MAX_PROCS).contains(&procs),
        "1..={MAX_PROCS} processes"
    );
    let ctl = Shared::<Control>::new()?;
    let mut comp = C::create()?;
    let mut children = Vec::with_capacity(procs);
    for i in 0..procs {
        let ctl = &ctl;
        let comp = &mut comp;
        children.push(fork_child(move || {
            comp.attach().expect("attach");
            ctl.ready_then_wait_for_start();
            if shape == Shape::BackToBack {
                back_to_back_loop(&*comp, ctl, i);
            } else if contended {
                measure_loop::<C, true>(&*comp, ctl, p, i);
            } else {
                measure_loop::<C, false>(&*comp, ctl, p, i);
            }
        }));
    }
    let window = ctl.run_window(procs, p.duration, C::NAME);
    for pid in children {
        reap_ok(pid, C::NAME);
    }
    let run = Run {
        ops: (0..procs)
            .map(|i| ctl.ops.0[i].load(Ordering::Acquire))
            .collect(),
        elapsed: (0..procs)
            .map(|i| Duration::from_nanos(ctl.elapsed_ns[i].load(Ordering::Relaxed)))
            .collect(),
        window,
        wait_p99: if contended {
            (0..procs)
                .map(|i| Duration::from_nanos(ctl.wait_p99_ns[i].load(Ordering::Relaxed)))
                .collect()
        } else {
            Vec::new()
        },
    };
    if contended {
        let counter = match shape {
            Shape::Paced => ctl.counter.0.load(Ordering::Relaxed),
            Shape::BackToBack => ctl.page_counter.0.load(Ordering::Relaxed),
        };
        assert!(
            counter == run.total(),
            "{}: the shared counter is {counter} but the processes counted {} operations \
             ({:?}): the lock let two processes in at once",
            C::NAME,
            run.total(),
            run.ops
        );
    }
    Ok(run)
}

/// One process's timed loop of [`run_loop`]. A function of its own that returns: inlined into
/// the forked child's branch, which ends in `_exit`, the loop sat on a path the compiler treats
/// as cold and compiled for size, so that any lock whose unlock was more than a few
/// instructions was measured through an out-of-line call the peers did not pay. One copy per
/// workload (`CONTENDED`), so that the uncontended loop holds one lock site, not three.
#[inline(never)]
fn measure_loop<C: Competitor, const CONTENDED: bool>(
    comp: &C,
    ctl: &Control,
    p: &Params,
    i: usize,
) {
    let contended = CONTENDED;
    let t0 = Instant::now();
    let mut n = 0u64;
    let mut waits: Vec<u64> = Vec::new();
    // Relaxed: the flag only has to be seen eventually; it orders nothing.
    while ctl.stop.load(Ordering::Relaxed) == 0 {
        if contended && n.is_multiple_of(WAIT_SAMPLE_EVERY) {
            let asked = now_ns();
            comp.lock(|| {
                waits.push(now_ns() - asked);
                let c = ctl.counter.0.load(Ordering::Relaxed);
                work(p.inside);
                ctl.counter.0.store(c + 1, Ordering::Relaxed);
            });
        } else if contended {
            comp.lock(|| {
                // Relaxed: the lock orders the section; a load and a separate store, so a lock
                // that admits two processes at once loses increments.
                let c = ctl.counter.0.load(Ordering::Relaxed);
                work(p.inside);
                ctl.counter.0.store(c + 1, Ordering::Relaxed);
            });
        } else {
            comp.lock(|| work(p.inside));
        }
        work(p.outside);
        n += 1;
    }
    ctl.elapsed_ns[i].store(t0.elapsed().as_nanos() as u64, Ordering::Relaxed);
    ctl.wait_p99_ns[i].store(percentile(&mut waits, 0.99), Ordering::Relaxed);
    ctl.ops.0[i].store(n, Ordering::Release);
}

/// One process's loop of [`Shape::BackToBack`]; a function of its own for the reasons given at
/// [`measure_loop`].
#[inline(never)]
fn back_to_back_loop<C: Competitor>(comp: &C, ctl: &Control, i: usize) {
    let t0 = Instant::now();
    let mut n = 0u64;
    // Relaxed: the flag only has to be seen eventually; it orders nothing.
    while ctl.stop.load(Ordering::Relaxed) == 0 {
        for _ in 0..BATCH {
            comp.lock(|| {
                // Relaxed: the lock orders the section; a load and a separate store, so a lock
                // that admits two processes at once loses increments.
                let c = ctl.page_counter.0.load(Ordering::Relaxed);
                ctl.page_counter.0.store(c + 1, Ordering::Relaxed);
            });
        }
        n += BATCH;
    }
    ctl.elapsed_ns[i].store(t0.elapsed().as_nanos() as u64, Ordering::Relaxed);
    ctl.ops.0[i].store(n, Ordering::Release);
}

/// The `q` quantile of `v` (sorted in place; 0 when empty).
fn percentile(v: &mut [u64], q: f64) -> u64 {
    if v.is_empty() {
        return 0;
    }
    v.sort_unstable();
    v[((v.len() - 1) as f64 * q).round() as usize]
}

/// What the ping-pong workload measured.
#[derive(Debug, Clone)]
pub struct PingPong {
    /// Hand-overs per second over the parent's window.
    pub per_sec: f64,
    /// Median and 99th percentile of one hand-over: from the giver's last instant inside the
    /// section to the taker holding the lock.
    pub median: Duration,
    /// See `median`.
    pub p99: Duration,
}

fn ping_pong_of<C: Competitor>(p: &Params) -> io::Result<PingPong> {
    let ctl = Shared::<Control>::new()?;
    let mut comp = C::create()?;
    // One pipe per child for its latencies, read after the run.
    let mut readers = Vec::with_capacity(2);
    let mut children = Vec::with_capacity(2);
    for i in 0..2u64 {
        let (lat_r, lat_w) = rustix::pipe::pipe()?;
        readers.push(lat_r);
        let (ctl, comp, lat_w) = (&ctl, &mut comp, &lat_w);
        children.push(fork_child(move || {
            comp.attach().expect("attach");
            ctl.ready_then_wait_for_start();
            let mut lat: Vec<u64> = Vec::new();
            while ctl.stop.load(Ordering::Relaxed) == 0 {
                comp.lock(|| {
                    // Relaxed: the lock orders the section.
                    let turn = ctl.counter.0.load(Ordering::Relaxed);
                    if turn % 2 == i {
                        let now = now_ns();
                        if turn > 0 {
                            lat.push(now - ctl.handed_ns.load(Ordering::Relaxed));
                        }
                        ctl.handed_ns.store(now_ns(), Ordering::Relaxed);
                        ctl.counter.0.store(turn + 1, Ordering::Relaxed);
                    }
                });
            }
            let mut bytes = Vec::with_capacity(lat.len() * 8);
            for x in lat {
                bytes.extend_from_slice(&x.to_ne_bytes());
            }
            // Through the pipe, length first; the parent reads while the children exit.
            let len = (bytes.len() as u64).to_ne_bytes();
            rustix::io::write(lat_w, &len).expect("write");
            let mut at = 0;
            while at < bytes.len() {
                at += rustix::io::write(lat_w, &bytes[at..]).expect("write");
            }
        }));
    }
    let window = ctl.run_window(2, p.duration, C::NAME);
    let mut lat = Vec::new();
    for lat_r in readers {
        use std::io::Read;
        let mut reader = std::fs::File::from(lat_r);
        let mut len = [0u8; 8];
        reader.read_exact(&mut len)?;
        let mut bytes = vec![0u8; u64::from_ne_bytes(len) as usize];
        reader.read_exact(&mut bytes)?;
        lat.extend(
            bytes
                .chunks_exact(8)
                .map(|c| u64::from_ne_bytes(c.try_into().expect("8 bytes"))),
        );
    }
    for pid in children {
        reap_ok(pid, C::NAME);
    }
    let handed = ctl.counter.0.load(Ordering::Relaxed);
    Ok(PingPong {
        per_sec: handed as f64 / window.as_secs_f64(),
        median: Duration::from_nanos(percentile(&mut lat, 0.5)),
        p99: Duration::from_nanos(percentile(&mut lat, 0.99)),
    })
}

/// Ping-pong: two processes take turns — each takes the lock over and over, and acts only
/// when the shared turn is its own, then gives the turn away. Measures hand-overs per second
/// and the latency of one hand-over. `None` for Python (not driven here).
///
/// # Errors
///
/// As [`uncontended`].
pub fn ping_pong(peer: Peer, p: &Params) -> io::Result<Option<PingPong>> {
    if peer == Peer::Python {
        return Ok(None);
    }
    dispatch!(peer, ping_pong_of(p)).map(Some)
}

/// Uncontended: one process, lock+unlock in a tight loop for `p.duration`. `None` when the
/// competitor is Python and `python3` is absent.
///
/// # Errors
///
/// Creating the competitor or the shared memory failed.
pub fn uncontended(peer: Peer, p: &Params) -> io::Result<Option<Run>> {
    if peer == Peer::Python {
        return python::run(python::Mode::Uncontended, 1, p);
    }
    dispatch!(peer, run_loop(1, p, false, Shape::Paced)).map(Some)
}

/// Contended: `procs` processes each incrementing the shared counter under the lock for
/// `p.duration`; asserts that no increment was lost.
///
/// # Errors
///
/// As [`uncontended`].
pub fn contended(peer: Peer, procs: usize, p: &Params, shape: Shape) -> io::Result<Option<Run>> {
    if peer == Peer::Python {
        if shape == Shape::BackToBack {
            return Ok(None);
        }
        return python::run(python::Mode::Contended, procs, p);
    }
    dispatch!(peer, run_loop(procs, p, true, shape)).map(Some)
}

/// A core-to-core round trip: this process and a forked child pass a number back and forth
/// through one cache line, spinning; the median over 9 batches of 2000 round trips (after a
/// warm-up batch), in ns. It moves with where the host puts the two vCPUs (about 50 to 450 ns
/// on the 2-core machines of this project), and every contended figure moves with it: the
/// reports print it beside each row so that a reader can tell a placement from a regression.
///
/// # Errors
///
/// Creating the shared memory failed.
pub fn round_trip_ns() -> io::Result<f64> {
    const ROUNDS: u64 = 2000;
    const BATCHES: u64 = 10;
    let line = Shared::<Line<AtomicU64>>::new()?;
    let l = &line;
    let child = fork_child(move || {
        for i in 0..ROUNDS * BATCHES {
            while l.0.load(Ordering::Acquire) != 2 * i + 1 {
                std::hint::spin_loop();
            }
            l.0.store(2 * i + 2, Ordering::Release);
        }
    });
    let mut ns = Vec::with_capacity(BATCHES as usize);
    for b in 0..BATCHES {
        let t = Instant::now();
        for i in b * ROUNDS..(b + 1) * ROUNDS {
            l.0.store(2 * i + 1, Ordering::Release);
            while l.0.load(Ordering::Acquire) != 2 * i + 2 {
                std::hint::spin_loop();
            }
        }
        ns.push(t.elapsed().as_nanos() as u64 / ROUNDS);
    }
    reap_ok(child, "round trip");
    // The first batch warms up (the child may not have been running yet).
    Ok(percentile(&mut ns[1..], 0.5) as f64)
}

/// What the recovery workload measured.
#[derive(Debug, Clone)]
pub struct Recovery {
    /// Per round: from the parent's SIGKILL to the waiter holding the lock.
    pub latencies: Vec<Duration>,
    /// How many acquisitions were told that the previous owner died, for locks that tell.
    pub deaths_reported: Option<u64>,
}

/// How long the parent lets a blocked waiter sit before the kill, spread over `[0, 50 ms)`
/// across the rounds so that a waiter that checks periodically is met at every phase.
fn settle(round: usize, rounds: usize) -> Duration {
    Duration::from_micros(500 + (50_000 * round / rounds.max(1)) as u64)
}

/// The state letter of `/proc/PID/stat` ('S': sleeping, 'R': running, ...).
fn proc_state(pid: Pid) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{}/stat", pid.as_raw_nonzero())).ok()?;
    stat[stat.rfind(')')? + 1..].trim_start().chars().next()
}

/// Waits until `pid` sleeps in the kernel (blocked in the lock), at most two seconds.
fn wait_until_asleep(pid: Pid) {
    let end = Instant::now() + Duration::from_secs(2);
    while proc_state(pid) != Some('S') && Instant::now() < end {
        std::thread::sleep(Duration::from_micros(100));
    }
}

fn read_byte(fd: &OwnedFd, what: &str) {
    let mut b = [0u8; 1];
    loop {
        match rustix::io::read(fd, &mut b) {
            Ok(1) => return,
            Ok(_) => panic!("{what}: the child exited before signalling"),
            Err(rustix::io::Errno::INTR) => continue,
            Err(e) => panic!("{what}: read: {e}"),
        }
    }
}

fn write_byte(fd: &OwnedFd) {
    rustix::io::write(fd, b"!").expect("write to the parent's pipe");
}

fn recovery_of<C: Competitor>(rounds: usize) -> io::Result<Recovery> {
    assert!(C::ROBUST, "{} does not survive a dead holder", C::NAME);
    let ctl = Shared::<Control>::new()?;
    let mut comp = C::create()?;
    let mut latencies = Vec::with_capacity(rounds);
    for round in 0..rounds {
        ctl.kill_ns.store(0, Ordering::SeqCst);
        ctl.latency_ns.store(0, Ordering::SeqCst);

        let (held_r, held_w) = rustix::pipe::pipe()?;
        // The children borrow what they use: whatever a child closure owned would be dropped
        // (closed, unmapped) in the parent when `fork_child` returns there.
        let holder = fork_child(|| {
            comp.attach().expect("attach");
            comp.lock(|| {
                write_byte(&held_w);
                loop {
                    std::thread::sleep(Duration::from_secs(3600));
                }
            })
        });
        // Our copy of the write end closed, a holder that dies early reads as end of file.
        drop(held_w);
        read_byte(&held_r, "holder");

        let (ready_r, ready_w) = rustix::pipe::pipe()?;
        let waiter = fork_child(|| {
            comp.attach().expect("attach");
            write_byte(&ready_w);
            comp.lock(|| {
                let now = now_ns();
                let killed = ctl.kill_ns.load(Ordering::SeqCst);
                // 0: we got the lock although the holder was alive and holding it.
                let latency = if killed == 0 { u64::MAX } else { now - killed };
                ctl.latency_ns.store(latency, Ordering::SeqCst);
            })
        });
        drop(ready_w);
        read_byte(&ready_r, "waiter");
        wait_until_asleep(waiter);
        std::thread::sleep(settle(round, rounds));

        // SeqCst, before the kill: the waiter can only acquire after the holder died, which is
        // after this store.
        ctl.kill_ns.store(now_ns(), Ordering::SeqCst);
        kill_process(holder, Signal::KILL)?;
        // Reap at once, as a supervisor would: a zombie still has its /proc entry.
        let (_, status) = waitpid(Some(holder), WaitOptions::empty())?.expect("holder status");
        assert_eq!(
            status.terminating_signal(),
            Some(libc::SIGKILL),
            "holder: {}",
            describe(status)
        );
        reap_within(
            waiter,
            Duration::from_secs(10),
            C::NAME,
            "the waiter never got the lock of the killed holder",
        );
        let latency = ctl.latency_ns.load(Ordering::SeqCst);
        assert!(
            latency != u64::MAX && latency != 0,
            "{}: the waiter got the lock while the holder held it",
            C::NAME
        );
        latencies.push(Duration::from_nanos(latency));
    }
    Ok(Recovery {
        latencies,
        deaths_reported: comp.deaths_reported(),
    })
}

/// Recovery after SIGKILL: per round a holder child takes the lock and says so through a pipe,
/// a waiter child blocks in `lock`, the parent stamps CLOCK_MONOTONIC into shared memory and
/// SIGKILLs the holder; the waiter records the time from that stamp to its acquisition.
///
/// # Errors
///
/// As [`uncontended`].
///
/// # Panics
///
/// For a competitor that is not robust, or when a waiter is still blocked ten seconds after
/// the kill.
pub fn recovery(peer: Peer, rounds: usize) -> io::Result<Recovery> {
    dispatch!(peer, recovery_of(rounds))
}
