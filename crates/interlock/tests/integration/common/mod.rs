//! What the integration tests add to the workspace's test kit (`interlock-testkit`, re-exported
//! here, so that a test names everything as `common::…`): the kit knows processes, pipes and
//! shared memory; this module knows interlock.
//!
//! - From the kit: [`fork`] (here completing interlock's one-time set-up first), [`channel`],
//!   [`role_command`] / [`RoleChild`], [`SharedMem`] / [`bump`], [`unique_name`], [`have_root`]
//!   / [`loud_skip`], [`PATIENCE`], [`wait_until`], `/proc` diagnostics.
//! - [`shared_namespace`], [`in_private_namespace`]: the `INTERLOCK_DIR` a test's named locks
//!   live in, shared by the binary or private to one test.
//! - [`Flavor`], [`LockUnderTest`], `each_flavor!`: one test body for every kind of lock.
//! - [`header_dump`], [`increment_file`].
//! - [`hostile`]: a second, unprivileged user and sticky directories, for hostile-neighbour tests.
//! - [`robust`]: the calling thread's robust list as the kernel sees it.
//!
//! Forked children run in a copy of a multi-threaded process (the test harness), so they do the
//! minimum: take locks, touch shared memory, write to a pipe, `_exit`.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::{Once, OnceLock};
use std::time::Duration;

use interlock::Lock;

pub(crate) use interlock_testkit::{
    bump, channel, describe_status, gettid, have_root, hear_from_parent, hold_until_killed,
    loud_skip, pipe, proc_diag, role, role_command, start_time, tell_parent, unique_name,
    wait_until, Forked, Receiver, RoleChild, Sender, SharedMem, PATIENCE,
};

pub(crate) mod hostile;
pub(crate) mod robust;

// ---------------------------------------------------------------------------------------------
// Forks
// ---------------------------------------------------------------------------------------------

/// The kit's [`fork`](interlock_testkit::fork), after interlock's one-time set-up in this
/// process (see [`finish_interlocks_first_use`]).
pub(crate) fn fork(child: impl FnOnce()) -> Forked {
    finish_interlocks_first_use();
    fork_now(child)
}

/// Takes and releases a throwaway lock, once per process, before the first [`fork`]: interlock's
/// one-time per-process set-up is then complete before any child is forked, whatever other test
/// threads do. (It once used a `Once` that a child forked mid-set-up inherited half-run;
/// `fork_setup.rs` is the regression test for that, and forks without this step.)
fn finish_interlocks_first_use() {
    static DONE: Once = Once::new();
    DONE.call_once(|| drop(Lock::new().expect("Lock::new").lock().expect("lock")));
}

/// [`fork`] without [`finish_interlocks_first_use`]: only for the test of that hazard.
pub(crate) fn fork_now(child: impl FnOnce()) -> Forked {
    interlock_testkit::fork(child)
}

// ---------------------------------------------------------------------------------------------
// Namespaces
// ---------------------------------------------------------------------------------------------

/// A namespace directory shared by every test of this binary (each uses its own lock names):
/// `INTERLOCK_DIR` is set once, before any test of the binary uses the namespace, to a fresh
/// 0700 directory under cargo's `CARGO_TARGET_TMPDIR`. In a child role it is the parent's,
/// inherited through the environment.
pub(crate) fn shared_namespace() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        if role().is_some() {
            return PathBuf::from(
                std::env::var_os("INTERLOCK_DIR").expect("a role child inherits INTERLOCK_DIR"),
            );
        }
        let tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
        // A kept directory cannot be removed when its run ends: earlier runs' go once they are
        // an hour old, when no run still uses them.
        interlock_testkit::names::remove_stale(tmp, "interlock-ns-", Duration::from_secs(3600));
        let dir = interlock_testkit::names::private_dir(tmp, "interlock-ns-");
        // Environment writes are process-global: this one happens once, before any test of this
        // binary reads INTERLOCK_DIR (every reader calls this function first), and std
        // serialises it with its own readers.
        std::env::set_var("INTERLOCK_DIR", &dir);
        dir
    })
}

