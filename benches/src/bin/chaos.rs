//! `chaos`: every guarantee interlock makes, tried continuously while a driver kills, pauses and
//! signals the processes using it (issue 18).
//!
//! P worker processes, forked from the driver, take one to three primitives at a time, in random
//! orders, each with a random timeout: a `Lock`, a fair `Lock`, an `RLock` (re-entered up to three
//! levels), the four rows of a `LockTable`, a `Semaphore` of three permits, a `Value<[u64; 2]>`
//! and a slotted `SharedFile` counter; one round in eight notifies or waits (with a timeout) on a
//! `Condition` bound to the `Lock`, one in eight reads or writes an `RwLock` (a write must find
//! nobody reading or writing, a read nobody writing). Meanwhile the driver SIGKILLs random workers (and forks
//! new ones in their place), SIGSTOPs and SIGCONTs others, and interrupts waits with a signal
//! whose handler does nothing. Checked continuously in shared memory, and at the end:
//!
//! - never two holders of one lock or permit: each has an occupant slot that a taker claims and
//!   a leaver clears, and a taker may find it still claimed only if its last holder died
//!   holding it — and then the taker must have been told so;
//! - no torn `Value` (its two fields always equal) and no acknowledged update lost, of the
//!   value or the file (final count between the acknowledged updates and those plus the kills);
//! - no waiter past its bound (a timed wait that overran by more than `SLACK`, unless its
//!   process was paused meanwhile);
//! - every death reported to the next owner exactly once: for each lock and permit, the deaths
//!   its takers were told of equal the deaths it counted, and are at least the kills of a
//!   process that surely held it (its "holding" bit set) and at most all kills;
//! - no hang: at the end every primitive is taken again by the driver within `FINAL_WAIT`, and
//!   every worker exits when asked.
//!
//! `cargo run --release -p interlock-bench --bin chaos -- --seconds 60 [--procs 6] [--seed N]`.
//! Prints its counts and exits 1 on any violation.

use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use interlock::{Condition, Format, Lock, LockTable, RLock, RwLock, Semaphore, SharedFile, Value};
use interlock_testkit::{describe_status, SharedMem};

/// How far past its timeout a timed wait may return before it counts as a violation: room for
/// a loaded 2-core machine's scheduling, far below "for ever".
const SLACK: Duration = Duration::from_secs(2);
/// How long the driver's final takes and the workers' exit may take.
const FINAL_WAIT: Duration = Duration::from_secs(10);
const MAX_PROCS: usize = 32;

/// The primitives, by index.
const NAMES: [&str; 10] = [
    "Lock",
    "Lock (fair)",
    "RLock",
    "LockTable row 0",
    "LockTable row 1",
    "LockTable row 2",
    "LockTable row 3",
    "Semaphore (3 permits)",
    "Value<[u64; 2]>",
    "SharedFile (slots)",
];
const N: usize = NAMES.len();
const SEM: usize = 7;
const VALUE: usize = 8;
const FILE: usize = 9;
const PERMITS: usize = 3;

/// Slot layout of the shared board (`SharedMem`, u64 slots).
mod board {
    use super::{MAX_PROCS, N};
    const _: () = assert!(super::PERMITS <= 3, "OCCUPANT has room for three permits");
    pub(crate) const STOP: usize = 0;
    pub(crate) const VIOLATIONS: usize = 1;
    pub(crate) const INTERRUPTS: usize = 2;
    /// Per primitive: its occupants (worker + 1, one per permit; 0: none), acquisitions,
    /// deaths told, timeouts, deadlocks, double holds.
    pub(crate) const PRIM: usize = 8;
    pub(crate) const PRIM_LEN: usize = 8;
    pub(crate) const OCCUPANT: usize = 0; // ..OCCUPANT + PERMITS
    pub(crate) const TAKEN: usize = 3;
    pub(crate) const TOLD: usize = 4;
    pub(crate) const TIMEOUTS: usize = 5;
    pub(crate) const DEADLOCKS: usize = 6;
    pub(crate) const DOUBLE: usize = 7;
    /// Per worker slot: holding bits, pauses, acknowledged value updates, acknowledged file updates.
    pub(crate) const WORKER: usize = PRIM + N * PRIM_LEN;
    pub(crate) const WORKER_LEN: usize = 7;
    pub(crate) const HOLDING: usize = 0;
    pub(crate) const PAUSES: usize = 1;
    pub(crate) const ACKED_VALUE: usize = 2;
    pub(crate) const ACKED_FILE: usize = 3;
    pub(crate) const PID: usize = 4;
    /// The RwLock: this worker's pid (high 32 bits) and 1 while it reads, 2 while it writes.
    pub(crate) const RW: usize = 5;
    /// Set by the driver just before it SIGKILLs the worker: a hold it leaves is excused.
    pub(crate) const KILLED: usize = 6;
    /// The condition bound to the plain `Lock`: waits, wake-ups by a notification, timeouts,
    /// notifications sent.
    pub(crate) const COND: usize = WORKER + MAX_PROCS * WORKER_LEN;
    pub(crate) const COND_WAITS: usize = COND;
    pub(crate) const COND_WOKEN: usize = COND + 1;
    pub(crate) const COND_TIMED_OUT: usize = COND + 2;
    pub(crate) const COND_NOTIFIES: usize = COND + 3;
    /// The RwLock: reads, writes, timeouts, deaths told, and the most readers seen at once.
    pub(crate) const RW_READS: usize = COND + 4;
    pub(crate) const RW_WRITES: usize = COND + 5;
    pub(crate) const RW_TIMEOUTS: usize = COND + 6;
    pub(crate) const RW_TOLD: usize = COND + 7;
    pub(crate) const LEN: usize = COND + 8;
}

