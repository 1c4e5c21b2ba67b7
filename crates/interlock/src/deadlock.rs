//! Deadlock detection across processes: a thread blocked on a lock longer than the
//! [`timeout`] (200 ms by default; [`set_timeout`]) registers in its namespace's wait-for
//! graph, and when its wait closes a cycle — it waits for a lock whose holder waits, directly or
//! through others, for a lock it holds — exactly one member of the cycle gets
//! [`Error::Deadlock`] naming the cycle, and the others proceed once
//! that one drops its guards. [`wait_graph`] and [`cycles`] show the graph and its cycles
//! from outside (`interlock status --deadlocks`).
//!
//! A cycle is acted on only when confirmed: found twice, at least one refresh period (25 ms)
//! apart, with every waiter's entry refreshed in between and unchanged (same lock, same holder,
//! same acquisition count). An unchanged count across two refreshes means the holder held that
//! lock the whole time, and an entry still there means its thread waited the whole time: at the
//! first sighting every edge held at once — a real deadlock, not a stale picture. The member
//! that acts is the one that started waiting last (then the highest thread id): every member
//! runs the same check on the same confirmed cycle and agrees.
//!
//! Uncontended acquisitions never come here; a wait shorter than the timeout never touches the
//! graph.
//!
//! # Examples
//!
//! ```
//! use std::time::Duration;
//! use interlock::deadlock;
//!
//! deadlock::set_timeout(Duration::from_millis(500));
//! assert_eq!(deadlock::timeout(), Duration::from_millis(500));
//! assert!(deadlock::cycles()?.is_empty(), "nobody waits here");
//! # Ok::<(), interlock::Error>(())
//! ```

// Layer 3½: the wait-for graph. A waiter past the timeout registers in the namespace's wait
// registry (a `Content::WaitRegistry` segment, `.wait-registry`) — which lock it waits for,
// which thread holds it, that lock's acquisition count — refreshes the entry every [`PERIOD`]
// while it waits, and walks the graph: waiter → holder → what the holder waits for → … back to
// itself is a cycle.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::shm::name::Namespace;
use crate::shm::{Content, Segment, WAIT_SLOT_LEN};
use crate::sys::{self, Me};
use crate::types::{CycleMember, Error, WaitEdge};

/// How often a registered waiter refreshes its entry and looks for a cycle.
pub(crate) const PERIOD: Duration = Duration::from_millis(25);

/// The default deadlock timeout: how long a waiter waits before it registers and looks.
/// PostgreSQL's is 1 s because its check locks every lock partition; ours reads one 256 KiB
/// registry without locking anything, so it can look sooner — but not so soon that every
/// ordinary wait behind a slow holder pays for registering.
pub(crate) const DEFAULT_TIMEOUT: Duration = Duration::from_millis(200);

/// Slots in a namespace's registry: the most threads that can be registered at once.
const SLOTS: u32 = 4096;
const WORDS: usize = WAIT_SLOT_LEN / 8;
const FILE: &str = ".wait-registry";

// Slot words.
/// `pid << 32 | tid` of the waiting thread; 0 = free; [`BUSY`]` | pid << 32 | tid` while that
/// thread claims it (so that a claimer killed mid-claim leaves a slot others can reclaim).
const OWNER: usize = 0;
/// The owner word of a slot being claimed: its identity and fields are being written, and it
/// is neither free nor anyone's yet.
const BUSY: u64 = 1 << 63;
/// Even when stable, odd while being written.
const SEQ: usize = 1;
/// The waiting process's identity (`sys::process_identity`), to tell a dead entry.
const IDENTITY: usize = 2;
/// The lock waited for: device, inode, `record index << 32 | holder tid`, acquisitions.
const DEV: usize = 3;
const INO: usize = 4;
const INDEX_HOLDER: usize = 5;
const TOKEN: usize = 6;
/// CLOCK_MONOTONIC ns when the wait began (not when it registered).
const SINCE: usize = 7;

static TIMEOUT_MS: AtomicU64 = AtomicU64::new(DEFAULT_TIMEOUT.as_millis() as u64);

