//! What observers can learn about a lock without taking it: a [`LockStatus`] read from its
//! record.

use std::time::{Duration, UNIX_EPOCH};

use crate::shm::{GroupRecord, Record, Segment};
use crate::sync::Ordering;
use crate::sys;
use crate::types::{
    Holder, Kind, LockStatus, PermitStatus, ReaderStatus, RwLockStatus, SemaphoreStatus,
};
use crate::word::State;

/// A snapshot of what segment `seg` (of kind `kind`) holds — a lock's record, an event's flag,
/// a barrier's parties, a semaphore's permits — read without taking or changing anything.
pub(crate) fn read_segment(seg: &Segment, kind: Kind) -> LockStatus {
    match kind {
        Kind::Event => LockStatus {
            event: Some(crate::locks::event::read(seg.record())),
            ..LockStatus::never_taken_of(kind)
        },
        Kind::Barrier => LockStatus {
            barrier: Some(crate::locks::barrier::read(seg)),
            ..LockStatus::never_taken_of(kind)
        },
        // Issue 15: Condition.
        Kind::Condition => {
            let condition = crate::locks::condition::read(seg);
            LockStatus {
                waiters: condition.waiters,
                condition: Some(condition),
                ..LockStatus::never_taken_of(kind)
            }
        }
        Kind::Semaphore => {
            let sem = semaphore(seg);
            let permits = &sem.permits;
            LockStatus {
                waiters: sem.sleepers,
                acquisitions: permits.iter().map(|p| p.acquisitions).sum(),
                owner_deaths: permits.iter().map(|p| p.owner_deaths).sum(),
                owner_died_unclaimed: permits.iter().any(|p| p.owner_died_unclaimed),
                // Never: a permit's death is told to its next taker, who clears the mark at
                // once (a semaphore guards no data of its own).
                poisoned: false,
                semaphore: Some(sem),
                ..LockStatus::never_taken_of(kind)
            }
        }
        Kind::RwLock => rwlock(seg).0,
        _ => read(seg.record(), kind),
    }
}

/// A snapshot of the semaphore in `seg`: every permit's record (each a lock's), and the
/// sleeper count of record 0.
pub(crate) fn semaphore(seg: &Segment) -> SemaphoreStatus {
    let permits: Vec<PermitStatus> = (0..seg.header().records())
        .map(|i| {
            let s = read(seg.record_at(i), Kind::Lock);
            PermitStatus {
                permit: i as u32,
                holder: s.holder,
                acquisitions: s.acquisitions,
                owner_deaths: s.owner_deaths,
                owner_died_unclaimed: s.owner_died_unclaimed,
                waiters: s.waiters,
                leftover_group: s.leftover_group,
            }
        })
        .collect();
    SemaphoreStatus {
        free: permits.iter().filter(|p| p.holder.is_none()).count() as u32,
        sleepers: seg.record().sleepers.load(Ordering::Relaxed),
        permits,
    }
}

/// A snapshot of the lock in `rec` (of kind `kind`), read without taking it.
pub(crate) fn read(rec: &Record, kind: Kind) -> LockStatus {
    let word = State::load(&rec.word, Ordering::Acquire);
    // A fair lock being handed over belongs to nobody yet (the woken sleeper takes it).
    let tid = word.holder_tid();
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
            command: sys::command_line(pid),
            process_group: group.filter(|g| g.token == token).map(|g| g.ids.pid),
        }
    });
    let leftover_group = group
        .filter(|g| holder.is_none() || g.token != token)
        .map(GroupRecord::process_group);
    let died_unclaimed = word.died_unclaimed();
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
        waiters: if !word.waiters() {
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
        event: None,
        barrier: None,
        semaphore: None,
        condition: None,
        rwlock: None,
    }
}

/// A snapshot of the rwlock in `seg`: its writer's record (record 0) and every reader slot
/// (records 1..), with the summary a [`LockStatus`] gives of it.
pub(crate) fn rwlock(seg: &Segment) -> (LockStatus, RwLockStatus) {
    let writer = read(seg.record(), Kind::RwLock);
    let slots = seg.header().records() - 1;
    let mut readers = Vec::new();
    // A slot's deaths, its unclaimed one included: whoever took a dead slot (a writer, or a
    // reader, who counted it in `tally` for the next writer) counted it there.
    let mut reader_deaths = 0;
    let rec = seg.record();
    let mut untold = rec.tally.load(Ordering::Relaxed) + u32::from(writer.owner_died_unclaimed);
    for i in 0..slots {
        let s = read(seg.record_at(i + 1), Kind::RwLock);
        reader_deaths += s.owner_deaths;
        untold += u32::from(s.owner_died_unclaimed);
        if let Some(holder) = s.holder {
            readers.push(ReaderStatus {
                slot: i as u32,
                holder,
            });
        }
    }
    let waiting_readers = if State::load(&rec.word, Ordering::Relaxed).waiters() {
        rec.sleepers.load(Ordering::Relaxed)
    } else {
        0
    };
    let status = RwLockStatus {
        writer: writer.holder.clone(),
        readers,
        reader_slots: slots as u32,
        waiters: writer.waiters.max(waiting_readers),
        waiting_readers,
        writes: writer.acquisitions,
        writer_deaths: writer.owner_deaths,
        reader_deaths,
        deaths_untold: untold,
        poisoned: writer.poisoned,
        policy: if seg.header().prefers_readers() {
            crate::RwPolicy::PreferReaders
        } else {
            crate::RwPolicy::PreferWriters
        },
        entered: writer.holder.is_some() && crate::word::rwlock::entered(&rec.mark),
    };
    let summary = LockStatus {
        waiters: status.waiters,
        owner_deaths: writer.owner_deaths + reader_deaths,
        rwlock: Some(status.clone()),
        ..writer
    };
    (summary, status)
}
