//! A semaphore's status: every permit's holder, read by the handle, by name
//! (`namespace::status`, `list`) and by path (`path::status`), with real holders in other
//! processes and a SIGKILLed one; messages that name a permit.

use crate::common;

use common::{channel, fork, in_private_namespace};
use interlock::{Error, Kind, Semaphore, SemaphoreStatus};

/// The pids holding permits, in permit order, and how many are free.
fn holders(s: &SemaphoreStatus) -> (Vec<Option<u32>>, u32) {
    let pids = s
        .permits
        .iter()
        .map(|p| p.holder.as_ref().map(|h| h.pid))
        .collect();
    (pids, s.free)
}

/// A child holds two of three permits: the handle, the name and the path all show it as the
/// holder of both, since when, and one permit free; SIGKILLed, its two permits are free with a
/// death each, unclaimed until the next takers are told.
#[test]
fn status_shows_every_permit_holder_and_deaths() {
    in_private_namespace(|dir| {
        let sem = Semaphore::options()
            .permits(3)
            .timestamps(true)
            .open("jobs")
            .unwrap();
        let (tx, rx) = channel();
        let child = fork(|| {
            let a = sem.acquire().expect("acquire");
            let b = sem.acquire().expect("acquire");
            assert_eq!((a.slot(), b.slot()), (0, 1));
            tx.send("held");
            common::hold_until_killed();
        });
        rx.expect("held");
        let pid = child.pid();

        let mine = sem.status();
        assert_eq!(holders(&mine), (vec![Some(pid), Some(pid), None], 1));
        assert_eq!(mine.sleepers, 0);
        for p in &mine.permits[..2] {
            let h = p.holder.as_ref().unwrap();
            assert!(h.alive && h.since.is_some() && h.token == 1, "{h:?}");
        }

        let named = interlock::namespace::status("jobs").unwrap();
        assert_eq!(named.kind, Kind::Semaphore);
        assert!(
            named.status.holder.is_none(),
            "a semaphore has no one holder"
        );
        assert_eq!(named.status.acquisitions, 2);
        let by_name = named.status.semaphore.expect("a semaphore's permits");
        assert_eq!(holders(&by_name), holders(&mine));

        let listed = interlock::namespace::list().unwrap();
        let jobs = listed.iter().find(|l| l.name == "jobs").unwrap();
        assert_eq!(jobs.status.semaphore.as_ref().map(|s| s.free), Some(1));

        let by_path = interlock::path::status(dir.join("jobs.lock")).unwrap();
        let by_path = by_path.status.semaphore.expect("a semaphore's permits");
        assert_eq!(holders(&by_path), holders(&mine));

        child.kill(libc::SIGKILL);
        child.join_killed_by(libc::SIGKILL);
        let after = interlock::namespace::status("jobs").unwrap().status;
        let sem_after = after.semaphore.as_ref().unwrap();
        assert_eq!(holders(sem_after), (vec![None, None, None], 3));
        for p in &sem_after.permits[..2] {
            assert!(p.owner_died_unclaimed && p.owner_deaths == 1, "{p:?}");
        }
        assert_eq!(after.owner_deaths, 2);
        assert!(after.owner_died_unclaimed && !after.poisoned);

        let taken: Vec<_> = (0..3).map(|_| sem.acquire().unwrap()).collect();
        let told = taken.iter().filter(|p| p.previous_owner_died()).count();
        assert_eq!(told, 2, "each death told once");
        let now = sem.status();
        assert_eq!(holders(&now).1, 0);
        assert!(now.permits.iter().all(|p| !p.owner_died_unclaimed));
        assert_eq!(
            now.permits.iter().map(|p| p.owner_deaths).sum::<u32>(),
            2,
            "a claimed death still counts"
        );
    });
}

/// Messages name the semaphore, and a permit as `semaphore "jobs" permit N`, not a table's
/// `lock "jobs"[N]`.
#[test]
fn messages_name_the_semaphore_and_its_permit() {
    in_private_namespace(|_| {
        let sem = Semaphore::open("jobs", 2).unwrap();
        let a = sem.acquire().unwrap();
        let b = sem.acquire().unwrap();
        std::thread::scope(|s| {
            s.spawn(
                || match sem.acquire_timeout(std::time::Duration::from_millis(5)) {
                    Err(Error::Timeout { lock, holder, .. }) => {
                        assert_eq!(lock, "semaphore \"jobs\"");
                        assert_eq!(holder.unwrap().pid, std::process::id());
                    }
                    other => panic!("expected a timeout, got {other:?}"),
                },
            );
        });
        // Given back another way, the permit's own release names it.
        sem.release().unwrap();
        let slot = a.slot();
        match a.release() {
            Err(Error::NotOwner { lock, .. }) => {
                assert_eq!(lock, format!("semaphore \"jobs\" permit {slot}"))
            }
            other => panic!("expected NotOwner, got {other:?}"),
        }
        drop(b);
        match sem.release() {
            Err(e @ Error::NotOwner { .. }) => {
                assert!(e.to_string().contains("semaphore \"jobs\""), "{e}")
            }
            other => panic!("expected NotOwner, got {other:?}"),
        }
        let anonymous = Semaphore::new(1).unwrap();
        let err = anonymous.release().unwrap_err().to_string();
        assert!(err.contains("anonymous semaphore"), "{err}");
    });
}