/// Sets how long a waiter blocks before it checks for a deadlock (process-wide; the default is
/// 200 ms). `Duration::MAX` turns detection off.
///
/// # Scope
///
/// Waiters register in the wait registry of their namespace directory (see
/// [`namespace::dir`](crate::namespace::dir)), and a cycle is found only among waiters of one
/// registry, numbered in one pid namespace: the same user with the same `INTERLOCK_DIR`, in
/// one container. That holds for anonymous locks too. A cycle across users, across different
/// `INTERLOCK_DIR` settings or across pid namespaces is not detected; its waiters wait (or time
/// out) as they would without detection.
///
/// # Examples
///
/// ```
/// interlock::deadlock::set_timeout(std::time::Duration::from_millis(500));
/// assert_eq!(interlock::deadlock::timeout(), std::time::Duration::from_millis(500));
/// ```
pub fn set_timeout(timeout: Duration) {
    let ms = u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX);
    TIMEOUT_MS.store(ms, Ordering::Relaxed);
}

/// The deadlock timeout in force (see [`set_timeout`]).
///
/// # Examples
///
/// ```
/// assert!(interlock::deadlock::timeout() > std::time::Duration::ZERO);
/// ```
pub fn timeout() -> Duration {
    Duration::from_millis(TIMEOUT_MS.load(Ordering::Relaxed))
}

/// Which lock a waiter waits for, as every process names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct LockKey {
    pub(crate) dev: u64,
    pub(crate) ino: u64,
    pub(crate) index: u32,
}

/// One entry as read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Entry {
    slot: usize,
    seq: u64,
    pid: u32,
    tid: u32,
    identity: u64,
    key: LockKey,
    holder: u32,
    token: u64,
    since: u64,
}

/// This user's namespace registry, opened (created if missing) and mapped. Opened anew by
/// each waiter that passes the deadlock timeout — a few tens of µs against a wait of at least
/// the timeout — so no process-wide state is kept that a `fork` could catch half made.
fn registry() -> Option<Segment> {
    Namespace::open()
        .and_then(|ns| ns.open_or_create_file(FILE, Content::WaitRegistry, &SLOTS.to_ne_bytes()))
        .ok()
        // A file of another kind at that name is not ours to read: no detection.
        .filter(|seg| seg.header().content == Content::WaitRegistry)
}

fn slot(words: &[AtomicU64], i: usize) -> &[AtomicU64] {
    &words[i * WORDS..(i + 1) * WORDS]
}

fn read(words: &[AtomicU64], i: usize) -> Option<Entry> {
    let w = slot(words, i);
    let owner = w[OWNER].load(Ordering::Acquire);
    if owner == 0 || owner & BUSY != 0 {
        return None;
    }
    let seq = w[SEQ].load(Ordering::Acquire);
    if seq % 2 == 1 {
        return None;
    }
    let index_holder = w[INDEX_HOLDER].load(Ordering::Relaxed);
    let e = Entry {
        slot: i,
        seq,
        pid: (owner >> 32) as u32,
        tid: owner as u32,
        identity: w[IDENTITY].load(Ordering::Relaxed),
        key: LockKey {
            dev: w[DEV].load(Ordering::Relaxed),
            ino: w[INO].load(Ordering::Relaxed),
            index: (index_holder >> 32) as u32,
        },
        holder: index_holder as u32,
        token: w[TOKEN].load(Ordering::Relaxed),
        since: w[SINCE].load(Ordering::Relaxed),
    };
    std::sync::atomic::fence(Ordering::Acquire);
    (w[SEQ].load(Ordering::Relaxed) == seq && w[OWNER].load(Ordering::Relaxed) == owner)
        .then_some(e)
}

/// A registered waiter: its slot, released on drop.
pub(crate) struct Registration {
    reg: Segment,
    slot: usize,
    /// `pid << 32 | tid`, as in the slot's owner word.
    owner: u64,
    tid: u32,
    since: u64,
    /// A cycle seen at the last look, to be confirmed at a later one.
    candidate: Option<Vec<Entry>>,
}

impl Registration {
    /// Registers the calling thread as waiting for `key` since `since` (CLOCK_MONOTONIC ns),
    /// held by `holder` at acquisition count `token`. `None` when the registry cannot be used
    /// (then no detection, just waiting).
    pub(crate) fn new(
        me: &Me,
        since: u64,
        key: LockKey,
        holder: u32,
        token: u64,
    ) -> Option<Registration> {
        let reg = registry()?;
        let words = reg.registry_words();
        let owner = u64::from(me.pid) << 32 | u64::from(me.tid);
        let n = words.len() / WORDS;
        let start = me.tid as usize % n;
        for k in 0..n {
            let i = (start + k) % n;
            let w = slot(words, i);
            let current = w[OWNER].load(Ordering::Acquire);
            if current != 0 && !entry_is_dead(words, i, current) {
                continue;
            }
            // Claimed as BUSY first: identity and fields are written before the slot names its
            // owner, so no reader ever pairs our owner with a previous owner's identity (and
            // judges us dead by it).
            if w[OWNER]
                .compare_exchange(current, BUSY | owner, Ordering::AcqRel, Ordering::Relaxed)
                .is_err()
            {
                continue;
            }
            let r = Registration {
                reg,
                slot: i,
                owner,
                tid: me.tid,
                since,
                candidate: None,
            };
            let w = slot(r.reg.registry_words(), i);
            w[IDENTITY].store(me.start_time, Ordering::Relaxed);
            r.publish(key, holder, token);
            w[OWNER].store(owner, Ordering::Release);
            return Some(r);
        }
        None
    }

