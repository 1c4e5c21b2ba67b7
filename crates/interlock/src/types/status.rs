//! What observers learn about a lock without taking it: its holder, a snapshot of its record,
//! and the process group a hold ran its command in.

use std::fmt;
use std::time::SystemTime;

use super::Kind;

/// Who holds a lock, as recorded in its shared record.
///
/// # Examples
///
/// ```
/// let lock = interlock::Lock::new()?;
/// let guard = lock.lock()?;
/// let holder = lock.status().holder.expect("we hold it");
/// assert_eq!(holder.pid, std::process::id());
/// assert_eq!(holder.token, guard.token());
/// assert!(holder.alive);
/// # Ok::<(), interlock::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Holder {
    /// Process id of the holder.
    pub pid: u32,
    /// Kernel thread id of the holding thread.
    pub tid: u32,
    /// When it acquired the lock (coarse clock: within a few milliseconds), if the holder's
    /// handle records times ([`Lock::set_timestamps`](crate::Lock::set_timestamps); the
    /// `interlock run` command does).
    pub since: Option<SystemTime>,
    /// The fencing token of this hold; 0 for a holder known only by its flock(2) lock on a
    /// [`FileLock`](crate::FileLock)'s file (a flock(1) user: [`PathStatus::holder`](crate::PathStatus::holder)).
    pub token: u64,
    /// Whether that thread may still run: false only on proof of its end (checked against the
    /// process's boot-unique identity, so a reused pid does not count as alive).
    pub alive: bool,
    /// The holder's command line, when `/proc` shows it.
    pub command: Option<String>,
    /// The process group the holder runs its command in
    /// ([`LockGuard::spawn_group`](crate::LockGuard::spawn_group), as `interlock run` does).
    pub process_group: Option<u32>,
}

impl fmt::Display for Holder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "pid {}", self.pid)?;
        if self.tid != self.pid {
            write!(f, " thread {}", self.tid)?;
        }
        if let Some(cmd) = &self.command {
            write!(f, " `{cmd}`")?;
        }
        if let Some(since) = self.since {
            match SystemTime::now().duration_since(since) {
                Ok(held) => write!(f, ", held for {:.1}s", held.as_secs_f64())?,
                Err(_) => write!(f, ", held since just now")?,
            }
        }
        if let Some(group) = self.process_group {
            write!(f, ", running process group {group}")?;
        }
        if !self.alive {
            write!(f, ", holder no longer running")?;
        }
        Ok(())
    }
}

/// A snapshot of a lock's shared record. Taking it never blocks and never changes the lock.
///
/// # Examples
///
/// ```
/// let lock = interlock::Lock::new()?;
/// drop(lock.lock()?);
/// let status = lock.status();
/// assert!(status.holder.is_none());
/// assert_eq!(status.acquisitions, 1);
/// assert_eq!(status.owner_deaths, 0);
/// assert!(!status.poisoned);
/// # Ok::<(), interlock::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct LockStatus {
    /// Lock or RLock.
    pub kind: Kind,
    /// The current holder, if the lock is held.
    pub holder: Option<Holder>,
    /// Threads waiting to acquire it.
    pub waiters: u32,
    /// Acquisitions since the lock was created (the last fencing token handed out).
    pub acquisitions: u64,
    /// How many times an acquirer found the previous owner dead.
    pub owner_deaths: u32,
    /// Whether the lock is poisoned (a panic or a death in a section, not yet cleared).
    pub poisoned: bool,
    /// The last owner died and nobody has taken the lock since.
    pub owner_died_unclaimed: bool,
    /// RLock recursion depth of the current hold (0 when free; 1 for a held Lock).
    pub depth: u32,
    /// A process group an earlier hold ran its command in and did not see end (its holder
    /// died): see [`LockGuard::leftover_group`](crate::LockGuard::leftover_group). It may
    /// have ended since; ask [`ProcessGroup::state`].
    pub leftover_group: Option<ProcessGroup>,
    /// An [`Event`](crate::Event)'s state (`None` for any other kind; an event has no holder).
    /// In JSON only for an event.
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub event: Option<EventStatus>,
    /// A [`Barrier`](crate::Barrier)'s state (`None` for any other kind; a barrier has no
    /// holder). In JSON only for a barrier.
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub barrier: Option<BarrierStatus>,
    /// A [`Semaphore`](crate::Semaphore)'s permits, each with its holder (`None` for any other
    /// kind). In JSON only for a semaphore. For a semaphore, the fields above sum up its
    /// permits: `holder` is `None` (each permit's is in [`SemaphoreStatus::permits`]),
    /// `waiters` is its [`sleepers`](SemaphoreStatus::sleepers), `acquisitions` and
    /// `owner_deaths` are the permits' totals, `owner_died_unclaimed` says whether a permit's
    /// is, and `poisoned` is false (a death is told to the permit's next taker, not kept).
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub semaphore: Option<SemaphoreStatus>,
    /// A [`Condition`](crate::Condition)'s state (`None` for any other kind; a condition has
    /// no holder: its lock has). In JSON only for a condition.
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub condition: Option<ConditionStatus>,
    /// An [`RwLock`](crate::RwLock)'s readers and writer (`None` for any other kind). In JSON
    /// only for an rwlock. For an rwlock, the fields above are its writer's record: `holder`
    /// is the writer (writing, or waiting for readers to leave), `acquisitions` counts writes,
    /// `waiters` the threads asleep for the writer's word (writers and readers); and
    /// `owner_deaths` adds the readers' deaths to the writers'.
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub rwlock: Option<RwLockStatus>,
}

