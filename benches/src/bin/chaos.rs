//! `chaos`: every guarantee interlock makes, tried continuously while a driver kills, pauses and
//! signals the processes using it (issue 18).
//!
//! P worker processes, forked from the driver, take one to three primitives at a time, in random
//! orders, each with a random timeout: a `Lock`, a fair `Lock`, an `RLock` (re-entered up to three
//! levels), the four rows of a `LockTable`, a `Semaphore` of three permits, a `Value<[u64; 2]>`
//! and a slotted `SharedFile` counter; one round in nine notifies or waits (with a timeout) on a
//! `Condition` bound to the `Lock`, one in nine reads or writes an `RwLock` (a write must find
//! nobody reading or writing, a read nobody writing), one in nine sets an `Event` or clears it
//! and waits for it (`event_round`). Three more processes are the parties of a `Barrier`
//! (`barrier_party`), and with `--etcd ENDPOINTS` three more are clients of an etcd lock
//! (`etcd_client`). Meanwhile the driver SIGKILLs random processes (and forks new ones in their
//! place), SIGSTOPs and SIGCONTs others (an etcd client sometimes past its lease's TTL), and
//! interrupts waits with a signal whose handler does nothing. Checked continuously in shared
//! memory, and at the end:
//!
//! - never two holders of one lock or permit: each has an occupant slot that a taker claims and
//!   a leaver clears, and a taker may find it still claimed only if its last holder died
//!   holding it — and then the taker must have been told so (for the etcd lock, also a holder
//!   whose lease lapsed: it must have been told it lost the lease before its slot or its fenced
//!   writes were taken from it);
//! - no torn `Value` (its two fields always equal) and no acknowledged update lost, of the
//!   value or the file (final count between the acknowledged updates and those plus the kills);
//! - no waiter past its bound (a timed wait that overran by more than `SLACK`, unless its
//!   process was paused meanwhile): for the `Barrier`, a party killed while others wait breaks
//!   it for them (naming a pid the driver killed) instead of hanging them;
//! - an `Event` wait that returned "set" saw a set made after its clear, and one that timed
//!   out missed no set made entirely inside it;
//! - a `Barrier` generation passes only once all its parties arrived;
//! - every death reported to the next owner exactly once: for each lock and permit, the deaths
//!   its takers were told of equal the deaths it counted, and are at least the kills of a
//!   process that surely held it (its "holding" bit set) and at most all kills;
//! - no hang: at the end every primitive is taken again by the driver within `FINAL_WAIT`, and
//!   every process exits when asked.
//!
//! `cargo run --release -p interlock-bench --bin chaos -- --seconds 60 [--procs 6] [--seed N]
//! [--etcd ENDPOINTS]`. Prints its counts and exits 1 on any violation. `--plant-double-hold`
//! plants a fault of each kind the checks must catch (the self-test of `ci/chaos.sh`).

use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use interlock::{
    Barrier, Condition, Event, Format, Lock, LockTable, RLock, RwLock, Semaphore, SharedFile, Value,
};
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
    pub(crate) const WORKER_LEN: usize = 11;
    pub(crate) const HOLDING: usize = 0;
    pub(crate) const PAUSES: usize = 1;
    pub(crate) const ACKED_VALUE: usize = 2;
    pub(crate) const ACKED_FILE: usize = 3;
    pub(crate) const PID: usize = 4;
    /// The RwLock: this worker's pid (high 32 bits) and 1 while it reads, 2 while it writes.
    pub(crate) const RW: usize = 5;
    /// Set by the driver just before it SIGKILLs the worker: a hold it leaves is excused.
    pub(crate) const KILLED: usize = 6;
    /// The Event: 1 from before a `set` is counted begun until it returned, 2 from then until
    /// `EV_DONE` counts it, 3 from before a `clear` is counted begun until it returned; 0
    /// otherwise. After a kill the driver counts a set that surely happened (2) as done, and
    /// clears the mark.
    pub(crate) const EVENT: usize = 7;
    /// A barrier party: the epoch and the number of its last arrival (`epoch << 32 | k`),
    /// written before it arrives.
    pub(crate) const ENTERED: usize = 8;
    /// A barrier party: `epoch + 1` while it waits for the driver to start the epoch after
    /// `epoch` (its barrier broke, or it was forked after a kill); 0 while it takes part.
    pub(crate) const IDLE: usize = 9;
    /// A barrier party: 1 while inside `wait_timeout`.
    pub(crate) const WAITING: usize = 10;
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
    /// The Event: sets begun and done, clears begun and returned (see `EVENT`), waits that
    /// returned true and false, and the timed-out waits the lost-wake-up check applied to.
    pub(crate) const EV: usize = COND + 8;
    pub(crate) const EV_BEGUN: usize = EV;
    pub(crate) const EV_DONE: usize = EV + 1;
    pub(crate) const EV_CB: usize = EV + 2;
    pub(crate) const EV_CD: usize = EV + 3;
    pub(crate) const EV_TRUE: usize = EV + 4;
    pub(crate) const EV_FALSE: usize = EV + 5;
    pub(crate) const EV_LOST_CHECKED: usize = EV + 6;
    /// The Barrier: the driver's epoch (a reset starts the next), why the current epoch broke
    /// (`epoch << 40 | code << 32 | pid`, code 1 a death, 2 a timeout; the first party told
    /// writes it, the others must agree), passes, parties told of a death and of a timeout,
    /// waits, and a ring of the pids of the parties the driver killed.
    pub(crate) const BAR: usize = EV + 8;
    pub(crate) const BAR_EPOCH: usize = BAR;
    pub(crate) const BAR_WHY: usize = BAR + 1;
    pub(crate) const BAR_PASSES: usize = BAR + 2;
    pub(crate) const BAR_TOLD_DIED: usize = BAR + 3;
    pub(crate) const BAR_TOLD_TIMEOUT: usize = BAR + 4;
    pub(crate) const BAR_WAITS: usize = BAR + 5;
    pub(crate) const BAR_KILLED_N: usize = BAR + 6;
    pub(crate) const BAR_KILLED: usize = BAR + 7;
    pub(crate) const BAR_RING: usize = 256;
    /// The etcd lock (`--etcd`): the token of the hold inside (0: none), the fenced store (the
    /// newest token it accepted), then counts: holds, holds told of a death, takes that found
    /// a stale hold inside, timeouts, holds that learned their lease was lost, fenced writes
    /// accepted and refused, waits ended by a lost lease, etcd errors, connections.
    pub(crate) const ET: usize = BAR_KILLED + BAR_RING;
    pub(crate) const ET_OCC: usize = ET;
    pub(crate) const ET_STORE: usize = ET + 1;
    pub(crate) const ET_TAKEN: usize = ET + 2;
    pub(crate) const ET_TOLD: usize = ET + 3;
    pub(crate) const ET_STALE: usize = ET + 4;
    pub(crate) const ET_TIMEOUTS: usize = ET + 5;
    pub(crate) const ET_LEASE_LOST: usize = ET + 6;
    pub(crate) const ET_WRITES: usize = ET + 7;
    pub(crate) const ET_REFUSED: usize = ET + 8;
    pub(crate) const ET_WAIT_LOST: usize = ET + 9;
    pub(crate) const ET_ERRORS: usize = ET + 10;
    pub(crate) const ET_CONNECTS: usize = ET + 11;
    /// Takes not told of a stale hold's death, by a client paused during the take.
    pub(crate) const ET_MISSED_PAUSED: usize = ET + 12;
    pub(crate) const LEN: usize = ET + 13;
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
    event: Event,
    barrier: Barrier,
    /// Pulsed by the driver when it starts a barrier epoch (not under test: a party also
    /// looks at the epoch every few milliseconds).
    gate: Event,
}