    /// Publishes what the waiter sees now (seqlock write: odd, fields, even).
    pub(crate) fn publish(&self, key: LockKey, holder: u32, token: u64) {
        let w = slot(self.reg.registry_words(), self.slot);
        let seq = w[SEQ].load(Ordering::Relaxed);
        let odd = seq | 1;
        w[SEQ].store(odd, Ordering::Relaxed);
        std::sync::atomic::fence(Ordering::Release);
        w[DEV].store(key.dev, Ordering::Relaxed);
        w[INO].store(key.ino, Ordering::Relaxed);
        w[INDEX_HOLDER].store(
            u64::from(key.index) << 32 | u64::from(holder),
            Ordering::Relaxed,
        );
        w[TOKEN].store(token, Ordering::Relaxed);
        w[SINCE].store(self.since, Ordering::Relaxed);
        w[SEQ].store(odd + 1, Ordering::Release);
    }

    /// Looks for a cycle through this waiter. Returns the cycle once it is confirmed and this
    /// waiter is the one chosen to break it.
    pub(crate) fn check(&mut self) -> Option<Vec<CycleMember>> {
        let words = self.reg.registry_words();
        let entries = live_entries(words);
        let cycle = find_cycle(&entries, self.slot);
        let confirmed = match (&self.candidate, &cycle) {
            (Some(before), Some(now)) => same_cycle_refreshed(before, now),
            _ => false,
        };
        self.candidate = cycle;
        if !confirmed {
            return None;
        }
        let cycle = self.candidate.as_ref()?;
        if !is_chosen(cycle, self.tid) {
            return None;
        }
        // Members in order from this waiter.
        Some(
            cycle
                .iter()
                .map(|e| CycleMember {
                    pid: e.pid,
                    tid: e.tid,
                    waits_for: describe(e.key),
                    held_by: e.holder,
                })
                .collect(),
        )
    }
}

/// Whether `tid` is the member of `cycle` that breaks it: the latest to start waiting, then
/// the highest tid — the same answer for every member, whichever of them asks.
fn is_chosen(cycle: &[Entry], tid: u32) -> bool {
    cycle
        .iter()
        .max_by_key(|e| (e.since, e.tid))
        .is_some_and(|chosen| chosen.tid == tid)
}

impl Drop for Registration {
    fn drop(&mut self) {
        let w = slot(self.reg.registry_words(), self.slot);
        // Odd: a stale read of our fields by the slot's next owner cannot look published.
        w[SEQ].fetch_add(1, Ordering::Release);
        // Only if still ours (a slot is never taken from a live owner, but be exact).
        let _ = w[OWNER].compare_exchange(self.owner, 0, Ordering::Release, Ordering::Relaxed);
    }
}

/// Whether slot `i`, owned by `owner` (as just read, Acquire), belongs to a thread that is
/// gone (for a BUSY slot: whether its claimer is).
fn entry_is_dead(words: &[AtomicU64], i: usize, owner: u64) -> bool {
    let w = slot(words, i);
    if owner == 0 {
        return false;
    }
    if owner & BUSY != 0 {
        // Being claimed: the identity field may still be a previous owner's, so only the
        // claimer's absence counts (a reused pid keeps the slot until that process is gone
        // too: never a live claimer's slot taken).
        let ids = owner & !BUSY;
        return !sys::thread_exists((ids >> 32) as u32, ids as u32);
    }
    let identity = w[IDENTITY].load(Ordering::Acquire);
    // The identity must be the one written for this owner (written before it, read after it).
    if w[OWNER].load(Ordering::Acquire) != owner {
        return false;
    }
    sys::thread_liveness((owner >> 32) as u32, owner as u32, identity) == sys::Liveness::Dead
}

/// Every published entry whose thread is alive.
fn live_entries(words: &[AtomicU64]) -> Vec<Entry> {
    (0..words.len() / WORDS)
        .filter_map(|i| read(words, i))
        .filter(|e| {
            let owner = u64::from(e.pid) << 32 | u64::from(e.tid);
            !entry_is_dead(words, e.slot, owner)
        })
        .collect()
}

