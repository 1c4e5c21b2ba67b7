//! Named locks: unrelated processes that open the same name get the same lock; the namespace can
//! be listed, inspected and cleaned up.
//!
//! Every test of this binary shares one namespace directory (`INTERLOCK_DIR`, set once by
//! `common::shared_namespace`) and uses its own lock names.

use crate::common;

use std::fs::{File, OpenOptions};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
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
    let status = interlock::namespace::status(&name).expect("status");
    assert_eq!(
        status.status.holder.as_ref().map(|h| h.pid),
        Some(holder.pid()),
        "{status:?}"
    );
    let listed = interlock::namespace::list().expect("list");
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
        interlock::namespace::status(&name)
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
    assert_eq!(interlock::namespace::dir().expect("namespace::dir"), dir);
    let name = unique_name();
    let rname = unique_name();
    let lock = Lock::open(&name).expect("Lock::open");
    let _rlock = RLock::open(&rname).expect("RLock::open");

    let listed = interlock::namespace::list().expect("list");
    let kinds: Vec<(String, Kind)> = listed
        .iter()
        .filter(|l| l.name == name || l.name == rname)
        .map(|l| (l.name.clone(), l.kind))
        .collect();
    let mut want = vec![(name.clone(), Kind::Lock), (rname.clone(), Kind::RLock)];
    want.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(kinds, want, "list is sorted by name and shows each kind");

    let guard = lock.lock().expect("lock");
    let seen = interlock::namespace::status(&name).expect("status");
    assert_eq!(
        (seen.kind, seen.status.holder.as_ref().map(|h| h.token)),
        (Kind::Lock, Some(guard.token()))
    );
    drop(guard);

    interlock::namespace::remove(&name).expect("remove");
    assert!(
        !dir.join(format!("{name}.lock")).exists(),
        "remove left the file"
    );
    assert!(
        !interlock::namespace::list()
            .expect("list")
            .iter()
            .any(|l| l.name == name),
        "removed lock still listed"
    );
    match interlock::namespace::status(&name) {
        Err(Error::NotFound { name: n, dir: d }) => {
            assert_eq!((n.as_str(), d.as_path()), (name.as_str(), dir))
        }
        other => panic!("status of a removed lock gave {other:?}, expected NotFound"),
    }
    assert!(
        matches!(
            interlock::namespace::remove(&name),
            Err(Error::NotFound { .. })
        ),
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
    match interlock::namespace::status(&name) {
        Err(Error::NotFound { name: n, dir: d }) => {
            assert_eq!(n, name);
            assert_eq!(d, dir);
        }
        other => panic!("status of an unknown name gave {other:?}, expected NotFound"),
    }
    let msg = interlock::namespace::status(&name).unwrap_err().to_string();
    assert!(
        msg.contains(&name) && msg.contains(&dir.display().to_string()),
        "{msg}"
    );
    assert!(
        !dir.join(format!("{name}.lock")).exists(),
        "status created the lock"
    );
    assert!(matches!(
        interlock::namespace::status("no/such"),
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
    let status = interlock::namespace::status(&name).expect("status").status;
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

const XDG_VAR: &str = "XDG_RUNTIME_DIR";

/// Issue 11, item 2: the namespace used to be `$XDG_RUNTIME_DIR/interlock` when that variable
/// was set, else `/dev/shm/interlock-UID`. An interactive shell has the variable; a cron job, a
/// systemd service, `sudo -u` or ssh without pam_systemd does not (or has another value) — and
/// then both "held" `nightly` at once. Now the namespace follows from the effective uid alone:
/// a holder started with one `XDG_RUNTIME_DIR` excludes processes of the same user started with
/// another one or without it, and nothing is created in the runtime directories.
#[test]
fn every_kind_of_session_of_one_user_meets_in_one_namespace() {
    match role().as_deref() {
        Some("shell") => {
            let name = std::env::var(NAME_VAR).unwrap();
            let lock = Lock::open(&name).expect("Lock::open");
            let guard = lock.lock().expect("lock");
            tell_parent(&namespace_dir_shown());
            assert_eq!(hear_from_parent(), "release");
            drop(guard);
            interlock::namespace::remove(&name)
                .expect("remove the test's lock from the real namespace");
            return;
        }
        Some("cron") => {
            let lock = Lock::open(&std::env::var(NAME_VAR).unwrap()).expect("Lock::open");
            let verdict = match lock.try_lock().expect("try_lock") {
                Some(_) => "took it",
                None => "refused",
            };
            tell_parent(&format!("{verdict} in {}", namespace_dir_shown()));
            return;
        }
        _ => {}
    }
    let name = unique_name();
    let shell_runtime = private_dir();
    let other_runtime = private_dir();
    let session = |role: &str, runtime: Option<&Path>| {
        let mut cmd = role_command(role);
        cmd.env(NAME_VAR, &name).env_remove("INTERLOCK_DIR");
        match runtime {
            Some(dir) => cmd.env(XDG_VAR, dir),
            None => cmd.env_remove(XDG_VAR),
        };
        RoleChild::spawn(cmd)
    };
    let mut shell = session("shell", Some(shell_runtime.path()));
    let shell_ns = shell.recv();
    for (what, runtime) in [
        ("without XDG_RUNTIME_DIR (cron, systemd, sudo -u)", None),
        ("with another XDG_RUNTIME_DIR", Some(other_runtime.path())),
    ] {
        let cron = session("cron", runtime);
        let verdict = cron.recv();
        cron.finish();
        assert_eq!(
            verdict,
            format!("refused in {shell_ns}"),
            "a session {what} must see the shell's hold on {name}"
        );
    }
    shell.send("release");
    shell.finish();
    for runtime in [&shell_runtime, &other_runtime] {
        let left: Vec<_> = std::fs::read_dir(runtime.path()).unwrap().collect();
        assert!(left.is_empty(), "created in XDG_RUNTIME_DIR: {left:?}");
    }
}

/// Issue 11, item 2: root with a user's `XDG_RUNTIME_DIR` (`sudo` keeps it in some setups) used
/// to create a root-owned `interlock` directory in the user's runtime directory, after which the
/// user got "Permission denied". Root's namespace is root's own: the user's directory is left
/// alone.
#[test]
fn root_with_a_users_runtime_dir_creates_nothing_there() {
    if role().as_deref() == Some("root") {
        let name = std::env::var(NAME_VAR).unwrap();
        drop(Lock::open(&name).expect("Lock::open"));
        tell_parent(&namespace_dir_shown());
        interlock::namespace::remove(&name).expect("remove the test's lock from root's namespace");
        return;
    }
    if !common::have_root("run as root with another user's XDG_RUNTIME_DIR") {
        return;
    }
    let users_runtime = private_dir();
    std::os::unix::fs::chown(users_runtime.path(), Some(65534), Some(65534)).expect("chown");
    let mut cmd = role_command("root");
    cmd.env(NAME_VAR, unique_name())
        .env_remove("INTERLOCK_DIR")
        .env(XDG_VAR, users_runtime.path());
    let child = RoleChild::spawn(cmd);
    let ns = child.recv();
    child.finish();
    let base = if Path::new("/dev/shm").is_dir() {
        "/dev/shm"
    } else {
        "/tmp"
    };
    assert_eq!(ns, format!("{base}/interlock-0"), "root's own namespace");
    let left: Vec<_> = std::fs::read_dir(users_runtime.path()).unwrap().collect();
    assert!(
        left.is_empty(),
        "root created in the user's runtime dir: {left:?}"
    );
}

/// A fresh 0700 directory, as a runtime directory would be.
fn private_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::set_permissions(dir.path(), PermissionsExt::from_mode(0o700)).expect("chmod");
    dir
}

/// `namespace::dir()` as text (its error's text if it has none).
fn namespace_dir_shown() -> String {
    match interlock::namespace::dir() {
        Ok(dir) => dir.display().to_string(),
        Err(e) => format!("(no namespace: {e})"),
    }
}

/// Issue 11, item 9: `interlock rm` used to read the status, then unlink — a process could take
/// the lock in between and lose it to the next opener. `remove_unheld` takes the lock (every
/// lock of a table) and unlinks while holding it: a lock held by another process, by this
/// thread (an RLock would let us re-enter) or one lock of a table is `InUse` naming the holder,
/// and stays; a free lock, or one whose holder was killed, is removed; an old handle keeps the
/// old lock, and a new open makes a separate one.
#[test]
fn remove_unheld_removes_only_a_lock_nobody_holds() {
    if role().as_deref() == Some("holder") {
        let lock = Lock::open(&std::env::var(NAME_VAR).unwrap()).expect("Lock::open");
        let guard = lock.lock().expect("lock");
        tell_parent("held");
        if hear_from_parent() == "release" {
            drop(guard);
            tell_parent("released");
            hear_from_parent(); // stays alive, with the lock open, until told to go
        }
        return;
    }
    let dir = shared_namespace();
    let in_use = |name: &str, what: &str| match interlock::namespace::remove_unheld(name) {
        Err(Error::InUse { lock, holder }) => {
            assert!(
                dir.join(format!("{name}.lock")).exists(),
                "{what}: the file was removed"
            );
            (lock, holder)
        }
        other => panic!("remove_unheld of {what} gave {other:?}, expected InUse"),
    };

    // Held by another process, then released by it (which keeps it open).
    let name = unique_name();
    let old = Lock::open(&name).expect("Lock::open");
    let mut cmd = role_command("holder");
    cmd.env(NAME_VAR, &name);
    let mut holder = RoleChild::spawn(cmd);
    holder.expect("held");
    let (lock, by) = in_use(&name, "a lock another process holds");
    assert_eq!(lock, format!("lock {name:?}"));
    assert_eq!(by.map(|h| h.pid), Some(holder.pid()), "the holder is named");
    holder.send("release");
    holder.expect("released");
    interlock::namespace::remove_unheld(&name).expect("remove a free lock");
    assert!(!dir.join(format!("{name}.lock")).exists(), "not removed");
    assert!(matches!(
        interlock::namespace::remove_unheld(&name),
        Err(Error::NotFound { .. })
    ));
    let fresh = Lock::open(&name).expect("a new lock under the name");
    let _old_guard = old
        .try_lock()
        .expect("try_lock")
        .expect("the old handle's lock is free");
    assert!(
        fresh.try_lock().expect("try_lock").is_some(),
        "the new lock is separate from the removed one"
    );
    holder.send("go");
    holder.finish();

    // Held by this thread: an RLock (which would let the remover re-enter) and a plain Lock.
    let rname = unique_name();
    let rlock = RLock::open(&rname).expect("RLock::open");
    let rguard = rlock.lock().expect("lock");
    in_use(&rname, "an RLock this thread holds");
    assert_eq!(rlock.status().depth, 1, "the remover left the depth alone");
    drop(rguard);
    let name = unique_name();
    let lock = Lock::open(&name).expect("Lock::open");
    let guard = lock.lock().expect("lock");
    in_use(&name, "a Lock this thread holds");
    drop(guard);
    interlock::namespace::remove_unheld(&name).expect("remove it once free");

    // One lock of a table held: refused, naming that lock; then removed.
    let tname = unique_name();
    let table = interlock::LockTable::open(&tname, 8).expect("LockTable::open");
    let guard = table.get(5).unwrap().lock().expect("lock");
    let (lock, _) = in_use(&tname, "a table with one lock held");
    assert!(lock.ends_with("[5]"), "{lock}");
    assert!(
        table
            .get(0)
            .unwrap()
            .try_lock()
            .expect("try_lock")
            .is_some(),
        "the remover let go of the locks it took"
    );
    drop(guard);
    interlock::namespace::remove_unheld(&tname).expect("remove a free table");

    // A holder killed while holding it does not hold it.
    let name = unique_name();
    let mut cmd = role_command("holder");
    cmd.env(NAME_VAR, &name);
    let mut holder = RoleChild::spawn(cmd);
    holder.expect("held");
    holder.kill();
    holder.finish_killed();
    interlock::namespace::remove_unheld(&name).expect("remove a dead holder's lock");
    assert!(!dir.join(format!("{name}.lock")).exists(), "not removed");
}

/// Without `/dev/shm` (some minimal containers and chroots) the namespace is the fixed
/// `/tmp/interlock-EUID` — never `TMPDIR`, which differs between sessions like
/// `XDG_RUNTIME_DIR` does. Run in a private mount namespace whose `/dev` is an empty tmpfs.
#[test]
fn without_dev_shm_the_namespace_is_in_tmp_whatever_tmpdir_says() {
    if role().as_deref() == Some("no-shm") {
        assert!(!Path::new("/dev/shm").exists(), "/dev/shm is still there");
        tell_parent(&namespace_dir_shown());
        return;
    }
    if !common::have_root("hide /dev/shm in a private mount namespace") {
        return;
    }
    let tmpdir = private_dir();
    let inner = role_command("no-shm");
    let mut cmd = std::process::Command::new("unshare");
    cmd.args(["--mount", "--propagation", "private", "sh", "-c"])
        .arg(r#"mount -t tmpfs none /dev && exec "$0" "$@""#)
        .arg(inner.get_program())
        .args(inner.get_args())
        .env_remove("INTERLOCK_DIR")
        .env("TMPDIR", tmpdir.path())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    for (key, value) in inner.get_envs() {
        match value {
            Some(v) => cmd.env(key, v),
            None => cmd.env_remove(key),
        };
    }
    let child = RoleChild::spawn(cmd);
    let ns = child.recv();
    child.finish();
    // SAFETY: geteuid has no preconditions.
    let euid = unsafe { libc::geteuid() };
    assert_eq!(ns, format!("/tmp/interlock-{euid}"));
}
