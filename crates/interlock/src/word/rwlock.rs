//! Layer 1: an `RwLock`'s protocol between its writer word and its reader slots' words
//! (`locks/rwlock.rs` holds the rest; decision 0025).
//!
//! Every word here is a lock word of `word.rs`: the writer's (record 0) is taken like a
//! `Lock`'s, and each reader slot (records 1..=R) is taken with a lock's one
//! compare-exchange. What this file adds is the pairing that makes readers and a writer
//! exclude each other, a Dekker handshake on two words:
//!
//! - a reader raises the slots' high-water `mark` above its slot if it must, takes its slot,
//!   then (SeqCst fence) looks at the writer word: free, and the read is granted
//!   ([`reader_gate`]);
//! - a writer takes the writer word, then (SeqCst fence) reads `mark` and looks at every slot
//!   below it ([`writer_mark`], [`slot`]): all free, and the write is granted.
//!
//! Each fence follows the side's read-modify-write of its own word, so on x86-64 it is that
//! exchange's `lock` prefix (`sync::fence_after_rmw`); loom checks the fence itself.
//!
//! With both fences, at least one of the two sees the other: never both inside. A reader that
//! finds the writer word held gives its slot back and sleeps on the writer word
//! ([`reader_sleep`]), counted in `sleepers`; a writer's release that found the word with
//! `WAITERS` wakes one sleeper as a lock's does, then every one of them when readers sleep
//! ([`wake_readers`]): a reader is never left asleep behind a released writer. The loom models
//! are in `word/model.rs`.
//!
//! **Reader preference** (`RwPolicy::PreferReaders`, the header's `FLAG_PREFER_READERS`): a
//! writer that holds the writer word only shuts readers out once it has drained them and
//! published [`ENTERED`] (bit 31 of the writer record's `mark`; the mark itself is at most 128).
//! The pairing is then between the reader's slot and `ENTERED`: a reader takes its slot, then
//! (SeqCst fence) looks at the writer word and, when it is held, at `ENTERED`
//! ([`reader_gate_prefer_readers`]); a writer that found every slot free sets `ENTERED` (a
//! SeqCst read-modify-write) and looks at every slot again ([`writer_enter`]): one held, and it
//! withdraws ([`writer_leave`]) and drains again. `ENTERED` is set only by the writer word's
//! holder and cleared before the word is released, so it is stale only after a writer died
//! entered (the word then says `OWNER_DIED`): whoever claims the word next clears it.

use super::{announce_sleep, spin, spin_deferring, OWNER_DIED, TID_MASK};
use crate::sync::{fence, fence_after_rmw, AtomicU32, Ordering};
use crate::sys::futex::{self, Deadline};

/// What a reader that holds its slot finds of the writer word.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Gate {
    /// No writer holds or waits for the lock: the read is granted.
    Open,
    /// No writer holds it, and the last one died holding it: the reader claims the writer
    /// word to be told (and to clear the mark), then reads.
    WriterDied,
    /// A writer holds the word (writing, or waiting for readers to leave): the reader gives
    /// its slot back.
    Closed,
}

/// Bit 31 of the writer record's `mark`, a reader-preferring rwlock's only: the writer word's
/// holder has drained every reader and is writing; new readers stay out. Never set in a
/// writer-preferring one.
pub(crate) const ENTERED: u32 = 1 << 31;
/// The high-water mark's bits of `mark` (at most `MAX_READERS`).
const MARK: u32 = !ENTERED;

/// Before a reader takes slot `index` (0-based among the reader slots): raises the high-water
/// `mark` above it if it is not already, so that a writer's look ([`writer_mark`]) covers the
/// slot. SeqCst, ordered before the slot's exchange and the reader's fence.
#[inline(always)]
pub(crate) fn cover_slot(mark: &AtomicU32, index: u32) {
    if mark.load(Ordering::Relaxed) & MARK <= index {
        raise_mark(mark, index);
    }
}

/// Raises the mark's bits to `index + 1`, keeping [`ENTERED`] as it is.
#[cold]
#[inline(never)]
fn raise_mark(mark: &AtomicU32, index: u32) {
    let _ = mark.fetch_update(Ordering::SeqCst, Ordering::Relaxed, |m| {
        (m & MARK <= index).then_some((m & ENTERED) | (index + 1))
    });
}

/// A reader's look at the writer word after it took its slot (a read-modify-write): the
/// SeqCst fence ([`fence_after_rmw`]: on x86-64 the slot's locked exchange itself) pairs with
/// the writer's in [`writer_mark`] — either the writer sees our slot held, or we see its word
/// taken. Acquire: a granted read sees everything the last writer wrote.
#[inline(always)]
pub(crate) fn reader_gate(writer: &AtomicU32) -> Gate {
    if !crate::sync::mutant("reader-gate-no-fence") {
        fence_after_rmw();
    }
    let state = writer.load(Ordering::Acquire);
    let dead_seen_as_held =
        state & OWNER_DIED != 0 && crate::sync::mutant("reader-gate-ignores-death");
    if state & TID_MASK != 0 || dead_seen_as_held {
        Gate::Closed
    } else if state & OWNER_DIED != 0 {
        Gate::WriterDied
    } else {
        Gate::Open
    }
}