struct Prims {
    lock: Lock,
    fair: Lock,
    rlock: RLock,
    table: LockTable,
    sem: Semaphore,
    value: Value<[u64; 2]>,
    file: SharedFile,
    /// Bound to `lock`.
    cond: Condition,
    rw: RwLock,
}

/// xorshift64*: enough randomness for choosing, reproducible from a seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

struct Args {
    seconds: f64,
    procs: usize,
    seed: u64,
    /// Which of the driver's actions run: SIGKILL, SIGSTOP/SIGCONT, SIGUSR1.
    kill: bool,
    stop: bool,
    signal: bool,
    /// Self-test: worker 0 sometimes claims the plain `Lock` without taking it, a double hold
    /// the run must catch (and exit 1).
    plant: bool,
}

fn args() -> Args {
    let mut a = Args {
        seconds: 60.0,
        procs: 6,
        seed: std::process::id() as u64 ^ 0x9e37_79b9_7f4a_7c15,
        kill: true,
        stop: true,
        signal: true,
        plant: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = || {
            it.next()
                .unwrap_or_else(|| usage(&format!("{arg} needs a value")))
        };
        match arg.as_str() {
            "--seconds" => a.seconds = value().parse().unwrap_or_else(|_| usage("--seconds N")),
            "--procs" => a.procs = value().parse().unwrap_or_else(|_| usage("--procs N")),
            "--seed" => a.seed = value().parse().unwrap_or_else(|_| usage("--seed N")),
            "--actions" => {
                let v = value();
                a.kill = v.split(',').any(|x| x == "kill");
                a.stop = v.split(',').any(|x| x == "stop");
                a.signal = v.split(',').any(|x| x == "signal");
            }
            "--plant-double-hold" => a.plant = true,
            "-h" | "--help" => usage(""),
            other => usage(&format!("unknown argument {other:?}")),
        }
    }
    if a.procs == 0 || a.procs > MAX_PROCS {
        usage(&format!("--procs must be 1..={MAX_PROCS}"));
    }
    a
}

fn usage(why: &str) -> ! {
    if !why.is_empty() {
        eprintln!("chaos: {why}");
    }
    eprintln!("usage: chaos [--seconds S] [--procs P] [--seed N] [--actions kill,stop,signal] [--plant-double-hold]");
    std::process::exit(2)
}

/// A violation: said at once on stderr, counted on the board.
fn violation(b: &SharedMem, what: std::fmt::Arguments<'_>) {
    b.slot(board::VIOLATIONS).fetch_add(1, Ordering::SeqCst);
    let _ = writeln!(
        std::io::stderr(),
        "VIOLATION (pid {}): {what}",
        std::process::id()
    );
}

fn prim(b: &SharedMem, p: usize, field: usize) -> &AtomicU64 {
    b.slot(board::PRIM + p * board::PRIM_LEN + field)
}

fn worker_slot(b: &SharedMem, w: usize, field: usize) -> &AtomicU64 {
    b.slot(board::WORKER + w * board::WORKER_LEN + field)
}