/// Follows waiter → holder from the entry in slot `me` through the entries: the cycle back to
/// it, if any, in order starting with it.
fn find_cycle(entries: &[Entry], me: usize) -> Option<Vec<Entry>> {
    let first = *entries.iter().find(|e| e.slot == me)?;
    let by_tid = |tid: u32| entries.iter().find(|e| e.tid == tid);
    let mut cycle = vec![first];
    loop {
        let next = cycle.last()?.holder;
        if next == 0 {
            return None;
        }
        if next == first.tid {
            return Some(cycle);
        }
        if cycle.iter().any(|e| e.tid == next) || cycle.len() > entries.len() {
            return None; // a cycle that does not pass through us: its members will find it
        }
        cycle.push(*by_tid(next)?);
    }
}

/// Whether `now` is the cycle `before` with every entry republished (a higher sequence number)
/// and otherwise unchanged.
fn same_cycle_refreshed(before: &[Entry], now: &[Entry]) -> bool {
    before.len() == now.len()
        && before.iter().zip(now).all(|(b, n)| {
            n.slot == b.slot
                && n.seq > b.seq
                && (n.pid, n.tid, n.key, n.holder, n.token, n.since)
                    == (b.pid, b.tid, b.key, b.holder, b.token, b.since)
        })
}

/// A lock's name if it is a named lock of this namespace, else `dev:inode[index]`.
fn describe(key: LockKey) -> String {
    if let Some(name) = Namespace::open()
        .ok()
        .and_then(|ns| ns.name_of(key.dev, key.ino))
    {
        if key.index == 0 {
            return format!("{name:?}");
        }
        return format!("{name:?}[{}]", key.index);
    }
    format!("{}:{}[{}]", key.dev, key.ino, key.index)
}

fn snapshot() -> Option<Vec<Entry>> {
    let reg = registry()?;
    Some(live_entries(reg.registry_words()))
}

/// The wait-for graph of this user's namespace: every thread blocked on a lock longer than the
/// deadlock timeout (shorter waits are not registered), with the lock's holder.
///
/// # Errors
///
/// None today (an unusable namespace reads as no waiters); the `Result` leaves room.
///
/// # Examples
///
/// ```
/// for e in interlock::deadlock::wait_graph()? {
///     println!("pid {} tid {} waits for {} held by tid {}", e.pid, e.tid, e.waits_for, e.held_by);
/// }
/// # Ok::<(), interlock::Error>(())
/// ```
pub fn wait_graph() -> Result<Vec<WaitEdge>, Error> {
    Ok(edges(|_| true))
}

/// The registry's entries that `keep` accepts, as wait-for edges.
fn edges(keep: impl Fn(&Entry) -> bool) -> Vec<WaitEdge> {
    let now = sys::monotonic_ns();
    snapshot()
        .unwrap_or_default()
        .into_iter()
        .filter(|e| keep(e))
        .map(|e| WaitEdge {
            pid: e.pid,
            tid: e.tid,
            waits_for: describe(e.key),
            held_by: e.holder,
            waited: Duration::from_nanos(now.saturating_sub(e.since)),
        })
        .collect()
}

/// The edges of [`wait_graph`] whose waiter waits for a lock of the file `dev`/`ino`.
pub(crate) fn wait_edges_for(dev: u64, ino: u64) -> Vec<WaitEdge> {
    edges(|e| e.key.dev == dev && e.key.ino == ino)
}

