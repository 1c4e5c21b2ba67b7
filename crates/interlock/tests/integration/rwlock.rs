//! `RwLock`: many readers or one writer across real processes and threads — a writer's
//! invariant never seen half done under load, holds of SIGKILLed readers and writers given
//! back with the next writer told, writers not starved by a stream of readers, downgrade
//! atomic, and bad input as typed errors.

use crate::common;

use std::sync::atomic::Ordering;
use std::time::Duration;

use common::{channel, fork, SharedMem, PATIENCE};
use interlock::{Error, Kind, Lock, RwLock, RwPolicy};
use interlock_testkit::Gang;

/// How many holders SIGKILLed at random instants: 100 rounds by default (each of CI's three
/// runs of the suite), hundreds more from
/// `ci/stress.sh` (`INTERLOCK_CRASH_ROUNDS`).
fn crash_rounds() -> u64 {
    match std::env::var("INTERLOCK_CRASH_ROUNDS") {
        Ok(v) => v
            .parse()
            .unwrap_or_else(|_| panic!("INTERLOCK_CRASH_ROUNDS={v:?} is not a number")),
        Err(_) => 100,
    }
}

/// Eight processes, two of them writers: each write sets two counters one after the other
/// (with a yield between), and every read checks they are equal. Never seen unequal, never a
/// writer beside a reader, and every write counted.
#[test]
fn eight_processes_never_see_a_write_half_done() {
    never_half_done(RwLock::new().unwrap());
}

/// The body of the eight-process test, for either policy.
fn never_half_done(rw: RwLock) {
    const ROUNDS: u64 = 400;
    // 0, 1: the two counters; 2: readers inside; 3: writers inside; 4: violations;
    // 5: reads done.
    let shm = SharedMem::new(6);
    let gang = Gang::fork(8, |p| {
        for r in 0..ROUNDS {
            if p < 2 {
                let w = rw.write().expect("write");
                assert!(!w.previous_owner_died());
                if shm.slot(3).fetch_add(1, Ordering::SeqCst) != 0
                    || shm.slot(2).load(Ordering::SeqCst) != 0
                {
                    shm.slot(4).fetch_add(1, Ordering::SeqCst);
                }
                let n = shm.slot(0).load(Ordering::Relaxed) + 1;
                shm.slot(0).store(n, Ordering::Relaxed);
                if r % 4 == 0 {
                    std::thread::yield_now();
                }
                shm.slot(1).store(n, Ordering::Relaxed);
                shm.slot(3).fetch_sub(1, Ordering::SeqCst);
                drop(w);
            } else {
                let g = rw.read().expect("read");
                shm.slot(2).fetch_add(1, Ordering::SeqCst);
                let a = shm.slot(0).load(Ordering::Relaxed);
                if r % 8 == 0 {
                    std::thread::yield_now();
                }
                let b = shm.slot(1).load(Ordering::Relaxed);
                if a != b || shm.slot(3).load(Ordering::SeqCst) != 0 {
                    shm.slot(4).fetch_add(1, Ordering::SeqCst);
                }
                shm.slot(2).fetch_sub(1, Ordering::SeqCst);
                shm.slot(5).fetch_add(1, Ordering::SeqCst);
                drop(g);
            }
        }
    })
    .labelled("reader or writer", Some(PATIENCE));
    gang.start();
    gang.join();
    assert_eq!(
        shm.slot(4).load(Ordering::SeqCst),
        0,
        "a write seen half done"
    );
    assert_eq!(shm.slot(0).load(Ordering::SeqCst), 2 * ROUNDS);
    assert_eq!(shm.slot(5).load(Ordering::SeqCst), 6 * ROUNDS);
    let status = rw.status();
    assert_eq!(status.writes, 2 * ROUNDS);
    assert!(status.readers.is_empty() && status.writer.is_none());
    assert_eq!((status.writer_deaths, status.reader_deaths), (0, 0));
}

