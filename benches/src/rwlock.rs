//! Reader-writer locks across forked processes (the `rw-*` workloads of `mp`): interlock's
//! `RwLock` beside glibc's process-shared `pthread_rwlock_t`, `flock -s`/`flock -x` on a file,
//! and, for the ratios the goals name, the bare futex and interlock's own `Lock` (whose read
//! and write are both the one lock).
//!
//! | name             | what                                                           | robust |
//! |------------------|----------------------------------------------------------------|--------|
//! | `pthread-rwlock` | glibc `pthread_rwlock_t`, `PTHREAD_PROCESS_SHARED` (its default kind: readers preferred) | no |
//! | `pthread-rwlock-wp` | the same, `PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP`: writers preferred, as interlock's | no |
//! | `flock-rw`       | `flock(LOCK_SH)` / `flock(LOCK_EX)` (std's `File::lock_shared` / `lock`), one open file description each | yes |
//! | `interlock-rw`   | `interlock::RwLock::new()` (writers preferred, the default)     | yes    |
//! | `interlock-rw-rp` | `RwLock::options().policy(RwPolicy::PreferReaders)`: readers preferred, as glibc's default | yes |
//! | `futex`          | the bare futex mutex: read and write are its lock              | no     |
//! | `interlock`      | `interlock::Lock::new()`: read and write are its lock          | yes    |

#![allow(unsafe_code)]

use std::cell::UnsafeCell;
use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use interlock_testkit::{channel, Forked, Shared, ShmSafe};

use crate::harness::{fork_child, now_ns, Gate, Line, MAX_PROCS};
use crate::peers::{Competitor, Futex, Interlock};
use crate::run::{Params, Run};
use crate::work;

/// A reader-writer lock under test, shared by forked processes: created in the parent,
/// attached in each child, then read and written in a loop.
pub trait RwCompetitor: Sized {
    /// The row name in the tables.
    const NAME: &'static str;
    /// Whether a SIGKILLed holder's hold comes back.
    const ROBUST: bool;
    /// Creates the lock in memory (or a file) that processes forked afterwards share.
    ///
    /// # Errors
    ///
    /// Whatever creating it failed with.
    fn create() -> io::Result<Self>;
    /// Per-process set-up after `fork` (a file lock's own open file description).
    ///
    /// # Errors
    ///
    /// Whatever the set-up failed with.
    fn attach(&mut self) -> io::Result<()> {
        Ok(())
    }
    /// Runs `f` holding a read.
    fn read<R>(&self, f: impl FnOnce() -> R) -> R;
    /// Runs `f` holding the write; `f` is told whether a holder died since the last writer
    /// (always `false` for locks that cannot tell).
    fn write<R>(&self, f: impl FnOnce(bool) -> R) -> R;
}

/// glibc's process-shared reader-writer lock, in shared memory.
#[repr(C)]
struct RwCell(UnsafeCell<libc::pthread_rwlock_t>);

// SAFETY: all-zero bytes are a valid (uninitialised) `pthread_rwlock_t`, initialised by
// `PthreadRw::create` before any use and touched only through the `UnsafeCell` by glibc.
unsafe impl ShmSafe for RwCell {}

/// `pthread-rwlock`: `pthread_rwlock_init` with `PTHREAD_PROCESS_SHARED`; with `WP`
/// (`pthread-rwlock-wp`), also `PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP`.
#[derive(Debug)]
pub struct PthreadRwKind<const WP: bool>(Shared<RwCell>);

/// `pthread-rwlock`: glibc's default kind (readers preferred).
pub type PthreadRw = PthreadRwKind<false>;
/// `pthread-rwlock-wp`: writers preferred, like interlock's.
pub type PthreadRwWp = PthreadRwKind<true>;

/// glibc's `PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP`.
const PREFER_WRITER_NONRECURSIVE: libc::c_int = 2;

