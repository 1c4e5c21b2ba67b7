//! `Event` between real processes: children wait and a parent's `set` releases them all;
//! waiters SIGKILLed at random instants never hang the rest nor leave anything that grows;
//! `set`/`clear` pulses racing waiters; every source (anonymous, named, path, inherited).
//!
//! `INTERLOCK_EVENT_KILLS` sets how many waiters are SIGKILLed (default 100; `ci/stress.sh`
//! raises it).

use crate::common;

use std::sync::atomic::Ordering;
use std::time::Duration;

use common::{
    channel, fork, hear_from_parent, in_private_namespace, role, role_command, tell_parent,
    wait_until, RoleChild, SharedMem, PATIENCE,
};
use interlock::{Error, Event, Kind, Lock};

fn kills() -> u64 {
    match std::env::var("INTERLOCK_EVENT_KILLS") {
        Ok(v) => v
            .parse()
            .unwrap_or_else(|_| panic!("INTERLOCK_EVENT_KILLS={v:?} is not a number")),
        Err(_) => 100,
    }
}

/// A small deterministic generator (xorshift), seeded per test and printed on failure.
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn seeded() -> Rng {
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64
            | 1;
        eprintln!("rng seed {seed}");
        Rng(seed)
    }

    pub(crate) fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

/// Eight children wait (asleep: the parent sees the sleepers' bit), the parent sets, every one
/// proceeds; the set published what the parent wrote before it.
#[test]
fn eight_children_wait_and_one_set_releases_them_all() {
    let event = Event::new().expect("Event::new");
    let mem = SharedMem::new(2);
    let (tx, rx) = channel();
    let children: Vec<_> = (0..8)
        .map(|_| {
            fork(|| {
                tx.send("waiting");
                assert!(event.wait_timeout(PATIENCE), "child: never set");
                assert_eq!(
                    mem.slot(0).load(Ordering::Relaxed),
                    42,
                    "set published nothing"
                );
                mem.slot(1).fetch_add(1, Ordering::Relaxed);
            })
        })
        .collect();
    for _ in 0..8 {
        rx.expect("waiting");
    }
    wait_until("a child asleep on the event", || event.status().waiters);
    assert_eq!(
        mem.slot(1).load(Ordering::Relaxed),
        0,
        "nobody passes a clear event"
    );
    mem.slot(0).store(42, Ordering::Relaxed);
    event.set();
    for child in children {
        child.join();
    }
    assert_eq!(mem.slot(1).load(Ordering::Relaxed), 8);
    let status = event.status();
    assert!(
        status.set && status.sets == 1 && !status.waiters,
        "{status:?}"
    );
}

/// Round after round, three children wait on a clear event and one of them is SIGKILLed at a
/// random instant (before, during or after it went to sleep); the parent then sets the event
/// and the other two proceed at once — hundreds of deaths in a stress run leave nothing behind
/// but, at most, the sleepers' bit, which the set clears.
#[test]
fn waiters_sigkilled_at_random_instants_never_hang_the_rest() {
    let event = Event::new().expect("Event::new");
    let mut rng = Rng::seeded();
    for round in 0..kills() {
        event.clear();
        let (tx, rx) = channel();
        let mut children: Vec<_> = (0..3)
            .map(|_| {
                fork(|| {
                    tx.send("waiting");
                    assert!(event.wait_timeout(PATIENCE), "child: never set");
                })
            })
            .collect();
        let victim = rng.below(3) as usize;
        for _ in 0..3 {
            rx.expect("waiting");
        }
        std::thread::sleep(Duration::from_micros(rng.below(2_000)));
        children[victim].kill(libc::SIGKILL);
        let killed = children.remove(victim);
        if rng.below(2) == 0 {
            killed.join_killed_by(libc::SIGKILL); // reaped before the set, or after
            event.set();
        } else {
            event.set();
            killed.join_killed_by(libc::SIGKILL);
        }
        for child in children {
            child.join();
        }
        let status = event.status();
        assert!(
            status.set && !status.waiters,
            "round {round}: after the set {status:?}"
        );
    }
    assert_eq!(event.status().sets as u64, kills());
}

