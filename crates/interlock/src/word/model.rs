//! Loom models of the lock word. Threads stand in for processes; the futex wait is a re-check
//! plus a yield (`sys/loom_shim.rs`); an owner's death is a thread that abandons the word, after
//! which a "kernel" step rewrites it exactly as `handle_futex_death` does.
//!
//! Run (release, bounded pre-emptions; the build ~20 s on an idle machine):
//! `RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=2 cargo test -p interlock-ipc --release --lib model`
//!
//! Every model can fail, and is shown to on every run (issue 18): [`MUTANTS`] pairs each with
//! a mutation planted in the word code behind `crate::sync::mutant` (compiled only into this
//! loom build, switched on by `INTERLOCK_LOOM_MUTANT=NAME`) and what loom reports on it;
//! `model_every_mutant_is_caught` runs each model on its mutant in a child process and fails
//! if one passes. Decision 0030 has the table with the reasons.
//!
//! Reader preference (`ENTERED`, decision 0025): `writer_enter` without its fence
//! (`rw-enter-relaxed`) and `writer_leave` without its wake-up (`rw-leave-no-wake`) are in
//! [`MUTANTS`]; tried by hand when the models were written, and not planted (they live in the
//! layer above the word code, which the models copy): the exclusion model fails without the
//! writer's re-check after it enters, the dead-writer model when the claimant does not clear
//! `ENTERED`.

#![allow(unsafe_code)] // loom's UnsafeCell: its accesses are what the model checks.

use loom::cell::UnsafeCell;
use loom::sync::Arc;
use loom::thread;

use super::*;
use crate::sync::fence;

struct Shared {
    word: AtomicU32,
    waiters: AtomicU32,
    data: UnsafeCell<u32>,
}

fn shared() -> Arc<Shared> {
    Arc::new(Shared {
        word: AtomicU32::new(UNLOCKED),
        waiters: AtomicU32::new(0),
        data: UnsafeCell::new(0),
    })
}

/// The protected read-modify-write; loom reports it if two threads ever overlap here.
fn bump(s: &Shared, n: u32) {
    // SAFETY: called only while holding the word; a violation is exactly what loom detects.
    s.data.with_mut(|d| unsafe { *d += n });
}

fn read(s: &Shared) -> u32 {
    // SAFETY: called after every other thread is joined.
    s.data.with(|d| unsafe { *d })
}

fn lock(s: &Shared, tid: u32) -> Acquired {
    if try_lock_fast(&s.word, tid) {
        return Acquired::Clean;
    }
    // Loom models no clock: this deadline never passes.
    let never = crate::sys::futex::deadline_after(std::time::Duration::MAX);
    lock_contended(&s.word, tid, &never, false, None, &s.waiters, false)
        .expect("untimed lock of a foreign word")
}

/// A thread that takes the word as `tid`, adds 1 in the section and unlocks; it returns how it
/// acquired the word.
fn waiter(s: &Arc<Shared>, tid: u32) -> thread::JoinHandle<Acquired> {
    let s = s.clone();
    thread::spawn(move || {
        let how = lock(&s, tid);
        bump(&s, 1);
        unlock(&s.word);
        how
    })
}