/// A hold of one primitive, whatever its kind; dropping it releases.
enum Held<'a> {
    // Held for their drop alone.
    Lock {
        _guard: interlock::LockGuard<'a>,
    },
    RLock {
        _guards: Vec<interlock::RLockGuard<'a>>,
    },
    Permit {
        _permit: interlock::Permit<'a>,
    },
    Value(interlock::ValueGuard<'a, [u64; 2]>),
    /// The file is updated whole inside `take` (its own lock); nothing held after.
    Done,
    /// `--plant-double-hold`: a hold claimed without taking the lock.
    Fake,
}

/// Takes primitive `p` within `timeout`: `None` on a timeout or a deadlock (counted). With the
/// hold, which occupant slot it is (a permit's index; 0 for the rest) and whether its taker was
/// told the previous holder died.
fn take<'a>(
    prims: &'a Prims,
    b: &SharedMem,
    w: usize,
    p: usize,
    timeout: Duration,
    rng: &mut Rng,
    plant: bool,
) -> Option<(Held<'a>, usize, bool)> {
    if plant && w == 0 && p == 0 && rng.below(4) == 0 {
        return Some((Held::Fake, 0, false));
    }
    let mut died = false;
    let mut sub = 0;
    let mut told = |d: bool| died |= d;
    let result: Result<Held<'a>, interlock::Error> = match p {
        0 | 1 | 3..=6 => {
            let lock = match p {
                0 => &prims.lock,
                1 => &prims.fair,
                _ => prims.table.get(p - 3).expect("row"),
            };
            lock.lock_timeout(timeout).map(|g| {
                told(g.previous_owner_died());
                if g.is_poisoned() {
                    g.clear_poison();
                }
                Held::Lock { _guard: g }
            })
        }
        2 => {
            let depth = 1 + rng.below(3);
            let mut guards = Vec::new();
            let mut result = Ok(());
            for _ in 0..depth {
                match prims.rlock.lock_timeout(timeout) {
                    Ok(g) => {
                        told(g.previous_owner_died());
                        if g.is_poisoned() {
                            g.clear_poison();
                        }
                        guards.push(g);
                    }
                    Err(e) => {
                        result = Err(e);
                        break;
                    }
                }
            }
            result.map(|()| Held::RLock { _guards: guards })
        }
        SEM => prims.sem.acquire_timeout(timeout).map(|permit| {
            told(permit.previous_owner_died());
            sub = permit.slot();
            Held::Permit { _permit: permit }
        }),
        VALUE => prims.value.lock_timeout(timeout).map(|g| {
            told(g.previous_owner_died());
            if g.is_poisoned() {
                g.clear_poison();
            }
            if g[0] != g[1] {
                violation(b, format_args!("torn Value: {:?}", *g));
            }
            Held::Value(g)
        }),
        FILE => match prims.file.update_parsed(|n: u64| n + 1) {
            Ok(_) => {
                worker_slot(b, w, board::ACKED_FILE).fetch_add(1, Ordering::SeqCst);
                Ok(Held::Done)
            }
            Err(e) => Err(e),
        },
        _ => unreachable!(),
    };
    match result {
        Ok(held) => {
            prim(b, p, board::TAKEN).fetch_add(1, Ordering::Relaxed);
            if died {
                prim(b, p, board::TOLD).fetch_add(1, Ordering::SeqCst);
            }
            Some((held, sub, died))
        }
        Err(interlock::Error::Timeout { .. }) => {
            prim(b, p, board::TIMEOUTS).fetch_add(1, Ordering::Relaxed);
            None
        }
        Err(interlock::Error::Deadlock { .. }) => {
            prim(b, p, board::DEADLOCKS).fetch_add(1, Ordering::Relaxed);
            None
        }
        Err(e) => {
            violation(b, format_args!("{}: unexpected error {e}", NAMES[p]));
            None
        }
    }
}

/// Claims occupant slot `sub` of primitive `p` for worker `w`: a violation if another holder is
/// in it and the taker was not told of a death.
fn claim(b: &SharedMem, w: usize, p: usize, sub: usize, died: bool) {
    let before = prim(b, p, board::OCCUPANT + sub).swap(w as u64 + 1, Ordering::SeqCst);
    if before != 0 && !died {
        prim(b, p, board::DOUBLE).fetch_add(1, Ordering::SeqCst);
        violation(
            b,
            format_args!(
                "{} (slot {sub}): taken by worker {w} while worker {} holds it, and not told of a death",
                NAMES[p],
                before - 1
            ),
        );
    }
}

