//! What observers can learn about a lock without taking it.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::command::ProcessGroup;
use crate::segment::{Kind, Record};
use crate::sync::Ordering;
use crate::sys;
use crate::word::{OWNER_DIED, OWNER_TID};

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
}

impl LockStatus {
    /// The status of a lock nobody has taken yet (a [`FileLock`](crate::FileLock)'s sidecar
    /// that does not exist yet).
    pub(crate) fn never_taken() -> LockStatus {
        LockStatus {
            kind: Kind::Lock,
            holder: None,
            waiters: 0,
            acquisitions: 0,
            owner_deaths: 0,
            poisoned: false,
            owner_died_unclaimed: false,
            depth: 0,
            leftover_group: None,
        }
    }

    pub(crate) fn read(rec: &Record, kind: Kind) -> LockStatus {
        let word = rec.word.load(Ordering::Acquire);
        // A fair lock being handed over belongs to nobody yet (the woken sleeper takes it).
        let tid = match word & OWNER_TID {
            crate::word::HANDOFF => 0,
            tid => tid,
        };
        let token = rec.acquisitions.load(Ordering::Relaxed);
        let me = sys::me();
        let group = rec.group();
        let holder = (tid != 0).then(|| {
            let ids = rec.owner_ids();
            let pid = ids.pid;
            let start = rec.owner_identity.load(Ordering::Relaxed);
            let stamped = rec.stamp_token.load(Ordering::Acquire) == token;
            let at = rec.acquired_at_ns.load(Ordering::Relaxed);
            Holder {
                pid,
                tid,
                since: stamped.then(|| UNIX_EPOCH + Duration::from_nanos(at)),
                token,
                alive: sys::holder_liveness(&me, ids, start) != sys::Liveness::Dead,
                command: command_line(pid),
                process_group: group.filter(|g| g.token == token).map(|g| g.ids.pid),
            }
        });
        let leftover_group = group
            .filter(|g| holder.is_none() || g.token != token)
            .map(ProcessGroup::from_record);
        let died_unclaimed = word & crate::word::TID_MASK == 0 && word & OWNER_DIED != 0;
        LockStatus {
            kind,
            depth: if tid == 0 {
                0
            } else {
                rec.depth.load(Ordering::Relaxed).max(1)
            },
            holder,
            // Sleepers announce themselves in the word before they count themselves, and a
            // waiter killed while it slept never uncounts itself: with no announcement in the
            // word nobody sleeps on it, whatever the count says.
            waiters: if word & crate::word::WAITERS == 0 {
                0
            } else {
                rec.waiters.load(Ordering::Relaxed)
            },
            acquisitions: rec.acquisitions.load(Ordering::Relaxed),
            // A death nobody has claimed yet counts (and poisons) already: the next acquirer
            // will record it.
            owner_deaths: rec.owner_deaths.load(Ordering::Relaxed) + u32::from(died_unclaimed),
            poisoned: rec.poisoned.load(Ordering::Relaxed) != 0 || died_unclaimed,
            owner_died_unclaimed: died_unclaimed,
            leftover_group,
        }
    }
}

/// `/proc/PID/cmdline` with NULs as spaces, if readable.
pub(crate) fn command_line(pid: u32) -> Option<String> {
    let raw = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    let text: Vec<String> = raw
        .split(|&b| b == 0)
        .filter(|s| !s.is_empty())
        .map(|s| String::from_utf8_lossy(s).into_owned())
        .collect();
    (!text.is_empty()).then(|| text.join(" "))
}