/// Mutants it catches ([`MUTANTS`]): `lock-fast-relaxed` (reported: Causality violation),
/// `unlock-no-wake` (reported: deadlock).
#[test]
fn model_two_threads_exclude_each_other() {
    loom::model(|| {
        let s = shared();
        let handles: Vec<_> = [1u32, 2]
            .into_iter()
            .map(|tid| {
                let s = s.clone();
                thread::spawn(move || {
                    assert_eq!(lock(&s, tid), Acquired::Clean);
                    bump(&s, 1);
                    assert_eq!(unlock(&s.word) & TID_MASK, tid);
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        assert_eq!(read(&s), 2);
        assert_eq!(s.word.load(Ordering::Relaxed), UNLOCKED);
    });
}

/// Mutant it catches ([`MUTANTS`]): `death-not-reported` (reported: OwnerDied).
#[test]
fn model_dead_owner_is_recovered_once_and_reported() {
    loom::model(|| {
        let s = shared();
        // Thread 1 takes the word and "dies": it never unlocks.
        assert!(try_lock_fast(&s.word, 1));
        let waiter = waiter(&s, 2);
        // The kernel's exit path runs concurrently with the waiter.
        assert!(mark_owner_dead(&s.word, 1));
        assert_eq!(waiter.join().unwrap(), Acquired::OwnerDied);
        assert_eq!(read(&s), 1);
        assert_eq!(s.word.load(Ordering::Relaxed), UNLOCKED);
    });
}

/// Mutant it catches ([`MUTANTS`]): `try-lock-slow-takes-held` (reported: Causality violation).
#[test]
fn model_try_lock_never_blocks_and_respects_the_holder() {
    loom::model(|| {
        let s = shared();
        let holder = waiter(&s, 1);
        match try_lock_fast(&s.word, 2) || try_lock_slow(&s.word, 2, None).is_ok() {
            true => {
                bump(&s, 10);
                unlock(&s.word);
            }
            false => {}
        }
        holder.join().unwrap();
        let d = read(&s);
        assert!(d == 1 || d == 11, "{d}");
    });
}

/// A guard's release: the owner reads the word and, seeing no waiter, releases it with one
/// compare-exchange (`try_unlock_seen`). A waiter that announces itself between that read and the
/// exchange must still be woken: the exchange fails and the release falls back to `unlock`.
/// (With the fallback removed, loom reports the stranded waiter as a deadlock.)
/// Mutant it catches ([`MUTANTS`]): `try-unlock-seen-blind` (reported: deadlock).
#[test]
fn model_release_that_loses_to_an_arriving_waiter_still_wakes_it() {
    for fair in [false, true] {
        loom::model(move || {
            let s = shared();
            assert!(try_lock_fast(&s.word, 1));
            let waiter = waiter(&s, 2);
            bump(&s, 10);
            let seen = s.word.load(Ordering::Relaxed);
            if seen & WAITERS == 0 {
                if !try_unlock_seen(&s.word, seen) {
                    unlock_raced(&s.word, fair);
                }
            } else if fair {
                unlock_fair(&s.word);
            } else {
                unlock(&s.word);
            }
            assert_eq!(waiter.join().unwrap(), Acquired::Clean);
            assert_eq!(read(&s), 11);
            assert_eq!(s.word.load(Ordering::Relaxed), UNLOCKED);
        });
    }
}

/// Fair locks: the holder hands the word over on release. Two threads queue on a held word and
/// the holder releases: each gets it exactly once, never together, nobody is left asleep, and
/// the word ends free (a hand-over nobody took is taken back).
/// Mutant it catches ([`MUTANTS`]): `hand-over-one-wake` (reported: deadlock).
#[test]
fn model_fair_hand_over_excludes_and_strands_nobody() {
    loom::model(|| {
        let s = shared();
        assert!(try_lock_fast(&s.word, 1));
        let handles: Vec<_> = [2u32, 3]
            .into_iter()
            .map(|tid| {
                let s = s.clone();
                thread::spawn(move || {
                    assert_eq!(lock(&s, tid), Acquired::Clean);
                    bump(&s, 1);
                    assert_eq!(unlock_fair(&s.word) & TID_MASK, tid);
                })
            })
            .collect();
        bump(&s, 10);
        assert_eq!(unlock_fair(&s.word) & TID_MASK, 1);
        for h in handles {
            h.join().unwrap();
        }
        assert_eq!(read(&s), 12);
        assert_eq!(s.word.load(Ordering::Relaxed), UNLOCKED);
    });
}

/// A semaphore's permit protocol (`locks/semaphore.rs`) over two permit words: permit 0 held
/// for good (tid 1), permit 1 held by a releaser (tid 2); a third thread finds both held,
/// counts itself a sleeper, announces itself on permit 0, looks again and sleeps. The
/// releaser gives permit 1 back and, finding a sleeper counted, steals permit 0's `WAITERS`
/// and wakes. The sleeper must end holding permit 1 in every interleaving: loom reports a
/// lost wake-up as a deadlock. (It does without the steal's change of the word: the sleeper
/// then sleeps on the value it announced, after the wake-up went by.)
/// Mutant it catches ([`MUTANTS`]): `steal-keeps-word` (reported: deadlock).
#[test]
fn model_semaphore_release_reaches_a_sleeper_on_another_permit() {
    loom::model(|| {
        let slots = Arc::new([AtomicU32::new(1), AtomicU32::new(2)]);
        let sleepers = Arc::new(AtomicU32::new(0));
        let on_slot0 = Arc::new(AtomicU32::new(0));
        let sleeper = {
            let (slots, sleepers, on_slot0) = (slots.clone(), sleepers.clone(), on_slot0.clone());
            thread::spawn(move || {
                let never = crate::sys::futex::deadline_after(std::time::Duration::MAX);
                let scan = |slots: &[AtomicU32; 2]| slots.iter().position(|w| try_lock_fast(w, 3));
                loop {
                    if let Some(i) = scan(&slots) {
                        return i;
                    }
                    sleepers.fetch_add(1, Ordering::SeqCst);
                    on_slot0.fetch_add(1, Ordering::Relaxed);
                    let seen = announce_sleep(&slots[0]);
                    fence(Ordering::SeqCst);
                    let got = match seen {
                        Some(seen) => match scan(&slots) {
                            None => {
                                sleep_announced(&slots[0], seen, &never);
                                None
                            }
                            got => got,
                        },
                        None => None,
                    };
                    on_slot0.fetch_sub(1, Ordering::Relaxed);
                    sleepers.fetch_sub(1, Ordering::SeqCst);
                    if let Some(i) = got {
                        return i;
                    }
                }
            })
        };
        // The releaser: the permit's own release, then the semaphore's.
        unlock(&slots[1]);
        fence(Ordering::SeqCst);
        if sleepers.load(Ordering::Relaxed) != 0 && on_slot0.load(Ordering::Relaxed) != 0 {
            super::semaphore::steal_and_wake(&slots[0]);
        }
        assert_eq!(sleeper.join().unwrap(), 1);
    });
}

/// A semaphore's sleep on every held permit (`futex_waitv`, `Semaphore::sleep_on_held`): two
/// permit words held by tids 1 and 2, both of which "die"; a sleeper (tid 3) finds both held,
/// announces itself on both, looks again and sleeps on both words at once. The kernel's exit
/// path marks permit 1 dead (and wakes a sleeper on it if its word says it has one). The
/// sleeper must end holding permit 1, told its holder died, in every interleaving. It fails
/// (loom's deadlock) when the sleeper announces itself on permit 0 only — the one-word sleep
/// of kernels without `futex_waitv`, whose death on another permit waits for the slice.
/// Mutant it catches ([`MUTANTS`]): `announce-without-waiters` (reported: deadlock).
#[test]
fn model_semaphore_death_on_any_held_permit_wakes_the_sleeper() {
    loom::model(|| {
        let slots = Arc::new([AtomicU32::new(1), AtomicU32::new(2)]);
        let sleeper = {
            let slots = slots.clone();
            thread::spawn(move || {
                let never = crate::sys::futex::deadline_after(std::time::Duration::MAX);
                // A look takes a free word, or one whose holder died (and says so).
                let scan = |slots: &[AtomicU32; 2]| {
                    slots.iter().enumerate().find_map(|(i, w)| {
                        let s = w.load(Ordering::Relaxed);
                        (s & TID_MASK == 0
                            && w.compare_exchange(s, 3, Ordering::Acquire, Ordering::Relaxed)
                                .is_ok())
                        .then_some((i, s & OWNER_DIED != 0))
                    })
                };
                loop {
                    if let Some(got) = scan(&slots) {
                        return got;
                    }
                    let mut words = Vec::new();
                    for w in slots.iter() {
                        match announce_sleep(w) {
                            Some(seen) => words.push((w, seen)),
                            None => break,
                        }
                    }
                    fence(Ordering::SeqCst);
                    // Announced on every word: one more look, then the sleep. (A word found
                    // free while announcing: straight back to the look.)
                    if words.len() == slots.len() {
                        if let Some(got) = scan(&slots) {
                            return got;
                        }
                        sleep_announced_any(&words, &never);
                    }
                }
            })
        };
        // Permit 1's holder dies: the kernel's robust-list walk.
        assert!(mark_owner_dead(&slots[1], 2));
        assert_eq!(sleeper.join().unwrap(), (1, true));
    });
}

// ---- Semaphore: the contended wait and the release's wake-up, as `word/semaphore.rs` runs them ----

/// Two permit words with their sleepers, as a semaphore's segment holds them.
struct Sem {
    words: [AtomicU32; 2],
    waiters: [AtomicU32; 2],
    sleepers: AtomicU32,
}

impl super::semaphore::Permits for Sem {
    fn len(&self) -> usize {
        2
    }
    fn word(&self, i: usize) -> &AtomicU32 {
        &self.words[i]
    }
    fn waiters(&self, i: usize) -> &AtomicU32 {
        &self.waiters[i]
    }
    fn sleepers(&self) -> &AtomicU32 {
        &self.sleepers
    }
}

/// Two permits held by `holders`.
fn sem(holders: [u32; 2]) -> Arc<Sem> {
    Arc::new(Sem {
        words: holders.map(AtomicU32::new),
        waiters: [AtomicU32::new(0), AtomicU32::new(0)],
        sleepers: AtomicU32::new(0),
    })
}

/// The semaphore's look at every permit (`scan_slots`): a free word is taken, as it is
/// found (a death's `WAITERS` kept).
fn sem_look(s: &Sem, tid: u32) -> Result<Option<(usize, ())>, ()> {
    Ok((0..2)
        .find(|&i| try_lock_slow(&s.words[i], tid, None).is_ok())
        .map(|i| (i, ())))
}

/// A permit's release as `Permit`'s drop does it: one compare-exchange from the holder's bits
/// (`Record::release_hold_fast`), or, with `WAITERS`, the release that wakes one on the word;
/// when that woke nobody, the semaphore's wake-up on another word.
fn sem_release(s: &Sem, i: usize, tid: u32) {
    let woke = !try_unlock_seen(&s.words[i], tid) && unlock_woke(&s.words[i]);
    if !woke {
        super::semaphore::wake_after_release(s, i);
    }
}

/// A thread that waits for a permit (`wait_for_slot`), for ever (`sleeps: None`) or for at
/// most `sleeps` sleeps (a timed wait: loom has no clock, so its time is up after them), then
/// gives the permit it got back. Which permit it got.
fn sem_taker(s: &Arc<Sem>, tid: u32, sleeps: Option<u32>) -> thread::JoinHandle<Option<usize>> {
    let s = s.clone();
    thread::spawn(move || {
        let mut left = sleeps;
        let got = super::semaphore::wait_for_permit(
            &*s,
            || sem_look(&s, tid),
            || match &mut left {
                Some(0) => None,
                Some(n) => {
                    *n -= 1;
                    Some(crate::sys::futex::deadline_after(std::time::Duration::MAX))
                }
                None => Some(crate::sys::futex::deadline_after(std::time::Duration::MAX)),
            },
        )
        .unwrap();
        got.map(|(i, ())| {
            assert_eq!(s.words[i].load(Ordering::Relaxed) & TID_MASK, tid);
            sem_release(&s, i, tid);
            i
        })
    })
}

/// A model explored at most `bound` pre-emptions, whatever `LOOM_MAX_PREEMPTIONS` says: the
/// semaphore's models with four threads cost a fraction of a second at 0 and minutes at 1.
/// `INTERLOCK_LOOM_SEMAPHORE_BOUND=N` raises it for a longer run by hand (8.7 s for the race
/// model at 2 under load, passing).
fn model_bounded(bound: usize, f: impl Fn() + Sync + Send + 'static) {
    let mut b = loom::model::Builder::new();
    let more = std::env::var("INTERLOCK_LOOM_SEMAPHORE_BOUND")
        .ok()
        .and_then(|n| n.parse().ok());
    b.preemption_bound = Some(more.map_or(bound, |n: usize| n.max(bound)));
    b.check(f);
}

/// The semaphore's wake-up rule (`word/semaphore.rs`): a release wakes a sleeper on another
/// permit only through a word that still carries `WAITERS`, so a sleeper that was woken must
/// take its permit with `WAITERS` while others are counted. Three sleepers (tids 1–3) on two
/// permits held by the main thread, which gives both back once all three are asleep (the
/// emulated futex's start gate); each sleeper, once it has a permit, gives it back (the full
/// release). Every one must get a permit, whoever each wake-up reaches and whichever permit
/// each takes, and the words and counts end clear; a sleeper left asleep is loom's deadlock.
/// Four threads: explored without pre-emptions (a switch wherever a thread blocks or ends;
/// at one pre-emption it takes minutes). A release racing a claim, pre-empted anywhere, is
/// `model_semaphore_a_release_races_the_woken_sleepers_claim`'s.
/// Mutant it catches ([`MUTANTS`]): `claim-without-waiters` — the woken sleeper takes its
/// permit as it finds it, the rule before decision 0023's addendum, safe only with a wake-up
/// on every release that finds sleepers counted — (reported: deadlock).
#[test]
fn model_semaphore_three_sleepers_on_two_permits_all_acquire() {
    model_bounded(0, || {
        let s = sem([10, 11]);
        let takers: Vec<_> = [1u32, 2, 3]
            .iter()
            .map(|&t| sem_taker(&s, t, None))
            .collect();
        crate::sys::loom_shim::wait_until_asleep(3);
        sem_release(&s, 0, 10);
        sem_release(&s, 1, 11);
        for t in takers {
            assert!(t.join().unwrap().is_some());
        }
        for i in 0..2 {
            assert_eq!(s.words[i].load(Ordering::Relaxed), UNLOCKED);
            assert_eq!(s.waiters[i].load(Ordering::Relaxed), 0);
        }
        assert_eq!(s.sleepers.load(Ordering::Relaxed), 0);
    });
}

/// The claim racing releases, pre-empted anywhere (CI's bound): two sleepers (tids 1, 2) on
/// two permits, permit 1 held for good (its word keeps the `WAITERS` the sleepers set),
/// permit 0 given back by the main thread; each sleeper gives back what it got. The first
/// woken takes permit 0 with `WAITERS` while the other is counted, and its release — racing
/// the other's count, announcement, look and sleep — must reach it: both end with permit 0.
#[test]
fn model_semaphore_a_release_races_the_woken_sleepers_claim() {
    model_bounded(1, || {
        let s = sem([10, 11]);
        let takers: Vec<_> = [1u32, 2].iter().map(|&t| sem_taker(&s, t, None)).collect();
        sem_release(&s, 0, 10);
        for t in takers {
            assert_eq!(t.join().unwrap(), Some(0));
        }
        assert_eq!(s.words[0].load(Ordering::Relaxed), UNLOCKED);
        assert_eq!(s.sleepers.load(Ordering::Relaxed), 0);
    });
}

/// A timed sleeper that gives up owes the wake-up it may have consumed (`pass_on`). Two
/// quitters (tids 1, 2: one sleep each, then their time is up) and a sleeper that waits for
/// ever (tid 3), all asleep on two permits held by the main thread, which gives each back and
/// takes it again at once, the way a passing taker would (without `WAITERS`): each release
/// wakes one sleeper, and when both reach the quitters, both words are held without
/// `WAITERS` and only the quitters know that the third still sleeps. Once the quitters are
/// gone the main thread gives both back: the third must get one (loom's deadlock otherwise;
/// the real sleep would end at its 50 ms slice). Four threads: explored without pre-emptions,
/// and only so: at one, loom reports a deadlock of the model's own — a quitter never woken
/// sleeps for ever (loom's sleep has no deadline; the real one ends when the quitter's time is
/// up) while the main thread holds both permits until it leaves. The emulated futex lets a
/// thread that goes to sleep after a wake-up take it from one asleep before (a kernel wakes a
/// queued sleeper), which leaves a quitter so.
/// Mutant it catches ([`MUTANTS`]): `timeout-keeps-wake` (reported: deadlock).
#[test]
fn model_semaphore_a_sleeper_that_gives_up_hands_its_wake_up_on() {
    let mut b = loom::model::Builder::new();
    b.preemption_bound = Some(0);
    b.check(|| {
        let s = sem([10, 11]);
        let quitters: Vec<_> = [1u32, 2]
            .iter()
            .map(|&t| sem_taker(&s, t, Some(1)))
            .collect();
        let stayer = sem_taker(&s, 3, None);
        crate::sys::loom_shim::wait_until_asleep(3);
        let mut mine = [None, None];
        for (i, tid) in [(0usize, 12u32), (1, 13)] {
            sem_release(&s, i, 10 + i as u32);
            if try_lock_fast(&s.words[i], tid) {
                mine[i] = Some(tid);
            }
        }
        for q in quitters {
            q.join().unwrap();
        }
        for (i, tid) in mine.into_iter().enumerate() {
            if let Some(tid) = tid {
                sem_release(&s, i, tid);
            }
        }
        assert!(stayer.join().unwrap().is_some());
    });
}

/// Event: a waiter that checks the flag and then sleeps never misses a `set` that lands between
/// the two (loom reports a deadlock if it does); what the setter wrote before `set` is seen
/// after `wait` returns; the set clears the sleepers' bit.
/// Mutant it catches ([`MUTANTS`]): `event-set-no-wake` (reported: deadlock).
#[test]
fn model_event_set_wakes_every_waiter_no_lost_wakeup() {
    loom::model(|| {
        let s = shared();
        let waiters: Vec<_> = (0..2)
            .map(|_| {
                let s = s.clone();
                thread::spawn(move || {
                    assert!(event::wait(&s.word, None));
                    // SAFETY: written before `set`, read after `wait`: ordered by the word.
                    s.data.with(|d| assert_eq!(unsafe { *d }, 7));
                })
            })
            .collect();
        bump(&s, 7);
        assert!(event::set(&s.word));
        for w in waiters {
            w.join().unwrap();
        }
        assert_eq!(
            s.word.load(Ordering::Relaxed) & (event::SET | event::WAITERS),
            event::SET
        );
    });
}

/// Event: a `clear` and a second `set` racing the first `set` and a waiter: the waiter returns
/// whatever the order (a set it slept through still ends its wait), the flag ends set, and
/// the count of sets moved once or twice (a set of a set flag counts nothing).
/// Mutant it catches ([`MUTANTS`]): `event-set-uncounted` (reported: assertion failed).
#[test]
fn model_event_clear_races_set() {
    loom::model(|| {
        let s = shared();
        let waiter = {
            let s = s.clone();
            thread::spawn(move || assert!(event::wait(&s.word, None)))
        };
        let clearer = {
            let s = s.clone();
            thread::spawn(move || {
                event::clear(&s.word);
                event::set(&s.word);
            })
        };
        event::set(&s.word);
        clearer.join().unwrap();
        waiter.join().unwrap();
        assert!(event::is_set(&s.word));
        assert!((1..=2).contains(&event::sets(s.word.load(Ordering::Relaxed))));
    });
}

/// Barrier: three parties, two generations. Each writes its own cell before arriving and reads
/// every cell after the trip (loom reports a data race if the trip does not order them); in each
/// generation exactly one is the leader, the indices are 0..3, and nobody is left asleep.
/// Mutant it catches ([`MUTANTS`]): `barrier-arrive-relaxed` (reported: Causality violation).
#[test]
fn model_barrier_trips_once_per_generation_and_orders_memory() {
    use loom::cell::UnsafeCell as Cell;
    loom::model(|| {
        let word = Arc::new(AtomicU32::new(0));
        let cells: Arc<[Cell<u32>; 3]> = Arc::new([Cell::new(0), Cell::new(0), Cell::new(0)]);
        let party = |me: usize| {
            let (word, cells) = (word.clone(), cells.clone());
            move || {
                let mut leaders = 0;
                let mut indices = 0u32;
                for round in 1..=2u32 {
                    // SAFETY: each party writes only its own cell, between trips.
                    cells[me].with_mut(|c| unsafe { *c = round });
                    let index = match barrier::arrive(&word, 3, |_, _| {}) {
                        barrier::Arrival::Leader { index, .. } => {
                            leaders += 1;
                            index
                        }
                        barrier::Arrival::Waiting { index, generation } => {
                            assert_eq!(
                                barrier::wait(&word, generation, None),
                                barrier::Wake::Moved
                            );
                            index
                        }
                        barrier::Arrival::Broken => unreachable!("nobody breaks it"),
                    };
                    indices |= 1 << (index + 3 * (round - 1));
                    for c in cells.iter() {
                        // SAFETY: read after the trip, before anyone's next write (which
                        // follows the next arrival, which cannot trip before this one arrives).
                        c.with(|v| assert!(unsafe { *v } >= round));
                    }
                    if round == 1 {
                        // Nobody writes round 2 before every party has read round 1: a second
                        // barrier between (the rounds' writes would race the reads otherwise).
                        match barrier::arrive(&word, 3, |_, _| {}) {
                            barrier::Arrival::Waiting { generation, .. } => {
                                assert_eq!(
                                    barrier::wait(&word, generation, None),
                                    barrier::Wake::Moved
                                );
                            }
                            barrier::Arrival::Leader { .. } => {}
                            barrier::Arrival::Broken => unreachable!(),
                        }
                    }
                }
                (leaders, indices)
            }
        };
        let others: Vec<_> = (1..3).map(|me| thread::spawn(party(me))).collect();
        let mut results = vec![party(0)()];
        results.extend(others.into_iter().map(|h| h.join().unwrap()));
        assert_eq!(
            results.iter().map(|r| r.0).sum::<u32>(),
            2,
            "one leader a generation"
        );
        let all = results.iter().fold(0, |acc, r| {
            assert_eq!(acc & r.1, 0, "an index given twice");
            acc | r.1
        });
        assert_eq!(all, 0b111_111, "indices 0..3 in each generation");
        // Three trips: two rounds and the barrier between them.
        assert_eq!(
            barrier::State::of(word.load(Ordering::Relaxed)).generation,
            3
        );
    });
}

/// Barrier: a break racing the last arrival: either the generation trips (and the break finds
/// it moved and does nothing) or it breaks (and the late arrival is told), and the waiting
/// party wakes either way.
/// Mutant it catches ([`MUTANTS`]): `barrier-break-any-generation` (reported: assertion `left ==
/// right` failed).
#[test]
fn model_barrier_break_races_the_leader() {
    loom::model(|| {
        let word = Arc::new(AtomicU32::new(0));
        let waiter = {
            let word = word.clone();
            thread::spawn(move || match barrier::arrive(&word, 2, |_, _| {}) {
                barrier::Arrival::Waiting { generation, .. } => {
                    barrier::wait(&word, generation, None)
                }
                barrier::Arrival::Leader { .. } => barrier::Wake::Moved,
                barrier::Arrival::Broken => barrier::Wake::Broken,
            })
        };
        let breaker = {
            let word = word.clone();
            thread::spawn(move || barrier::break_generation(&word, Some(0)))
        };
        let arrived = barrier::arrive(&word, 2, |_, _| {});
        let broke = breaker.join().unwrap();
        let woke = waiter.join().unwrap();
        if broke {
            assert_eq!(woke, barrier::Wake::Broken);
            assert!(
                arrived == barrier::Arrival::Broken
                    || matches!(arrived, barrier::Arrival::Waiting { .. })
            );
        } else {
            assert_eq!(woke, barrier::Wake::Moved);
            assert!(
                matches!(arrived, barrier::Arrival::Leader { .. })
                    || matches!(arrived, barrier::Arrival::Waiting { .. })
            );
        }
    });
}

// Issue 15: Condition.

/// A condition's words (two slots) and the user's lock with the state it guards (a flag).
struct Cond {
    seq: AtomicU32,
    state: crate::sync::AtomicU64,
    slots: [crate::sync::AtomicU64; 4],
    lock: loom::sync::Mutex<bool>,
}

fn cond() -> Arc<Cond> {
    Arc::new(Cond {
        seq: AtomicU32::new(0),
        state: crate::sync::AtomicU64::new(0),
        slots: std::array::from_fn(|_| crate::sync::AtomicU64::new(0)),
        lock: loom::sync::Mutex::new(false),
    })
}

/// The waiter of `model_condition_*`: holds the lock, and while the flag is down, counts itself
/// in and waits with the lock released (Condition::wait's order, `locks/condition.rs`). The
/// mutation `condition-enter-after-release` reads the sequence only after the release.
fn cond_waiter(c: &Cond) {
    let enter_after_release = crate::sync::mutant("condition-enter-after-release");
    let never = crate::sys::futex::deadline_after(std::time::Duration::MAX);
    let mut flag = c.lock.lock().unwrap();
    while !*flag {
        let (s0, slot) = if enter_after_release {
            drop(flag);
            condition::enter(&c.seq, &c.state, 0)
        } else {
            let entered = condition::enter(&c.seq, &c.state, 0);
            drop(flag);
            entered
        };
        assert!(condition::wait(&c.seq, &c.state, s0, &never));
        condition::leave(&c.state, &c.slots, slot);
        flag = c.lock.lock().unwrap();
    }
}

/// Condition: a notification given (under the lock) after the waiter checked the flag and
/// before it sleeps is never lost — the waiter counts itself in and reads the sequence before
/// it releases the lock, so either the notifier sees it counted or it sees the sequence move.
/// Loom reports a deadlock when the waiter reads the sequence after the release (mutant
/// `condition-enter-after-release`).
/// Mutant it catches ([`MUTANTS`]): `condition-enter-after-release` (reported: deadlock).
#[test]
fn model_condition_notify_after_the_release_is_never_lost() {
    loom::model(|| {
        let c = cond();
        let waiter = {
            let c = c.clone();
            thread::spawn(move || cond_waiter(&c))
        };
        {
            let mut flag = c.lock.lock().unwrap();
            *flag = true;
            condition::notify(&c.seq, &c.state, 1);
        }
        waiter.join().unwrap();
        let v = c.state.load(Ordering::Relaxed);
        assert_eq!((condition::waiters(v), condition::pending(v)), (0, 0));
    });
}

/// Condition: `notify_one` while two waiters wait, and the one the futex wakes vanishes (a
/// process killed right after its wake-up, before it took the notification): the other takes
/// it over at its next look (a waiter's sleep is a bounded slice; here, one look after the
/// others are done), and exactly one notification is taken. The vanished waiter stays counted.
/// Mutant it catches ([`MUTANTS`]): `condition-poll-without-take` (reported: assertion `left ==
/// right` failed).
#[test]
fn model_condition_notification_of_a_vanished_waiter_is_taken_over() {
    loom::model(|| {
        let c = cond();
        // Both counted in (each while it held the lock).
        let (survivor, slot) = condition::enter(&c.seq, &c.state, 0);
        let (s0, _) = condition::enter(&c.seq, &c.state, 0);
        let vanishing = {
            let c = c.clone();
            thread::spawn(move || {
                // Asleep, possibly woken by the notification below; then killed: it never
                // takes anything.
                crate::sys::futex::wait(&c.seq, s0, None);
            })
        };
        let notifier = {
            let c = c.clone();
            thread::spawn(move || condition::notify(&c.seq, &c.state, 1))
        };
        vanishing.join().unwrap();
        let given = notifier.join().unwrap();
        assert_eq!(given, 1, "two waiters counted: one notification given");
        // The survivor's next look.
        assert!(condition::poll(&c.seq, &c.state, survivor).is_ok());
        condition::leave(&c.state, &c.slots, slot);
        let v = c.state.load(Ordering::Relaxed);
        assert_eq!((condition::waiters(v), condition::pending(v)), (1, 0));
    });
}

/// Condition: a waiter killed while counted in slot 0 is counted out exactly once, by one of
/// two healers racing each other, while a third waiter leaves its own slot (1) and a new one
/// enters (taking slot 0 or 1 as they come free): the healers never count out the newcomer,
/// however the slots are reused — at the end exactly the newcomer is counted, named in its
/// slot. (Loom cannot prove a process dead: "dead" is the identity the killed one had.)
/// Mutant it catches ([`MUTANTS`]): `condition-heal-by-store` (reported: counted out once).
#[test]
fn model_condition_a_dead_waiter_is_healed_once_and_never_a_living_one() {
    loom::model(|| {
        let c = cond();
        const DEAD: u64 = 1;
        let (_, dead) = condition::enter(&c.seq, &c.state, 0);
        condition::name_slot(&c.slots, dead.unwrap(), 10, DEAD);
        let (_, leaving) = condition::enter(&c.seq, &c.state, 0);
        condition::name_slot(&c.slots, leaving.unwrap(), 20, 2);
        let healers: Vec<_> = (0..2)
            .map(|_| {
                let c = c.clone();
                thread::spawn(move || {
                    condition::heal(&c.state, &c.slots, 0, |_, identity| identity == DEAD)
                })
            })
            .collect();
        let newcomer = {
            let c = c.clone();
            thread::spawn(move || {
                condition::leave(&c.state, &c.slots, leaving);
                let (_, slot) = condition::enter(&c.seq, &c.state, 0);
                condition::name_slot(&c.slots, slot.unwrap(), 30, 3);
                slot.unwrap()
            })
        };
        let healed: u32 = healers
            .into_iter()
            .map(|h| u32::from(h.join().unwrap()))
            .sum();
        let slot = newcomer.join().unwrap();
        assert_eq!(healed, 1, "counted out once");
        let v = c.state.load(Ordering::Relaxed);
        assert_eq!(
            condition::slots(v),
            1 << slot,
            "only the newcomer is counted"
        );
        assert_eq!(c.slots[2 * slot + 1].load(Ordering::Relaxed), 3);
    });
}

// ---- Issue 15: the RwLock's reader/writer pairing (`word/rwlock.rs`) ----

/// An rwlock's writer word, one reader slot, the slots' high-water mark, the readers-asleep
/// count and the data they guard.
struct Rw {
    writer: AtomicU32,
    slot: [AtomicU32; 2],
    mark: AtomicU32,
    sleepers: AtomicU32,
    data: UnsafeCell<u32>,
}

fn rw(writer: u32) -> Arc<Rw> {
    Arc::new(Rw {
        writer: AtomicU32::new(writer),
        slot: [AtomicU32::new(UNLOCKED), AtomicU32::new(UNLOCKED)],
        mark: AtomicU32::new(0),
        sleepers: AtomicU32::new(0),
        data: UnsafeCell::new(0),
    })
}

/// A writer's release as its guard does it: the uncontended exchange, or (a sleeper
/// announced itself) the lock's release, which wakes one, then every reader.
fn rw_release_write(s: &Rw, tid: u32) {
    if !try_unlock_seen(&s.writer, tid) {
        unlock_raced(&s.writer, false);
        super::rwlock::wake_readers(&s.writer, &s.sleepers);
    }
}

/// The reader/writer pairing (`reader_gate` and `writer_mark`): a reader that raises the mark,
/// takes its slot and finds the writer word free, and a writer that takes the writer word and
/// finds the slot free (or the mark below it), are never inside together — loom reports the
/// data's concurrent read and write if they are. Neither side waits here: a reader that finds
/// the writer in gives up, and so does a writer that finds the reader in. It fails (the two
/// accesses reported) with either fence removed (`reader_gate`'s or `writer_mark`'s).
/// Mutant it catches ([`MUTANTS`]): `reader-gate-no-fence` (reported: Causality violation).
#[test]
fn model_rwlock_reader_and_writer_exclude_each_other() {
    use super::rwlock::{cover_slot, reader_gate, slot, writer_mark, Gate, Slot};
    loom::model(|| {
        let s = rw(UNLOCKED);
        let reader = {
            let s = s.clone();
            thread::spawn(move || {
                cover_slot(&s.mark, 0);
                if try_lock_fast(&s.slot[0], 1) {
                    if reader_gate(&s.writer) == Gate::Open {
                        // SAFETY: read granted; a write beside it is what loom reports.
                        s.data.with(|d| unsafe { assert!(*d <= 1) });
                    }
                    unlock(&s.slot[0]);
                }
            })
        };
        if try_lock_fast(&s.writer, 2) {
            let mark = writer_mark(&s.mark);
            if mark == 0 || slot(&s.slot[0]) == Slot::Free {
                // SAFETY: write granted; a read beside it is what loom reports.
                s.data.with_mut(|d| unsafe { *d += 1 });
            }
            rw_release_write(&s, 2);
        }
        reader.join().unwrap();
    });
}

/// A writer's release wakes every reader asleep behind it: two readers find the writer word
/// held, give their slots back and sleep on it (`reader_sleep`); the writer releases as its
/// guard does. Both must end inside (loom reports a reader left asleep as a deadlock). It
/// fails without `wake_readers` (the lock's release wakes one reader; the other sleeps on).
/// Mutant it catches ([`MUTANTS`]): `wake-readers-no-wake` (reported: deadlock).
#[test]
fn model_rwlock_writer_release_wakes_every_reader() {
    use super::rwlock::{reader_gate, reader_sleep, Gate};
    loom::model(|| {
        let s = rw(9);
        s.mark.store(2, Ordering::Relaxed);
        let readers: Vec<_> = [0usize, 1]
            .into_iter()
            .map(|i| {
                let s = s.clone();
                thread::spawn(move || {
                    let never = crate::sys::futex::deadline_after(std::time::Duration::MAX);
                    loop {
                        assert!(try_lock_fast(&s.slot[i], 1 + i as u32));
                        let gate = reader_gate(&s.writer);
                        unlock(&s.slot[i]);
                        if gate == Gate::Open {
                            return;
                        }
                        reader_sleep(&s.writer, &s.sleepers, &never);
                    }
                })
            })
            .collect();
        rw_release_write(&s, 9);
        for r in readers {
            r.join().unwrap();
        }
    });
}

/// A writer that dies holding the word: the kernel marks it and wakes one sleeper. A reader
/// woken (or arriving) claims the word — told — and releases it as a writer does, so the
/// other reader asleep behind the dead writer is woken too: both end inside, exactly one
/// told. It fails when a reader takes a dead writer's word for a held one (mutant
/// `reader-gate-ignores-death`: the readers go round sleeping on a word that never changes
/// again, which loom reports as a model past its maximum number of branches). It does not
/// fail without `wake_readers` in the claiming reader's release, as this comment once said
/// (issue 18's check of every model's mutation): with two readers the release's own wake-up
/// (`unlock`, the word has `WAITERS`) reaches the one still asleep;
/// `model_rwlock_writer_release_wakes_every_reader` is the model that needs `wake_readers`.
/// Mutant it catches ([`MUTANTS`]): `reader-gate-ignores-death` (reported: maximum number of
/// branches).
#[test]
fn model_rwlock_dead_writer_leaves_no_reader_asleep() {
    use super::rwlock::{reader_gate, reader_sleep, Gate};
    loom::model(|| {
        let s = rw(9);
        s.mark.store(2, Ordering::Relaxed);
        let readers: Vec<_> = [0usize, 1]
            .into_iter()
            .map(|i| {
                let s = s.clone();
                thread::spawn(move || {
                    let tid = 1 + i as u32;
                    let never = crate::sys::futex::deadline_after(std::time::Duration::MAX);
                    loop {
                        assert!(try_lock_fast(&s.slot[i], tid));
                        match reader_gate(&s.writer) {
                            Gate::Open => {
                                unlock(&s.slot[i]);
                                return false;
                            }
                            Gate::WriterDied => {
                                if let Ok(how) = try_lock_slow(&s.writer, tid + 10, None) {
                                    rw_release_write(&s, tid + 10);
                                    unlock(&s.slot[i]);
                                    return how == Acquired::OwnerDied;
                                }
                                unlock(&s.slot[i]);
                            }
                            Gate::Closed => {
                                unlock(&s.slot[i]);
                            }
                        }
                        reader_sleep(&s.writer, &s.sleepers, &never);
                    }
                })
            })
            .collect();
        // The writer's thread dies: the kernel's robust-list walk.
        assert!(mark_owner_dead(&s.writer, 9));
        let told: u32 = readers
            .into_iter()
            .map(|r| u32::from(r.join().unwrap()))
            .sum();
        assert_eq!(told, 1, "the death is told once");
    });
}

// ---- Issue 18: an RLock's depth (`word/rlock.rs`) ----

/// An RLock's word, its depth (owner-only, Relaxed) and the data it guards.
struct Re {
    word: AtomicU32,
    depth: AtomicU32,
    waiters: AtomicU32,
    data: UnsafeCell<u32>,
}

/// Takes the RLock as `tid` the way `RLock::lock` does: one more level if `tid` holds the word,
/// else the word and its first level. The depth taken, and how the word was.
fn rlock_lock(r: &Re, tid: u32) -> (u32, Acquired) {
    if r.word.load(Ordering::Relaxed) & TID_MASK == tid {
        let depth = super::rlock::enter_inner_level(&r.depth).expect("no overflow at 2");
        return (depth, Acquired::Clean);
    }
    let how = if try_lock_fast(&r.word, tid) {
        Acquired::Clean
    } else {
        let never = crate::sys::futex::deadline_after(std::time::Duration::MAX);
        lock_contended(&r.word, tid, &never, false, None, &r.waiters, false)
            .expect("untimed lock of a foreign word")
    };
    super::rlock::enter_first_level(&r.depth);
    (1, how)
}

/// Ends one level of `tid`'s hold, as `RLockGuard`'s drop does: whether it released the word.
fn rlock_release(r: &Re, tid: u32) -> bool {
    assert_eq!(
        r.word.load(Ordering::Relaxed) & TID_MASK,
        tid,
        "a release by a thread that does not hold the word"
    );
    if super::rlock::leave_inner_level(&r.depth) {
        false
    } else {
        unlock(&r.word);
        true
    }
}

fn bump_re(r: &Re, n: u32) {
    // SAFETY: called only while holding the word; a violation is exactly what loom detects.
    r.data.with_mut(|d| unsafe { *d += n });
}

/// An RLock's depth (`word/rlock.rs`), owner-only data ordered by the word: a holder (tid 1)
/// re-enters, ends its inner level (keeping the word), re-enters again and dies two levels
/// deep — the kernel's robust-list walk runs as its thread exits. Another (tid 2) takes the
/// RLock, before or after the death, re-enters, and releases level by level: its first level
/// is depth 1 whatever the dead holder left, an inner level's end keeps the word, and the
/// outermost end frees it — the word ends free or marked dead (the dead holder's, if it took
/// the word last), the death told at most once, and the sections never overlap (loom reports
/// the data's concurrent accesses). It fails on the mutant `rlock-takeover-keeps-depth` (a
/// take-over that keeps the dead holder's depth: its re-entry is at depth 3, and its outermost
/// release would only count down, leaving the word held by a thread that has left).
/// Mutant it catches ([`MUTANTS`]): `rlock-takeover-keeps-depth` (reported: one level below
/// the first).
#[test]
fn model_rlock_depth_counts_reentries_and_a_takeover_starts_afresh() {
    loom::model(|| {
        let r = Arc::new(Re {
            word: AtomicU32::new(UNLOCKED),
            depth: AtomicU32::new(0),
            waiters: AtomicU32::new(0),
            data: UnsafeCell::new(0),
        });
        let dying = {
            let r = r.clone();
            thread::spawn(move || {
                assert_eq!(rlock_lock(&r, 1).0, 1);
                assert_eq!(rlock_lock(&r, 1).0, 2);
                bump_re(&r, 1);
                assert!(!rlock_release(&r, 1), "an inner level's end keeps the word");
                assert_eq!(rlock_lock(&r, 1).0, 2);
                // Dies two levels deep.
                assert!(mark_owner_dead(&r.word, 1));
            })
        };
        let (depth, how) = rlock_lock(&r, 2);
        assert_eq!(depth, 1);
        bump_re(&r, 10);
        assert_eq!(
            rlock_lock(&r, 2).0,
            2,
            "a re-entry is one level below the first"
        );
        assert!(!rlock_release(&r, 2), "an inner level's end keeps the word");
        assert!(
            rlock_release(&r, 2),
            "the outermost level's end frees the word"
        );
        dying.join().unwrap();
        let word = r.word.load(Ordering::Relaxed);
        if how == Acquired::OwnerDied {
            assert_eq!(word, UNLOCKED, "taken over, then released");
        } else {
            assert_eq!(word & !WAITERS, OWNER_DIED, "the dead holder took it last");
        }
        // SAFETY: every other thread is joined.
        r.data.with(|d| assert_eq!(unsafe { *d }, 11));
    });
}

// ---- Issue 18: every model fails on the mutation it is meant to catch ----

/// Each model, a mutation of the protocol it checks (`crate::sync::mutant`, planted in the
/// word code: `INTERLOCK_LOOM_MUTANT=NAME` turns one on), and what loom reports on it. Decision
/// 0030 has the table with the reasons.
#[rustfmt::skip]
const MUTANTS: &[(&str, &str, &str)] = &[
    ("lock-fast-relaxed", "model_two_threads_exclude_each_other", "Causality violation"),
    ("unlock-no-wake", "model_two_threads_exclude_each_other", "deadlock"),
    ("death-not-reported", "model_dead_owner_is_recovered_once_and_reported", "OwnerDied"),
    ("try-lock-slow-takes-held", "model_try_lock_never_blocks_and_respects_the_holder", "Causality violation"),
    ("try-unlock-seen-blind", "model_release_that_loses_to_an_arriving_waiter_still_wakes_it", "deadlock"),
    ("hand-over-one-wake", "model_fair_hand_over_excludes_and_strands_nobody", "deadlock"),
    ("steal-keeps-word", "model_semaphore_release_reaches_a_sleeper_on_another_permit", "deadlock"),
    ("announce-without-waiters", "model_semaphore_death_on_any_held_permit_wakes_the_sleeper", "deadlock"),
    ("steal-without-wake", "model_semaphore_release_reaches_a_sleeper_on_another_permit", "deadlock"),
    ("claim-without-waiters", "model_semaphore_three_sleepers_on_two_permits_all_acquire", "deadlock"),
    ("timeout-keeps-wake", "model_semaphore_a_sleeper_that_gives_up_hands_its_wake_up_on", "deadlock"),
    ("event-set-no-wake", "model_event_set_wakes_every_waiter_no_lost_wakeup", "deadlock"),
    ("event-set-uncounted", "model_event_clear_races_set", "assertion failed"),
    ("barrier-arrive-relaxed", "model_barrier_trips_once_per_generation_and_orders_memory", "Causality violation"),
    ("barrier-break-any-generation", "model_barrier_break_races_the_leader", "assertion `left == right` failed"),
    ("condition-enter-after-release", "model_condition_notify_after_the_release_is_never_lost", "deadlock"),
    ("condition-poll-without-take", "model_condition_notification_of_a_vanished_waiter_is_taken_over", "assertion `left == right` failed"),
    ("condition-heal-by-store", "model_condition_a_dead_waiter_is_healed_once_and_never_a_living_one", "counted out once"),
    ("reader-gate-no-fence", "model_rwlock_reader_and_writer_exclude_each_other", "Causality violation"),
    ("wake-readers-no-wake", "model_rwlock_writer_release_wakes_every_reader", "deadlock"),
    ("reader-gate-ignores-death", "model_rwlock_dead_writer_leaves_no_reader_asleep", "maximum number of branches"),
    ("rlock-takeover-keeps-depth", "model_rlock_depth_counts_reentries_and_a_takeover_starts_afresh", "one level below the first"),
    ("rw-enter-relaxed", "model_rwlock_prefer_readers_exclude_and_the_writer_enters", "Causality violation"),
    ("rw-leave-no-wake", "model_rwlock_prefer_readers_withdrawal_lets_kept_out_readers_in", "maximum number of branches"),
];

/// Every row of [`MUTANTS`]: the model, run with its mutation on, must fail saying what the
/// table says. Loom aborts the process after a deadlock (a destructor panics while unwinding),
/// so each runs in a child process of this test binary.
#[test]
fn model_every_mutant_is_caught() {
    if std::env::var_os("INTERLOCK_LOOM_MUTANT").is_some() {
        return; // A child runs one model, not this.
    }
    let exe = std::env::current_exe().unwrap();
    let mut escaped = Vec::new();
    for &(mutant, model, says) in MUTANTS {
        let started = std::time::Instant::now();
        let out = std::process::Command::new(&exe)
            .args([
                &format!("word::model::{model}"),
                "--exact",
                "--test-threads=1",
            ])
            .env("INTERLOCK_LOOM_MUTANT", mutant)
            .env("RUST_BACKTRACE", "0")
            .output()
            .unwrap();
        let output = String::from_utf8_lossy(&out.stderr) + String::from_utf8_lossy(&out.stdout);
        // The model ran (one test), failed, and for the reason the table gives.
        let caught =
            output.contains("running 1 test") && !out.status.success() && output.contains(says);
        let verdict = if !caught {
            escaped.push(format!("{mutant} / {model}: {}\n{output}", out.status));
            "NOT CAUGHT"
        } else {
            "caught"
        };
        println!(
            "{mutant:30} {model:70} {verdict} in {:.2?}",
            started.elapsed()
        );
    }
    assert!(
        escaped.is_empty(),
        "mutants the models let through:\n{}",
        escaped.join("\n")
    );
}

// ---- Reader preference (`RwPolicy::PreferReaders`): `ENTERED` in the writer record's mark ----

/// A reader-preferring writer's release as its guard does it: `ENTERED` cleared (waking the
/// readers it kept out), then the writer word released.
fn rw_release_write_entered(s: &Rw, tid: u32) {
    super::rwlock::writer_leave(&s.mark, &s.sleepers);
    rw_release_write(s, tid);
}

/// A reader-preferring writer's drain as `RwLock::drain` does it, with one reader slot: wait
/// for the slot (asleep on it), enter, look again; held, and withdraw and drain again.
/// `recheck: false` is the mutant that trusts its first look.
fn rw_drain_prefer_readers(s: &Rw, recheck: bool) {
    use super::rwlock::{
        slot, writer_enter, writer_leave, writer_mark, writer_wait_for_slot, Slot,
    };
    let never = crate::sys::futex::deadline_after(std::time::Duration::MAX);
    let mut mark = writer_mark(&s.mark);
    loop {
        if mark > 0 {
            while slot(&s.slot[0]) != Slot::Free {
                writer_wait_for_slot(&s.slot[0], &never);
            }
        }
        mark = writer_enter(&s.mark);
        if !recheck || mark == 0 || slot(&s.slot[0]) == Slot::Free {
            return;
        }
        writer_leave(&s.mark, &s.sleepers);
    }
}

/// A reader-preferring reader as `RwLock::read` does it: raise the mark, take the slot, look;
/// kept out by an entered writer, give the slot back and sleep (`reader_sleep_while_entered`).
/// Reads the data once granted.
fn rw_read_prefer_readers(s: &Rw, tid: u32) {
    use super::rwlock::{cover_slot, reader_gate_prefer_readers, reader_sleep_while_entered, Gate};
    let never = crate::sys::futex::deadline_after(std::time::Duration::MAX);
    loop {
        cover_slot(&s.mark, 0);
        assert!(try_lock_fast(&s.slot[0], tid));
        if reader_gate_prefer_readers(&s.writer, &s.mark) == Gate::Open {
            // SAFETY: read granted; a write beside it is what loom reports.
            s.data.with(|d| unsafe { assert!(*d <= 1) });
            unlock(&s.slot[0]);
            return;
        }
        unlock(&s.slot[0]);
        reader_sleep_while_entered(&s.writer, &s.mark, &s.sleepers, &never);
    }
}

/// Reader preference excludes too, and the writer is not starved when readers stop: a reader
/// (which comes in while the writer drains, and sleeps while it has entered) and a writer
/// that takes the writer word, drains, enters and re-checks. Never both inside (loom reports
/// the data's concurrent read and write), and both end (a reader left asleep, or a writer
/// that never enters after the reader left, is loom's deadlock). It fails — the two accesses
/// reported — with the writer's re-check after `ENTERED` dropped
/// (`rw_drain_prefer_readers(.., false)`), or with `writer_enter`'s read-modify-write Relaxed
/// and no fence, or without `reader_gate`'s fence — the pairing needs both sides' (all three
/// tried when it was written).
#[test]
fn model_rwlock_prefer_readers_exclude_and_the_writer_enters() {
    loom::model(|| {
        let s = rw(UNLOCKED);
        let reader = {
            let s = s.clone();
            thread::spawn(move || rw_read_prefer_readers(&s, 1))
        };
        assert!(try_lock_fast(&s.writer, 2));
        rw_drain_prefer_readers(&s, true);
        // SAFETY: write granted; a read beside it is what loom reports.
        s.data.with_mut(|d| unsafe { *d += 1 });
        rw_release_write_entered(&s, 2);
        reader.join().unwrap();
    });
}

/// A reader comes in while a writer holds the writer word but has not entered: the writer
/// holds it from the start here, and a reader that finds it not entered reads (the writer
/// waits on the slot). With `ENTERED` already set (the writer is writing) the reader sleeps
/// until the writer leaves — no lost wake-up between its look at `mark` and its sleep.
#[test]
fn model_rwlock_prefer_readers_reader_passes_a_draining_writer() {
    use super::rwlock::{writer_enter, ENTERED};
    loom::model(|| {
        // Writer 9 holds the word and has used slot 0 before (mark 1); it is draining.
        let s = rw(9);
        s.mark.store(1, Ordering::Relaxed);
        let reader = {
            let s = s.clone();
            thread::spawn(move || rw_read_prefer_readers(&s, 1))
        };
        // The writer enters once: the reader either got in first (the writer withdraws and
        // waits for it) or sleeps until the writer leaves.
        let mark = writer_enter(&s.mark);
        assert_eq!(mark, 1);
        if super::rwlock::slot(&s.slot[0]) == super::rwlock::Slot::Free {
            // SAFETY: write granted.
            s.data.with_mut(|d| unsafe { *d += 1 });
        }
        rw_release_write_entered(&s, 9);
        reader.join().unwrap();
        assert_eq!(s.mark.load(Ordering::Relaxed) & ENTERED, 0);
    });
}

/// A reader-preferring writer that dies entered: the kernel marks the word and wakes one
/// sleeper; `ENTERED` stays set. A reader woken (or arriving) claims the word — told — and
/// its release clears `ENTERED` (`writer_leave`) and wakes every reader: both readers end
/// inside, exactly one told. It fails (loom's deadlock) when the claimant does not clear
/// `ENTERED` (the other reader sleeps on an entered mark with the word free).
#[test]
fn model_rwlock_prefer_readers_dead_entered_writer_is_cleared() {
    use super::rwlock::{reader_gate_prefer_readers, reader_sleep_while_entered, Gate, ENTERED};
    loom::model(|| {
        let s = rw(9);
        s.mark.store(2 | ENTERED, Ordering::Relaxed);
        let readers: Vec<_> = [0usize, 1]
            .into_iter()
            .map(|i| {
                let s = s.clone();
                thread::spawn(move || {
                    let tid = 1 + i as u32;
                    let never = crate::sys::futex::deadline_after(std::time::Duration::MAX);
                    loop {
                        assert!(try_lock_fast(&s.slot[i], tid));
                        match reader_gate_prefer_readers(&s.writer, &s.mark) {
                            Gate::Open => {
                                unlock(&s.slot[i]);
                                return false;
                            }
                            Gate::WriterDied => {
                                if let Ok(how) = try_lock_slow(&s.writer, tid + 10, None) {
                                    rw_release_write_entered(&s, tid + 10);
                                    unlock(&s.slot[i]);
                                    return how == Acquired::OwnerDied;
                                }
                                unlock(&s.slot[i]);
                            }
                            Gate::Closed => {
                                unlock(&s.slot[i]);
                            }
                        }
                        reader_sleep_while_entered(&s.writer, &s.mark, &s.sleepers, &never);
                    }
                })
            })
            .collect();
        // The writer's thread dies entered: the kernel's robust-list walk.
        assert!(mark_owner_dead(&s.writer, 9));
        let told: u32 = readers
            .into_iter()
            .map(|r| u32::from(r.join().unwrap()))
            .sum();
        assert_eq!(told, 1, "the death is told once");
        assert_eq!(s.mark.load(Ordering::Relaxed) & ENTERED, 0);
    });
}

/// The withdrawal lets readers in: a writer that holds the word (slots 0 and 1 used before)
/// drains, enters, and finds reader 2 came in first, so it withdraws and waits for reader 2 —
/// who reads until reader 1 has read too (readers that overlap, the workload reader preference
/// is for). Reader 1, kept out while the writer was entered, must be let in by the withdrawal:
/// if it stays asleep, reader 2 never leaves (loom: the model exceeds its branches, reader 2
/// spinning for ever). It fails so when `writer_leave` does not wake `mark` (tried when it was
/// written). A kept-out reader that sleeps on the writer word alone (the withdrawal changes
/// only `mark`, so a reader between its look at `mark` and its sleep sleeps through the wake)
/// fails too, but only at `LOOM_MAX_PREEMPTIONS=3`, where this model also fails as written:
/// the emulated futex's one bucket lets reader 2's wake-up on its slot go to reader 1 asleep
/// on the writer word, leaving the writer asleep — a lost wake-up no kernel has (its wake-ups
/// are per word). CI runs it at 2.
#[test]
fn model_rwlock_prefer_readers_withdrawal_lets_kept_out_readers_in() {
    use super::rwlock::{
        cover_slot, reader_gate_prefer_readers, reader_sleep_while_entered, slot, writer_enter,
        writer_leave, writer_wait_for_slot, Gate, Slot,
    };
    loom::model(|| {
        let s = rw(9);
        s.mark.store(2, Ordering::Relaxed);
        let first_in = Arc::new(AtomicU32::new(0));
        let readers: Vec<_> = [0usize, 1]
            .into_iter()
            .map(|i| {
                let (s, first_in) = (s.clone(), first_in.clone());
                thread::spawn(move || {
                    let never = crate::sys::futex::deadline_after(std::time::Duration::MAX);
                    loop {
                        cover_slot(&s.mark, i as u32);
                        assert!(try_lock_fast(&s.slot[i], 1 + i as u32));
                        if reader_gate_prefer_readers(&s.writer, &s.mark) == Gate::Open {
                            if i == 0 {
                                first_in.store(1, Ordering::Release);
                            } else {
                                // Reader 2 reads until reader 1 has read too.
                                while first_in.load(Ordering::Acquire) == 0 {
                                    thread::yield_now();
                                }
                            }
                            unlock(&s.slot[i]);
                            return;
                        }
                        unlock(&s.slot[i]);
                        reader_sleep_while_entered(&s.writer, &s.mark, &s.sleepers, &never);
                    }
                })
            })
            .collect();
        let never = crate::sys::futex::deadline_after(std::time::Duration::MAX);
        loop {
            for word in &s.slot {
                while slot(word) != Slot::Free {
                    writer_wait_for_slot(word, &never);
                }
            }
            writer_enter(&s.mark);
            if s.slot.iter().all(|w| slot(w) == Slot::Free) {
                break;
            }
            writer_leave(&s.mark, &s.sleepers);
        }
        rw_release_write_entered(&s, 9);
        for r in readers {
            r.join().unwrap();
        }
    });
}