/// The same between threads of one process: readers and writers of one handle.
#[test]
fn threads_exclude_like_processes() {
    let rw = RwLock::new().unwrap();
    let pair = [
        std::sync::atomic::AtomicU64::new(0),
        std::sync::atomic::AtomicU64::new(0),
    ];
    let bad = std::sync::atomic::AtomicU64::new(0);
    std::thread::scope(|s| {
        for t in 0..6 {
            let (rw, pair, bad) = (&rw, &pair, &bad);
            s.spawn(move || {
                for _ in 0..500 {
                    if t == 0 {
                        let _w = rw.write().unwrap();
                        let n = pair[0].load(Ordering::Relaxed) + 1;
                        pair[0].store(n, Ordering::Relaxed);
                        std::thread::yield_now();
                        pair[1].store(n, Ordering::Relaxed);
                    } else {
                        let _r = rw.read().unwrap();
                        if pair[0].load(Ordering::Relaxed) != pair[1].load(Ordering::Relaxed) {
                            bad.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
            });
        }
    });
    assert_eq!(bad.load(Ordering::Relaxed), 0);
    assert_eq!(pair[1].load(Ordering::Relaxed), 500);
}

/// A reader SIGKILLed holding its read: a writer already waiting for it gets in, and is told.
#[test]
fn a_killed_reader_lets_the_waiting_writer_in_told() {
    killed_reader_lets_the_waiting_writer_in(RwLock::new().unwrap());
}

/// The body of the killed-reader test: new readers are kept out while the writer drains
/// under writer preference, let in under reader preference.
fn killed_reader_lets_the_waiting_writer_in(rw: RwLock) {
    let prefer_readers = rw.policy() == RwPolicy::PreferReaders;
    let (tx, rx) = channel();
    let reader = fork(|| {
        let _r = rw.read().expect("read");
        tx.send("reading");
        common::hold_until_killed();
    });
    rx.expect("reading");
    std::thread::scope(|s| {
        let writer = s.spawn(|| {
            let w = rw.write_timeout(PATIENCE).expect("the write comes");
            w.previous_owner_died()
        });
        common::wait_until("the writer holds the word, waiting", || {
            rw.status().writer.is_some() || writer.is_finished()
        });
        assert_eq!(
            rw.try_read().unwrap().is_some(),
            prefer_readers,
            "a draining writer keeps new readers out, unless readers are preferred"
        );
        let status = rw.status();
        assert!(status.writer.is_some() && !status.entered, "draining");
        reader.kill(libc::SIGKILL);
        assert!(writer.join().unwrap(), "the writer is told");
    });
    reader.join_killed_by(libc::SIGKILL);
    assert!(!rw.write().unwrap().previous_owner_died(), "told once");
    assert_eq!(rw.status().reader_deaths, 1);
    assert!(!rw.is_poisoned(), "a reader's death poisons nothing");
}

/// A writer SIGKILLed holding the write: the readers asleep behind it all get in (the first
/// told), and the lock is poisoned until cleared.
#[test]
fn a_killed_writer_wakes_every_reader_and_the_next_is_told() {
    killed_writer_wakes_every_reader(RwLock::new().unwrap());
}

/// The body of the killed-writer test, for either policy: under reader preference the
/// writer dies entered (it had no reader to wait for), and the reader that claims its word
/// clears that.
fn killed_writer_wakes_every_reader(rw: RwLock) {
    let (tx, rx) = channel();
    let writer = fork(|| {
        let _w = rw.write().expect("write");
        tx.send("writing");
        common::hold_until_killed();
    });
    rx.expect("writing");
    let (rtx, rrx) = channel();
    let readers: Vec<_> = (0..3)
        .map(|_| {
            fork(|| {
                let r = rw.read_timeout(PATIENCE).expect("the read comes");
                // One message each: the three readers' lines may interleave on the pipe.
                rtx.send(if r.previous_owner_died() {
                    "told"
                } else {
                    "read"
                });
                // Hold the read until every reader is in: all three inside at once.
                common::hold_until_killed();
            })
        })
        .collect();
    common::wait_until("three readers asleep", || rw.status().waiting_readers == 3);
    writer.kill(libc::SIGKILL);
    let mut told = 0;
    for _ in 0..3 {
        match rrx.recv().as_str() {
            "told" => told += 1,
            "read" => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(
        told, 1,
        "the first reader after the dead writer is told, once"
    );
    assert_eq!(rw.status().readers.len(), 3, "all three read at once");
    assert!(!rw.status().entered);
    for r in readers {
        r.kill(libc::SIGKILL);
        r.join_killed_by(libc::SIGKILL);
    }
    writer.join_killed_by(libc::SIGKILL);
    assert!(rw.is_poisoned(), "a writer's death poisons");
    let w = rw.write().unwrap();
    assert!(
        w.previous_owner_died(),
        "the three dead readers are told to the writer"
    );
    w.clear_poison();
    drop(w);
    assert!(!rw.is_poisoned());
    let status = rw.status();
    assert_eq!((status.writer_deaths, status.reader_deaths), (1, 3));
}

/// Readers and writers SIGKILLed at random instants while they read and write as fast as
/// they can: after each kill the write comes at once (no hang), a reader never sees the pair
/// of counters unequal, and every death the kills caused is told: the parent's write is told
/// exactly when deaths are left untold (the second child may have come after the first's
/// death, and been told, before its own kill), and none is left after it.
#[test]
fn holders_killed_at_random_instants_never_wedge_it_and_every_death_is_told() {
    killed_at_random_instants(RwLock::new().unwrap());
}

/// The body of the random-kill test, for either policy.
fn killed_at_random_instants(rw: RwLock) {
    // 0, 1: the pair; 2: violations; 3: operations so far.
    let shm = SharedMem::new(4);
    let mut seed = 0x2545_f491_4f6c_dd1du64 ^ u64::from(std::process::id());
    let deaths = |rw: &RwLock| {
        let s = rw.status();
        s.writer_deaths + s.reader_deaths
    };
    let mut told = 0;
    for round in 0..crash_rounds() {
        let (tx, rx) = channel();
        let children: Vec<_> = (0..2u64)
            .map(|v| {
                let (rw, shm, tx) = (&rw, &shm, &tx);
                fork(move || {
                    tx.send("running");
                    let mut i = v;
                    loop {
                        i += 1;
                        if i % 3 == 0 {
                            let w = rw.write().expect("write");
                            let n = shm.slot(0).load(Ordering::SeqCst) + 1;
                            shm.slot(0).store(n, Ordering::SeqCst);
                            shm.slot(1).store(n, Ordering::SeqCst);
                            // The pair is whole again: whatever a dead writer left is repaired.
                            if w.is_poisoned() {
                                w.clear_poison();
                            }
                            drop(w);
                        } else {
                            let r = rw.read().expect("read");
                            // A writer killed between its two stores leaves the pair unequal,
                            // and the lock poisoned until a writer has written it whole: a read
                            // then sees it, told — what poison is for. Unequal and not
                            // poisoned is a read beside a live write.
                            if shm.slot(0).load(Ordering::SeqCst)
                                != shm.slot(1).load(Ordering::SeqCst)
                                && !r.is_poisoned()
                            {
                                shm.slot(2).fetch_add(1, Ordering::SeqCst);
                            }
                            drop(r);
                        }
                        shm.slot(3).fetch_add(1, Ordering::Relaxed);
                    }
                })
            })
            .collect();
        rx.expect("running");
        rx.expect("running");
        // A random instant: a random number of the children's operations from now.
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let until = shm.slot(3).load(Ordering::Relaxed) + seed % 2000;
        common::wait_until("the children read and write", || {
            shm.slot(3).load(Ordering::Relaxed) >= until
        });
        for c in &children {
            c.kill(libc::SIGKILL);
        }
        for c in children {
            c.join_killed_by(libc::SIGKILL);
        }
        let untold = rw.status().deaths_untold;
        let w = rw
            .write_timeout(PATIENCE)
            .unwrap_or_else(|e| panic!("round {round}: the write never came: {e}"));
        assert_eq!(
            w.previous_owner_died(),
            untold > 0,
            "round {round}: {untold} deaths untold, the write told {}",
            w.previous_owner_died()
        );
        told += u32::from(untold > 0);
        // What being told is for: repair what a killed writer left half done.
        let n = shm.slot(0).load(Ordering::SeqCst);
        shm.slot(1).store(n, Ordering::SeqCst);
        w.clear_poison();
        drop(w);
        assert_eq!(rw.status().deaths_untold, 0, "round {round}: all told");
    }
    assert_eq!(
        shm.slot(2).load(Ordering::SeqCst),
        0,
        "a read saw a live write half done"
    );
    let status = rw.status();
    assert!(status.readers.is_empty() && status.writer.is_none());
    eprintln!(
        "{} rounds, {} deaths, the parent's write told in {told}",
        crash_rounds(),
        deaths(&rw)
    );
    // "Every death told" over rounds in which nobody died would prove nothing: the children
    // hold a read or the write most of the time, so 10 rounds without a death is a broken kill.
    if crash_rounds() >= 10 {
        assert!(
            told > 0,
            "no holder was killed in {} rounds",
            crash_rounds()
        );
    }
}

/// A writer gets in while readers stream: with readers taking and giving back reads back to
/// back (overlapping most of the time, though nothing makes them), the writer's write comes
/// within its patience. Writer preference itself is shown exactly by
/// `a_killed_reader_lets_the_waiting_writer_in_told` (a new read is refused while a writer waits).
#[test]
fn a_writer_is_not_starved_by_a_stream_of_readers() {
    let rw = RwLock::new().unwrap();
    let shm = SharedMem::new(2);
    let gang = Gang::fork(3, |_| {
        while shm.slot(0).load(Ordering::SeqCst) == 0 {
            let _a = rw.read().expect("read");
            shm.slot(1).fetch_add(1, Ordering::SeqCst);
        }
    })
    .labelled("streaming reader", Some(PATIENCE));
    gang.start();
    common::wait_until("the readers stream", || {
        shm.slot(1).load(Ordering::SeqCst) > 1000
    });
    let w = rw.write_timeout(PATIENCE).expect("the writer gets in");
    shm.slot(0).store(1, Ordering::SeqCst);
    drop(w);
    gang.join();
}

/// Downgrade keeps the lock read throughout: a writer waiting since before the downgrade
/// never sees the writer's data until the downgraded read is dropped, and other readers
/// come in at once.
#[test]
fn downgrade_lets_no_writer_in_between() {
    let rw = RwLock::new().unwrap();
    let shm = SharedMem::new(2);
    let w = rw.write().unwrap();
    shm.slot(0).store(1, Ordering::SeqCst);
    std::thread::scope(|s| {
        let writer = s.spawn(|| {
            let _w = rw.write().unwrap();
            // Must not run before the downgraded read is dropped.
            shm.slot(1)
                .store(shm.slot(0).load(Ordering::SeqCst), Ordering::SeqCst);
        });
        common::wait_until("the second writer sleeps", || rw.status().waiters >= 1);
        let r = w.downgrade().unwrap();
        // The read holds: the waiting writer takes the word, then waits for us.
        for _ in 0..50 {
            assert_eq!(shm.slot(1).load(Ordering::SeqCst), 0);
            std::thread::sleep(Duration::from_millis(1));
        }
        shm.slot(0).store(2, Ordering::SeqCst);
        drop(r);
        writer.join().unwrap();
    });
    assert_eq!(shm.slot(1).load(Ordering::SeqCst), 2);
}

/// Holds that would wait for themselves are refused.
#[test]
fn self_deadlocks_are_typed_errors() {
    let rw = RwLock::new().unwrap();
    let r = rw.read().unwrap();
    assert!(matches!(rw.write(), Err(Error::WouldDeadlock { .. })));
    assert!(matches!(rw.try_write(), Err(Error::WouldDeadlock { .. })));
    // A second read is granted while no writer waits.
    let r2 = rw.read().unwrap();
    drop(r2);
    std::thread::scope(|s| {
        let writer = s.spawn(|| rw.write_timeout(PATIENCE).map(|_| ()));
        common::wait_until("the writer waits", || rw.status().writer.is_some());
        assert!(matches!(rw.read(), Err(Error::WouldDeadlock { .. })));
        drop(r);
        writer.join().unwrap().unwrap();
    });
    let w = rw.write().unwrap();
    assert!(matches!(rw.read(), Err(Error::WouldDeadlock { .. })));
    assert!(matches!(rw.write(), Err(Error::WouldDeadlock { .. })));
    assert!(matches!(rw.try_read(), Err(Error::WouldDeadlock { .. })));
    drop(w);
}

/// More readers than slots: the others wait for a slot, and get one when it is given back.
#[test]
fn readers_beyond_the_slots_wait_for_one() {
    let rw = RwLock::options().readers(2).create().unwrap();
    let a = rw.read().unwrap();
    // A second read of this thread takes the other slot (no writer waits).
    let b = rw.read().unwrap();
    assert_ne!(a.slot(), b.slot());
    std::thread::scope(|s| {
        let third = s.spawn(|| rw.read_timeout(PATIENCE).map(|r| r.slot()));
        std::thread::sleep(Duration::from_millis(20));
        assert!(!third.is_finished(), "both slots held");
        let slot = a.slot();
        drop(a);
        assert_eq!(third.join().unwrap().unwrap(), slot);
    });
    drop(b);
}

/// Bad input: slot counts out of range, a kind mismatch both ways, a size mismatch.
#[test]
fn bad_input_is_typed() {
    for n in [0, 129, usize::MAX] {
        let err = RwLock::options().readers(n).create().unwrap_err();
        assert!(matches!(err, Error::RwLockReaders { .. }), "{n}: {err}");
    }
    common::in_private_namespace(|_| {
        let name = interlock_testkit::unique_name();
        let _lock = Lock::open(&name).unwrap();
        let err = RwLock::open(&name).unwrap_err();
        assert!(
            matches!(
                err,
                Error::KindMismatch {
                    expected: Kind::RwLock,
                    found: Kind::Lock,
                    ..
                }
            ),
            "{err}"
        );
        let other = interlock_testkit::unique_name();
        let rw = RwLock::options().readers(8).open(&other).unwrap();
        assert_eq!(
            RwLock::open(&other).unwrap().reader_slots(),
            8,
            "any size taken"
        );
        let err = RwLock::options().readers(4).open(&other).unwrap_err();
        assert!(matches!(err, Error::RwLockReaders { .. }), "{err}");
        let err = Lock::open(&other).unwrap_err();
        assert!(
            matches!(
                err,
                Error::KindMismatch {
                    found: Kind::RwLock,
                    ..
                }
            ),
            "{err}"
        );
        let status = interlock::namespace::status(&other).unwrap();
        assert_eq!(status.status.kind, Kind::RwLock);
        assert!(status.status.rwlock.is_some());
        drop(rw);
    });
}

/// Status names every reader and the writer.
#[test]
fn status_shows_readers_and_writer() {
    let rw = RwLock::options().timestamps(true).create().unwrap();
    let r = rw.read().unwrap();
    let status = rw.status();
    assert_eq!(status.readers.len(), 1);
    assert_eq!(status.readers[0].holder.pid, std::process::id());
    assert!(status.readers[0].holder.since.is_some());
    drop(r);
    let w = rw.write().unwrap();
    let status = rw.status();
    assert_eq!(
        status.writer.as_ref().map(|h| h.pid),
        Some(std::process::id())
    );
    assert_eq!(status.writes, 1);
    drop(w);
}

/// Every constructor goes through the one builder: anonymous, by name (twice: one lock), at a
/// path, each with the builder's settings (timestamps, reader slots).
#[test]
fn every_source_keeps_the_builders_settings() {
    common::in_private_namespace(|dir| {
        let options = RwLock::options().readers(8).timestamps(true);
        let check = |rw: &RwLock| {
            assert_eq!(rw.reader_slots(), 8);
            let _r = rw.read().unwrap();
            assert!(rw.status().readers[0].holder.since.is_some());
        };
        check(&options.create().unwrap());
        let named = options.open("rw-opt").unwrap();
        check(&named);
        drop(named.write().unwrap());
        assert_eq!(
            options.open("rw-opt").unwrap().status().writes,
            1,
            "one lock"
        );
        check(&options.open_path(dir.join("rw.lock")).unwrap());
    });
}

/// A spawned program adopts an rwlock through `pass_to` / `from_env` (its slots checked when
/// asked for, its kind always), and its write is the parent's lock's.
#[test]
fn a_spawned_program_adopts_it() {
    const VAR: &str = "RWLOCK_UNDER_TEST";
    if common::role().as_deref() == Some("rw-adopter") {
        let rw = RwLock::from_env(VAR).expect("adopt");
        assert_eq!(rw.reader_slots(), 8);
        assert!(matches!(
            RwLock::options().readers(4).from_env(VAR),
            Err(Error::RwLockReaders { .. })
        ));
        assert!(matches!(
            Lock::from_env(VAR),
            Err(Error::KindMismatch {
                found: Kind::RwLock,
                ..
            })
        ));
        drop(rw.write().expect("write"));
        return;
    }
    let rw = RwLock::options().readers(8).create().unwrap();
    let mut cmd = common::role_command("rw-adopter");
    rw.pass_to(&mut cmd, VAR).unwrap();
    common::RoleChild::spawn(cmd).finish();
    assert_eq!(rw.status().writes, 1, "the child wrote");
}

/// A write that gives up (`try_write`, a timeout) after it was told of a death — it took a dead
/// reader's slot — hands the news on: the write that gets in later is told, once.
#[test]
fn a_write_that_gives_up_hands_the_deaths_it_was_told_of_on() {
    let rw = RwLock::new().unwrap();
    let (tx, rx) = channel();
    let dead = fork(|| {
        let _r = rw.read().expect("read");
        tx.send("reading");
        common::hold_until_killed();
    });
    rx.expect("reading");
    dead.kill(libc::SIGKILL);
    dead.join_killed_by(libc::SIGKILL);
    std::thread::scope(|s| {
        let (held_tx, held_rx) = std::sync::mpsc::channel();
        let (go_tx, go_rx) = std::sync::mpsc::channel::<()>();
        let rw = &rw;
        let reader = s.spawn(move || {
            let _r = rw.read().unwrap();
            held_tx.send(()).unwrap();
            go_rx.recv().unwrap();
        });
        held_rx.recv().unwrap();
        assert!(rw.try_write().unwrap().is_none(), "a reader is inside");
        assert!(matches!(
            rw.write_timeout(Duration::from_millis(20)),
            Err(Error::Timeout { .. })
        ));
        go_tx.send(()).unwrap();
        reader.join().unwrap();
    });
    let w = rw.write().unwrap();
    assert!(
        w.previous_owner_died(),
        "the dead reader is told to the write that got in"
    );
    drop(w);
    assert!(!rw.write().unwrap().previous_owner_died(), "once");
    assert_eq!(rw.status().deaths_untold, 0);
}

/// Holds stamped with their time (`timestamps(true)`, as the CLI's) still take the first free
/// slot, raising the mark over it only: a writer looks at the slots readers used, no more.
#[test]
fn stamped_reads_raise_the_mark_over_the_slots_they_use() {
    let rw = RwLock::options().timestamps(true).create().unwrap();
    let r = rw.read().unwrap();
    assert_eq!(r.slot(), 0, "the first free slot");
    drop(r);
    let w = rw.write().unwrap();
    assert!(rw.status().readers.is_empty());
    drop(w);
    let (a, b) = (rw.read().unwrap(), rw.read().unwrap());
    assert_eq!((a.slot(), b.slot()), (0, 1));
}

// ---- Reader preference (`RwPolicy::PreferReaders`, decision 0025's addendum) ----

fn prefer_readers() -> RwLock {
    RwLock::options()
        .policy(RwPolicy::PreferReaders)
        .create()
        .unwrap()
}

/// Eight processes under reader preference: never a write seen half done, every write
/// counted (the readers stop after 400 reads each, so the writers are not starved here).
#[test]
fn prefer_readers_eight_processes_never_see_a_write_half_done() {
    never_half_done(prefer_readers());
}

/// Threads of one process under reader preference, as `threads_exclude_like_processes`.
#[test]
fn prefer_readers_threads_exclude_like_processes() {
    let rw = prefer_readers();
    let pair = [
        std::sync::atomic::AtomicU64::new(0),
        std::sync::atomic::AtomicU64::new(0),
    ];
    let bad = std::sync::atomic::AtomicU64::new(0);
    std::thread::scope(|s| {
        for t in 0..6 {
            let (rw, pair, bad) = (&rw, &pair, &bad);
            s.spawn(move || {
                for _ in 0..500 {
                    if t < 2 {
                        let _w = rw.write().unwrap();
                        let n = pair[0].load(Ordering::Relaxed) + 1;
                        pair[0].store(n, Ordering::Relaxed);
                        std::thread::yield_now();
                        pair[1].store(n, Ordering::Relaxed);
                    } else {
                        let _r = rw.read().unwrap();
                        if pair[0].load(Ordering::Relaxed) != pair[1].load(Ordering::Relaxed) {
                            bad.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
            });
        }
    });
    assert_eq!(bad.load(Ordering::Relaxed), 0);
    assert_eq!(pair[1].load(Ordering::Relaxed), 1000);
}

/// What the policy means: a writer waiting for a reader that never leaves lets every new
/// reader in (it holds the writer word, not entered), and waits — for ever, if readers keep
/// overlapping; it enters once the last reader left, and keeps readers out while it writes.
#[test]
fn prefer_readers_lets_new_readers_pass_a_draining_writer() {
    let rw = prefer_readers();
    assert_eq!(rw.status().policy, RwPolicy::PreferReaders);
    let (tx, rx) = channel();
    let (gtx, grx) = channel();
    let reader = fork(|| {
        let r = rw.read().expect("read");
        tx.send("reading");
        grx.expect("leave");
        drop(r);
        tx.send("left");
        common::hold_until_killed();
    });
    rx.expect("reading");
    std::thread::scope(|s| {
        let writer = s.spawn(|| {
            let w = rw.write_timeout(PATIENCE).expect("the write comes");
            let entered = rw.status().entered;
            drop(w);
            entered
        });
        common::wait_until("the writer holds the word, draining", || {
            rw.status().writer.is_some() || writer.is_finished()
        });
        for _ in 0..100 {
            let r = rw.try_read().unwrap();
            assert!(r.is_some(), "a draining writer lets new readers in");
        }
        let status = rw.status();
        assert!(status.writer.is_some() && !status.entered, "still draining");
        assert!(!writer.is_finished(), "the writer waits for the reader");
        gtx.send("leave");
        rx.expect("left");
        assert!(
            writer.join().unwrap(),
            "the writer entered once the reader left"
        );
    });
    // Entered, a writer keeps readers out.
    let w = rw.write().unwrap();
    assert!(rw.status().entered);
    std::thread::scope(|s| {
        let other = s.spawn(|| rw.try_read().map(|r| r.is_some()));
        assert!(
            !other.join().unwrap().unwrap(),
            "an entered writer keeps readers out"
        );
    });
    drop(w);
    assert!(!rw.status().entered);
    reader.kill(libc::SIGKILL);
    reader.join_killed_by(libc::SIGKILL);
}

/// A reader SIGKILLed while a writer drains behind it: the writer enters, told; new readers
/// came in meanwhile.
#[test]
fn prefer_readers_a_killed_reader_lets_the_draining_writer_in_told() {
    killed_reader_lets_the_waiting_writer_in(prefer_readers());
}

/// A writer SIGKILLed entered (writing) with three readers asleep behind it: all three read
/// at once, exactly one told, `ENTERED` cleared by the reader that claimed the word; the lock
/// poisoned; the next writer told of the three readers' deaths.
#[test]
fn prefer_readers_a_writer_killed_entered_wakes_every_reader() {
    killed_writer_wakes_every_reader(prefer_readers());
}

/// A writer SIGKILLed entered, with nobody waiting: the next claimant — a writer here —
/// is told and clears the dead writer's `ENTERED`, so that while it drains behind a reader,
/// new readers pass it as the policy says (a stale `ENTERED` would keep them out).
#[test]
fn prefer_readers_a_writer_killed_entered_is_cleared_by_the_next_writer() {
    let rw = prefer_readers();
    // Readers have used a slot: the next write drains (looks at the slots) instead of
    // entering at once.
    drop(rw.read().unwrap());
    let (tx, rx) = channel();
    let writer = fork(|| {
        let _w = rw.write().expect("write");
        tx.send("writing");
        common::hold_until_killed();
    });
    rx.expect("writing");
    assert!(rw.status().entered);
    writer.kill(libc::SIGKILL);
    writer.join_killed_by(libc::SIGKILL);
    let w = rw.write_timeout(PATIENCE).unwrap();
    assert!(w.previous_owner_died(), "the next writer is told");
    w.clear_poison();
    drop(w);
    assert!(!rw.status().entered);
    // Draining behind a held read, the writer lets new readers in.
    let held = rw.read().unwrap();
    std::thread::scope(|s| {
        let writer = s.spawn(|| rw.write_timeout(PATIENCE).map(|w| w.previous_owner_died()));
        common::wait_until("the writer drains", || rw.status().writer.is_some());
        let passing = s.spawn(|| rw.try_read().map(|r| r.is_some()));
        assert!(
            passing.join().unwrap().unwrap(),
            "a reader passes the draining writer"
        );
        drop(held);
        assert!(!writer.join().unwrap().unwrap(), "nothing more to tell");
    });
}

/// A writer SIGKILLed while it drains (holding the writer word, not entered, behind a
/// reader): readers go on reading meanwhile; once the reader leaves, the next writer is told
/// and the lock is poisoned (the writer word's death), as under writer preference.
#[test]
fn prefer_readers_a_writer_killed_while_draining() {
    let rw = prefer_readers();
    let held = rw.read().unwrap();
    let (tx, rx) = channel();
    let writer = fork(|| {
        tx.send("writing");
        let _w = rw.write().expect("write");
        unreachable!("the parent's read is never given back before the kill");
    });
    rx.expect("writing");
    common::wait_until("the child drains", || rw.status().writer.is_some());
    assert!(!rw.status().entered);
    writer.kill(libc::SIGKILL);
    writer.join_killed_by(libc::SIGKILL);
    std::thread::scope(|s| {
        let r = s.spawn(|| rw.try_read().map(|r| r.map(|r| r.previous_owner_died())));
        assert_eq!(
            r.join().unwrap().unwrap(),
            Some(true),
            "a reader claims the dead writer's word, told"
        );
    });
    drop(held);
    let w = rw.write_timeout(PATIENCE).unwrap();
    assert!(!w.previous_owner_died(), "the reader was told already");
    assert!(w.is_poisoned(), "a writer's death poisons");
    w.clear_poison();
    drop(w);
    assert_eq!(rw.status().writer_deaths, 1);
}

/// Readers and writers SIGKILLed at random instants under reader preference: no hang, no
/// read beside a live write, every death told.
#[test]
fn prefer_readers_holders_killed_at_random_instants() {
    killed_at_random_instants(prefer_readers());
}

/// The policy is the segment's: kept by every source, shown by status, and a mismatch on
/// open with a policy given is a typed error; without one, either is taken.
#[test]
fn prefer_readers_is_kept_and_checked_on_open() {
    common::in_private_namespace(|dir| {
        let name = interlock_testkit::unique_name();
        let rw = RwLock::options()
            .policy(RwPolicy::PreferReaders)
            .open(&name)
            .unwrap();
        assert_eq!(
            RwLock::open(&name).unwrap().policy(),
            RwPolicy::PreferReaders
        );
        let err = RwLock::options()
            .policy(RwPolicy::PreferWriters)
            .open(&name)
            .unwrap_err();
        assert!(matches!(err, Error::RwLockPolicy { .. }), "{err}");
        assert!(err.to_string().contains("reader-preferring"), "{err}");
        let other = interlock_testkit::unique_name();
        drop(RwLock::open(&other).unwrap());
        let err = RwLock::options()
            .policy(RwPolicy::PreferReaders)
            .open(&other)
            .unwrap_err();
        assert!(matches!(err, Error::RwLockPolicy { .. }), "{err}");
        let path = dir.join("pr.rwlock");
        let p = RwLock::options()
            .policy(RwPolicy::PreferReaders)
            .open_path(&path)
            .unwrap();
        assert_eq!(p.status().policy, RwPolicy::PreferReaders);
        assert_eq!(
            RwLock::options().open_path(&path).unwrap().policy(),
            RwPolicy::PreferReaders
        );
        drop((rw, p));
    });
    // Anonymous, inherited by fork: the child's handle is the same segment.
    let rw = prefer_readers();
    let (tx, rx) = channel();
    let child = fork(|| {
        tx.send(if rw.policy() == RwPolicy::PreferReaders {
            "prefers readers"
        } else {
            "prefers writers"
        });
    });
    rx.expect("prefers readers");
    child.join();
}