impl LockStatus {
    /// The status of a lock nobody has taken yet (a [`FileLock`](crate::FileLock)'s sidecar
    /// that does not exist yet).
    pub(crate) fn never_taken() -> LockStatus {
        LockStatus::never_taken_of(Kind::Lock)
    }

    /// The status of a handle of `kind` that has no holder and was never taken (an event's
    /// or a barrier's, before their own fields are filled in).
    pub(crate) fn never_taken_of(kind: Kind) -> LockStatus {
        LockStatus {
            kind,
            holder: None,
            waiters: 0,
            acquisitions: 0,
            owner_deaths: 0,
            poisoned: false,
            owner_died_unclaimed: false,
            depth: 0,
            leftover_group: None,
            event: None,
            barrier: None,
            semaphore: None,
            condition: None,
            rwlock: None,
        }
    }
}

/// An [`RwLock`](crate::RwLock)'s state, read without taking anything: what
/// [`RwLock::status`](crate::RwLock::status), [`namespace::status`](crate::namespace::status)
/// and `interlock status` report.
///
/// # Examples
///
/// ```
/// let rw = interlock::RwLock::new()?;
/// let _r = rw.read()?;
/// let status = rw.status();
/// assert!(status.writer.is_none());
/// assert_eq!(status.readers.len(), 1);
/// assert_eq!(status.readers[0].holder.pid, std::process::id());
/// # Ok::<(), interlock::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct RwLockStatus {
    /// The writer: writing, or (when [`readers`](RwLockStatus::readers) is not empty) holding
    /// the lock against new readers while it waits for these to leave.
    pub writer: Option<Holder>,
    /// Every reader holding a slot now.
    pub readers: Vec<ReaderStatus>,
    /// How many reader slots the lock has (`Options::readers`).
    pub reader_slots: u32,
    /// Threads asleep waiting for the writer's word: writers waiting their turn, and readers
    /// kept out by a writer (a hint: a sleeper SIGKILLed in its sleep may stay counted).
    pub waiters: u32,
    /// Of those, the readers.
    pub waiting_readers: u32,
    /// Writes so far (the last writer's fencing token).
    pub writes: u64,
    /// Writers that died holding the lock (a death not yet claimed counts).
    pub writer_deaths: u32,
    /// Readers that died holding a slot.
    pub reader_deaths: u32,
    /// Deaths no holder has been told of yet: a writer's that no one has come after, readers'
    /// that no writer has come after. The next writer is told (or, of a writer's, the next
    /// reader).
    pub deaths_untold: u32,
    /// Whether the lock is poisoned: a writer died or panicked, and nobody has cleared it.
    pub poisoned: bool,
    /// Which side it prefers (fixed at creation): [`RwPolicy`].
    pub policy: RwPolicy,
    /// Reader preference only: whether the writer has drained the readers and is writing
    /// (new readers wait); a writer that holds the lock without it is still draining, with new
    /// readers let in.
    pub entered: bool,
}

/// Which side an [`RwLock`](crate::RwLock) lets in first when a writer waits for readers to leave: fixed when
/// the rwlock is created (stored in its segment, shown by [`RwLock::status`](crate::RwLock::status) and
/// `interlock status`), checked when it is opened with a policy given.
///
/// # Examples
///
/// ```
/// use interlock::{RwLock, RwPolicy};
///
/// let rw = RwLock::options().policy(RwPolicy::PreferReaders).create()?;
/// assert_eq!(rw.policy(), RwPolicy::PreferReaders);
/// assert_eq!(RwLock::new()?.policy(), RwPolicy::PreferWriters);
/// # Ok::<(), interlock::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
pub enum RwPolicy {
    /// The default: a writer that holds the lock while it waits for the readers to leave keeps
    /// new readers out, so a stream of readers never starves it. With more processes than
    /// CPUs, a writer preempted while it waits stops every reader.
    #[default]
    PreferWriters,
    /// New readers are let in while a writer waits for the readers to leave (glibc's default
    /// `pthread_rwlock` policy); only a writer that found them all gone keeps readers out, for
    /// as long as it writes. Writers may starve: under a stream of overlapping readers a
    /// writer waits for ever — that is what the policy means. A write costs one more atomic
    /// instruction.
    PreferReaders,
}