/// The deadlock cycles present in this user's namespace now, each from its youngest waiter (the
/// one that will be told). A cycle is reported only if it is seen twice, with every member's
/// entry refreshed in between — takes about 60 ms.
///
/// # Errors
///
/// As [`wait_graph`].
///
/// # Examples
///
/// ```
/// for cycle in interlock::deadlock::cycles()? {
///     eprintln!("deadlock: {cycle:?}");
/// }
/// # Ok::<(), interlock::Error>(())
/// ```
pub fn cycles() -> Result<Vec<Vec<CycleMember>>, Error> {
    let Some(first) = snapshot() else {
        return Ok(Vec::new());
    };
    std::thread::sleep(PERIOD * 2 + PERIOD / 2);
    let second = snapshot().unwrap_or_default();
    let mut cycles: Vec<Vec<CycleMember>> = Vec::new();
    let mut seen: Vec<u32> = Vec::new();
    for e in &second {
        if seen.contains(&e.tid) {
            continue;
        }
        let (Some(now), Some(before)) = (find_cycle(&second, e.slot), find_cycle(&first, e.slot))
        else {
            continue;
        };
        if !same_cycle_refreshed(&before, &now) {
            continue;
        }
        seen.extend(now.iter().map(|m| m.tid));
        // Start from the youngest waiter, the one the detector chooses.
        let start = now
            .iter()
            .enumerate()
            .max_by_key(|(_, m)| (m.since, m.tid))
            .map_or(0, |(i, _)| i);
        let mut ordered = now[start..].to_vec();
        ordered.extend_from_slice(&now[..start]);
        cycles.push(
            ordered
                .into_iter()
                .map(|m| CycleMember {
                    pid: m.pid,
                    tid: m.tid,
                    waits_for: describe(m.key),
                    held_by: m.holder,
                })
                .collect(),
        );
    }
    Ok(cycles)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(slot: usize, tid: u32, holder: u32, since: u64) -> Entry {
        Entry {
            slot,
            seq: 2,
            pid: tid,
            tid,
            identity: 0,
            key: LockKey {
                dev: 1,
                ino: u64::from(tid),
                index: 0,
            },
            holder,
            token: 7,
            since,
        }
    }

    /// A slot left BUSY by a claimer killed mid-claim is reclaimable once the claimer is gone;
    /// a live claimer's is not. (BUSY was once one constant: such a slot stayed taken for ever.)
    #[test]
    fn a_slot_whose_claimer_died_mid_claim_is_reclaimable() {
        let words: Vec<AtomicU64> = (0..WORDS).map(|_| AtomicU64::new(0)).collect();
        let me = sys::me();
        let live = u64::from(me.pid) << 32 | u64::from(me.tid);
        words[OWNER].store(BUSY | live, Ordering::Relaxed);
        assert!(
            !entry_is_dead(&words, 0, BUSY | live),
            "a live claimer keeps its slot"
        );
        assert!(read(&words, 0).is_none(), "a BUSY slot is no entry");
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let gone = child.id();
        child.wait().unwrap();
        let dead = u64::from(gone) << 32 | u64::from(gone);
        words[OWNER].store(BUSY | dead, Ordering::Relaxed);
        assert!(
            entry_is_dead(&words, 0, BUSY | dead),
            "a dead claimer's slot is reclaimable"
        );
    }

    #[test]
    fn cycles_are_found_from_each_member_and_chains_are_not_cycles() {
        let two = [entry(0, 10, 20, 1), entry(1, 20, 10, 2)];
        assert_eq!(find_cycle(&two, 0).unwrap().len(), 2);
        assert_eq!(find_cycle(&two, 1).unwrap()[0].tid, 20);
        let chain = [
            entry(0, 1, 2, 0),
            entry(1, 2, 3, 0),
            entry(2, 3, 4, 0),
            entry(3, 4, 99, 0),
        ];
        for slot in 0..4 {
            assert!(find_cycle(&chain, slot).is_none(), "{slot}");
        }
        // A cycle elsewhere is not ours.
        let elsewhere = [entry(0, 1, 2, 0), entry(1, 2, 3, 0), entry(2, 3, 2, 0)];
        assert!(find_cycle(&elsewhere, 0).is_none());
    }

    #[test]
    fn exactly_one_member_of_a_cycle_is_chosen_whichever_asks() {
        let three = [
            entry(0, 10, 20, 5),
            entry(1, 20, 30, 9),
            entry(2, 30, 10, 7),
        ];
        for start in 0..3 {
            let cycle = find_cycle(&three, start).unwrap();
            let chosen: Vec<u32> = cycle
                .iter()
                .map(|e| e.tid)
                .filter(|&t| is_chosen(&cycle, t))
                .collect();
            assert_eq!(
                chosen,
                [20],
                "the youngest waiter (since 9), asked from slot {start}"
            );
        }
        // Equal start times: the highest tid.
        let tie = [entry(0, 10, 20, 5), entry(1, 20, 10, 5)];
        let cycle = find_cycle(&tie, 0).unwrap();
        assert!(is_chosen(&cycle, 20) && !is_chosen(&cycle, 10));
    }

    #[test]
    fn only_a_refreshed_unchanged_cycle_confirms() {
        let before = vec![entry(0, 10, 20, 1), entry(1, 20, 10, 2)];
        let mut now = before.clone();
        assert!(!same_cycle_refreshed(&before, &now), "not refreshed");
        now[0].seq = 4;
        now[1].seq = 4;
        assert!(same_cycle_refreshed(&before, &now));
        now[1].token = 8;
        assert!(
            !same_cycle_refreshed(&before, &now),
            "the lock changed hands"
        );
    }
}