impl<const WP: bool> RwCompetitor for PthreadRwKind<WP> {
    const NAME: &'static str = if WP {
        "pthread-rwlock-wp"
    } else {
        "pthread-rwlock"
    };
    const ROBUST: bool = false;
    fn create() -> io::Result<Self> {
        let cell = Shared::<RwCell>::new()?;
        let mut attr = std::mem::MaybeUninit::<libc::pthread_rwlockattr_t>::uninit();
        // SAFETY: `attr` is writable storage for an attribute object, which init fills in.
        let rc = unsafe { libc::pthread_rwlockattr_init(attr.as_mut_ptr()) };
        check("pthread_rwlockattr_init", rc)?;
        // SAFETY: `attr` was initialised just above.
        let rc = unsafe {
            libc::pthread_rwlockattr_setpshared(attr.as_mut_ptr(), libc::PTHREAD_PROCESS_SHARED)
        };
        check("pthread_rwlockattr_setpshared", rc)?;
        if WP {
            // SAFETY: `attr` is initialised.
            let rc = unsafe {
                libc::pthread_rwlockattr_setkind_np(attr.as_mut_ptr(), PREFER_WRITER_NONRECURSIVE)
            };
            check("pthread_rwlockattr_setkind_np", rc)?;
        }
        // SAFETY: the lock's storage is in our live shared mapping, aligned, unused so far;
        // `attr` is initialised.
        let rc = unsafe { libc::pthread_rwlock_init(cell.0.get(), attr.as_ptr()) };
        // SAFETY: `attr` is initialised and no longer needed.
        unsafe { libc::pthread_rwlockattr_destroy(attr.as_mut_ptr()) };
        check("pthread_rwlock_init", rc)?;
        Ok(PthreadRwKind(cell))
    }
    #[inline]
    fn read<R>(&self, f: impl FnOnce() -> R) -> R {
        // SAFETY: initialised in `create`, mapped while `self` lives.
        let rc = unsafe { libc::pthread_rwlock_rdlock(self.0 .0.get()) };
        debug_assert_eq!(rc, 0, "pthread_rwlock_rdlock");
        let r = f();
        // SAFETY: as above; this thread holds a read.
        unsafe { libc::pthread_rwlock_unlock(self.0 .0.get()) };
        r
    }
    #[inline]
    fn write<R>(&self, f: impl FnOnce(bool) -> R) -> R {
        // SAFETY: initialised in `create`, mapped while `self` lives.
        let rc = unsafe { libc::pthread_rwlock_wrlock(self.0 .0.get()) };
        debug_assert_eq!(rc, 0, "pthread_rwlock_wrlock");
        let r = f(false);
        // SAFETY: as above; this thread holds the write.
        unsafe { libc::pthread_rwlock_unlock(self.0 .0.get()) };
        r
    }
}

fn check(what: &str, rc: libc::c_int) -> io::Result<()> {
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::other(format!(
            "{what}: {}",
            io::Error::from_raw_os_error(rc)
        )))
    }
}

/// `flock-rw`: a file with `flock(LOCK_SH)` to read and `flock(LOCK_EX)` to write — what
/// `flock -s` and `flock -x` do — through std's `File::lock_shared` / `File::lock`, each
/// process with an open file description of its own.
#[derive(Debug)]
pub struct FlockRw {
    _dir: tempfile::TempDir,
    path: std::path::PathBuf,
    file: Option<std::fs::File>,
}

impl FlockRw {
    fn file(&self) -> &std::fs::File {
        self.file
            .as_ref()
            .expect("RwCompetitor::attach was not called")
    }
}

impl RwCompetitor for FlockRw {
    const NAME: &'static str = "flock-rw";
    const ROBUST: bool = true;
    fn create() -> io::Result<Self> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("bench.lock");
        std::fs::File::create(&path)?;
        Ok(FlockRw {
            _dir: dir,
            path,
            file: None,
        })
    }
    fn attach(&mut self) -> io::Result<()> {
        self.file = Some(
            std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .open(&self.path)?,
        );
        Ok(())
    }
    #[inline]
    fn read<R>(&self, f: impl FnOnce() -> R) -> R {
        let file = self.file();
        file.lock_shared().expect("File::lock_shared");
        let r = f();
        file.unlock().expect("File::unlock");
        r
    }
    #[inline]
    fn write<R>(&self, f: impl FnOnce(bool) -> R) -> R {
        let file = self.file();
        file.lock().expect("File::lock");
        let r = f(false);
        file.unlock().expect("File::unlock");
        r
    }
}

/// `interlock-rw`: `interlock::RwLock::new()`, a sealed memfd created before fork; with `RP`
/// (`interlock-rw-rp`), created with `RwPolicy::PreferReaders`.
#[derive(Debug)]
pub struct InterlockRwKind<const RP: bool>(interlock::RwLock);

/// `interlock-rw`: the default policy (writers preferred).
pub type InterlockRw = InterlockRwKind<false>;
/// `interlock-rw-rp`: readers preferred, like glibc's default `pthread_rwlock`.
pub type InterlockRwRp = InterlockRwKind<true>;

