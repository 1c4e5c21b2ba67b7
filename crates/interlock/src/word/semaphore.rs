//! A semaphore's permit words (issue 15, decision 0023): the contended wait for any one of a
//! table of robust lock words (a `Semaphore`'s permits, an `RwLock`'s reader slots), and a
//! permit's release that wakes a sleeper on another word. The rules live here, beside the
//! word, so that the loom models (`model_semaphore_*` in `word/model.rs`) check the code
//! `locks/semaphore.rs` runs; the layer above supplies the look at every slot (which takes a
//! slot through its record and robust list) and the clock.
//!
//! # Who wakes a sleeper
//!
//! A thread that finds every permit held first spins a little, watching the words
//! ([`spin_for_permit`]: nothing is written, so the protocol below does not see it); then it
//! counts itself in the table's `sleepers`, then sets `WAITERS` on every held
//! permit word ([`super::announce_sleep`]), looks once more, and sleeps on all those words at
//! once (`futex_waitv`). A permit's release wakes one sleeper on its own word when the word
//! had `WAITERS` (the lock word's own rule, [`super::unlock_woke`]); when it woke nobody there
//! and sleepers are counted, [`wake_after_release`] wakes one on another word — only on a
//! word that still carries `WAITERS`, which it clears first ([`steal_and_wake`]). A release of
//! a word that lost its `WAITERS` is therefore silent even while sleepers are counted; what
//! keeps that from stranding one is this invariant:
//!
//! > While a sleeper is asleep on permit words, some permit word it sleeps on is held and
//! > carries `WAITERS`, or a wake-up is under way that will reach a thread which restores
//! > that.
//!
//! A word loses `WAITERS` only to its release (which wakes one sleeper on it) or to a steal
//! (which wakes one sleeper on it): each time, a wake-up is under way. The woken sleeper,
//! the one thread that knows it consumed a wake-up, restores the invariant before it is done:
//! - it finds every permit held and announces itself again, setting `WAITERS` on each;
//! - it takes a permit while other sleepers are still counted, and takes it *with* `WAITERS`
//!   ([`claim`]; std's futex mutex does the same: "contended" once it slept), so that its own
//!   release wakes the next one through its word;
//! - it gives up (its deadline passed) while others are counted, and hands its wake-up on
//!   ([`pass_on`]).
//!
//! A sleeper that is counted but not yet asleep needs none of this: its own announcement
//! sets `WAITERS` on every held word, and a change of any word before its sleep sends it back
//! to its look. The count (`sleepers`) and the release pair through `SeqCst`: either the
//! releaser sees the sleeper counted, or the sleeper's second look sees the released word.
//!
//! Not covered by loom (the kernel does it): a woken sleeper killed before it restores the
//! invariant takes its wake-up with it, and a holder's death wakes a sleeper only on a word
//! with `WAITERS` (`handle_futex_death`). Both are caught by the slice every sleep is bounded
//! by (`SLICE` in `locks/semaphore.rs`, 50 ms): the sleepers left look again then.

use crate::sync::{fence, fence_after_rmw, mutant, spin_hint, AtomicU32, Ordering};
use crate::sys::futex::{self, Deadline, WAIT_ANY_MAX};

use super::{announce_sleep, sleep_announced, sleep_announced_any, TID_MASK, WAITERS};

/// A table of permit words as the protocol sees it: each permit's lock word and its count of
/// sleepers (for observers, and to skip words nobody sleeps on), and the table's count of
/// sleepers (a semaphore's record 0 `sleepers`).
pub(crate) trait Permits {
    /// How many permits.
    fn len(&self) -> usize;
    /// Permit `i`'s lock word.
    fn word(&self, i: usize) -> &AtomicU32;
    /// How many sleepers sleep on permit `i` (saturating, never trusted for correctness).
    fn waiters(&self, i: usize) -> &AtomicU32;
    /// How many threads sleep for any permit.
    fn sleepers(&self) -> &AtomicU32;
}

