//! A second, unprivileged user for the hostile-neighbour tests (issue 11): it plants files where
//! another user of the machine could — in sticky, world-writable directories like `/tmp` and
//! `/dev/shm` — and runs interlock code of its own, while the test (root) is the victim.
//!
//! - [`user`]: the dedicated user `interlock-hostile`, created with `useradd` if missing.
//! - [`User::run`] / [`User::command`]: a program run as that user (`setpriv --reuid --regid
//!   --clear-groups`: no supplementary groups, no capabilities).
//! - [`User::role_command`]: this test binary re-run as that user in a child role.
//! - [`sticky_dirs`]: fresh mode-1777 directories on the disk (`CARGO_TARGET_TMPDIR`) and on
//!   `/dev/shm` (tmpfs), removed when dropped (root removes the user's files too).
//!
//! Callers check [`have_root`](super::have_root) first.
//!
//! The user is kept once created, not removed after the test: test binaries run their tests in
//! parallel processes (nextest runs one process per test), and a `userdel` in one would pull the
//! user out from under another. It has no password, no home and `nologin` as its shell.

use std::ffi::OsStr;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output, Stdio};

/// The dedicated hostile user's name.
pub(crate) const NAME: &str = "interlock-hostile";

/// The hostile user's ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct User {
    pub(crate) uid: u32,
    pub(crate) gid: u32,
}

/// The hostile user, created if missing (serialised between this crate's test processes by a
/// lock; `useradd` itself retried while another program holds `/etc/passwd`).
pub(crate) fn user() -> User {
    if let Some(user) = lookup() {
        return user;
    }
    let lock = interlock::Lock::open_path(
        Path::new(env!("CARGO_TARGET_TMPDIR")).join("hostile-user.lock"),
        0o600,
    )
    .expect("open the user-creation lock");
    let _guard = lock.lock().expect("take the user-creation lock");
    let mut last = None;
    for _ in 0..50 {
        if let Some(user) = lookup() {
            return user;
        }
        let out = Command::new("useradd")
            .args([
                "--system",
                "--user-group",
                "--no-create-home",
                "--home-dir",
                "/nonexistent",
                "--shell",
                "/usr/sbin/nologin",
                NAME,
            ])
            .output()
            .expect("run useradd");
        if !out.status.success() {
            // Exit 10: another program holds /etc/passwd's lock; try again shortly.
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        last = Some(out);
    }
    lookup().unwrap_or_else(|| {
        let out = last.expect("useradd ran");
        panic!(
            "cannot create user {NAME}: useradd {}: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

fn lookup() -> Option<User> {
    let out = Command::new("getent")
        .args(["passwd", NAME])
        .output()
        .ok()?;
    let line = String::from_utf8(out.stdout).ok()?;
    let mut fields = line.trim().split(':').skip(2);
    Some(User {
        uid: fields.next()?.parse().ok()?,
        gid: fields.next()?.parse().ok()?,
    })
}

impl User {
    /// `program` run as this user.
    pub(crate) fn command(&self, program: impl AsRef<OsStr>) -> Command {
        let mut cmd = Command::new("setpriv");
        cmd.arg(format!("--reuid={}", self.uid))
            .arg(format!("--regid={}", self.gid))
            .args(["--clear-groups", "--"])
            .arg(program);
        cmd
    }

    /// Runs `program args` as this user and asserts that it succeeded.
    pub(crate) fn run<I, S>(&self, program: &str, args: I) -> Output
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut cmd = self.command(program);
        cmd.args(args).stdin(Stdio::null());
        let out = cmd.output().unwrap_or_else(|e| panic!("run {cmd:?}: {e}"));
        assert!(
            out.status.success(),
            "{cmd:?} as {NAME}: {}\n--- stdout ---\n{}--- stderr ---\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    /// This test binary re-run as this user in `role` ([`super::role_command`], wrapped).
    pub(crate) fn role_command(&self, role: &str) -> Command {
        let inner = super::role_command(role);
        let mut cmd = self.command(inner.get_program());
        cmd.args(inner.get_args());
        for (key, value) in inner.get_envs() {
            match value {
                Some(value) => cmd.env(key, value),
                None => cmd.env_remove(key),
            };
        }
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        cmd
    }
}

/// Where the hostile tests run: a fresh sticky, world-writable (1777) directory on the disk
/// (under `CARGO_TARGET_TMPDIR`) and one on `/dev/shm` (tmpfs), each with a label for messages.
pub(crate) fn sticky_dirs() -> Vec<(&'static str, tempfile::TempDir)> {
    let on = |label, parent: &Path| {
        let dir = tempfile::Builder::new()
            .prefix("interlock-sticky-")
            .tempdir_in(parent)
            .unwrap_or_else(|e| panic!("create a directory in {}: {e}", parent.display()));
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o1777))
            .expect("chmod 1777");
        (label, dir)
    };
    vec![
        on("disk", Path::new(env!("CARGO_TARGET_TMPDIR"))),
        on("/dev/shm", Path::new("/dev/shm")),
    ]
}

/// A fresh directory everyone may write, without the sticky bit (each user may replace the
/// others' files: what a rename-based commit shared between users needs), on the disk and on
/// `/dev/shm`.
pub(crate) fn open_dirs() -> Vec<(&'static str, tempfile::TempDir)> {
    sticky_dirs()
        .into_iter()
        .map(|(label, dir)| {
            std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777))
                .expect("chmod 777");
            (label, dir)
        })
        .collect()
}