/// A writer's look, once it holds the writer word (taken by a read-modify-write): how many
/// reader slots from the first may be held (the high-water mark). The SeqCst fence
/// ([`fence_after_rmw`]) pairs with the reader's in [`reader_gate`].
#[inline(always)]
pub(crate) fn writer_mark(mark: &AtomicU32) -> u32 {
    fence_after_rmw();
    mark.load(Ordering::Relaxed) & MARK
}

/// A reader-preferring rwlock's reader, holding its slot (taken by a read-modify-write):
/// [`reader_gate`], except that a held writer word keeps it out only while its writer has
/// entered ([`ENTERED`]): a writer still waiting for readers to leave lets new ones in. The
/// SeqCst fence pairs with [`writer_enter`]'s: either that writer sees our slot held (and
/// withdraws), or we see it entered. Acquire: a granted read sees what the last writer wrote
/// (its [`writer_leave`] is a Release that every later read-modify-write of `mark` carries).
#[cfg_attr(not(all(test, loom)), allow(dead_code))] // `RwLock::gate` spells it out
#[inline(always)]
pub(crate) fn reader_gate_prefer_readers(writer: &AtomicU32, mark: &AtomicU32) -> Gate {
    match reader_gate(writer) {
        Gate::Closed if !entered_acquire(mark) => Gate::Open,
        gate => gate,
    }
}

/// [`reader_gate_prefer_readers`]'s look at `mark`, once [`reader_gate`] found the writer word
/// held: whether its writer entered (Acquire, for what the last writer wrote).
#[inline(always)]
pub(crate) fn entered_acquire(mark: &AtomicU32) -> bool {
    mark.load(Ordering::Acquire) & ENTERED != 0
}

/// A reader-preferring rwlock's writer, holding the writer word, that found every slot below
/// the mark free: publishes [`ENTERED`] (SeqCst: on x86-64 the `lock` prefix is the fence), and
/// returns the mark as it is now, for the caller to look at every slot below it once more.
/// One held, and the caller withdraws ([`writer_leave`]) and drains again.
#[inline(always)]
pub(crate) fn writer_enter(mark: &AtomicU32) -> u32 {
    if crate::sync::mutant("rw-enter-relaxed") {
        return mark.fetch_or(ENTERED, Ordering::Relaxed) & MARK;
    }
    let before = mark.fetch_or(ENTERED, Ordering::SeqCst);
    fence_after_rmw();
    before & MARK
}

/// Clears [`ENTERED`] and wakes the readers it kept out: a reader-preferring writer
/// withdrawing (a reader came in first), or leaving (before the writer word is released), or
/// the claimant of a dead writer's word clearing what it left. Release: a reader that sees it
/// cleared sees the write. The SeqCst read-modify-write (its own fence on x86-64) pairs with
/// [`reader_sleep_while_entered`]'s count and fence: either we see the reader counted in
/// `sleepers` and wake `mark`, or it sees `ENTERED` cleared and does not sleep; `mark` changed,
/// so a reader between its look and its sleep finds it changed.
#[inline(always)]
pub(crate) fn writer_leave(mark: &AtomicU32, sleepers: &AtomicU32) {
    mark.fetch_and(!ENTERED, Ordering::SeqCst);
    fence_after_rmw();
    if sleepers.load(Ordering::Relaxed) != 0 && !crate::sync::mutant("rw-leave-no-wake") {
        wake_entered_sleepers(mark);
    }
}

#[cold]
#[inline(never)]
fn wake_entered_sleepers(mark: &AtomicU32) {
    futex::wake_all(mark);
}

/// Whether `mark` says a writer entered (stale if the writer word is not held).
#[cfg_attr(all(test, loom), allow(dead_code))] // the models read the mark themselves
#[inline(always)]
pub(crate) fn entered(mark: &AtomicU32) -> bool {
    mark.load(Ordering::Relaxed) & ENTERED != 0
}

/// A reader slot as a writer finds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Slot {
    /// Nobody holds it.
    Free,
    /// Nobody holds it, and its last holder died holding it: the writer takes it once (and is
    /// told), then gives it back.
    Dead,
    /// Held (the value seen, to sleep on).
    Held(u32),
}

/// A writer's look at a reader slot's word. Acquire: a slot seen free orders the last
/// reader's reads before the writer's writes.
#[inline(always)]
pub(crate) fn slot(word: &AtomicU32) -> Slot {
    let state = word.load(Ordering::Acquire);
    if state & TID_MASK != 0 {
        Slot::Held(state)
    } else if state & OWNER_DIED != 0 {
        Slot::Dead
    } else {
        Slot::Free
    }
}

/// Spins a little (the lock word's bounded spin, with back-off) while `word` — a reader's
/// slot for a writer waiting for it — is held with nobody asleep on it: true if it is free by
/// then, so that the caller looks again instead of sleeping. Most reads are far shorter than
/// a sleep and a wake-up.
#[cold]
pub(crate) fn spin_until_free(word: &AtomicU32) -> bool {
    spin(word) & TID_MASK == 0
}