impl fmt::Display for RwPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RwPolicy::PreferWriters => "writer-preferring",
            RwPolicy::PreferReaders => "reader-preferring",
        })
    }
}

/// A reader holding a slot of an [`RwLock`](crate::RwLock).
///
/// # Examples
///
/// ```
/// let rw = interlock::RwLock::new()?;
/// let _r = rw.read()?;
/// let reader = &rw.status().readers[0];
/// assert!(reader.slot < 64);
/// assert!(reader.holder.alive);
/// # Ok::<(), interlock::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct ReaderStatus {
    /// Which reader slot (0 to `reader_slots - 1`).
    pub slot: u32,
    /// Who holds it.
    pub holder: Holder,
}

/// A [`Semaphore`](crate::Semaphore)'s state, every permit of it, read without taking any:
/// what [`Semaphore::status`](crate::Semaphore::status), [`namespace::status`](crate::namespace::status)
/// and `interlock status` report.
///
/// # Examples
///
/// ```
/// let sem = interlock::Semaphore::new(3)?;
/// let permit = sem.acquire()?;
/// let status = sem.status();
/// assert_eq!((status.permits.len(), status.free, status.sleepers), (3, 2, 0));
/// let held = &status.permits[permit.slot()];
/// assert_eq!(held.holder.as_ref().map(|h| h.pid), Some(std::process::id()));
/// # Ok::<(), interlock::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct SemaphoreStatus {
    /// Every permit, in order: `permits[i]` is permit `i` ([`Permit::slot`](crate::Permit::slot)).
    pub permits: Vec<PermitStatus>,
    /// How many permits nobody holds (a permit whose holder died, not yet taken again, is
    /// free).
    pub free: u32,
    /// Threads asleep waiting for any permit (a hint: a sleeper SIGKILLed in its sleep stays
    /// counted until a waiter's count is settled).
    pub sleepers: u32,
}

/// One permit of a [`Semaphore`](crate::Semaphore): its holder and its history, read from its
/// robust lock record.
///
/// # Examples
///
/// ```
/// let sem = interlock::Semaphore::new(1)?;
/// drop(sem.acquire()?);
/// let permit = &sem.status().permits[0];
/// assert!(permit.holder.is_none());
/// assert_eq!((permit.permit, permit.acquisitions, permit.owner_deaths), (0, 1, 0));
/// # Ok::<(), interlock::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct PermitStatus {
    /// Which permit: 0 to `permits - 1`.
    pub permit: u32,
    /// Who holds it (pid, tid, since when if the taker's handle records times, liveness), if
    /// anyone does.
    pub holder: Option<Holder>,
    /// How many times it was taken (the last fencing token of this permit).
    pub acquisitions: u64,
    /// How many of its holders died holding it (a death not yet claimed by a taker counts).
    pub owner_deaths: u32,
    /// Its last holder died holding it and nobody has taken it since (it is free).
    pub owner_died_unclaimed: bool,
    /// Threads asleep on this permit's word.
    pub waiters: u32,
    /// A process group a holder that died ran its command in (`interlock run --slots`), as
    /// for a lock: [`LockStatus::leftover_group`].
    pub leftover_group: Option<ProcessGroup>,
}

/// An [`Event`](crate::Event)'s state, read without changing it.
///
/// # Examples
///
/// ```
/// let event = interlock::Event::new()?;
/// event.set();
/// let status = event.status();
/// assert!(status.set && status.sets == 1 && !status.waiters);
/// # Ok::<(), interlock::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct EventStatus {
    /// Whether the flag is set.
    pub set: bool,
    /// How many times the flag went from clear to set (modulo 2^30).
    pub sets: u32,
    /// Whether a process may be asleep in `wait` (a hint: a waiter killed in its sleep leaves
    /// it on until the next `set`).
    pub waiters: bool,
}

/// Why a [`Barrier`](crate::Barrier) is broken: what
/// [`Error::BrokenBarrier`](crate::Error::BrokenBarrier) and [`BarrierStatus::broken`] report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub enum BarrierBreak {
    /// A party died (was killed) while the others waited: the dead pid is given beside.
    PartyDied,
    /// A party's [`wait_timeout`](crate::Barrier::wait_timeout) ran out (Python's semantics: a
    /// timeout breaks the barrier for everyone).
    Timeout,
    /// [`abort`](crate::Barrier::abort) was called.
    Abort,
    /// [`reset`](crate::Barrier::reset) was called while this party waited; the barrier is
    /// usable again.
    Reset,
}