/// The contended wait for any permit: `look` at every permit (taking one: its index and what
/// the caller made of it), and while none is free count in, announce, look again and sleep on
/// every held word, until a permit is taken or `slice` says the caller's time is up (`None`;
/// otherwise the deadline of the next sleep). The caller's first look already failed, or
/// this looks first.
pub(crate) fn wait_for_permit<P, T, E>(
    p: &P,
    mut look: impl FnMut() -> Result<Option<(usize, T)>, E>,
    mut slice: impl FnMut() -> Option<Deadline>,
) -> Result<Option<(usize, T)>, E>
where
    P: Permits + ?Sized,
{
    let sleepers = p.sleepers();
    // Whether this thread slept (and so may have consumed a wake-up it now owes).
    let mut slept = false;
    // Whether this thread spun since its last sleep: once a spin saw a permit free and the
    // look after it lost the permit, the thread sleeps.
    let mut spun = false;
    // Leaving without a permit after a sleep (time up, or an error from the look): the
    // wake-up this thread may have consumed goes on to another sleeper.
    let leave = |slept: bool| {
        if slept {
            pass_on(p);
        }
    };
    loop {
        match look() {
            Ok(Some(got)) => return Ok(Some(claim(p, got, slept))),
            Ok(None) => {}
            Err(e) => {
                leave(slept);
                return Err(e);
            }
        }
        let Some(deadline) = slice() else {
            leave(slept);
            return Ok(None);
        };
        if !spun {
            spun = true;
            if spin_for_permit(p) {
                continue;
            }
        }
        spun = false;
        // SeqCst with the fence of `wake_after_release`: either a releaser sees us counted,
        // or our next look sees its permit free.
        sleepers.fetch_add(1, Ordering::SeqCst);
        let (counted, got) = sleep_on_held(p, &mut look, &deadline);
        slept = true;
        for i in 0..counted {
            let _ = p
                .waiters(i)
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1));
        }
        // A read-modify-write: it reads the latest count, so that `claim` sees every sleeper
        // counted before us, and a sleeper counted after us sees what we took (it then
        // announces itself on our word).
        let _ = sleepers.fetch_update(Ordering::SeqCst, Ordering::Relaxed, |n| n.checked_sub(1));
        match got {
            Ok(Some(got)) => return Ok(Some(claim(p, got, slept))),
            Ok(None) => {}
            Err(e) => {
                leave(slept);
                return Err(e);
            }
        }
    }
}

/// Spins a little while every permit is held (a lock word's bounded spin with back-off,
/// [`super::spin`], over every permit's word): true once one looks free, so that the caller
/// looks again instead of sleeping. A permit's section is often far shorter than a sleep and
/// a wake-up, and a release that finds nobody announced costs no system call: 8 processes
/// over 2 permits, which slept at once before, ran 0.80-0.83x POSIX `sem_t` and run
/// 1.4-1.9x it since (decision 0023). As a lock's spin, it ends when a word says that a thread
/// sleeps there, and a spinner that saw every permit held and then one free pauses
/// [`super::DEFER`] times first, because the thread that released it may take it straight back
/// with its cache lines (without that pause, 1.24-1.37x).
fn spin_for_permit<P: Permits + ?Sized>(p: &P) -> bool {
    let mut pauses = 1u32;
    loop {
        let (mut free, mut asleep) = (false, false);
        for i in 0..p.len() {
            let state = p.word(i).load(Ordering::Relaxed);
            free |= state & TID_MASK == 0;
            asleep |= state & WAITERS != 0;
        }
        if free && pauses > 1 {
            for _ in 0..super::DEFER {
                spin_hint();
            }
            return (0..p.len()).any(|i| p.word(i).load(Ordering::Relaxed) & TID_MASK == 0);
        }
        if free {
            return true;
        }
        if asleep || pauses > super::SPIN_LIMIT {
            return false;
        }
        for _ in 0..pauses {
            spin_hint();
        }
        pauses *= 2;
    }
}

/// One sleep of a counted sleeper: counts itself in each of the first [`WAIT_ANY_MAX`]
/// permits' `waiters` and sets `WAITERS` on their words ([`announce_sleep`]), so that a
/// release of any — or the kernel, when any one's holder dies — wakes it; looks once more;
/// and sleeps on all those words at once (`futex_waitv`) until `deadline`. On a kernel without
/// `futex_waitv` it sleeps on the one with the fewest sleepers, and a release or death
/// elsewhere is seen at the end of the slice. Returns how many permits' `waiters` it counted
/// itself in, and what its look took. A permit found free while announcing ends the
/// announcing: the caller looks again at once.
#[allow(clippy::type_complexity)]
fn sleep_on_held<P, T, E>(
    p: &P,
    look: &mut impl FnMut() -> Result<Option<(usize, T)>, E>,
    deadline: &Deadline,
) -> (usize, Result<Option<(usize, T)>, E>)
where
    P: Permits + ?Sized,
{
    let mut words = [(p.word(0), 0u32); WAIT_ANY_MAX];
    let mut len = 0;
    // (its sleepers before us, its place in `words`): the fallback's one word.
    let mut fewest = (u32::MAX, 0);
    let mut counted = 0;
    for i in 0..p.len().min(WAIT_ANY_MAX) {
        let others = p.waiters(i).fetch_add(1, Ordering::Relaxed);
        counted += 1;
        match announce_sleep(p.word(i)) {
            Some(seen) => {
                if others < fewest.0 {
                    fewest = (others, len);
                }
                words[len] = (p.word(i), seen);
                len += 1;
            }
            None => return (counted, Ok(None)),
        }
    }
    fence(Ordering::SeqCst);
    // Announced: one more look before the sleep (a release between our first look and our
    // count may have seen no sleeper).
    match look() {
        Ok(None) => {}
        other => return (counted, other),
    }
    let words = &words[..len];
    if len == 1 || sleep_announced_any(words, deadline).is_none() {
        let (w, seen) = words[fewest.1];
        sleep_announced(w, seen, deadline);
    }
    (counted, Ok(None))
}