impl<const RP: bool> RwCompetitor for InterlockRwKind<RP> {
    const NAME: &'static str = if RP {
        "interlock-rw-rp"
    } else {
        "interlock-rw"
    };
    const ROBUST: bool = true;
    fn create() -> io::Result<Self> {
        let policy = if RP {
            interlock::RwPolicy::PreferReaders
        } else {
            interlock::RwPolicy::PreferWriters
        };
        interlock::RwLock::options()
            .policy(policy)
            .create()
            .map(InterlockRwKind)
            .map_err(io::Error::other)
    }
    #[inline]
    fn read<R>(&self, f: impl FnOnce() -> R) -> R {
        let guard = self.0.read().expect("interlock::RwLock::read");
        let r = f();
        drop(guard);
        r
    }
    #[inline]
    fn write<R>(&self, f: impl FnOnce(bool) -> R) -> R {
        let guard = self.0.write().expect("interlock::RwLock::write");
        let r = f(guard.previous_owner_died());
        drop(guard);
        r
    }
}

/// A mutex as a reader-writer lock (read and write are both its lock): the bare futex for
/// the uncontended ratio, interlock's `Lock` for the write-only one.
#[derive(Debug)]
pub struct AsRw<C>(C);

impl<C: Competitor> RwCompetitor for AsRw<C> {
    const NAME: &'static str = C::NAME;
    const ROBUST: bool = C::ROBUST;
    fn create() -> io::Result<Self> {
        C::create().map(AsRw)
    }
    fn attach(&mut self) -> io::Result<()> {
        self.0.attach()
    }
    #[inline]
    fn read<R>(&self, f: impl FnOnce() -> R) -> R {
        self.0.lock(f)
    }
    #[inline]
    fn write<R>(&self, f: impl FnOnce(bool) -> R) -> R {
        self.0.lock(|| f(false))
    }
}

/// The reader-writer competitors, by row name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RwPeer {
    /// [`PthreadRw`]: the reference.
    PthreadRw,
    /// [`PthreadRwWp`]: writers preferred.
    PthreadRwWp,
    /// [`FlockRw`].
    FlockRw,
    /// [`InterlockRw`].
    InterlockRw,
    /// [`InterlockRwRp`]: readers preferred.
    InterlockRwRp,
    /// `AsRw<Futex>`: the bare futex (uncontended only).
    Futex,
    /// `AsRw<Interlock>`: interlock's `Lock` (write-only only).
    InterlockLock,
}

impl RwPeer {
    /// Every competitor, in table order.
    pub const ALL: [RwPeer; 7] = [
        RwPeer::PthreadRw,
        RwPeer::PthreadRwWp,
        RwPeer::FlockRw,
        RwPeer::InterlockRw,
        RwPeer::InterlockRwRp,
        RwPeer::Futex,
        RwPeer::InterlockLock,
    ];

    /// The row name.
    pub fn name(self) -> &'static str {
        match self {
            RwPeer::PthreadRw => PthreadRw::NAME,
            RwPeer::PthreadRwWp => PthreadRwWp::NAME,
            RwPeer::FlockRw => FlockRw::NAME,
            RwPeer::InterlockRw => InterlockRw::NAME,
            RwPeer::InterlockRwRp => InterlockRwRp::NAME,
            RwPeer::Futex => <AsRw<Futex>>::NAME,
            RwPeer::InterlockLock => <AsRw<Interlock>>::NAME,
        }
    }

    /// The competitor called `name`.
    pub fn from_name(name: &str) -> Option<RwPeer> {
        RwPeer::ALL.into_iter().find(|p| p.name() == name)
    }

    /// Whether a SIGKILLed holder's hold comes back.
    pub fn robust(self) -> bool {
        match self {
            RwPeer::PthreadRw => PthreadRw::ROBUST,
            RwPeer::PthreadRwWp => PthreadRwWp::ROBUST,
            RwPeer::FlockRw => FlockRw::ROBUST,
            RwPeer::InterlockRw => InterlockRw::ROBUST,
            RwPeer::InterlockRwRp => InterlockRwRp::ROBUST,
            RwPeer::Futex => <AsRw<Futex>>::ROBUST,
            RwPeer::InterlockLock => <AsRw<Interlock>>::ROBUST,
        }
    }
}

macro_rules! rw_dispatch {
    ($peer:expr, $f:ident($($arg:expr),*)) => {
        match $peer {
            RwPeer::PthreadRw => $f::<PthreadRw>($($arg),*),
            RwPeer::PthreadRwWp => $f::<PthreadRwWp>($($arg),*),
            RwPeer::FlockRw => $f::<FlockRw>($($arg),*),
            RwPeer::InterlockRw => $f::<InterlockRw>($($arg),*),
            RwPeer::InterlockRwRp => $f::<InterlockRwRp>($($arg),*),
            RwPeer::Futex => $f::<AsRw<Futex>>($($arg),*),
            RwPeer::InterlockLock => $f::<AsRw<Interlock>>($($arg),*),
        }
    };
}