/// Parties of the `Barrier`: each a process of its own, in the worker slots after the
/// workers.
const GANG: usize = 3;

/// Clients of the etcd lock (`--etcd`): each a process of its own, after the barrier parties.
const ETCD_PROCS: usize = 3;
/// The lease TTL the etcd clients ask for (etcd grants at least about 2 s).
const ETCD_TTL: Duration = Duration::from_secs(1);
/// How long the driver pauses an etcd client to make its lease lapse: past any TTL etcd
/// grants for `ETCD_TTL`.
const ETCD_LONG_PAUSE: Duration = Duration::from_secs(3);
/// What an etcd wait may take past its timeout: one request's time limit (the crate's
/// default, 5 s) and `SLACK`.
const ETCD_SLACK: Duration = Duration::from_secs(7);

/// Which process does what, by worker slot: `procs` workers, the `GANG` barrier parties, then
/// the etcd clients (with `--etcd`).
#[derive(Clone)]
struct Roles {
    procs: usize,
    etcd: Option<String>,
}

impl Roles {
    fn gang(&self) -> std::ops::Range<usize> {
        self.procs..self.procs + GANG
    }
    fn etcd(&self) -> std::ops::Range<usize> {
        let n = if self.etcd.is_some() { ETCD_PROCS } else { 0 };
        self.gang().end..self.gang().end + n
    }
    fn all(&self) -> usize {
        self.etcd().end
    }
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
    /// the run must catch (and exit 1); likewise a write beside readers of the `RwLock`, a
    /// timed-out `Event` wait reported as set, a `Barrier` arrival that passes at once, and
    /// (with `--etcd`) a hold of the etcd lock claimed without taking it.
    plant: bool,
    /// `--etcd ENDPOINTS` (or `INTERLOCK_ETCD_ENDPOINTS`): add the etcd lock.
    etcd: Option<String>,
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
        etcd: std::env::var("INTERLOCK_ETCD_ENDPOINTS")
            .ok()
            .filter(|e| !e.trim().is_empty()),
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
            "--etcd" => a.etcd = Some(value()),
            "-h" | "--help" => usage(""),
            other => usage(&format!("unknown argument {other:?}")),
        }
    }
    if a.procs == 0 || a.procs + GANG + ETCD_PROCS > MAX_PROCS {
        usage(&format!(
            "--procs must be 1..={}",
            MAX_PROCS - GANG - ETCD_PROCS
        ));
    }
    a
}

fn usage(why: &str) -> ! {
    if !why.is_empty() {
        eprintln!("chaos: {why}");
    }
    eprintln!("usage: chaos [--seconds S] [--procs P] [--seed N] [--actions kill,stop,signal] [--etcd ENDPOINTS] [--plant-double-hold]");
    std::process::exit(2)
}

