//! The multi-process workloads: forked children running one [`Competitor`], coordinated through
//! a control block in shared memory.
//!
//! Every function here forks. Call them only from a single-threaded process (the `mp` binary
//! never starts a thread): a child of a multi-threaded process may only run async-signal-safe
//! code, and these children run the lock under test, allocate and panic.

#![allow(unsafe_code)]

use std::io;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rustix::thread::futex;
use rustix::time::{clock_gettime, ClockId};

use interlock_testkit::process::threads_in_this_process;
use interlock_testkit::{channel, Forked, Gang, Shared, ShmSafe};

use crate::peers::{
    Competitor, Flock, Futex, FutexRobust, Interlock, InterlockFair, InterlockLiveness,
    InterlockSem, Ofd, PosixSem, Pthread, PthreadRobust, Sem, SemCompetitor,
};
use crate::python;
use crate::run::{Params, Run, WAIT_SAMPLE_EVERY};
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

/// Cache-line-separated so the flags the loop reads are not the line the lock protects.
#[repr(C, align(128))]
pub(crate) struct Line<T>(pub(crate) T);

/// On a page of its own: the back-to-back counter shares nothing with the control block.
#[repr(C, align(4096))]
struct Page<T>(T);

/// The start gate and stop flag of a timed multi-process run, the first field of every
/// harness's control block (this file's and `rwlock.rs`'s).
#[repr(C)]
pub(crate) struct Gate {
    /// Children that attached and wait for the start.
    ready: Line<AtomicU32>,
    /// 0 before the start; 1 from the start (a futex word the children sleep on).
    start: AtomicU32,
    /// 1 once the run is over.
    stop: AtomicU32,
}

// SAFETY: all fields are atomics (zero is a valid value of each) and padding.
unsafe impl ShmSafe for Gate {}

impl Gate {
    /// Child side: says it is ready, then sleeps until the parent starts the run.
    pub(crate) fn ready_then_wait_for_start(&self) {
        self.ready.0.fetch_add(1, Ordering::AcqRel);
        while self.start.load(Ordering::Acquire) == 0 {
            // EAGAIN (already started) and EINTR: look again.
            let _ = futex::wait(&self.start, futex::Flags::empty(), 0, None);
        }
    }

    /// Child side: whether the run is still on (one relaxed load: the loops read it between
    /// sections).
    #[inline(always)]
    pub(crate) fn running(&self) -> bool {
        self.stop.load(Ordering::Relaxed) == 0
    }