/// The control block shared by the parent and its children.
#[repr(C)]
struct Control {
    gate: Gate,
    kill_ns: AtomicU64,
    latency_ns: AtomicU64,
    told: AtomicU64,
    /// The pair a writer sets one after the other and a reader checks equal.
    pair: Line<[AtomicU64; 2]>,
    /// Reads that found the pair unequal (a write seen half done).
    torn: Line<AtomicU64>,
    ops: Line<[AtomicU64; MAX_PROCS]>,
    elapsed_ns: [AtomicU64; MAX_PROCS],
}

// SAFETY: all fields are atomics (zero is valid for each) and padding.
unsafe impl ShmSafe for Control {}

/// What a process does each turn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mix {
    /// Reads only.
    ReadOnly,
    /// One write in `n` operations, the rest reads.
    OneWriteIn(u64),
    /// Writes only.
    WriteOnly,
}

fn rw_run_of<C: RwCompetitor>(procs: usize, mix: Mix, p: &Params) -> io::Result<Run> {
    assert!(
        (1..=MAX_PROCS).contains(&procs),
        "1..={MAX_PROCS} processes"
    );
    let ctl = Shared::<Control>::new()?;
    let lock = C::create()?;
    let mut children = Vec::with_capacity(procs);
    for i in 0..procs {
        let (ctl, lock) = (&ctl, &lock);
        children.push(fork_child(C::NAME, move || {
            rw_loop::<C>(lock, ctl, p, mix, i);
        }));
    }
    let window = ctl.gate.run_window(procs, p.duration, C::NAME);
    for child in children {
        child.join();
    }
    let torn = ctl.torn.0.load(Ordering::SeqCst);
    assert_eq!(torn, 0, "{}: {torn} reads saw a write half done", C::NAME);
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

/// One process's timed loop: reads check the pair, writes set it one half after the other.
#[inline(never)]
fn rw_loop<C: RwCompetitor>(lock: &C, ctl: &Control, p: &Params, mix: Mix, i: usize) {
    ctl.gate.ready_then_wait_for_start();
    let t0 = Instant::now();
    let mut n = 0u64;
    let pair = &ctl.pair.0;
    while ctl.gate.running() {
        let write = match mix {
            Mix::ReadOnly => false,
            Mix::WriteOnly => true,
            Mix::OneWriteIn(k) => (n + i as u64 * 7).is_multiple_of(k),
        };
        if write {
            lock.write(|_| {
                let v = pair[0].load(Ordering::Relaxed) + 1;
                pair[0].store(v, Ordering::Relaxed);
                work(p.inside);
                pair[1].store(v, Ordering::Relaxed);
            });
        } else {
            lock.read(|| {
                let a = pair[0].load(Ordering::Relaxed);
                work(p.inside);
                if pair[1].load(Ordering::Relaxed) != a {
                    ctl.torn.0.fetch_add(1, Ordering::Relaxed);
                }
            });
        }
        work(p.outside);
        n += 1;
    }
    ctl.elapsed_ns[i].store(t0.elapsed().as_nanos() as u64, Ordering::Relaxed);
    ctl.ops.0[i].store(n, Ordering::Release);
}

/// `procs` processes of `peer` run `mix` for `p.duration` (one process: the uncontended cost).
///
/// # Errors
///
/// Creating the lock or the shared memory failed.
pub fn rw_run(peer: RwPeer, procs: usize, mix: Mix, p: &Params) -> io::Result<Run> {
    rw_dispatch!(peer, rw_run_with_attach(procs, mix, p))
}

fn rw_run_with_attach<C: RwCompetitor>(procs: usize, mix: Mix, p: &Params) -> io::Result<Run> {
    rw_run_of::<Attached<C>>(procs, mix, p)
}

/// `C`, attached in the child on first use (file locks need their own open file description
/// per process: `fork` would share the parent's).
struct Attached<C> {
    inner: UnsafeCell<C>,
    attached: std::cell::Cell<bool>,
}

impl<C: RwCompetitor> Attached<C> {
    fn get(&self) -> &C {
        if !self.attached.get() {
            // SAFETY: each process is single-threaded here and attaches once, before any
            // shared reference to the inner value is handed out in this process.
            unsafe { (*self.inner.get()).attach() }.expect("attach");
            self.attached.set(true);
        }
        // SAFETY: no mutable access after the one above.
        unsafe { &*self.inner.get() }
    }
}

impl<C: RwCompetitor> RwCompetitor for Attached<C> {
    const NAME: &'static str = C::NAME;
    const ROBUST: bool = C::ROBUST;
    fn create() -> io::Result<Self> {
        Ok(Attached {
            inner: UnsafeCell::new(C::create()?),
            attached: std::cell::Cell::new(false),
        })
    }
    #[inline]
    fn read<R>(&self, f: impl FnOnce() -> R) -> R {
        self.get().read(f)
    }
    #[inline]
    fn write<R>(&self, f: impl FnOnce(bool) -> R) -> R {
        self.get().write(f)
    }
}

/// What the recovery workload measured: per round, from the SIGKILL to the next writer
/// holding the lock; and in how many rounds that writer was told.
#[derive(Debug, Clone)]
pub struct RwRecovery {
    /// Rounds whose killed holder was a reader, then those whose was a writer: (µs, told).
    pub reader_killed: Vec<(f64, bool)>,
    /// Rounds whose killed holder was a writer.
    pub writer_killed: Vec<(f64, bool)>,
}

/// The state letter of `/proc/PID/stat`.
fn proc_state(pid: u32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat[stat.rfind(')')? + 1..].trim_start().chars().next()
}

fn wait_until_asleep(pid: u32) {
    let end = Instant::now() + Duration::from_secs(2);
    while proc_state(pid) != Some('S') && Instant::now() < end {
        std::thread::sleep(Duration::from_micros(100));
    }
}

fn rw_recovery_of<C: RwCompetitor>(rounds: usize) -> io::Result<RwRecovery> {
    assert!(C::ROBUST, "{} does not survive a dead holder", C::NAME);
    let ctl = Shared::<Control>::new()?;
    let lock = Attached::<C>::create()?;
    let mut out = RwRecovery {
        reader_killed: Vec::new(),
        writer_killed: Vec::new(),
    };
    for round in 0..rounds {
        ctl.kill_ns.store(0, Ordering::SeqCst);
        ctl.latency_ns.store(0, Ordering::SeqCst);
        ctl.told.store(0, Ordering::SeqCst);
        let reader = round % 2 == 0;
        let (held_tx, held_rx) = channel();
        let holder: Forked = fork_child(&format!("{}: holder", C::NAME), || {
            if reader {
                lock.read(|| {
                    held_tx.send("held");
                    interlock_testkit::hold_until_killed()
                })
            } else {
                lock.write(|_| {
                    held_tx.send("held");
                    interlock_testkit::hold_until_killed()
                })
            }
        });
        drop(held_tx);
        held_rx.expect("held");
        let (ready_tx, ready_rx) = channel();
        let waiter = fork_child(&format!("{}: the next writer", C::NAME), || {
            ready_tx.send("ready");
            lock.write(|died| {
                let now = now_ns();
                let killed = ctl.kill_ns.load(Ordering::SeqCst);
                let latency = if killed == 0 { u64::MAX } else { now - killed };
                ctl.latency_ns.store(latency, Ordering::SeqCst);
                ctl.told.store(u64::from(died), Ordering::SeqCst);
            })
        });
        drop(ready_tx);
        ready_rx.expect("ready");
        wait_until_asleep(waiter.pid());
        std::thread::sleep(Duration::from_micros(
            500 + (50_000 * round / rounds.max(1)) as u64,
        ));
        ctl.kill_ns.store(now_ns(), Ordering::SeqCst);
        holder.kill(libc::SIGKILL);
        holder.join_killed_by(libc::SIGKILL);
        waiter.patience(Some(Duration::from_secs(10))).join();
        let latency = ctl.latency_ns.load(Ordering::SeqCst);
        assert!(
            latency != u64::MAX && latency != 0,
            "{}: the next writer got in while the holder lived",
            C::NAME
        );
        let row = (latency as f64 / 1e3, ctl.told.load(Ordering::SeqCst) != 0);
        if reader {
            out.reader_killed.push(row);
        } else {
            out.writer_killed.push(row);
        }
    }
    Ok(out)
}

/// Recovery after SIGKILL: per round a holder child takes a read (even rounds) or the write
/// (odd rounds), a writer child blocks behind it, the parent stamps CLOCK_MONOTONIC and
/// SIGKILLs the holder; the writer records the time from the stamp to holding the lock, and
/// whether it was told.
///
/// # Errors
///
/// Creating the lock or the shared memory failed.
///
/// # Panics
///
/// For a lock that is not robust, or a writer still blocked ten seconds after the kill.
pub fn rw_recovery(peer: RwPeer, rounds: usize) -> io::Result<RwRecovery> {
    rw_dispatch!(peer, rw_recovery_of(rounds))
}