/// How many violations of one kind (the words before the message's first ':') each process
/// says on stderr; all are counted.
const SAY_AT_MOST: u64 = 10;
/// The violations this process said, by a hash of their kind (a forked process starts from
/// its parent's counts: the driver's, zero while it runs).
static SAID: [AtomicU64; 16] = [const { AtomicU64::new(0) }; 16];

/// A violation: said at once on stderr (the first `SAY_AT_MOST` of each kind in each
/// process), counted on the board.
fn violation(b: &SharedMem, what: std::fmt::Arguments<'_>) {
    b.slot(board::VIOLATIONS).fetch_add(1, Ordering::SeqCst);
    let what = what.to_string();
    let kind = what.split(':').next().unwrap_or_default();
    let hash = kind.bytes().fold(0usize, |h, c| {
        h.wrapping_mul(31).wrapping_add(usize::from(c))
    });
    if SAID[hash % SAID.len()].fetch_add(1, Ordering::Relaxed) >= SAY_AT_MOST {
        return;
    }
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

/// One round with the `Event`: set it (three rounds in eight; one of them waits for it
/// after), or clear it and wait for it with a timeout. Sets are counted as begun (`EV_BEGUN`,
/// before `set`) and done (`EV_DONE`, after); a clear is marked in the worker's slot before it
/// is counted as begun (`EV_CB`) and unmarked after it returned. Checked:
///
/// - a wait that returned true saw a set made after this worker's clear: more sets had begun
///   by its return than had been done before its clear (a set done before the clear cannot be
///   the one; the one that woke it began before its return) — a wait that reports a timeout
///   or a clear as "set" fails this;
/// - a wait that returned false saw no set made entirely inside it while nobody cleared: no
///   more sets done by its return than had begun when it started, unless a clear began or was
///   in flight meanwhile — a wait that returns false with the flag up fails this (a lost
///   wake-up alone does not: the wait re-reads the word at its timeout);
/// - a wait begun after this worker's own set, with no clear begun or in flight meanwhile,
///   returned true — a wait blind to a flag already up fails this;
/// - no wait past its bound.
fn event_round(prims: &Prims, b: &SharedMem, w: usize, rng: &mut Rng, plant: bool) {
    let mine = worker_slot(b, w, board::EVENT);
    let load = |slot| b.slot(slot).load(Ordering::SeqCst);
    let round = rng.below(8);
    if round < 3 {
        // Clears begun so far, then those in flight (marked before they are counted), read
        // before the set: a clear that lands after it is one or the other.
        let cb0 = load(board::EV_CB);
        let clearing = (0..MAX_PROCS)
            .any(|o| o != w && worker_slot(b, o, board::EVENT).load(Ordering::SeqCst) == 3);
        mine.store(1, Ordering::SeqCst);
        b.slot(board::EV_BEGUN).fetch_add(1, Ordering::SeqCst);
        prims.event.set();
        mine.store(2, Ordering::SeqCst);
        b.slot(board::EV_DONE).fetch_add(1, Ordering::SeqCst);
        mine.store(0, Ordering::SeqCst);
        if round == 0 {
            // Set, then wait: the flag is up when the wait begins, so it must say "set"
            // unless a clear came between.
            let set = prims
                .event
                .wait_timeout(Duration::from_micros(500 + rng.below(5_000)));
            if !set && !clearing && load(board::EV_CB) == cb0 {
                violation(
                    b,
                    format_args!(
                        "Event: worker {w} set it and waited, nobody cleared it, and the wait \
                         timed out"
                    ),
                );
            }
        }
        return;
    }
    let done_before_clear = load(board::EV_DONE);
    mine.store(3, Ordering::SeqCst);
    b.slot(board::EV_CB).fetch_add(1, Ordering::SeqCst);
    prims.event.clear();
    b.slot(board::EV_CD).fetch_add(1, Ordering::SeqCst);
    mine.store(0, Ordering::SeqCst);
    // Clears begun so far, then those in flight (marked before they are counted): a clear
    // that lands inside the wait is one or the other.
    let cb0 = load(board::EV_CB);
    let clearing = (0..MAX_PROCS)
        .any(|o| o != w && worker_slot(b, o, board::EVENT).load(Ordering::SeqCst) == 3);
    let begun0 = load(board::EV_BEGUN);
    // A moment for a set to land in before the wait begins: a wait blind to a flag already
    // set when it began must still say so.
    for _ in 0..rng.below(20_000) {
        std::hint::spin_loop();
    }
    let timeout = Duration::from_micros(500 + rng.below(30_000));
    let pauses = worker_slot(b, w, board::PAUSES).load(Ordering::SeqCst);
    let started = Instant::now();
    let mut set = prims.event.wait_timeout(timeout);
    let waited = started.elapsed();
    if plant && w == 0 && !set {
        // `--plant-double-hold`: a timed-out wait reported as set.
        set = true;
    }
    let (begun1, done1, cb1) = (
        load(board::EV_BEGUN),
        load(board::EV_DONE),
        load(board::EV_CB),
    );
    if waited > timeout + SLACK && worker_slot(b, w, board::PAUSES).load(Ordering::SeqCst) == pauses
    {
        violation(
            b,
            format_args!("Event: a wait of {timeout:?} returned after {waited:?}"),
        );
    }
    if set {
        b.slot(board::EV_TRUE).fetch_add(1, Ordering::Relaxed);
        if begun1 <= done_before_clear {
            violation(
                b,
                format_args!(
                    "Event: worker {w}'s wait returned set, but no set began after its clear \
                     ({done_before_clear} done before it, {begun1} begun by the return)"
                ),
            );
        }
    } else {
        b.slot(board::EV_FALSE).fetch_add(1, Ordering::Relaxed);
        if !clearing && cb1 == cb0 {
            b.slot(board::EV_LOST_CHECKED)
                .fetch_add(1, Ordering::Relaxed);
            if done1 > begun0 {
                violation(
                    b,
                    format_args!(
                        "Event: worker {w}'s wait timed out, but a set began and ended inside it \
                         and nobody cleared ({begun0} begun at its start, {done1} done by its end)"
                    ),
                );
            }
        }
    }
}

/// A barrier party (`g` of `GANG`, in worker slot `w`): arrives at the `Barrier` again and
/// again, each time with a random timeout, in the epoch the driver started; once its barrier
/// broke it waits for the next epoch (the driver resets the barrier when every party waits
/// so). Checked:
///
/// - a party that passed its `k`-th arrival of an epoch finds every other party's `k`-th
///   arrival of that epoch recorded (written before arriving): a barrier that lets a
///   generation through short of `parties` arrivals fails this;
/// - a break names a cause every party of the epoch agrees on; a death names a pid the driver
///   killed (never a paused or running party); no reset or abort (nobody does either while
///   parties wait);
/// - no wait past its bound: a party killed while others wait breaks the barrier for them
///   instead of hanging them.
fn barrier_party(
    prims: &Prims,
    b: &SharedMem,
    w: usize,
    gang: std::ops::Range<usize>,
    seed: u64,
    plant: bool,
) {
    let mut rng = Rng(seed | 1);
    let load = |slot| b.slot(slot).load(Ordering::SeqCst);
    let mut k = 0u64;
    while load(board::STOP) == 0 {
        let epoch = load(board::BAR_EPOCH);
        let idle = worker_slot(b, w, board::IDLE).load(Ordering::SeqCst);
        if idle != 0 {
            if idle != epoch + 1 {
                // The driver started a new epoch: take part.
                worker_slot(b, w, board::IDLE).store(0, Ordering::SeqCst);
                k = 0;
            } else {
                // Until the driver pulses the gate (or soon after, if the pulse came before).
                prims.gate.wait_timeout(Duration::from_millis(5));
            }
            continue;
        }
        for _ in 0..rng.below(2_000) {
            std::hint::spin_loop();
        }
        k += 1;
        worker_slot(b, w, board::ENTERED).store(epoch << 32 | k, Ordering::SeqCst);
        let timeout = Duration::from_micros(20_000 + rng.below(130_000));
        let pauses = worker_slot(b, w, board::PAUSES).load(Ordering::SeqCst);
        let started = Instant::now();
        let fake = plant && w == gang.start && rng.below(64) == 0;
        let result = if fake {
            // `--plant-double-hold`: one arrival in 64 of this party "passes" at once (and
            // is made again for real after).
            Ok(None)
        } else {
            worker_slot(b, w, board::WAITING).store(1, Ordering::SeqCst);
            let r = prims.barrier.wait_timeout(timeout).map(Some);
            worker_slot(b, w, board::WAITING).store(0, Ordering::SeqCst);
            b.slot(board::BAR_WAITS).fetch_add(1, Ordering::Relaxed);
            r
        };
        let waited = started.elapsed();
        if waited > timeout + SLACK
            && worker_slot(b, w, board::PAUSES).load(Ordering::SeqCst) == pauses
        {
            violation(
                b,
                format_args!("Barrier: a wait of {timeout:?} returned after {waited:?}"),
            );
        }
        match result {
            Ok(_) => {
                b.slot(board::BAR_PASSES).fetch_add(1, Ordering::Relaxed);
                for o in gang.clone().filter(|&o| o != w) {
                    let theirs = worker_slot(b, o, board::ENTERED).load(Ordering::SeqCst);
                    if theirs >> 32 != epoch || theirs & 0xffff_ffff < k {
                        violation(
                            b,
                            format_args!(
                                "Barrier: party {w} passed its arrival {k} of epoch {epoch}, \
                                 but party {o} has arrived only up to {} of epoch {}",
                                theirs & 0xffff_ffff,
                                theirs >> 32
                            ),
                        );
                    }
                }
                if fake {
                    k -= 1;
                }
            }
            Err(interlock::Error::BrokenBarrier { why, dead_pid, .. }) => {
                worker_slot(b, w, board::IDLE).store(epoch + 1, Ordering::SeqCst);
                if load(board::STOP) != 0 {
                    break; // parties leaving at the end are dead parties too
                }
                let code = match why {
                    interlock::BarrierBreak::PartyDied => 1,
                    interlock::BarrierBreak::Timeout => 2,
                    other => {
                        violation(
                            b,
                            format_args!("Barrier: broken by {other:?}, which nobody did"),
                        );
                        continue;
                    }
                };
                let counter = if code == 1 {
                    board::BAR_TOLD_DIED
                } else {
                    board::BAR_TOLD_TIMEOUT
                };
                b.slot(counter).fetch_add(1, Ordering::Relaxed);
                let cause = epoch << 40 | code << 32 | u64::from(dead_pid.unwrap_or(0));
                let first = b.slot(board::BAR_WHY).load(Ordering::SeqCst);
                let agreed = if first >> 40 == epoch && first != 0 {
                    first
                } else {
                    match b.slot(board::BAR_WHY).compare_exchange(
                        first,
                        cause,
                        Ordering::SeqCst,
                        Ordering::SeqCst,
                    ) {
                        Ok(_) => cause,
                        Err(now) => now,
                    }
                };
                if agreed != cause {
                    violation(
                        b,
                        format_args!(
                            "Barrier: party {w} told {why:?} (pid {dead_pid:?}) in epoch {epoch}, \
                             another party of it code {} pid {}",
                            agreed >> 32 & 0xff,
                            agreed & 0xffff_ffff
                        ),
                    );
                }
                if code == 1 {
                    let killed = |pid: u32| {
                        let n = load(board::BAR_KILLED_N) as usize;
                        (n.saturating_sub(board::BAR_RING)..n).any(|i| {
                            b.slot(board::BAR_KILLED + i % board::BAR_RING)
                                .load(Ordering::SeqCst)
                                == u64::from(pid)
                        })
                    };
                    if !dead_pid.is_some_and(killed) {
                        violation(
                            b,
                            format_args!(
                                "Barrier: party {w} told a party died (pid {dead_pid:?}), a pid the driver never killed"
                            ),
                        );
                    }
                }
            }
            Err(e) => violation(b, format_args!("Barrier: unexpected error {e}")),
        }
    }
}

/// The etcd options of the run whose driver is `driver`: `ETCD_TTL`, and a key prefix of the
/// run's own.
fn etcd_options(endpoints: &str, driver: u32) -> interlock_etcd::EtcdOptions {
    interlock_etcd::EtcdOptions::parse(endpoints)
        .ttl(ETCD_TTL)
        .prefix(format!("interlock-chaos-{driver}/"))
}

/// An etcd client (`--etcd`, in worker slot `w`): takes the etcd lock with a random timeout,
/// writes its token to a fenced store in shared memory (which refuses a token older than the
/// newest it accepted), and lets go. The driver kills it, pauses it briefly, or past its
/// lease's TTL (so that it loses its hold to the next client while it sleeps). Checked:
///
/// - a take finds the hold before it gone from the occupant slot (its holder leaves the slot
///   before it releases), unless it never released — killed, or its lease lapsed — and then
///   the taker was told its predecessor died;
/// - a hold whose write the store refused, or whose occupant slot another hold took, had lost
///   its lease (`lease_lost()`, which the crate promises says so no later than the server
///   drops the key): a hold that had not is a second holder;
/// - no wait past its bound (`ETCD_SLACK` past its timeout, unless paused).
fn etcd_client(b: &SharedMem, w: usize, endpoints: &str, seed: u64, planted: bool) {
    use interlock_etcd::{Error as EtcdError, EtcdClient, EtcdLock};
    let mut rng = Rng(seed | 1);
    let load = |slot| b.slot(slot).load(Ordering::SeqCst);
    let add = |slot| b.slot(slot).fetch_add(1, Ordering::SeqCst);
    // A connection that fails (a pause can outlast its timeout) is an error counted, and
    // tried again; only the wrong kind of error is a violation.
    let client = loop {
        if load(board::STOP) != 0 {
            return;
        }
        match EtcdClient::connect(etcd_options(endpoints, std::os::unix::process::parent_id())) {
            Ok(c) => break c,
            Err(EtcdError::Unreachable { .. } | EtcdError::Unavailable { .. }) => {
                add(board::ET_ERRORS);
            }
            Err(e) => {
                violation(b, format_args!("etcd: client {w} cannot connect: {e}"));
                return;
            }
        }
    };
    add(board::ET_CONNECTS);
    let lock = EtcdLock::new(&client, "chaos").expect("a valid name");
    let holding = worker_slot(b, w, board::HOLDING);
    while load(board::STOP) == 0 {
        if planted {
            // `--plant-double-hold`: this client never takes the lock; it claims the occupant
            // slot of whoever holds it, as a second holder would (whose leaving then finds its
            // slot taken).
            let inside = b.slot(board::ET_OCC).load(Ordering::SeqCst);
            if inside != 0 && inside != u64::MAX {
                b.slot(board::ET_OCC).store(u64::MAX, Ordering::SeqCst);
            }
            std::thread::yield_now();
            continue;
        }
        let timeout = Duration::from_micros(50_000 + rng.below(1_000_000));
        let pauses = worker_slot(b, w, board::PAUSES).load(Ordering::SeqCst);
        let started = Instant::now();
        let result = lock.lock_timeout(timeout);
        let waited = started.elapsed();
        let paused = worker_slot(b, w, board::PAUSES).load(Ordering::SeqCst) != pauses;
        if waited > timeout + ETCD_SLACK && !paused {
            violation(
                b,
                format_args!("etcd lock: a wait of {timeout:?} returned after {waited:?}"),
            );
        }
        let guard = match result {
            Ok(g) => g,
            Err(EtcdError::Timeout { .. }) => {
                add(board::ET_TIMEOUTS);
                continue;
            }
            Err(EtcdError::LeaseLost { .. }) => {
                add(board::ET_WAIT_LOST);
                continue;
            }
            Err(e) => {
                add(board::ET_ERRORS);
                if matches!(e, EtcdError::Unavailable { .. }) {
                    continue;
                }
                violation(b, format_args!("etcd lock: unexpected error {e}"));
                continue;
            }
        };
        let token = guard.token();
        holding.store(1, Ordering::SeqCst);
        add(board::ET_TAKEN);
        let died = guard.previous_owner_died();
        if died {
            add(board::ET_TOLD);
        }
        let before = b.slot(board::ET_OCC).swap(token, Ordering::SeqCst);
        if before != 0 {
            add(board::ET_STALE);
            if !died && paused {
                // The crate's documented gap: a confirmation retried after its answer was lost
                // (a pause of the taker can close its connection) finds its own record and
                // cannot tell its predecessor died.
                add(board::ET_MISSED_PAUSED);
            } else if !died {
                violation(
                    b,
                    format_args!(
                        "etcd lock: client {w} took it (token {token}) while the hold of token \
                         {before} was inside, and was not told of a death"
                    ),
                );
            }
            if before >= token {
                violation(
                    b,
                    format_args!("etcd lock: token {token} taken after token {before}"),
                );
            }
        }
        // The work: one to four writes to the fenced store, a few milliseconds apart (long
        // enough for the driver to catch the hold asleep). The store accepts a token no older
        // than the newest it accepted.
        let mut lost = false;
        for _ in 0..1 + rng.below(4) {
            let written = b.slot(board::ET_STORE).fetch_update(
                Ordering::SeqCst,
                Ordering::SeqCst,
                |newest| (token >= newest).then_some(token),
            );
            match written {
                Ok(_) => {
                    add(board::ET_WRITES);
                }
                Err(newest) => {
                    add(board::ET_REFUSED);
                    lost = guard.lease_lost();
                    if !lost {
                        violation(
                            b,
                            format_args!(
                                "etcd lock: the store refused token {token} (it has {newest}) \
                                 while that hold's lease is alive: two holders"
                            ),
                        );
                    }
                    break;
                }
            }
            std::thread::sleep(Duration::from_micros(rng.below(30_000)));
        }
        // Leave the occupant slot, then release.
        if b.slot(board::ET_OCC)
            .compare_exchange(token, 0, Ordering::SeqCst, Ordering::SeqCst)
            .is_err()
        {
            let lease_lost = guard.lease_lost();
            lost |= lease_lost;
            if !lease_lost {
                violation(
                    b,
                    format_args!(
                        "etcd lock: another hold took the slot of token {token} while its \
                         lease is alive: two holders"
                    ),
                );
            }
        }
        holding.store(0, Ordering::SeqCst);
        match guard.unlock() {
            Ok(()) => {}
            Err(EtcdError::LeaseLost { .. }) => lost = true,
            Err(e) => {
                add(board::ET_ERRORS);
                if !matches!(e, EtcdError::Unavailable { .. }) {
                    violation(b, format_args!("etcd lock: unlock failed: {e}"));
                }
            }
        }
        if lost {
            add(board::ET_LEASE_LOST);
        }
    }
}

/// A worker: takes random sets of primitives in random orders until told to stop.
fn work(prims: &Prims, b: &SharedMem, w: usize, seed: u64, plant: bool) {
    worker_slot(b, w, board::PID).store(std::process::id().into(), Ordering::SeqCst);
    let mut rng = Rng(seed | 1);
    let holding = worker_slot(b, w, board::HOLDING);
    while b.slot(board::STOP).load(Ordering::SeqCst) == 0 {
        match rng.below(9) {
            0 => {
                condition_round(prims, b, w, &mut rng);
                continue;
            }
            1 => {
                rw_round(prims, b, w, &mut rng, plant);
                continue;
            }
            2 => {
                event_round(prims, b, w, &mut rng, plant);
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
fn spawn(
    prims: &Prims,
    b: &SharedMem,
    roles: &Roles,
    w: usize,
    seed: u64,
    plant: bool,
) -> libc::pid_t {
    let _ = std::io::stdout().flush();
    // SAFETY: the driver is single-threaded; the child runs the worker and leaves by `_exit`.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork: {}", std::io::Error::last_os_error());
    if pid == 0 {
        let code = match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            if roles.gang().contains(&w) {
                barrier_party(prims, b, w, roles.gang(), seed, plant);
            } else if let (true, Some(endpoints)) = (roles.etcd().contains(&w), &roles.etcd) {
                etcd_client(b, w, endpoints, seed, plant && w == roles.etcd().start);
            } else {
                work(prims, b, w, seed, plant);
            }
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
        event: Event::new().expect("Event"),
        barrier: Barrier::new(GANG as u32).expect("Barrier"),
        gate: Event::new().expect("Event"),
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
        "chaos: {} workers for {} s, seed {} (primitives: {}, RwLock, Condition, Event); \
         {GANG} Barrier parties; {}",
        a.procs,
        a.seconds,
        a.seed,
        NAMES.join(", "),
        match &a.etcd {
            Some(e) => format!("{ETCD_PROCS} etcd lock clients of {e}"),
            None => "no etcd lock (--etcd ENDPOINTS or INTERLOCK_ETCD_ENDPOINTS adds it)".into(),
        }
    );

    let roles = Roles {
        procs: a.procs,
        etcd: a.etcd.clone(),
    };
    let mut pids: Vec<libc::pid_t> = (0..roles.all())
        .map(|w| spawn(&prims, &b, &roles, w, rng.next(), a.plant))
        .collect();
    let (mut kills, mut pauses, mut interrupts, mut respawns) = (0u64, 0u64, 0u64, 0u64);
    // Barrier: kills of parties, of parties inside a wait; epochs ended, by the cause the
    // parties were told (a death, a timeout, none told: every party was killed), and of the
    // epochs with a party killed inside a wait, those broken by a death.
    let (mut party_kills, mut waiting_deaths) = (0u64, 0u64);
    let mut epochs = [0u64; 3];
    let (mut epochs_with_waiting_death, mut of_them_told_death) = (0u64, 0u64);
    let mut waiting_death_now = false;
    let mut surely = [0u64; N];
    // etcd clients: kills, kills of a sure holder, pauses past the lease's TTL, and those paused
    // so now (slot, until).
    let (mut etcd_kills, mut etcd_surely, mut long_pauses) = (0u64, 0u64, 0u64);
    let mut long_paused: Vec<(usize, Instant)> = Vec::new();
    let end = Instant::now() + Duration::from_secs_f64(a.seconds);
    while Instant::now() < end {
        std::thread::sleep(Duration::from_micros(2_000 + rng.below(20_000)));
        long_paused.retain(|&(w, until)| {
            if Instant::now() < until {
                return true;
            }
            // SAFETY: a signal to our own child.
            unsafe { libc::kill(pids[w], libc::SIGCONT) };
            worker_slot(&b, w, board::PAUSES).fetch_add(1, Ordering::SeqCst);
            false
        });
        // The barrier's epoch is over once every party waits for the next: reset, start it.
        let epoch = b.slot(board::BAR_EPOCH).load(Ordering::SeqCst);
        if roles
            .gang()
            .all(|g| worker_slot(&b, g, board::IDLE).load(Ordering::SeqCst) == epoch + 1)
        {
            let why = b.slot(board::BAR_WHY).load(Ordering::SeqCst);
            let code = if why >> 40 == epoch && why != 0 {
                (why >> 32 & 0xff) as usize
            } else {
                0
            };
            epochs[code.min(2)] += 1;
            if waiting_death_now {
                epochs_with_waiting_death += 1;
                of_them_told_death += u64::from(code == 1);
            }
            waiting_death_now = false;
            prims.barrier.reset();
            b.slot(board::BAR_EPOCH).store(epoch + 1, Ordering::SeqCst);
            prims.gate.set();
            prims.gate.clear();
        }
        let mut w = rng.below(roles.all() as u64) as usize;
        if roles.etcd().contains(&w) || rng.below(16) == 0 {
            // The client holding the etcd lock, if one does, whenever a client is picked and
            // on one tick in 16 besides: holds are short beside the requests that take them.
            if let Some(holder) = roles.etcd().find(|&c| {
                worker_slot(&b, c, board::HOLDING).load(Ordering::SeqCst) != 0
                    && long_paused.iter().all(|&(p, _)| p != c)
            }) {
                w = holder;
            }
        }
        let pid = pids[w];
        let client = roles.etcd().contains(&w);
        if long_paused.iter().any(|&(p, _)| p == w) {
            continue;
        }
        match rng.below(10) {
            // An etcd client's kill leaves its lease (and its place in the queue) to lapse:
            // one in four only, so that the lock is not mostly waiting for dead leases. None in
            // the self-test (`--plant-double-hold`, 5 s): a CI run's self-test killed its two
            // honest clients 6 times, each kill leaving the lock to a lapsing 1 s lease, and
            // they made 1 hold in 5 s — too few for the planted claim to be met.
            0..=3 if a.kill && client && (a.plant || rng.below(4) != 0) => {}
            // Not in the self-test (`--plant-double-hold`, 5 s): two pauses of 3 s left its two
            // honest clients 2 or 3 holds, too few for the planted claim to be met (it went
            // unnoticed in 2 of 3 runs); the long runs pause as before.
            4..=6 if a.stop && client && !a.plant && rng.below(3) == 0 => {
                // Past its lease's TTL: the next client may take the lock meanwhile.
                worker_slot(&b, w, board::PAUSES).fetch_add(1, Ordering::SeqCst);
                // SAFETY: a signal to our own child.
                unsafe { libc::kill(pid, libc::SIGSTOP) };
                long_paused.push((w, Instant::now() + ETCD_LONG_PAUSE));
                long_pauses += 1;
            }
            0..=3 if a.kill => {
                // SIGKILL, wherever it is; what it surely held is read once it is dead.
                worker_slot(&b, w, board::KILLED).store(1, Ordering::SeqCst);
                let party = roles.gang().contains(&w);
                if party {
                    let n = b.slot(board::BAR_KILLED_N).load(Ordering::SeqCst) as usize;
                    b.slot(board::BAR_KILLED + n % board::BAR_RING)
                        .store(pid as u64, Ordering::SeqCst);
                    b.slot(board::BAR_KILLED_N)
                        .store(n as u64 + 1, Ordering::SeqCst);
                }
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
                if party {
                    party_kills += 1;
                    if worker_slot(&b, w, board::WAITING).swap(0, Ordering::SeqCst) != 0 {
                        waiting_deaths += 1;
                        waiting_death_now = true;
                    }
                    // Its successor waits for the next epoch: nobody knows it in this one.
                    let now = b.slot(board::BAR_EPOCH).load(Ordering::SeqCst);
                    worker_slot(&b, w, board::IDLE).store(now + 1, Ordering::SeqCst);
                } else if client {
                    etcd_kills += 1;
                    etcd_surely += worker_slot(&b, w, board::HOLDING).swap(0, Ordering::SeqCst);
                } else {
                    let bits = worker_slot(&b, w, board::HOLDING).swap(0, Ordering::SeqCst);
                    for (p, n) in surely.iter_mut().enumerate() {
                        if bits & (1 << p) != 0 {
                            *n += 1;
                        }
                    }
                    kills += 1;
                    // A set it surely made is counted done on its behalf; a clear it was in
                    // the middle of is no longer in flight.
                    if worker_slot(&b, w, board::EVENT).swap(0, Ordering::SeqCst) == 2 {
                        b.slot(board::EV_DONE).fetch_add(1, Ordering::SeqCst);
                    }
                }
                worker_slot(&b, w, board::RW).store(0, Ordering::SeqCst);
                worker_slot(&b, w, board::KILLED).store(0, Ordering::SeqCst);
                pids[w] = spawn(&prims, &b, &roles, w, rng.next(), a.plant);
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
    for (w, _) in long_paused.drain(..) {
        // SAFETY: a signal to our own child.
        unsafe { libc::kill(pids[w], libc::SIGCONT) };
        worker_slot(&b, w, board::PAUSES).fetch_add(1, Ordering::SeqCst);
    }

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
    // The etcd lock: taken once more by the driver (no fork after this: its client runs
    // threads), within a lapsing lease's TTL and FINAL_WAIT; then a death of a sure holder
    // must have been told.
    let mut etcd_final_told = 0;
    if let Some(endpoints) = &a.etcd {
        use interlock_etcd::{EtcdClient, EtcdLock};
        let taken =
            EtcdClient::connect(etcd_options(endpoints, std::process::id())).and_then(|client| {
                let guard = EtcdLock::new(&client, "chaos")?.lock_timeout(FINAL_WAIT)?;
                etcd_final_told = u64::from(guard.previous_owner_died());
                guard.unlock()
            });
        if let Err(e) = taken {
            violation(&b, format_args!("etcd lock: wedged at the end: {e}"));
        }
        // A report the crate's retried confirmation missed (counted apart) may be one.
        let told = b.slot(board::ET_TOLD).load(Ordering::SeqCst)
            + etcd_final_told
            + b.slot(board::ET_MISSED_PAUSED).load(Ordering::SeqCst);
        if told < etcd_surely {
            violation(
                &b,
                format_args!("etcd lock: {told} deaths told, {etcd_surely} kills of a sure holder"),
            );
        }
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
    let load = |slot| b.slot(slot).load(Ordering::SeqCst);
    println!(
        "Event: {} sets, {} clears; {} waits returned set, {} timed out ({} of them while nobody cleared, checked for a lost wake-up)",
        load(board::EV_DONE),
        load(board::EV_CD),
        load(board::EV_TRUE),
        load(board::EV_FALSE),
        load(board::EV_LOST_CHECKED),
    );
    println!(
        "Barrier ({GANG} parties): {} waits, {} passes; {} epochs (resets) — broken by a death {}, by a timeout {}, none told {}; \
         parties told a death {}, a timeout {}; {party_kills} parties SIGKILLed, {waiting_deaths} inside a wait; \
         epochs with a party killed inside a wait {epochs_with_waiting_death}, of them broken by a death {of_them_told_death}",
        load(board::BAR_WAITS),
        load(board::BAR_PASSES),
        epochs.iter().sum::<u64>(),
        epochs[1],
        epochs[2],
        epochs[0],
        load(board::BAR_TOLD_DIED),
        load(board::BAR_TOLD_TIMEOUT),
    );
    if a.etcd.is_some() {
        println!(
            "etcd lock ({ETCD_PROCS} clients, lease TTL asked {ETCD_TTL:?}): {} holds, {} timeouts, {} errors, {} connections; \
             {etcd_kills} clients SIGKILLed ({etcd_surely} holding), {long_pauses} paused {ETCD_LONG_PAUSE:?} (past the TTL); \
             deaths told {} (+{etcd_final_told} at the end), takes that found a stale hold inside {} \
             ({} of them not told, by a client paused during the take: the crate's retried confirmation); \
             lease_lost: {} holds told, {} waits; fenced writes {} accepted, {} refused",
            load(board::ET_TAKEN),
            load(board::ET_TIMEOUTS),
            load(board::ET_ERRORS),
            load(board::ET_CONNECTS),
            load(board::ET_TOLD),
            load(board::ET_STALE),
            load(board::ET_MISSED_PAUSED),
            load(board::ET_LEASE_LOST),
            load(board::ET_WAIT_LOST),
            load(board::ET_WRITES),
            load(board::ET_REFUSED),
        );
    }
    println!(
        "kills {kills} (+{party_kills} barrier parties, +{etcd_kills} etcd clients), pauses {pauses}, interrupts {interrupts}, respawns {respawns}; \
         value {final_value:?} ({acked_value} acknowledged), file {file_count:?} ({acked_file} acknowledged); \
         invariant violations = {violations}"
    );
    if violations != 0 {
        std::process::exit(1);
    }
}
