//! Issue 11's scenarios, each a way a neighbour, a namespace or an unlucky program once broke
//! exclusion or reached our memory: another user's tmpfs file linked on our robust list, a
//! thread of another pid namespace with our thread's number, more holds than the kernel walks,
//! a signal handler that locks mid-operation, a fair hand-over whose sleeper was killed, and
//! what `status` said after a death. Each test failed on the code before the fix.

use crate::common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use common::robust::list_len;
use common::{
    fork, gettid, have_root, hear_from_parent, role, role_command, tell_parent, wait_until,
    RoleChild, SharedMem, PATIENCE,
};
use interlock::{Error, Lock, LockTable, RLock};

// ---------------------------------------------------------------------------------------------
// The kernel's view of our robust list
// ---------------------------------------------------------------------------------------------

// ---------------------------------------------------------------------------------------------
// A second user
// ---------------------------------------------------------------------------------------------

/// Runs `sh -c script` as the hostile user (setpriv: real and effective ids, no groups).
fn as_user(user: common::hostile::User, script: &str) {
    user.run("sh", ["-c", script]);
}

/// A path under /dev/shm (tmpfs) that no other test or run uses, removed when dropped.
struct ShmPath(PathBuf);

impl ShmPath {
    fn new(what: &str) -> ShmPath {
        static N: AtomicU64 = AtomicU64::new(0);
        ShmPath(PathBuf::from(format!(
            "/dev/shm/interlock-test-{}-{}-{what}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        )))
    }
}

impl Drop for ShmPath {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn on_tmpfs(path: &Path) -> bool {
    let st = rustix::fs::statfs(path.parent().unwrap()).expect("statfs");
    st.f_type as i64 == libc::TMPFS_MAGIC
}

// ---------------------------------------------------------------------------------------------
// 1. Memory another user can write is never linked, whatever the file system
// ---------------------------------------------------------------------------------------------

/// User B plants a valid lock file in /dev/shm (mode 0666, and then 0600: still B's); root opens
/// it. Root's word must never go on its robust list: B could rewrite the node's pointers and
/// make root's unlink write where B chose. A tmpfs file of root's own (0600) and an anonymous
/// lock are linked, as before.
#[test]
fn another_users_tmpfs_lock_file_is_never_linked() {
    if !have_root("plants a file as a second user") {
        return;
    }
    let b = common::hostile::user();
    let seed = ShmPath::new("seed");
    let planted = ShmPath::new("planted.lock");
    assert!(on_tmpfs(&planted.0), "/dev/shm must be tmpfs for this test");
    drop(Lock::open_path(&seed.0, 0o644).unwrap());
    std::fs::set_permissions(&seed.0, std::fs::Permissions::from_mode(0o644)).unwrap();
    as_user(
        b,
        &format!("umask 0 && cp {} {}", seed.0.display(), planted.0.display()),
    );
    let ours = ShmPath::new("ours.lock");
    std::thread::spawn(move || {
        for mode in [0o666, 0o600] {
            as_user(b, &format!("chmod {mode:o} {}", planted.0.display()));
            let lock = Lock::open_path(&planted.0, 0o600).unwrap();
            for _ in 0..3 {
                let g = lock.lock().unwrap();
                assert_eq!(
                    list_len(),
                    0,
                    "B's {mode:o} tmpfs file was linked on root's list"
                );
                drop(g);
            }
            let g = lock.try_lock().unwrap().unwrap();
            assert_eq!(list_len(), 0, "try_lock linked B's file");
            drop(g);
            let r = RLock::open_path(&planted.0, 0o600);
            // The planted file is a Lock; an RLock handle is refused, not linked.
            assert!(matches!(r, Err(Error::KindMismatch { .. })), "{r:?}");
        }
        let mine = Lock::open_path(&ours.0, 0o600).unwrap();
        let g = mine.lock().unwrap();
        assert_eq!(list_len(), 1, "root's own 0600 tmpfs file is trusted");
        drop(g);
        let anon = Lock::new().unwrap();
        let g = anon.lock().unwrap();
        assert_eq!(list_len(), 1, "an anonymous lock is trusted");
        drop(g);
        assert_eq!(list_len(), 0);
    })
    .join()
    .unwrap();
}

/// A lock handed to a spawned program is linked there only with proof that only its user can
/// write it: our own sealed memfd is; our own tmpfs file that others may write is not.
#[test]
fn an_inherited_descriptor_is_trusted_only_with_proof() {
    const ROLE: &str = "inherited";
    if role().as_deref() == Some(ROLE) {
        for var in ["ANON", "SHM"] {
            let lock = Lock::from_env(var).unwrap();
            let g = lock.lock().unwrap();
            tell_parent(&format!("{var} linked {}", list_len()));
            drop(g);
        }
        return;
    }
    let anon = Lock::new().unwrap();
    let shm = ShmPath::new("inherited.lock");
    let shared = Lock::open_path(&shm.0, 0o666).unwrap();
    let mut cmd = role_command(ROLE);
    anon.pass_to(&mut cmd, "ANON").unwrap();
    shared.pass_to(&mut cmd, "SHM").unwrap();
    let child = RoleChild::spawn(cmd);
    child.expect("ANON linked 1");
    child.expect("SHM linked 0");
    child.finish();
}

// ---------------------------------------------------------------------------------------------
// 3. Pid namespaces
// ---------------------------------------------------------------------------------------------

/// `role_command` run as pid 1 of a new pid namespace (`unshare --pid --fork`), killed with
/// `unshare` if that dies, with the lock file's path in `NS_LOCK`.
fn role_in_new_pid_namespace(role: &str, lock: &Path) -> RoleChild {
    let mut inner = role_command(role);
    inner.env("NS_LOCK", lock);
    let mut cmd = Command::new("unshare");
    cmd.args(["--pid", "--fork", "--kill-child", "--"])
        .arg(inner.get_program())
        .args(inner.get_args());
    for (k, v) in inner.get_envs() {
        match v {
            Some(v) => cmd.env(k, v),
            None => cmd.env_remove(k),
        };
    }
    cmd.stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    RoleChild::spawn(cmd)
}

/// Two "containers" share a lock file, each running the same program as pid 1 of its own pid
/// namespace, so their threads have the same numbers. While A holds the RLock, B must not think
/// it holds it (try_lock re-entering, release following A's list pointers), and B killed while
/// it waits must not make the kernel declare A dead.
#[test]
fn a_thread_of_another_pid_namespace_with_our_number_is_never_the_holder() {
    const HOLDER: &str = "ns-holder";
    const PROBE: &str = "ns-probe";
    const SLEEPER: &str = "ns-sleeper";
    if let Some(r) = role().filter(|r| [HOLDER, PROBE, SLEEPER].contains(&r.as_str())) {
        let path = std::env::var("NS_LOCK").unwrap();
        let lock = RLock::open_path(&path, 0o600).unwrap();
        tell_parent(&format!("pid {} tid {}", std::process::id(), gettid()));
        match r.as_str() {
            HOLDER => {
                let g = lock.lock().unwrap();
                tell_parent("held");
                assert_eq!(hear_from_parent(), "release");
                drop(g);
            }
            PROBE => {
                assert!(!lock.is_held_by_current_thread(), "A's hold is B's?");
                let got = lock.try_lock().unwrap();
                assert!(got.is_none(), "B re-entered A's hold: {got:?}");
                assert!(
                    matches!(lock.release(), Err(Error::NotOwner { .. })),
                    "B released A's hold"
                );
                tell_parent("probed");
            }
            _ => {
                tell_parent("waiting");
                let g = lock.lock();
                panic!("the sleeper must be killed while it waits, got {g:?}");
            }
        }
        return;
    }
    if !have_root("creates pid namespaces") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ns.lock");
    let here = RLock::open_path(&path, 0o600).unwrap();
    // Each role first reports its pid and tid as its namespace numbers them.
    let start = |r: &str| {
        let child = role_in_new_pid_namespace(r, &path);
        let ids = child.recv();
        (child, ids)
    };
    let (mut holder, holder_ids) = start(HOLDER);
    holder.expect("held");
    let (probe, probe_ids) = start(PROBE);
    assert_eq!(
        holder_ids, probe_ids,
        "the two namespaces must number their threads alike for this test"
    );
    probe.expect("probed");
    probe.finish();

    let (mut sleeper, sleeper_ids) = start(SLEEPER);
    assert_eq!(holder_ids, sleeper_ids);
    sleeper.expect("waiting");
    wait_until("the sleeper sleeps on the word", || {
        here.status().waiters >= 1
    });
    sleeper.kill();
    sleeper.finish_killed();
    // A still holds it: nobody here may take it, and nobody was told of a death.
    assert!(
        here.try_lock().unwrap().is_none(),
        "A's hold was broken by B's death"
    );
    let status = here.status();
    assert_eq!(status.owner_deaths, 0, "{status:?}");
    assert!(status.holder.is_some(), "{status:?}");
    holder.send("release");
    holder.finish();
    let g = here.try_lock().unwrap().expect("free once A released it");
    assert!(!g.previous_owner_died());
}

/// A holder in another pid namespace of a lock file others may write (so the kernel does not
/// report its death and waiters check on it): a waiter here must not judge it by the pid it
/// recorded, which names another process (or none) in the waiter's namespace.
#[test]
fn a_live_holder_in_another_pid_namespace_is_never_judged_dead() {
    const HOLDER: &str = "ns-shared-holder";
    if role().as_deref() == Some(HOLDER) {
        let lock = Lock::open_path(std::env::var("NS_LOCK").unwrap(), 0o666).unwrap();
        let g = lock.lock().unwrap();
        tell_parent("held");
        assert_eq!(hear_from_parent(), "release");
        drop(g);
        return;
    }
    if !have_root("creates pid namespaces") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("shared.lock");
    let here = Lock::open_path(&path, 0o666).unwrap();
    let mut holder = role_in_new_pid_namespace(HOLDER, &path);
    holder.expect("held");
    for _ in 0..3 {
        assert!(
            here.try_lock().unwrap().is_none(),
            "a live holder in another namespace was judged dead"
        );
    }
    assert!(
        matches!(
            here.lock_timeout(Duration::from_millis(300)),
            Err(Error::Timeout { .. })
        ),
        "a waiter took the lock from a live holder"
    );
    assert_eq!(here.status().owner_deaths, 0);
    holder.send("release");
    holder.finish();
    assert!(here.try_lock().unwrap().is_some());
}

// ---------------------------------------------------------------------------------------------
// 4. More holds than the kernel walks
// ---------------------------------------------------------------------------------------------

/// One thread holds 3,000 locks and is SIGKILLed. The kernel walks at most 2,048 entries of its
/// robust list; every one of the 3,000 must still come back to the next owner, told of the
/// death.
#[test]
fn every_one_of_three_thousand_holds_of_a_killed_thread_is_recovered() {
    const N: usize = 3000;
    let table = LockTable::new(N).unwrap();
    let shm = SharedMem::new(2);
    let child = fork(|| {
        let guards: Vec<_> = table.iter().map(|l| l.lock().unwrap()).collect();
        assert_eq!(guards.len(), N);
        shm.slot(1).store(list_len() as u64, Ordering::Relaxed);
        shm.slot(0).store(1, Ordering::Release);
        common::hold_until_killed();
    });
    wait_until("the child holds all 3000", || {
        shm.slot(0).load(Ordering::Acquire) == 1
    });
    child.kill(libc::SIGKILL);
    child.join_killed_by(libc::SIGKILL);
    let deadline = Instant::now() + PATIENCE;
    let mut stuck = Vec::new();
    for (i, lock) in table.iter().enumerate() {
        let g = loop {
            if let Some(g) = lock.try_lock().unwrap() {
                break Some(g);
            }
            if Instant::now() > deadline {
                break None;
            }
            std::thread::yield_now();
        };
        match g {
            Some(g) => assert!(g.previous_owner_died(), "lock {i}: death not reported"),
            None => stuck.push(i),
        }
    }
    assert!(
        stuck.is_empty(),
        "{} locks stayed held by the dead thread (first: {:?})",
        stuck.len(),
        &stuck[..stuck.len().min(5)]
    );
    let linked = shm.slot(1).load(Ordering::Relaxed);
    assert!(linked <= 1024, "the thread linked {linked} words");
}

// ---------------------------------------------------------------------------------------------
// 5. Locking from a signal handler
// ---------------------------------------------------------------------------------------------

static HANDLER_LOCK: OnceLock<Lock> = OnceLock::new();
static HANDLER_RAN: AtomicU64 = AtomicU64::new(0);
static HANDLER_ON: AtomicBool = AtomicBool::new(false);

extern "C" fn lock_in_handler(_: libc::c_int) {
    if !HANDLER_ON.load(Ordering::Relaxed) {
        return;
    }
    if let Some(lock) = HANDLER_LOCK.get() {
        if let Ok(Some(g)) = lock.try_lock() {
            drop(g);
        }
        HANDLER_RAN.fetch_add(1, Ordering::Relaxed);
    }
}

/// A 50 µs timer whose handler takes and releases a lock, while the interrupted thread takes
/// two others and releases them out of order in a loop, and holds a fourth throughout: the
/// fourth must stay on the robust list (the kernel frees it when the child is killed) and the
/// list must hold exactly it afterwards.
#[test]
fn a_signal_handler_that_locks_never_corrupts_the_robust_list() {
    let held = Lock::new().unwrap();
    let busy = Lock::new().unwrap();
    let other = Lock::new().unwrap();
    HANDLER_LOCK.get_or_init(|| Lock::new().unwrap());
    let shm = SharedMem::new(3);
    let child = fork(|| {
        // SAFETY: an all-zero `sigaction` is a valid value of that plain C struct.
        let mut sa: libc::sigaction = unsafe { std::mem::zeroed() };
        sa.sa_sigaction = lock_in_handler as *const () as usize;
        sa.sa_flags = libc::SA_RESTART;
        // SAFETY: installs a handler that only touches atomics and an initialised lock.
        let rc = unsafe { libc::sigaction(libc::SIGALRM, &sa, std::ptr::null_mut()) };
        assert_eq!(rc, 0);
        let g = held.lock().unwrap();
        HANDLER_ON.store(true, Ordering::Relaxed);
        let tick = libc::timeval {
            tv_sec: 0,
            tv_usec: 50,
        };
        let timer = libc::itimerval {
            it_interval: tick,
            it_value: tick,
        };
        // SAFETY: a valid itimerval; SIGALRM's handler is installed above.
        let rc = unsafe { libc::setitimer(libc::ITIMER_REAL, &timer, std::ptr::null_mut()) };
        assert_eq!(rc, 0);
        let start = HANDLER_RAN.load(Ordering::Relaxed);
        let mut rounds = 0u64;
        while HANDLER_RAN.load(Ordering::Relaxed) < start + 20_000 {
            // Released out of order: a stale `prev` left in `busy`'s node by an interleaved
            // handler makes this release unlink `other` while it is still held.
            let gb = busy.lock().unwrap();
            let go = other.lock().unwrap();
            drop(gb);
            drop(go);
            rounds += 1;
            if rounds % 1024 == 0 {
                shm.slot(2).store(rounds, Ordering::Relaxed);
                shm.slot(1)
                    .store(HANDLER_RAN.load(Ordering::Relaxed), Ordering::Relaxed);
            }
        }
        HANDLER_ON.store(false, Ordering::Relaxed);
        let off = libc::itimerval {
            it_interval: libc::timeval {
                tv_sec: 0,
                tv_usec: 0,
            },
            it_value: libc::timeval {
                tv_sec: 0,
                tv_usec: 0,
            },
        };
        // SAFETY: as above; a zero value disarms the timer.
        unsafe { libc::setitimer(libc::ITIMER_REAL, &off, std::ptr::null_mut()) };
        assert!(held.is_held_by_current_thread());
        assert_eq!(
            list_len(),
            1,
            "the robust list must hold exactly the held lock"
        );
        shm.slot(1)
            .store(HANDLER_RAN.load(Ordering::Relaxed), Ordering::Relaxed);
        shm.slot(0).store(1, Ordering::Release);
        let _keep = g;
        common::hold_until_killed();
    });
    let deadline = Instant::now() + PATIENCE;
    while shm.slot(0).load(Ordering::Acquire) == 0 {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", child.pid()));
        if stat.is_ok_and(|s| {
            s.rsplit(')')
                .next()
                .unwrap_or("")
                .trim_start()
                .starts_with('Z')
        }) {
            child.join(); // panics with the child's own report and how it ended
            unreachable!("the child died before it finished its rounds");
        }
        assert!(
            Instant::now() < deadline,
            "the child never finished its rounds ({} rounds, {} handler runs): {}",
            shm.slot(2).load(Ordering::Relaxed),
            shm.slot(1).load(Ordering::Relaxed),
            common::proc_diag(child.pid())
        );
        std::thread::yield_now();
    }
    child.kill(libc::SIGKILL);
    child.join_killed_by(libc::SIGKILL);
    let g = held
        .lock_timeout(PATIENCE)
        .expect("the killed child's hold came back");
    assert!(g.previous_owner_died(), "the kernel reported the death");
    assert!(shm.slot(1).load(Ordering::Relaxed) > 0, "the handler ran");
}

// ---------------------------------------------------------------------------------------------
// 6. Fair hand-overs, waiter counts and deaths in `status`
// ---------------------------------------------------------------------------------------------

/// A fair release hands the word to the sleeper the kernel wakes; if that sleeper is killed
/// between its wake-up and its exchange, the word stays `HANDOFF | WAITERS` with nobody to
/// take it. That state is written here as such a death leaves it (the instant cannot be hit
/// on purpose): `try_lock` must take it once it outlasts the safety net, and so must `lock`.
#[test]
fn a_hand_over_whose_sleeper_died_is_taken_by_try_lock_and_lock() {
    let ns = common::shared_namespace();
    let name = common::unique_name();
    let fair = Lock::open_fair(&name).unwrap();
    let path = ns.join(format!("{name}.lock"));
    assert!(path.exists(), "{} is the lock's file", path.display());
    for how in ["try_lock", "lock"] {
        strand_handoff(&path);
        let started = Instant::now();
        let g = match how {
            "try_lock" => loop {
                if let Some(g) = fair.try_lock().unwrap() {
                    break g;
                }
                assert!(
                    started.elapsed() < PATIENCE,
                    "try_lock never took the hand-over"
                );
                std::thread::yield_now();
            },
            _ => fair
                .lock_timeout(PATIENCE)
                .expect("lock took the hand-over"),
        };
        assert!(!g.previous_owner_died());
        drop(g);
        assert!(
            fair.try_lock().unwrap().is_some(),
            "{how}: the lock works afterwards"
        );
    }
}

/// Writes `HANDOFF | WAITERS` into the word of the lock file at `path` (byte 112: the record at
/// 64, the word 48 into it).
fn strand_handoff(path: &Path) {
    const HANDOFF_WAITERS: u32 = 0x1fff_ffff | 0x8000_0000;
    let file = std::fs::OpenOptions::new().write(true).open(path).unwrap();
    std::os::unix::fs::FileExt::write_all_at(&file, &HANDOFF_WAITERS.to_ne_bytes(), 112).unwrap();
}

/// A waiter SIGKILLed while it sleeps never uncounts itself; once the holder releases, `status`
/// must not show it as waiting.
#[test]
fn a_killed_waiter_is_not_counted_once_the_lock_is_free() {
    let lock = Lock::new().unwrap();
    let g = lock.lock().unwrap();
    let waiter = fork(|| {
        let _ = lock.lock();
        unreachable!("killed while waiting");
    });
    wait_until("the waiter sleeps", || lock.status().waiters == 1);
    waiter.kill(libc::SIGKILL);
    waiter.join_killed_by(libc::SIGKILL);
    drop(g);
    let status = lock.status();
    assert!(status.holder.is_none());
    assert_eq!(status.waiters, 0, "{status:?}");
}

/// Right after a holder dies, before anyone takes the lock, the lock already counts the death
/// and is poisoned — as the next owner will be told.
#[test]
fn a_death_nobody_claimed_yet_already_counts_and_poisons() {
    let lock = Lock::new().unwrap();
    let shm = SharedMem::new(1);
    let child = fork(|| {
        let _g = lock.lock().unwrap();
        shm.slot(0).store(1, Ordering::Release);
        common::hold_until_killed();
    });
    wait_until("the child holds it", || {
        shm.slot(0).load(Ordering::Acquire) == 1
    });
    child.kill(libc::SIGKILL);
    child.join_killed_by(libc::SIGKILL);
    let status = lock.status();
    assert!(status.owner_died_unclaimed, "{status:?}");
    assert_eq!(status.owner_deaths, 1, "{status:?}");
    assert!(status.poisoned, "{status:?}");
    assert!(lock.is_poisoned());
    let g = lock.lock().unwrap();
    assert!(g.previous_owner_died());
    drop(g);
    let status = lock.status();
    assert_eq!(status.owner_deaths, 1, "counted once: {status:?}");
    assert!(status.poisoned);
}