    /// Parent side: waits (at most 30 s) for `procs` children to be ready, starts them, lets
    /// them run for `duration`, stops them; returns the window between start and stop.
    pub(crate) fn run_window(&self, procs: usize, duration: Duration, name: &str) -> Duration {
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

/// The control block shared by the parent and its children.
#[repr(C)]
struct Control {
    /// The start gate and the stop flag.
    gate: Gate,
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
    /// Semaphore recovery: 1 if the waiter's permit said its previous holder died.
    told: AtomicU64,
}

// SAFETY: all fields are atomics (zero is a valid value of each) and padding.
unsafe impl ShmSafe for Control {}

// SAFETY: a `Line` is its field and padding; zero is valid for it when it is for the field.
unsafe impl<T: ShmSafe> ShmSafe for Line<T> {}

/// CLOCK_MONOTONIC in nanoseconds.
pub fn now_ns() -> u64 {
    let t = clock_gettime(ClockId::Monotonic);
    t.tv_sec as u64 * 1_000_000_000 + t.tv_nsec as u64
}

/// Forks a child that runs `body`: the test kit's [`fork`](interlock_testkit::fork) (exit 0 if
/// `body` returned, 101 with its panic message reported to the parent if it panicked), named
/// `what` in messages. Its joins wait for as long as it runs.
///
/// # Panics
///
/// If this process has more than one thread (a child of a single-threaded process is a whole
/// copy, in which the competitor's code may run), or `fork` fails.
pub fn fork_child(what: &str, body: impl FnOnce()) -> Forked {
    assert_eq!(
        threads_in_this_process(),
        Some(1),
        "the harness forks: run it from a single-threaded process"
    );
    interlock_testkit::fork(body).named(what).patience(None)
}

/// A [`Gang`] of `procs` children that run `body(i)` once [started](Gang::start), for a
/// single-threaded process as [`fork_child`] is; named `what` in messages, their joins wait for
/// as long as they run.
///
/// # Panics
///
/// As [`fork_child`], or when a child does not get ready.
pub fn fork_gang(what: &str, procs: usize, body: impl Fn(usize)) -> Gang {
    assert_eq!(
        threads_in_this_process(),
        Some(1),
        "the harness forks: run it from a single-threaded process"
    );
    Gang::fork(procs, body).labelled(what, None)
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
        children.push(fork_child(C::NAME, move || {
            comp.attach().expect("attach");
            ctl.gate.ready_then_wait_for_start();
            if shape == Shape::BackToBack {
                back_to_back_loop(&*comp, ctl, i);
            } else if contended {
                measure_loop::<C, true>(&*comp, ctl, p, i);
            } else {
                measure_loop::<C, false>(&*comp, ctl, p, i);
            }
        }));
    }
    let window = ctl.gate.run_window(procs, p.duration, C::NAME);
    for child in children {
        child.join();
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
    while ctl.gate.running() {
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
    while ctl.gate.running() {
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
        children.push(fork_child(C::NAME, move || {
            comp.attach().expect("attach");
            ctl.gate.ready_then_wait_for_start();
            let mut lat: Vec<u64> = Vec::new();
            while ctl.gate.running() {
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
    let window = ctl.gate.run_window(2, p.duration, C::NAME);
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
    for child in children {
        child.join();
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
        return python::run(python::Primitive::Lock, python::Mode::Uncontended, 1, p);
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
        return python::run(python::Primitive::Lock, python::Mode::Contended, procs, p);
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
    let child = fork_child("round trip", move || {
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
    child.join();
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
fn proc_state(pid: u32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat[stat.rfind(')')? + 1..].trim_start().chars().next()
}

/// Waits until `pid` sleeps in the kernel (blocked in the lock), at most two seconds.
fn wait_until_asleep(pid: u32) {
    let end = Instant::now() + Duration::from_secs(2);
    while proc_state(pid) != Some('S') && Instant::now() < end {
        std::thread::sleep(Duration::from_micros(100));
    }
}

fn recovery_of<C: Competitor>(rounds: usize) -> io::Result<Recovery> {
    assert!(C::ROBUST, "{} does not survive a dead holder", C::NAME);
    let ctl = Shared::<Control>::new()?;
    let mut comp = C::create()?;
    let mut latencies = Vec::with_capacity(rounds);
    for round in 0..rounds {
        ctl.kill_ns.store(0, Ordering::SeqCst);
        ctl.latency_ns.store(0, Ordering::SeqCst);

        let (held_tx, held_rx) = channel();
        // The children borrow what they use: whatever a child closure owned would be dropped
        // (closed, unmapped) in the parent when `fork_child` returns there.
        let holder = fork_child(&format!("{}: the holder", C::NAME), || {
            comp.attach().expect("attach");
            comp.lock(|| {
                held_tx.send("held");
                interlock_testkit::hold_until_killed()
            })
        });
        // Our copy of the write end closed, a holder that dies early reads as end of file.
        drop(held_tx);
        held_rx.expect("held");

        let (ready_tx, ready_rx) = channel();
        let waiter = fork_child(
            &format!(
                "{}: the waiter, due to get the killed holder's lock",
                C::NAME
            ),
            || {
                comp.attach().expect("attach");
                ready_tx.send("ready");
                comp.lock(|| {
                    let now = now_ns();
                    let killed = ctl.kill_ns.load(Ordering::SeqCst);
                    // 0: we got the lock although the holder was alive and holding it.
                    let latency = if killed == 0 { u64::MAX } else { now - killed };
                    ctl.latency_ns.store(latency, Ordering::SeqCst);
                })
            },
        );
        drop(ready_tx);
        ready_rx.expect("ready");
        wait_until_asleep(waiter.pid());
        std::thread::sleep(settle(round, rounds));

        // SeqCst, before the kill: the waiter can only acquire after the holder died, which is
        // after this store.
        ctl.kill_ns.store(now_ns(), Ordering::SeqCst);
        holder.kill(libc::SIGKILL);
        // Reap at once, as a supervisor would: a zombie still has its /proc entry.
        holder.join_killed_by(libc::SIGKILL);
        waiter.patience(Some(Duration::from_secs(10))).join();
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

// ---------------------------------------------------------------------------------------------
// Semaphores of N permits.

/// The semaphore competitors, by row name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SemPeer {
    /// [`PosixSem`]: the reference.
    PosixSem,
    /// [`InterlockSem`].
    InterlockSem,
    /// CPython's `multiprocessing.Semaphore`, run by `python3` (uncontended and contended
    /// only; its sections are not checked: it is the `sem_t` the posix-sem row checks).
    Python,
}

impl SemPeer {
    /// Every semaphore competitor, in table order.
    pub const ALL: [SemPeer; 3] = [SemPeer::PosixSem, SemPeer::InterlockSem, SemPeer::Python];

    /// The row name.
    pub fn name(self) -> &'static str {
        match self {
            SemPeer::PosixSem => PosixSem::NAME,
            SemPeer::InterlockSem => InterlockSem::NAME,
            SemPeer::Python => "python",
        }
    }

    /// The competitor called `name`.
    pub fn from_name(name: &str) -> Option<SemPeer> {
        SemPeer::ALL.into_iter().find(|p| p.name() == name)
    }

    /// Whether a SIGKILLed holder's permit comes back (measured by `sem-recovery`).
    pub fn robust(self) -> bool {
        match self {
            SemPeer::PosixSem => PosixSem::ROBUST,
            SemPeer::InterlockSem => InterlockSem::ROBUST,
            SemPeer::Python => false,
        }
    }
}

/// Runs `$f::<S>($args)` for the semaphore type of `$peer`.
macro_rules! sem_dispatch {
    ($peer:expr, $f:ident($($arg:expr),*)) => {
        match $peer {
            SemPeer::PosixSem => $f::<PosixSem>($($arg),*),
            SemPeer::InterlockSem => $f::<InterlockSem>($($arg),*),
            SemPeer::Python => unreachable!("python is not a SemCompetitor"),
        }
    };
}

fn sem_run_of<S: SemCompetitor>(
    procs: usize,
    permits: usize,
    p: &Params,
    contended: bool,
) -> io::Result<Run> {
    assert!(
        (1..=MAX_PROCS).contains(&procs),
        "1..={MAX_PROCS} processes"
    );
    let ctl = Shared::<Control>::new()?;
    let sem = S::create(permits)?;
    let mut children = Vec::with_capacity(procs);
    for i in 0..procs {
        let (ctl, sem) = (&ctl, &sem);
        children.push(fork_child(S::NAME, move || {
            ctl.gate.ready_then_wait_for_start();
            if contended {
                sem_loop::<S, true>(sem, ctl, p, permits, i);
            } else {
                sem_loop::<S, false>(sem, ctl, p, permits, i);
            }
        }));
    }
    let window = ctl.gate.run_window(procs, p.duration, S::NAME);
    for child in children {
        child.join();
    }
    Ok(Run {
        ops: (0..procs)
            .map(|i| ctl.ops.0[i].load(Ordering::Acquire))
            .collect(),
        elapsed: (0..procs)
            .map(|i| Duration::from_nanos(ctl.elapsed_ns[i].load(Ordering::Relaxed)))
            .collect(),
        window,
        wait_p99: Vec::new(),
    })
}

/// One process's timed loop of a semaphore workload (a function of its own for the reasons
/// given at [`measure_loop`]). Contended, the section counts itself in and out of the shared
/// counter and panics (failing the run) if it finds more than `permits` inside.
#[inline(never)]
fn sem_loop<S: SemCompetitor, const CONTENDED: bool>(
    sem: &S,
    ctl: &Control,
    p: &Params,
    permits: usize,
    i: usize,
) {
    let t0 = Instant::now();
    let mut n = 0u64;
    // Relaxed: the flag only has to be seen eventually; it orders nothing.
    while ctl.gate.running() {
        if CONTENDED {
            sem.acquire(|_| {
                // Relaxed: read-modify-writes of one atomic follow its modification order,
                // which agrees with the semaphore's hand-overs (a release happens before the
                // acquisition that takes its permit): more than `permits` at once is seen.
                let inside = ctl.counter.0.fetch_add(1, Ordering::Relaxed) + 1;
                assert!(
                    inside <= permits as u64,
                    "{}: {inside} processes inside a semaphore of {permits} permits",
                    S::NAME
                );
                work(p.inside);
                ctl.counter.0.fetch_sub(1, Ordering::Relaxed);
            });
        } else {
            sem.acquire(|_| work(p.inside));
        }
        work(p.outside);
        n += 1;
    }
    ctl.elapsed_ns[i].store(t0.elapsed().as_nanos() as u64, Ordering::Relaxed);
    ctl.ops.0[i].store(n, Ordering::Release);
}

/// Semaphore, uncontended: one process, acquire+release of a semaphore of `permits` in a tight
/// loop for `p.duration`. `None` when the competitor is Python and `python3` is absent.
///
/// # Errors
///
/// Creating the semaphore or the shared memory failed.
pub fn sem_uncontended(peer: SemPeer, permits: usize, p: &Params) -> io::Result<Option<Run>> {
    if peer == SemPeer::Python {
        let prim = python::Primitive::Semaphore(permits);
        return python::run(prim, python::Mode::Uncontended, 1, p);
    }
    sem_dispatch!(peer, sem_run_of(1, permits, p, false)).map(Some)
}

/// Semaphore, contended: `procs` processes take one of `permits` over and over for
/// `p.duration`, each section checking that at most `permits` processes are inside.
///
/// # Errors
///
/// As [`sem_uncontended`].
pub fn sem_contended(
    peer: SemPeer,
    procs: usize,
    permits: usize,
    p: &Params,
) -> io::Result<Option<Run>> {
    if peer == SemPeer::Python {
        let prim = python::Primitive::Semaphore(permits);
        return python::run(prim, python::Mode::Contended, procs, p);
    }
    sem_dispatch!(peer, sem_run_of(procs, permits, p, true)).map(Some)
}

fn sem_recovery_of<S: SemCompetitor>(permits: usize, rounds: usize) -> io::Result<Recovery> {
    assert!(S::ROBUST, "{} does not survive a dead holder", S::NAME);
    let ctl = Shared::<Control>::new()?;
    let sem = S::create(permits)?;
    let mut latencies = Vec::with_capacity(rounds);
    let mut told = 0;
    for round in 0..rounds {
        ctl.kill_ns.store(0, Ordering::SeqCst);
        ctl.latency_ns.store(0, Ordering::SeqCst);
        ctl.told.store(0, Ordering::SeqCst);

        // Every permit held, each by a child of its own.
        let holders: Vec<Forked> = (0..permits)
            .map(|h| {
                let (held_tx, held_rx) = channel();
                let holder = fork_child(&format!("{}: holder {h}", S::NAME), || {
                    sem.acquire(|_| {
                        held_tx.send("held");
                        interlock_testkit::hold_until_killed()
                    })
                });
                drop(held_tx);
                held_rx.expect("held");
                holder
            })
            .collect();

        let (ready_tx, ready_rx) = channel();
        let waiter = fork_child(
            &format!(
                "{}: the waiter, due to get the killed holder's permit",
                S::NAME
            ),
            || {
                ready_tx.send("ready");
                sem.acquire(|died| {
                    let now = now_ns();
                    let killed = ctl.kill_ns.load(Ordering::SeqCst);
                    // 0: we got a permit although every holder was alive.
                    let latency = if killed == 0 { u64::MAX } else { now - killed };
                    ctl.latency_ns.store(latency, Ordering::SeqCst);
                    ctl.told.store(u64::from(died), Ordering::SeqCst);
                })
            },
        );
        drop(ready_tx);
        ready_rx.expect("ready");
        wait_until_asleep(waiter.pid());
        std::thread::sleep(settle(round, rounds));

        // Each holder in turn is the one killed: whichever permit the waiter sleeps on.
        let mut holders = holders;
        let victim = holders.remove(round % permits);
        // SeqCst, before the kill: the waiter can only acquire after the holder died.
        ctl.kill_ns.store(now_ns(), Ordering::SeqCst);
        victim.kill(libc::SIGKILL);
        victim.join_killed_by(libc::SIGKILL);
        waiter.patience(Some(Duration::from_secs(10))).join();
        let latency = ctl.latency_ns.load(Ordering::SeqCst);
        assert!(
            latency != u64::MAX && latency != 0,
            "{}: the waiter got a permit while every holder held one",
            S::NAME
        );
        latencies.push(Duration::from_nanos(latency));
        told += ctl.told.load(Ordering::SeqCst);
        // The other holders go the same way, their permits back for the next round.
        for h in holders {
            h.kill(libc::SIGKILL);
            h.join_killed_by(libc::SIGKILL);
        }
    }
    Ok(Recovery {
        latencies,
        deaths_reported: Some(told),
    })
}

/// Semaphore recovery after SIGKILL: per round `permits` holder children each take a permit, a
/// waiter child blocks in `acquire`, the parent stamps CLOCK_MONOTONIC and SIGKILLs one holder
/// (each in turn over the rounds); the waiter records the time from that stamp to holding a
/// permit, and whether its permit said the previous holder died (`deaths_reported`: the rounds
/// in which it was told).
///
/// # Errors
///
/// As [`sem_uncontended`].
///
/// # Panics
///
/// For a semaphore that is not robust, or when a waiter is still blocked ten seconds after the
/// kill.
pub fn sem_recovery(peer: SemPeer, permits: usize, rounds: usize) -> io::Result<Recovery> {
    sem_dispatch!(peer, sem_recovery_of(permits, rounds))
}