/// Gives occupant slot `sub` of primitive `p` back: a violation if another took it meanwhile.
fn leave(b: &SharedMem, w: usize, p: usize, sub: usize) {
    let me = w as u64 + 1;
    if let Err(now) = prim(b, p, board::OCCUPANT + sub).compare_exchange(
        me,
        0,
        Ordering::SeqCst,
        Ordering::SeqCst,
    ) {
        prim(b, p, board::DOUBLE).fetch_add(1, Ordering::SeqCst);
        violation(
            b,
            format_args!(
                "{} (slot {sub}): worker {w} leaves, but worker {} took it meanwhile",
                NAMES[p],
                now.wrapping_sub(1)
            ),
        );
    }
}

/// One round with the `Condition` bound to the plain `Lock`: take the lock, then notify one,
/// notify all, or wait with a timeout — the lock given up during the wait and taken back after
/// (told if its holder died meanwhile) — and let go. A wait must end within its timeout plus the
/// re-take, bounded by `SLACK`, unless the process was paused.
fn condition_round(prims: &Prims, b: &SharedMem, w: usize, rng: &mut Rng) {
    let timeout = Duration::from_micros(500 + rng.below(50_000));
    let Some((Held::Lock { _guard: guard }, _, died)) = take(prims, b, w, 0, timeout, rng, false)
    else {
        return;
    };
    let holding = worker_slot(b, w, board::HOLDING);
    holding.fetch_or(1, Ordering::SeqCst);
    claim(b, w, 0, 0, died);
    let guard = match rng.below(4) {
        0 => {
            prims.cond.notify_one();
            b.slot(board::COND_NOTIFIES).fetch_add(1, Ordering::Relaxed);
            guard
        }
        1 => {
            prims.cond.notify_all();
            b.slot(board::COND_NOTIFIES).fetch_add(1, Ordering::Relaxed);
            guard
        }
        _ => {
            leave(b, w, 0, 0);
            holding.fetch_and(!1, Ordering::SeqCst);
            let wait = Duration::from_micros(500 + rng.below(30_000));
            let pauses = worker_slot(b, w, board::PAUSES).load(Ordering::SeqCst);
            let started = Instant::now();
            let result = prims.cond.wait_timeout(guard, wait);
            let waited = started.elapsed();
            b.slot(board::COND_WAITS).fetch_add(1, Ordering::Relaxed);
            if waited > wait + SLACK
                && worker_slot(b, w, board::PAUSES).load(Ordering::SeqCst) == pauses
            {
                violation(
                    b,
                    format_args!("Condition: a wait of {wait:?} returned after {waited:?}"),
                );
            }
            match result {
                Ok((guard, timed)) => {
                    let counter = if timed.timed_out() {
                        board::COND_TIMED_OUT
                    } else {
                        board::COND_WOKEN
                    };
                    b.slot(counter).fetch_add(1, Ordering::Relaxed);
                    let died = guard.previous_owner_died();
                    if died {
                        prim(b, 0, board::TOLD).fetch_add(1, Ordering::SeqCst);
                    }
                    if guard.is_poisoned() {
                        guard.clear_poison();
                    }
                    holding.fetch_or(1, Ordering::SeqCst);
                    claim(b, w, 0, 0, died);
                    guard
                }
                Err(e) => {
                    violation(b, format_args!("Condition: wait failed: {e}"));
                    return;
                }
            }
        }
    };
    leave(b, w, 0, 0);
    holding.fetch_and(!1, Ordering::SeqCst);
    drop(guard);
}

/// Whether some other worker reads (`want` 1) or writes (`want` 2) the RwLock now — and is not
/// one the driver is killing, whose hold the kernel may already have given back.
fn rw_conflict(b: &SharedMem, w: usize, want: u64) -> Option<(usize, u64)> {
    (0..MAX_PROCS).filter(|&o| o != w).find_map(|o| {
        let v = worker_slot(b, o, board::RW).load(Ordering::SeqCst);
        let excused = worker_slot(b, o, board::KILLED).load(Ordering::SeqCst) != 0;
        (v & 0xffff_ffff == want && !excused).then_some((o, v >> 32))
    })
}