/// Runs `body` in a child process — this test re-run in a role — whose `INTERLOCK_DIR` is a fresh
/// private directory `<scratch>/ns` (0700, existing, empty). `body` may change the directory
/// (its mode, or replace it with a symlink) without disturbing any other test; `<scratch>` is
/// the directory's parent, for fixtures.
pub(crate) fn in_private_namespace(body: impl FnOnce(&Path)) {
    const ROLE: &str = "private-namespace";
    if role().as_deref() == Some(ROLE) {
        let dir = PathBuf::from(
            std::env::var_os("INTERLOCK_DIR").expect("INTERLOCK_DIR set by the parent"),
        );
        body(&dir);
        return;
    }
    let scratch = tempfile::tempdir().expect("tempdir");
    let ns = scratch.path().join("ns");
    std::os::unix::fs::DirBuilderExt::mode(&mut std::fs::DirBuilder::new(), 0o700)
        .create(&ns)
        .expect("create namespace directory");
    let mut cmd = role_command(ROLE);
    cmd.env("INTERLOCK_DIR", &ns);
    RoleChild::spawn(cmd).finish();
}

// ---------------------------------------------------------------------------------------------
// Flavours of lock
// ---------------------------------------------------------------------------------------------

/// The kinds of lock whose owner death is found in different ways: the kernel's robust list
/// (anonymous memfd, private file) or waiters' liveness checks (a file others may write).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Flavor {
    /// `Lock::new()`: a sealed memfd.
    Anonymous,
    /// `Lock::open_path(…, 0o600)`: a file only we can write; robust list in use.
    PrivateFile,
    /// `Lock::open_path(…, 0o666)`: a file others may write; no robust list, death found by
    /// waiters checking the holder's pid and start time.
    SharedFile,
    /// `Lock::new_fair()`: a sealed memfd; releases hand over to the longest sleeper.
    Fair,
}

/// A lock of some flavour and the directory its file lives in.
#[derive(Debug)]
pub(crate) struct LockUnderTest {
    pub(crate) lock: Lock,
    /// The lock file's directory, removed when the lock under test is dropped.
    _dir: Option<tempfile::TempDir>,
}

impl LockUnderTest {
    pub(crate) fn new(flavor: Flavor) -> LockUnderTest {
        let (lock, dir) = match flavor {
            Flavor::Anonymous => (Lock::new().expect("Lock::new"), None),
            Flavor::Fair => (Lock::new_fair().expect("Lock::new_fair"), None),
            Flavor::PrivateFile | Flavor::SharedFile => {
                let dir = tempfile::tempdir().expect("tempdir");
                let mode = if flavor == Flavor::PrivateFile {
                    0o600
                } else {
                    0o666
                };
                let lock =
                    Lock::open_path(dir.path().join("test.lock"), mode).expect("Lock::open_path");
                (lock, Some(dir))
            }
        };
        LockUnderTest { lock, _dir: dir }
    }
}

/// Expands one test body into one test per [`Flavor`], in a module named after the test:
/// `name::anonymous`, `name::private_file`, `name::shared_file`, `name::fair` (STYLE.md §6, "one
/// body, every backend").
macro_rules! each_flavor {
    ($(#[$meta:meta])* fn $name:ident($flavor:ident) $body:block) => {
        $(#[$meta])*
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            fn body($flavor: crate::common::Flavor) $body

            #[test]
            fn anonymous() {
                body(crate::common::Flavor::Anonymous)
            }

            #[test]
            fn private_file() {
                body(crate::common::Flavor::PrivateFile)
            }

            #[test]
            fn shared_file() {
                body(crate::common::Flavor::SharedFile)
            }

            #[test]
            fn fair() {
                body(crate::common::Flavor::Fair)
            }
        }
    };
}

// ---------------------------------------------------------------------------------------------
// Files
// ---------------------------------------------------------------------------------------------

/// A hex dump of the first bytes of `path`, for messages about segment headers.
pub(crate) fn header_dump(path: &Path) -> String {
    match std::fs::read(path) {
        Ok(bytes) => bytes
            .chunks(16)
            .take(4)
            .enumerate()
            .map(|(i, row)| {
                let hex: Vec<String> = row.iter().map(|b| format!("{b:02x}")).collect();
                format!("{:04x}: {}\n", i * 16, hex.join(" "))
            })
            .collect(),
        Err(e) => format!("(cannot read {}: {e})", path.display()),
    }
}

/// `n` non-atomic increments of the 8-byte counter in `file`, each under `lock`.
pub(crate) fn increment_file(lock: &Lock, file: &File, n: u64) {
    use std::os::unix::fs::FileExt;
    for i in 0..n {
        let guard = lock.lock().expect("lock");
        let mut bytes = [0u8; 8];
        file.read_exact_at(&mut bytes, 0).expect("read counter");
        if i % 64 == 0 {
            std::thread::yield_now();
        }
        file.write_all_at(&(u64::from_ne_bytes(bytes) + 1).to_ne_bytes(), 0)
            .expect("write counter");
        drop(guard);
    }
}