/// How long a reader kept out by a writer steps aside once it saw the writer word free: this
/// many rounds of [`super::DEFER`] pauses, each after a `sched_yield` (8 rounds: ~9 µs of
/// pauses on the project's VM when nothing else wants the CPU; when other processes do, they
/// run instead). If a writer took the word again meanwhile, the reader sleeps. Writes then run
/// on with the writer word's, the data's and the reader slots' lines in one CPU's cache,
/// instead of each write pulling them from readers on the other CPUs, and with more processes
/// than CPUs a reader that waits hands its CPU to one that can work. Measured against glibc's
/// `pthread_rwlock` with 95% reads, 8 and 64 processes (decision 0025, addendum "A reader kept
/// out steps aside longer"): one round of 64 pauses 0.88–1.04× and 0.58–0.79×, 256 pauses
/// 0.85–0.96× and 0.72–0.85×, 256 after one yield 0.96–0.99× and 0.93–0.95×, these 8 rounds
/// 1.13–1.17× and 1.11–1.15×.
pub(crate) const READER_DEFER: u32 = 8;

/// [`spin_until_free`] for a reader kept out by a writer (`word` is the writer word): it
/// steps aside [`READER_DEFER`] rounds, not a lock's one.
#[cold]
pub(crate) fn reader_spin_until_free(word: &AtomicU32) -> bool {
    spin_deferring(word, READER_DEFER, true) & TID_MASK == 0
}

/// A writer waiting for reader slot `word`, found held at `seen`: announces itself
/// (`WAITERS`, so that the reader's release — or the kernel, if the reader dies — wakes it)
/// and sleeps until a wake-up, a change, or `deadline`. Returns at once if the slot is free
/// by then. The caller looks again in every case.
#[cold]
pub(crate) fn writer_wait_for_slot(word: &AtomicU32, deadline: &Deadline) {
    if let Some(seen) = announce_sleep(word) {
        futex::wait(word, seen, Some(deadline));
    }
}

/// A reader that found the writer word held (and gave its slot back): counts itself in
/// `sleepers`, announces itself on the writer word (`WAITERS`) and sleeps there until a
/// wake-up, a change of the word, or `deadline`. Returns at once if the word is free by then.
/// The SeqCst count and fence pair with [`wake_readers`]'s: either the releasing writer sees
/// us counted, or our sleep sees its release.
#[cold]
pub(crate) fn reader_sleep(writer: &AtomicU32, sleepers: &AtomicU32, deadline: &Deadline) {
    sleepers.fetch_add(1, Ordering::SeqCst);
    if let Some(seen) = announce_sleep(writer) {
        fence(Ordering::SeqCst);
        futex::wait(writer, seen, Some(deadline));
    }
    // Saturating: an observer never resets it, but a killed sleeper's count stays (it only
    // costs a releasing writer a needless wake-up).
    let _ = sleepers.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1));
}

/// A reader-preferring rwlock's reader kept out by an entered writer (it gave its slot back):
/// counts itself in `sleepers`, announces itself on the writer word (`WAITERS`: the writer's
/// release, or the kernel if the writer dies, wakes it) and, if `mark` still says
/// [`ENTERED`], sleeps on both words at once (`futex_waitv`) until a wake-up on either, a
/// change of either, or `deadline`: a writer that withdraws changes only `mark`
/// ([`writer_leave`] wakes it there). The SeqCst count and fence pair with `writer_leave`'s.
/// On a kernel without `futex_waitv`, it sleeps on `mark` alone (a dead writer's wake-up then
/// reaches it through the next claimant's `writer_leave`, or the slice).
#[cold]
pub(crate) fn reader_sleep_while_entered(
    writer: &AtomicU32,
    mark: &AtomicU32,
    sleepers: &AtomicU32,
    deadline: &Deadline,
) {
    sleepers.fetch_add(1, Ordering::SeqCst);
    if let Some(seen) = announce_sleep(writer) {
        fence(Ordering::SeqCst);
        let m = mark.load(Ordering::Relaxed);
        if m & ENTERED != 0 && futex::wait_any(&[(writer, seen), (mark, m)], deadline).is_none() {
            futex::wait(mark, m, Some(deadline));
        }
    }
    let _ = sleepers.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1));
}

/// After a writer released a word that had `WAITERS` (the release woke one sleeper): wakes
/// every sleeper when readers sleep there, since any number of them may read now.
///
/// The fence here and [`reader_sleep`]'s are belt and braces as far as loom can tell: the
/// release's own wake-up takes the futex bucket's lock, which already orders the count
/// before this look in the model (the models pass without the two fences); the kernel's
/// `futex_wake` looks for sleepers without its lock first, behind a full barrier of its
/// own. They cost nothing on the uncontended paths (only a release that found `WAITERS`
/// comes here).
#[cold]
pub(crate) fn wake_readers(writer: &AtomicU32, sleepers: &AtomicU32) {
    fence(Ordering::SeqCst);
    if sleepers.load(Ordering::Relaxed) != 0 && !crate::sync::mutant("wake-readers-no-wake") {
        futex::wake_all(writer);
    }
}