/// One round with the RwLock: one read in four is a write. A writer must find nobody reading
/// or writing; a reader nobody writing; both within their timeout's bound.
fn rw_round(prims: &Prims, b: &SharedMem, w: usize, rng: &mut Rng, plant: bool) {
    let timeout = Duration::from_micros(500 + rng.below(50_000));
    let me = u64::from(std::process::id()) << 32;
    let mine = worker_slot(b, w, board::RW);
    if plant && w == 0 {
        // `--plant-double-hold`: a write claimed without the lock, beside whoever reads.
        mine.store(me | 2, Ordering::SeqCst);
        for _ in 0..20_000 {
            std::hint::spin_loop();
        }
        mine.store(me, Ordering::SeqCst);
        return;
    }
    let pauses = worker_slot(b, w, board::PAUSES).load(Ordering::SeqCst);
    let started = Instant::now();
    let write = rng.below(4) == 0;
    let result = if write {
        prims.rw.write_timeout(timeout).map(|g| {
            if g.is_poisoned() {
                g.clear_poison();
            }
            (g.previous_owner_died(), Err(g))
        })
    } else {
        prims
            .rw
            .read_timeout(timeout)
            .map(|g| (g.previous_owner_died(), Ok(g)))
    };
    let waited = started.elapsed();
    if waited > timeout + SLACK && worker_slot(b, w, board::PAUSES).load(Ordering::SeqCst) == pauses
    {
        violation(
            b,
            format_args!("RwLock: a wait of {timeout:?} returned after {waited:?}"),
        );
    }
    let (died, guard) = match result {
        Ok(x) => x,
        Err(interlock::Error::Timeout { .. }) => {
            b.slot(board::RW_TIMEOUTS).fetch_add(1, Ordering::Relaxed);
            return;
        }
        Err(e) => {
            violation(b, format_args!("RwLock: unexpected error {e}"));
            return;
        }
    };
    if died {
        b.slot(board::RW_TOLD).fetch_add(1, Ordering::Relaxed);
    }
    let (state, counter) = if write {
        (2, board::RW_WRITES)
    } else {
        (1, board::RW_READS)
    };
    b.slot(counter).fetch_add(1, Ordering::Relaxed);
    mine.store(me | state, Ordering::SeqCst);
    let check = |when: &str| {
        if let Some((o, pid)) = rw_conflict(b, w, 2) {
            violation(
                b,
                format_args!(
                    "RwLock: worker {w} {} {when} while worker {o} (pid {pid}) writes",
                    if write { "writes" } else { "reads" }
                ),
            );
        }
        if write {
            if let Some((o, pid)) = rw_conflict(b, w, 1) {
                violation(
                    b,
                    format_args!(
                        "RwLock: worker {w} writes {when} while worker {o} (pid {pid}) reads"
                    ),
                );
            }
        }
    };
    check("on entry");
    for _ in 0..rng.below(2_000) {
        std::hint::spin_loop();
    }
    check("on leaving");
    mine.store(me, Ordering::SeqCst);
    drop(guard);
}

/// A worker: takes random sets of primitives in random orders until told to stop.
fn work(prims: &Prims, b: &SharedMem, w: usize, seed: u64, plant: bool) {
    worker_slot(b, w, board::PID).store(std::process::id().into(), Ordering::SeqCst);
    let mut rng = Rng(seed | 1);
    let holding = worker_slot(b, w, board::HOLDING);
    while b.slot(board::STOP).load(Ordering::SeqCst) == 0 {
        match rng.below(8) {
            0 => {
                condition_round(prims, b, w, &mut rng);
                continue;
            }
            1 => {
                rw_round(prims, b, w, &mut rng, plant);
                continue;
            }
            _ => {}
        }
        let k = 1 + rng.below(3) as usize;
        let mut order: Vec<usize> = (0..N).collect();
        for i in 0..k {
            let j = i + rng.below((N - i) as u64) as usize;
            order.swap(i, j);
        }
        let mut held: Vec<(usize, usize, Held<'_>)> = Vec::new();
        for &p in &order[..k] {
            let timeout = Duration::from_micros(500 + rng.below(100_000));
            let pauses = worker_slot(b, w, board::PAUSES).load(Ordering::SeqCst);
            let started = Instant::now();
            let got = take(prims, b, w, p, timeout, &mut rng, plant);
            let waited = started.elapsed();
            if waited > timeout + SLACK
                && worker_slot(b, w, board::PAUSES).load(Ordering::SeqCst) == pauses
            {
                violation(
                    b,
                    format_args!(
                        "{}: a wait of {timeout:?} returned after {waited:?}",
                        NAMES[p]
                    ),
                );
            }
            let Some((h, sub, died)) = got else { break };
            if matches!(h, Held::Done) {
                continue;
            }
            // Surely holding from here until the bit is cleared (before the release).
            holding.fetch_or(1 << p, Ordering::SeqCst);
            // The occupant slot is ours now. It may name another worker only if that worker
            // died holding this very lock or permit — and then we were told so.
            claim(b, w, p, sub, died);
            held.push((p, sub, h));
        }
        // The section: a little work, and the value's two fields moved one after the other.
        for _ in 0..rng.below(2_000) {
            std::hint::spin_loop();
        }
        while let Some((p, sub, h)) = held.pop() {
            leave(b, w, p, sub);
            holding.fetch_and(!(1 << p), Ordering::SeqCst);
            if let Held::Value(mut g) = h {
                g[0] += 1;
                std::hint::spin_loop();
                g[1] += 1;
                match g.unlock() {
                    Ok(()) => {
                        worker_slot(b, w, board::ACKED_VALUE).fetch_add(1, Ordering::SeqCst);
                    }
                    Err(e) => violation(b, format_args!("Value: commit failed: {e}")),
                }
            } else {
                drop(h);
            }
        }
    }
}

extern "C" fn nothing(_: libc::c_int) {}

/// Forks worker `w`; its pid.
fn spawn(prims: &Prims, b: &SharedMem, w: usize, seed: u64, plant: bool) -> libc::pid_t {
    let _ = std::io::stdout().flush();
    // SAFETY: the driver is single-threaded; the child runs the worker and leaves by `_exit`.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork: {}", std::io::Error::last_os_error());
    if pid == 0 {
        let code = match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            work(prims, b, w, seed, plant)
        })) {
            Ok(()) => 0,
            Err(_) => 101,
        };
        // SAFETY: ends the child without running the driver's destructors.
        unsafe { libc::_exit(code) }
    }
    pid
}