impl fmt::Display for BarrierBreak {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BarrierBreak::PartyDied => "a party died",
            BarrierBreak::Timeout => "a wait timed out",
            BarrierBreak::Abort => "it was aborted",
            BarrierBreak::Reset => "it was reset",
        })
    }
}

/// A [`Barrier`](crate::Barrier)'s state, read without changing it.
///
/// # Examples
///
/// ```
/// let barrier = interlock::Barrier::new(3)?;
/// let status = barrier.status();
/// assert_eq!((status.parties, status.arrived, status.generation), (3, 0, 0));
/// assert!(status.broken.is_none());
/// # Ok::<(), interlock::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct BarrierStatus {
    /// How many parties each generation waits for.
    pub parties: u32,
    /// How many are waiting now.
    pub arrived: u32,
    /// Generations tripped or reset so far (modulo 2^19).
    pub generation: u32,
    /// Why it is broken, while it is (until a [`reset`](crate::Barrier::reset)).
    pub broken: Option<BarrierBreak>,
    /// The party whose death broke it, when that is why.
    pub dead_pid: Option<u32>,
    /// The pids recorded as arriving in this generation (at most `arrived` of them), in the
    /// order of their slots.
    pub waiting: Vec<u32>,
}

/// A process group that a hold of a lock ran its command in ([`LockGuard::spawn_group`]), as
/// the lock's record names it: what a holder that died may have left running
/// ([`LockGuard::leftover_group`], [`LockStatus::leftover_group`](crate::LockStatus)).
///
/// It remembers the identity of the group's first process, so that a group id the kernel has
/// given out again (only possible once every process of the old group is gone) is not taken
/// for it.
///
/// [`LockGuard::spawn_group`]: crate::LockGuard::spawn_group
/// [`LockGuard::leftover_group`]: crate::LockGuard::leftover_group
///
/// # Examples
///
/// ```
/// use std::process::Command;
/// use std::os::unix::process::ExitStatusExt;
/// use interlock::GroupState;
///
/// let lock = interlock::Lock::new()?;
/// let guard = lock.lock()?;
/// let mut child = guard.spawn_group(Command::new("sleep").arg("60"))?;
/// let group = child.group();
/// assert_eq!(group.state(), GroupState::Running);
/// group.kill()?;
/// assert_eq!(child.wait()?.signal(), Some(9));
/// child.wait_group()?;
/// assert_eq!(group.state(), GroupState::Gone);
/// # Ok::<(), interlock::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct ProcessGroup {
    /// The process group id: the pid of the command it was made for.
    pub pgid: u32,
    /// The fencing token of the hold that ran it.
    pub token: u64,
    /// The process identity of the group's first process (0: not known).
    pub(crate) identity: u64,
    /// The tag of the pid namespace `pgid` is numbered in.
    pub(crate) ns: u32,
}

/// Whether the processes of a [`ProcessGroup`] still run.
///
/// # Examples
///
/// ```
/// use interlock::GroupState;
///
/// let lock = interlock::Lock::new()?;
/// let guard = lock.lock()?;
/// let mut child = guard.spawn_group(&mut std::process::Command::new("true"))?;
/// child.wait_group()?;
/// assert_eq!(child.group().state(), GroupState::Gone);
/// # Ok::<(), interlock::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum GroupState {
    /// A process of the group runs (or may: one exists that this process may not see).
    Running,
    /// No process of the group runs: none is left (or only zombies, which do nothing).
    Gone,
    /// Cannot be told here: the group is numbered in another pid namespace.
    Unknown,
}

impl fmt::Display for ProcessGroup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "process group {}", self.pgid)
    }
}

/// A [`Condition`](crate::Condition)'s state, read without changing it: what
/// [`Condition::status`](crate::Condition::status), [`namespace::status`](crate::namespace::status)
/// and `interlock status` report.
///
/// # Examples
///
/// ```
/// let lock = interlock::Lock::new()?;
/// let cond = interlock::Condition::new(&lock)?;
/// let status = cond.status();
/// assert_eq!((status.waiters, status.pending, status.sequence), (0, 0, 0));
/// # Ok::<(), interlock::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct ConditionStatus {
    /// Waiters counted in. An upper bound: a waiter killed while it waited stays counted until
    /// a living waiter finds it dead (each looks once a second) — which costs at most spurious
    /// wake-ups meanwhile, never a lost one.
    pub waiters: u32,
    /// Notifications given and not yet taken by a waiter.
    pub pending: u32,
    /// Notifications so far (wrapping at 2^32): the word waiters sleep on.
    pub sequence: u32,
    /// The process ids of the waiters named in the condition's slots (the first 32 waiters at
    /// once have one; the others are only counted).
    pub waiting: Vec<u32>,
}