/// A permit taken by a thread that slept for it, while other sleepers are still counted:
/// claims `WAITERS` on its word, so that its release wakes one of them through it (the
/// invariant above: this thread may have consumed the wake-up that kept it). `sleepers` is
/// read with a read-modify-write, which sees every count made before it in the count's
/// order — and a sleeper counted after it synchronises with it, so sees the permit taken.
fn claim<P, T>(p: &P, got: (usize, T), slept: bool) -> (usize, T)
where
    P: Permits + ?Sized,
{
    if slept && p.sleepers().fetch_add(0, Ordering::SeqCst) != 0 && !mutant("claim-without-waiters")
    {
        p.word(got.0).fetch_or(WAITERS, Ordering::Relaxed);
    }
    got
}

/// A sleeper that leaves without a permit (its deadline passed, or its look failed) after
/// it slept: the wake-up it may have consumed is handed to another sleeper, if any is counted
/// — one wake on a word somebody sleeps on. A free word may be among them (the release that
/// woke this thread left it free, and nobody took it since): a sleeper asleep there must be
/// woken, which a steal ([`steal_and_wake`], held words only) would not do. Rare: timed waits
/// only.
#[cold]
fn pass_on<P: Permits + ?Sized>(p: &P) {
    if p.sleepers().fetch_add(0, Ordering::SeqCst) == 0 || mutant("timeout-keeps-wake") {
        return;
    }
    for i in 0..p.len() {
        if p.waiters(i).load(Ordering::Relaxed) != 0 && futex::wake_one(p.word(i)) {
            return;
        }
    }
}

/// After permit `released` was given back and its own release woke nobody on its word: if
/// sleepers are counted, wake one on another permit's word that still carries `WAITERS`
/// ([`steal_and_wake`]). A word without `WAITERS` is passed by: by the invariant above, some
/// held word a sleeper sleeps on has it, or a wake-up is already under way.
#[inline(always)]
pub(crate) fn wake_after_release<P: Permits + ?Sized>(p: &P, released: usize) {
    // SeqCst, paired with the sleeper's count and fence: our release is before this load, its
    // count before its last look. Every caller's release ended with a read-modify-write of
    // the permit's word (a compare-exchange or a swap), so on x86-64 the fence is that
    // instruction's own (`fence_after_rmw`): a second full barrier cost an uncontended
    // acquire+release ~10% (decision 0023).
    fence_after_rmw();
    if p.sleepers().load(Ordering::Relaxed) != 0 {
        wake_other(p, released);
    }
}

#[cold]
#[inline(never)]
fn wake_other<P: Permits + ?Sized>(p: &P, released: usize) {
    let n = p.len();
    for j in 1..=n {
        let i = (released + j) % n;
        if p.waiters(i).load(Ordering::Relaxed) != 0 && steal_and_wake(p.word(i)) {
            return;
        }
    }
}

/// A release's wake-up of a sleeper that may be on another permit's word: only if that word
/// is held and carries `WAITERS` — a word without it has nobody asleep on it whose wake-up is
/// not already under way (the invariant above). Clears the `WAITERS` first (a change of
/// value, so that a sleeper between its [`announce_sleep`] and its futex call does not go to
/// sleep on a stale value: it finds the word changed, and looks again), then wakes one
/// sleeper on it. The word's holder releases it without a wake-up then, which is right: this
/// was its wake-up, and the sleeper woken restores the invariant. Whether it woke one.
#[cold]
pub(crate) fn steal_and_wake(word: &AtomicU32) -> bool {
    let mut state = word.load(Ordering::Relaxed);
    loop {
        if state & WAITERS == 0 || state & TID_MASK == 0 {
            return false;
        }
        if mutant("steal-keeps-word") {
            break;
        }
        match word.compare_exchange(
            state,
            state & !WAITERS,
            Ordering::Relaxed,
            Ordering::Relaxed,
        ) {
            Ok(_) => break,
            Err(now) => state = now,
        }
    }
    if mutant("steal-without-wake") {
        return false;
    }
    futex::wake_one(word)
}