/// Installs the handler that does nothing for SIGUSR1, without SA_RESTART, so that the driver's
/// SIGUSR1 interrupts whatever system call a worker is in. Installed in the driver before any
/// fork, so that a worker has it from its first instruction (a worker that installed it itself
/// could be killed by a SIGUSR1 sent before it had).
fn install_interrupt_handler() {
    // SAFETY: all-zero is a valid `sigaction` (no flags, empty mask).
    let mut sa: libc::sigaction = unsafe { std::mem::zeroed() };
    sa.sa_sigaction = nothing as *const () as usize;
    // SAFETY: a handler that does nothing, installed without SA_RESTART, so that the
    // driver's SIGUSR1 interrupts whatever system call the worker is in.
    unsafe { libc::sigaction(libc::SIGUSR1, &sa, std::ptr::null_mut()) };
}

fn main() {
    let a = args();
    install_interrupt_handler();
    let dir = tempfile::tempdir().expect("tempdir");
    let lock = Lock::new().expect("Lock");
    let cond = Condition::new(&lock).expect("Condition");
    let prims = Prims {
        lock,
        cond,
        rw: RwLock::options().readers(8).create().expect("RwLock"),
        fair: Lock::options().fair(true).create().expect("fair Lock"),
        rlock: RLock::new().expect("RLock"),
        table: LockTable::new(4).expect("LockTable"),
        sem: Semaphore::new(PERMITS).expect("Semaphore"),
        value: Value::new([0u64; 2]).expect("Value"),
        file: SharedFile::open(dir.path().join("counter"))
            .expect("SharedFile")
            .format(Format::Slots),
    };
    let b = SharedMem::new(board::LEN);
    let mut rng = Rng(a.seed | 1);
    println!(
        "chaos: {} workers for {} s, seed {} (primitives: {})",
        a.procs,
        a.seconds,
        a.seed,
        NAMES.join(", ")
    );

    let mut pids: Vec<libc::pid_t> = (0..a.procs)
        .map(|w| spawn(&prims, &b, w, rng.next(), a.plant))
        .collect();
    let (mut kills, mut pauses, mut interrupts, mut respawns) = (0u64, 0u64, 0u64, 0u64);
    let mut surely = [0u64; N];
    let end = Instant::now() + Duration::from_secs_f64(a.seconds);
    while Instant::now() < end {
        std::thread::sleep(Duration::from_micros(2_000 + rng.below(20_000)));
        let w = rng.below(a.procs as u64) as usize;
        let pid = pids[w];
        match rng.below(10) {
            0..=3 if a.kill => {
                // SIGKILL, wherever it is; what it surely held is read once it is dead.
                worker_slot(&b, w, board::KILLED).store(1, Ordering::SeqCst);
                // SAFETY: kill and waitpid on our own child.
                unsafe { libc::kill(pid, libc::SIGKILL) };
                let mut status = 0;
                // SAFETY: as above.
                unsafe { libc::waitpid(pid, &mut status, 0) };
                if !(libc::WIFSIGNALED(status) && libc::WTERMSIG(status) == libc::SIGKILL) {
                    violation(
                        &b,
                        format_args!(
                            "worker {w} ended before its kill: {}",
                            describe_status(status)
                        ),
                    );
                }
                let bits = worker_slot(&b, w, board::HOLDING).swap(0, Ordering::SeqCst);
                for (p, n) in surely.iter_mut().enumerate() {
                    if bits & (1 << p) != 0 {
                        *n += 1;
                    }
                }
                kills += 1;
                worker_slot(&b, w, board::RW).store(0, Ordering::SeqCst);
                worker_slot(&b, w, board::KILLED).store(0, Ordering::SeqCst);
                pids[w] = spawn(&prims, &b, w, rng.next(), a.plant);
                respawns += 1;
            }
            4..=6 if a.stop => {
                worker_slot(&b, w, board::PAUSES).fetch_add(1, Ordering::SeqCst);
                // SAFETY: signals to our own child.
                unsafe { libc::kill(pid, libc::SIGSTOP) };
                std::thread::sleep(Duration::from_micros(500 + rng.below(30_000)));
                // SAFETY: as above.
                unsafe { libc::kill(pid, libc::SIGCONT) };
                worker_slot(&b, w, board::PAUSES).fetch_add(1, Ordering::SeqCst);
                pauses += 1;
            }
            7..=9 if a.signal => {
                // SAFETY: a signal whose handler does nothing, to our own child.
                unsafe { libc::kill(pid, libc::SIGUSR1) };
                interrupts += 1;
            }
            _ => {}
        }
    }
    b.slot(board::INTERRUPTS)
        .store(interrupts, Ordering::SeqCst);

    // Stop: every worker must leave on its own, within FINAL_WAIT.
    b.slot(board::STOP).store(1, Ordering::SeqCst);
    let deadline = Instant::now() + FINAL_WAIT;
    for (w, &pid) in pids.iter().enumerate() {
        let mut status = 0;
        loop {
            // SAFETY: waitpid on our own child.
            let r = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
            if r == pid {
                if status != 0 {
                    violation(
                        &b,
                        format_args!("worker {w} ended {}", describe_status(status)),
                    );
                }
                break;
            }
            if Instant::now() > deadline {
                violation(
                    &b,
                    format_args!("worker {w} (pid {pid}) did not stop: a hang"),
                );
                // SAFETY: as above.
                unsafe { libc::kill(pid, libc::SIGKILL) };
                // SAFETY: as above.
                unsafe { libc::waitpid(pid, &mut status, 0) };
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    // Take everything once more: nothing is wedged, and the deaths not yet told are told now.
    let mut final_told = [0u64; N];
    let mut counted = [0u64; N];
    let lock_like = |p: usize| -> &Lock {
        match p {
            0 => &prims.lock,
            1 => &prims.fair,
            _ => prims.table.get(p - 3).expect("row"),
        }
    };
    for p in [0, 1, 3, 4, 5, 6] {
        match lock_like(p).lock_timeout(FINAL_WAIT) {
            Ok(g) => final_told[p] += u64::from(g.previous_owner_died()),
            Err(e) => violation(&b, format_args!("{}: wedged at the end: {e}", NAMES[p])),
        }
        counted[p] = u64::from(lock_like(p).status().owner_deaths);
    }
    match prims.rlock.lock_timeout(FINAL_WAIT) {
        Ok(g) => final_told[2] += u64::from(g.previous_owner_died()),
        Err(e) => violation(&b, format_args!("RLock: wedged at the end: {e}")),
    }
    counted[2] = u64::from(prims.rlock.status().owner_deaths);
    let mut permits = Vec::new();
    for _ in 0..PERMITS {
        match prims.sem.acquire_timeout(FINAL_WAIT) {
            Ok(permit) => {
                final_told[SEM] += u64::from(permit.previous_owner_died());
                permits.push(permit);
            }
            Err(e) => violation(
                &b,
                format_args!("Semaphore: a permit wedged at the end: {e}"),
            ),
        }
    }
    drop(permits);
    counted[SEM] = prims
        .sem
        .holders()
        .iter()
        .map(|s| u64::from(s.owner_deaths))
        .sum();
    let final_value = match prims.value.lock_timeout(FINAL_WAIT) {
        Ok(g) => {
            final_told[VALUE] += u64::from(g.previous_owner_died());
            Some(*g)
        }
        Err(e) => {
            violation(&b, format_args!("Value: wedged at the end: {e}"));
            None
        }
    };
    counted[VALUE] = u64::from(prims.value.status().owner_deaths);
    if let Err(e) = prims.rw.write_timeout(FINAL_WAIT) {
        violation(&b, format_args!("RwLock: wedged at the end: {e}"));
    }
    let file_count: Option<u64> = match prims.file.read() {
        Ok(bytes) => String::from_utf8_lossy(&bytes).trim().parse().ok(),
        Err(e) => {
            violation(&b, format_args!("SharedFile: unreadable at the end: {e}"));
            None
        }
    };

    // Deaths: told == counted, surely <= told <= kills.
    for p in 0..FILE {
        let told = prim(&b, p, board::TOLD).load(Ordering::SeqCst) + final_told[p];
        if told != counted[p] {
            violation(
                &b,
                format_args!(
                    "{}: {told} deaths told, the lock counted {}",
                    NAMES[p], counted[p]
                ),
            );
        }
        if told < surely[p] || told > kills {
            violation(
                &b,
                format_args!(
                    "{}: {told} deaths told, {} kills of a sure holder, {kills} kills",
                    NAMES[p], surely[p]
                ),
            );
        }
    }
    // Acknowledged updates: none lost, none invented.
    let acked = |field| -> u64 {
        (0..a.procs)
            .map(|w| worker_slot(&b, w, field).load(Ordering::SeqCst))
            .sum()
    };
    let (acked_value, acked_file) = (acked(board::ACKED_VALUE), acked(board::ACKED_FILE));
    if let Some(v) = final_value {
        if v[0] != v[1] || v[0] < acked_value || v[0] > acked_value + kills {
            violation(
                &b,
                format_args!("Value {v:?}: {acked_value} updates acknowledged, {kills} kills"),
            );
        }
    }
    match file_count {
        Some(n) if n >= acked_file && n <= acked_file + kills => {}
        other => violation(
            &b,
            format_args!("SharedFile {other:?}: {acked_file} updates acknowledged, {kills} kills"),
        ),
    }

    println!();
    println!("| primitive | acquisitions | double holds | timeouts | deadlocks | kills of a sure holder | deaths told | deaths it counted |");
    println!("|---|--:|--:|--:|--:|--:|--:|--:|");
    for (p, name) in NAMES.iter().enumerate() {
        let get = |f| prim(&b, p, f).load(Ordering::SeqCst);
        let deaths = if p == FILE {
            ("—".to_string(), "—".to_string(), "—".to_string())
        } else {
            (
                surely[p].to_string(),
                (get(board::TOLD) + final_told[p]).to_string(),
                counted[p].to_string(),
            )
        };
        println!(
            "| {name} | {} | {} | {} | {} | {} | {} | {} |",
            get(board::TAKEN),
            get(board::DOUBLE),
            get(board::TIMEOUTS),
            get(board::DEADLOCKS),
            deaths.0,
            deaths.1,
            deaths.2
        );
    }
    let violations = b.slot(board::VIOLATIONS).load(Ordering::SeqCst);
    println!();
    let rw = prims.rw.status();
    println!(
        "RwLock (8 reader slots): {} reads, {} writes, {} timeouts, {} holds told of a death \
         (it counted {} writer and {} reader deaths)",
        b.slot(board::RW_READS).load(Ordering::SeqCst),
        b.slot(board::RW_WRITES).load(Ordering::SeqCst),
        b.slot(board::RW_TIMEOUTS).load(Ordering::SeqCst),
        b.slot(board::RW_TOLD).load(Ordering::SeqCst),
        rw.writer_deaths,
        rw.reader_deaths,
    );
    println!(
        "Condition (bound to the Lock): {} waits — {} woken by a notification, {} timed out — {} notifications sent",
        b.slot(board::COND_WAITS).load(Ordering::SeqCst),
        b.slot(board::COND_WOKEN).load(Ordering::SeqCst),
        b.slot(board::COND_TIMED_OUT).load(Ordering::SeqCst),
        b.slot(board::COND_NOTIFIES).load(Ordering::SeqCst),
    );
    println!(
        "kills {kills}, pauses {pauses}, interrupts {interrupts}, respawns {respawns}; \
         value {final_value:?} ({acked_value} acknowledged), file {file_count:?} ({acked_file} acknowledged); \
         invariant violations = {violations}"
    );
    if violations != 0 {
        std::process::exit(1);
    }
}