/// A parent pulses the event (`set`, `clear`) while children wait for it again and again: no
/// waiter misses every pulse (a pulse wakes the sleepers it finds, cleared or not), nobody
/// hangs, and the children count their passes exactly.
#[test]
fn set_and_clear_pulses_racing_waiters_lose_no_wake_up() {
    const CHILDREN: usize = 4;
    const PASSES: u64 = 200;
    let event = Event::new().expect("Event::new");
    let mem = SharedMem::new(1);
    let children: Vec<_> = (0..CHILDREN)
        .map(|_| {
            fork(|| {
                for _ in 0..PASSES {
                    assert!(event.wait_timeout(PATIENCE), "child: a wait hung");
                }
                mem.slot(0).fetch_add(1, Ordering::Relaxed);
            })
        })
        .collect();
    let mut pulses = 0u64;
    while mem.slot(0).load(Ordering::Relaxed) < CHILDREN as u64 {
        event.set();
        event.clear();
        pulses += 1;
        if pulses % 64 == 0 {
            std::thread::yield_now();
        }
    }
    for child in children {
        child.join();
    }
    assert!(!event.is_set());
    assert_eq!(event.status().sets as u64 % (1 << 30), pulses % (1 << 30));
}

/// An event handed to a spawned program is the parent's: the program waits for the parent's
/// `set` and sets another back.
#[test]
fn an_event_passed_to_a_spawned_program_is_the_parents() {
    if role().as_deref() == Some("event-child") {
        let go = Event::from_env("GO_EVENT").expect("from_env");
        let done = Event::options().from_env("DONE_EVENT").expect("from_env");
        tell_parent("adopted");
        assert_eq!(hear_from_parent(), "wait");
        assert!(go.wait_timeout(PATIENCE));
        done.set();
        return;
    }
    let go = Event::new().unwrap();
    let done = Event::new().unwrap();
    let mut cmd = role_command("event-child");
    go.pass_to(&mut cmd, "GO_EVENT").unwrap();
    done.pass_to(&mut cmd, "DONE_EVENT").unwrap();
    let mut child = RoleChild::spawn(cmd);
    child.expect("adopted");
    child.send("wait");
    wait_until("the spawned program asleep", || go.status().waiters);
    go.set();
    assert!(
        done.wait_timeout(PATIENCE),
        "the spawned program never set it back"
    );
    child.finish();
}

/// Every source gives the same event: by name (two opens), at a path; a kind mismatch either
/// way is a typed error.
#[test]
fn an_event_by_name_or_path_is_one_event() {
    in_private_namespace(|dir| {
        let a = Event::open("ev").expect("open");
        let b = Event::options().open("ev").expect("open again");
        a.set();
        assert!(b.is_set(), "two opens of one name are one event");
        assert_eq!(
            interlock::namespace::status("ev")
                .unwrap()
                .status
                .event
                .unwrap()
                .sets,
            1
        );
        let p = Event::open_path(dir.join("ev.event"), 0o600).expect("open_path");
        let q = Event::options()
            .open_path(dir.join("ev.event"))
            .expect("again");
        q.set();
        assert!(p.is_set());
        assert_eq!(
            interlock::path::status(dir.join("ev.event"))
                .unwrap()
                .status
                .kind,
            Kind::Event
        );
        // A lock's name is not an event's, nor the other way round.
        drop(Lock::open("a-lock").unwrap());
        assert!(matches!(
            Event::open("a-lock"),
            Err(Error::KindMismatch {
                expected: Kind::Event,
                found: Kind::Lock,
                ..
            })
        ));
        assert!(matches!(
            Lock::open("ev"),
            Err(Error::KindMismatch {
                expected: Kind::Lock,
                found: Kind::Event,
                ..
            })
        ));
    });
}

/// `remove_unheld` (`interlock rm`) of an event: refused while a waiter sleeps on it, naming it
/// an event — its word is a flag, not a lock (it used to be "held by pid 0 thread N") — and done
/// once nobody waits.
#[test]
fn an_event_is_removed_only_while_nobody_waits() {
    in_private_namespace(|_| {
        let event = Event::open("rm-ev").unwrap();
        std::thread::scope(|s| {
            let waiter = s.spawn(|| event.wait_timeout(common::PATIENCE));
            common::wait_until("the waiter asleep", || event.status().waiters);
            let err = interlock::namespace::remove_unheld("rm-ev").unwrap_err();
            assert!(
                matches!(&err, Error::InUse { lock, holder: None } if lock.contains("event")),
                "{err}"
            );
            event.set();
            assert!(waiter.join().unwrap());
        });
        interlock::namespace::remove_unheld("rm-ev").expect("nobody waits");
        assert!(interlock::namespace::status("rm-ev").is_err(), "removed");
    });
}
