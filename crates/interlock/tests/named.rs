//! Named locks: unrelated processes that open the same name get the same lock; the namespace can
//! be listed, inspected and cleaned up.
//!
//! Every test of this binary shares one namespace directory (`INTERLOCK_DIR`, set once by
//! `common::shared_namespace`) and uses its own lock names.

mod common;

use std::fs::{File, OpenOptions};
use std::os::unix::fs::PermissionsExt;
use std::sync::atomic::Ordering;

use common::{
    bump, fork, hear_from_parent, increment_file, role, role_command, shared_namespace,
    tell_parent, unique_name, RoleChild, SharedMem,
};
use interlock::{Error, Kind, Lock, RLock};

const NAME_VAR: &str = "INTERLOCK_TEST_NAME";
const COUNTER_VAR: &str = "INTERLOCK_TEST_COUNTER";

/// A spawned program (inheriting nothing but the environment) opens the name this process
/// opened: while it holds the lock we are refused and `status`/`list` name it as holder; then
/// both increment one counter file under the name, and no increment is lost.
#[test]
fn two_processes_opening_one_name_share_one_lock() {
    const N: u64 = 2_000;
    shared_namespace();
    match role().as_deref() {
        Some("holder") => {
            let lock = Lock::open(&std::env::var(NAME_VAR).unwrap()).expect("Lock::open");
            let guard = lock.lock().expect("lock");
            tell_parent("held");
            assert_eq!(hear_from_parent(), "release");
            guard.unlock().expect("unlock");
            return;
        }
        Some("counter") => {
            let lock = Lock::open(&std::env::var(NAME_VAR).unwrap()).expect("Lock::open");
            let path = std::env::var(COUNTER_VAR).unwrap();
            let file = OpenOptions::new()
                .read(true)
                .write(true)
                .open(path)
                .expect("open counter");
            tell_parent("opened");
            increment_file(&lock, &file, N);
            return;
        }
        _ => {}
    }
    let name = unique_name();
    let lock = Lock::open(&name).expect("Lock::open");

    let mut cmd = role_command("holder");
    cmd.env(NAME_VAR, &name);
    let mut holder = RoleChild::spawn(cmd);
    holder.expect("held");
    assert!(
        lock.try_lock().expect("try_lock").is_none(),
        "the other process's hold on {name} is not ours"
    );
    let status = interlock::status(&name).expect("status");
    assert_eq!(
        status.status.holder.as_ref().map(|h| h.pid),
        Some(holder.pid()),
        "{status:?}"
    );
    let listed = interlock::list().expect("list");
    let entry = listed
        .iter()
        .find(|l| l.name == name)
        .unwrap_or_else(|| panic!("{name} not in {listed:?}"));
    assert_eq!(
        entry.status.holder.as_ref().map(|h| h.pid),
        Some(holder.pid()),
        "{entry:?}"
    );
    let again = Lock::open(&name).expect("open again");
    assert!(
        again.try_lock().expect("try_lock").is_none(),
        "a second handle to {name} is a different lock"
    );
    holder.send("release");
    holder.finish();
    assert!(lock.try_lock().expect("try_lock").is_some());

    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("counter");
    std::fs::write(&path, 0u64.to_ne_bytes()).expect("create counter");
    let mut cmd = role_command("counter");
    cmd.env(NAME_VAR, &name).env(COUNTER_VAR, &path);
    let counter = RoleChild::spawn(cmd);
    counter.expect("opened");
    increment_file(
        &lock,
        &File::options().read(true).write(true).open(&path).unwrap(),
        N,
    );
    counter.finish();
    let total = u64::from_ne_bytes(std::fs::read(&path).unwrap()[..8].try_into().unwrap());
    assert_eq!(
        total,
        2 * N,
        "lost increments: the two processes did not share one lock"
    );
    assert_eq!(
        lock.status().acquisitions,
        2 + 2 * N,
        "the holder's, our try_lock's, then the counters'"
    );
}

/// Eight processes opening a name that does not exist yet, all at once, end up with one lock:
/// their increments under it are never lost. Exactly one lock file is published, 0600, with no
/// temporary file left behind.
#[test]
fn racing_first_opens_of_a_name_all_get_the_same_lock() {
    const N: u64 = 1_000;
    let dir = shared_namespace();
    let name = unique_name();
    let mem = SharedMem::new(2); // slot 0: go; slot 1: counter
    let children: Vec<_> = (0..8)
        .map(|_| {
            fork(|| {
                while mem.slot(0).load(Ordering::Acquire) == 0 {
                    std::hint::spin_loop();
                }
                let lock = Lock::open(&name).expect("Lock::open");
                for i in 0..N {
                    let guard = lock.lock().expect("lock");
                    bump(mem.slot(1), i);
                    drop(guard);
                }
            })
        })
        .collect();
    mem.slot(0).store(1, Ordering::Release);
    for child in children {
        child.join();
    }
    assert_eq!(
        mem.slot(1).load(Ordering::SeqCst),
        8 * N,
        "racing creators ended up with different locks"
    );
    let files: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|f| f.contains(&name))
        .collect();
    assert_eq!(
        files,
        vec![format!("{name}.lock")],
        "exactly one lock file, no leftovers"
    );
    let meta = std::fs::metadata(dir.join(format!("{name}.lock"))).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    assert_eq!(
        interlock::status(&name)
            .expect("status")
            .status
            .acquisitions,
        8 * N
    );
}

/// `list` shows a named lock with its kind, `status` reads it without taking or creating it,
/// `remove` deletes it (after which it is not found, and the next `open` makes a new, separate
/// lock while old handles keep the old one).
#[test]
fn list_status_and_remove_follow_the_namespace() {
    let dir = shared_namespace();
    assert_eq!(interlock::namespace_dir(), dir);
    let name = unique_name();
    let rname = unique_name();
    let lock = Lock::open(&name).expect("Lock::open");
    let _rlock = RLock::open(&rname).expect("RLock::open");

    let listed = interlock::list().expect("list");
    let kinds: Vec<(String, Kind)> = listed
        .iter()
        .filter(|l| l.name == name || l.name == rname)
        .map(|l| (l.name.clone(), l.kind))
        .collect();
    let mut want = vec![(name.clone(), Kind::Lock), (rname.clone(), Kind::RLock)];
    want.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(kinds, want, "list is sorted by name and shows each kind");

    let guard = lock.lock().expect("lock");
    let seen = interlock::status(&name).expect("status");
    assert_eq!(
        (seen.kind, seen.status.holder.as_ref().map(|h| h.token)),
        (Kind::Lock, Some(guard.token()))
    );
    drop(guard);

    interlock::remove(&name).expect("remove");
    assert!(
        !dir.join(format!("{name}.lock")).exists(),
        "remove left the file"
    );
    assert!(
        !interlock::list()
            .expect("list")
            .iter()
            .any(|l| l.name == name),
        "removed lock still listed"
    );
    match interlock::status(&name) {
        Err(Error::NotFound { name: n, dir: d }) => {
            assert_eq!((n.as_str(), d.as_path()), (name.as_str(), dir))
        }
        other => panic!("status of a removed lock gave {other:?}, expected NotFound"),
    }
    assert!(
        matches!(interlock::remove(&name), Err(Error::NotFound { .. })),
        "second remove"
    );

    // The old handle still works, and is not the lock a new open creates.
    let old = lock.lock().expect("the old handle still locks");
    let fresh = Lock::open(&name).expect("open after remove creates a new lock");
    assert!(
        fresh.try_lock().expect("try_lock").is_some(),
        "the new lock is not the removed one"
    );
    drop(old);
}

/// `status` of a name that was never created is `NotFound` naming the name and the namespace,
/// creates nothing, and a bad name is `InvalidName` instead.
#[test]
fn status_of_an_unknown_name_is_not_found() {
    let dir = shared_namespace();
    let name = unique_name();
    match interlock::status(&name) {
        Err(Error::NotFound { name: n, dir: d }) => {
            assert_eq!(n, name);
            assert_eq!(d, dir);
        }
        other => panic!("status of an unknown name gave {other:?}, expected NotFound"),
    }
    let msg = interlock::status(&name).unwrap_err().to_string();
    assert!(
        msg.contains(&name) && msg.contains(&dir.display().to_string()),
        "{msg}"
    );
    assert!(
        !dir.join(format!("{name}.lock")).exists(),
        "status created the lock"
    );
    assert!(matches!(
        interlock::status("no/such"),
        Err(Error::InvalidName { .. })
    ));
}

/// A process that opened a name itself and is SIGKILLed holding it: another process that
/// opened the same name gets the lock with the news, and `status` counts the death.
#[test]
fn named_lock_of_a_killed_process_is_recovered_by_another() {
    shared_namespace();
    if role().as_deref() == Some("holder") {
        let lock = Lock::open(&std::env::var(NAME_VAR).unwrap()).expect("Lock::open");
        let _guard = lock.lock().expect("lock");
        tell_parent("held");
        hear_from_parent(); // never comes: the parent kills us
        unreachable!("the parent should have killed this holder");
    }
    let name = unique_name();
    let mut cmd = role_command("holder");
    cmd.env(NAME_VAR, &name);
    let mut holder = RoleChild::spawn(cmd);
    holder.expect("held");
    let lock = Lock::open(&name).expect("Lock::open");
    holder.kill();
    let guard = lock
        .lock_timeout(common::PATIENCE)
        .expect("recover the killed process's lock");
    assert!(guard.previous_owner_died());
    let status = interlock::status(&name).expect("status").status;
    assert_eq!(
        (status.owner_deaths, status.poisoned),
        (1, true),
        "{status:?}"
    );
    drop(guard);
    holder.finish_killed();
}

/// Thousands of named locks in one process cost no descriptor each: with the descriptor limit
/// at 256, a forked child opens 2,000 lock files and takes each one.
#[test]
fn thousands_of_lock_files_fit_under_a_small_descriptor_limit() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = common::fork(|| {
        let limit = libc::rlimit {
            rlim_cur: 256,
            rlim_max: 256,
        };
        // SAFETY: setrlimit reads a valid, initialised rlimit.
        assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) }, 0);
        let locks: Vec<interlock::Lock> = (0..2000)
            .map(|i| {
                interlock::Lock::open_path(dir.path().join(format!("l{i}.lock")), 0o600)
                    .unwrap_or_else(|e| panic!("lock file {i}: {e}"))
            })
            .collect();
        for lock in &locks {
            drop(lock.lock().expect("lock"));
        }
    });
    assert_eq!(
        child.wait(),
        0,
        "the child could not open or take 2,000 lock files"
    );
}
