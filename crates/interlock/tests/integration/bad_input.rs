//! Bad names, unsafe paths and files that are not (our) locks: each is refused with its own clear
//! error, nothing is created, overwritten or followed, and nothing panics.
//!
//! Tests about the namespace run in a child process with a private `INTERLOCK_DIR`
//! (`common::in_private_namespace`); tests about one file use `open_path` in a temporary
//! directory.

use crate::common;

use std::fmt::Debug;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::{
    have_root, header_dump, in_private_namespace, loud_skip, role, role_command, tell_parent,
    RoleChild,
};
use interlock::{Error, Kind, Lock, NamespaceFault, RLock, SegmentFault};

/// The uid (and gid) of `nobody`, for files owned by another user.
const OTHER_UID: u32 = 65534;

fn unsafe_path<T: Debug>(result: Result<T, Error>, what: &str) -> (PathBuf, String) {
    match result {
        Err(Error::UnsafePath { path, reason }) => (path, reason),
        other => panic!("{what} gave {other:?}, expected Error::UnsafePath"),
    }
}

fn bad_segment<T: Debug>(result: Result<T, Error>, what: &str, path: &Path) -> SegmentFault {
    match result {
        Err(Error::BadSegment { fault, .. }) => fault,
        other => panic!(
            "{what} gave {other:?}, expected Error::BadSegment; header:\n{}",
            header_dump(path)
        ),
    }
}

fn names_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("read namespace")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

fn set_mode(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

/// Every rule a name can break is refused as `InvalidName` with that rule's own reason, by every
/// function that takes a name, before anything is created.
#[test]
fn each_bad_name_is_refused_with_its_own_reason() {
    in_private_namespace(|dir| {
        let long = "x".repeat(300);
        // (name, rule, what its reason must say)
        let cases: [(&str, &str, &str); 8] = [
            ("", "empty", "empty"),
            ("a/b", "slash", "'/'"),
            ("../x", "leading dot", "'.'"),
            ("..", "leading dot", "'..'"),
            (".hidden", "leading dot", "starts with '.'"),
            ("a\0b", "NUL", "NUL"),
            (long.as_str(), "too long", "longer than 200"),
            ("sp ace", "characters", "may only contain"),
        ];
        let mut reason_of_rule: Vec<(&str, &str)> = Vec::new();
        for (name, rule, want) in cases {
            let reason = match interlock::namespace::validate_name(name) {
                Err(Error::InvalidName { name: n, reason }) => {
                    assert_eq!(n, name);
                    reason
                }
                other => panic!("validate_name({name:?}) gave {other:?}"),
            };
            assert!(
                reason.contains(want),
                "{name:?}: reason {reason:?} should say {want:?}"
            );
            let results = [
                ("Lock::open", Lock::open(name).map(drop)),
                ("RLock::open", RLock::open(name).map(drop)),
                ("status", interlock::namespace::status(name).map(drop)),
                ("remove", interlock::namespace::remove(name)),
            ];
            for (what, result) in results {
                match result {
                    Err(Error::InvalidName { name: n, reason: r }) => {
                        assert_eq!((n.as_str(), r), (name, reason), "{what}({name:?})")
                    }
                    other => panic!("{what}({name:?}) gave {other:?}, expected InvalidName"),
                }
            }
            let shown = Lock::open(name).unwrap_err().to_string();
            assert!(
                shown.contains(&format!("{name:?}")) && shown.contains(reason),
                "{shown}"
            );
            match reason_of_rule.iter().find(|(r, _)| *r == rule) {
                Some((_, earlier)) => assert_eq!(*earlier, reason, "one rule, one reason"),
                None => reason_of_rule.push((rule, reason)),
            }
        }
        for (i, (rule_a, a)) in reason_of_rule.iter().enumerate() {
            for (rule_b, b) in &reason_of_rule[i + 1..] {
                assert_ne!(a, b, "rules {rule_a:?} and {rule_b:?} give the same reason");
            }
        }
        assert!(
            names_in(dir).is_empty(),
            "a refused name created something: {:?}",
            names_in(dir)
        );

        // The length limit is exactly 200 bytes.
        Lock::open(&"y".repeat(200)).expect("a 200-byte name is allowed");
        assert!(matches!(
            Lock::open(&"y".repeat(201)),
            Err(Error::InvalidName { .. })
        ));
    });
}

/// A symlink at `NAME.lock` — to a real lock or to nothing — is refused by `open`, `status` and
/// `remove`, skipped by `list`, and never followed: its target is neither changed nor created.
#[test]
fn symlink_at_the_lock_path_is_refused() {
    in_private_namespace(|dir| {
        let scratch = dir.parent().unwrap();
        let target = scratch.join("target.lock");
        drop(Lock::open_path(&target, 0o600).expect("a real lock to point at"));
        let before = std::fs::read(&target).unwrap();
        symlink(&target, dir.join("link.lock")).unwrap();
        let missing = scratch.join("missing.lock");
        symlink(&missing, dir.join("dangling.lock")).unwrap();

        for name in ["link", "dangling"] {
            let (path, reason) = unsafe_path(Lock::open(name), &format!("Lock::open({name})"));
            assert_eq!(path, dir.join(format!("{name}.lock")));
            assert!(reason.contains("symbolic link"), "{reason}");
            unsafe_path(RLock::open(name), "RLock::open");
            unsafe_path(interlock::namespace::status(name), "status");
            unsafe_path(interlock::namespace::remove(name), "remove");
        }
        assert!(
            !interlock::namespace::list()
                .expect("list")
                .iter()
                .any(|l| l.name == "link" || l.name == "dangling"),
            "list showed a symlink"
        );
        assert_eq!(
            std::fs::read(&target).unwrap(),
            before,
            "the symlink's target was changed"
        );
        assert!(
            !missing.exists(),
            "a lock was created through a dangling symlink"
        );
        assert!(
            dir.join("link.lock").symlink_metadata().is_ok(),
            "remove deleted the symlink"
        );

        // open_path refuses a symlink as its last component too.
        let (_, reason) = unsafe_path(
            Lock::open_path(dir.join("link.lock"), 0o600),
            "open_path(symlink)",
        );
        assert!(reason.contains("symbolic link"), "{reason}");
    });
}

/// A lock file in the namespace owned by another user is refused, naming that uid, and neither
/// used nor removed.
#[test]
fn lock_file_owned_by_another_user_is_refused() {
    if !have_root("chown a lock file to another user") {
        return;
    }
    in_private_namespace(|dir| {
        drop(Lock::open("theirs").expect("create"));
        let path = dir.join("theirs.lock");
        std::os::unix::fs::chown(&path, Some(OTHER_UID), Some(OTHER_UID)).expect("chown");
        let (refused, reason) = unsafe_path(Lock::open("theirs"), "Lock::open");
        assert_eq!(refused, path);
        assert!(
            reason.contains(&format!("uid {OTHER_UID}")),
            "the reason should name the owner: {reason}"
        );
        unsafe_path(interlock::namespace::status("theirs"), "status");
        unsafe_path(interlock::namespace::remove("theirs"), "remove");
        assert!(path.exists(), "remove deleted another user's file");
    });
}

/// A lock file in the namespace that group or others may access is refused, naming its mode.
#[test]
fn lock_file_open_to_others_is_refused() {
    in_private_namespace(|dir| {
        for (name, mode) in [("readable", 0o644), ("group", 0o660)] {
            drop(Lock::open(name).expect("create"));
            set_mode(&dir.join(format!("{name}.lock")), mode);
            let (_, reason) =
                unsafe_path(Lock::open(name), &format!("Lock::open of a {mode:o} file"));
            assert!(
                reason.contains(&format!("{mode:o}")),
                "the reason should name the mode: {reason}"
            );
        }
    });
}

/// A namespace directory that others may enter (0755) is refused, naming its mode, by every
/// namespace function, and nothing is created in it.
#[test]
fn namespace_directory_open_to_others_is_refused() {
    in_private_namespace(|dir| {
        set_mode(dir, 0o755);
        let (path, fault, shown) = unusable(Lock::open("x"), "Lock::open", "OpenToOthers");
        assert_eq!(path, dir);
        assert!(
            matches!(fault, NamespaceFault::OpenToOthers { mode: 0o755, ref owner } if owner.uid == euid()),
            "{fault:?}"
        );
        assert!(
            shown.contains("755") && shown.contains("chmod 700"),
            "the message should name the mode and the way out: {shown}"
        );
        unusable(interlock::namespace::list(), "list", "OpenToOthers");
        unusable(interlock::namespace::status("x"), "status", "OpenToOthers");
        unusable(interlock::namespace::remove("x"), "remove", "OpenToOthers");
        unusable(
            interlock::namespace::remove_unheld("x"),
            "remove_unheld",
            "OpenToOthers",
        );
        assert!(
            names_in(dir).is_empty(),
            "created in an unsafe namespace: {:?}",
            names_in(dir)
        );
    });
}

/// A namespace directory owned by another user is refused, naming that user (uid and name) and
/// the ways out.
#[test]
fn namespace_directory_owned_by_another_user_is_refused() {
    if !have_root("chown the namespace directory to another user") {
        return;
    }
    in_private_namespace(|dir| {
        std::os::unix::fs::chown(dir, Some(OTHER_UID), Some(OTHER_UID)).expect("chown");
        let (path, fault, shown) = unusable(Lock::open("x"), "Lock::open", "ForeignOwner");
        assert_eq!(path, dir);
        match fault {
            NamespaceFault::ForeignOwner { owner, me } => {
                assert_eq!(
                    (owner.uid, owner.name.as_deref(), me),
                    (OTHER_UID, Some("nobody"), 0)
                )
            }
            other => panic!("{other:?}"),
        }
        for want in [&format!("uid {OTHER_UID} (nobody)"), "INTERLOCK_DIR"] {
            assert!(
                shown.contains(want),
                "the message should say {want:?}: {shown}"
            );
        }
        // INTERLOCK_DIR's directory is never offered for removal (it may be `/`); the
        // default namespace's is (squatted_namespace_directory_names_its_owner_and_the_way_out).
        assert!(!shown.contains("rm -r"), "must not suggest rm -r: {shown}");
        assert!(names_in(dir).is_empty());
    });
}

/// A namespace "directory" that is a symlink (even to a good private directory) is refused,
/// naming the link's owner, and not followed.
#[test]
fn namespace_directory_that_is_a_symlink_is_refused() {
    in_private_namespace(|dir| {
        let real = dir.parent().unwrap().join("real");
        std::fs::create_dir(&real).unwrap();
        set_mode(&real, 0o700);
        std::fs::remove_dir(dir).unwrap();
        symlink(&real, dir).unwrap();
        let (path, fault, shown) = unusable(Lock::open("x"), "Lock::open", "Symlink");
        assert_eq!(path, dir);
        assert!(
            matches!(fault, NamespaceFault::Symlink { ref owner } if owner.uid == euid()),
            "{fault:?}"
        );
        assert!(shown.contains("symbolic link"), "{shown}");
        assert!(
            names_in(&real).is_empty(),
            "followed the symlink: {:?}",
            names_in(&real)
        );
        // A file in its place is refused too.
        std::fs::remove_file(dir).unwrap();
        std::fs::write(dir, b"").unwrap();
        unusable(Lock::open("x"), "Lock::open", "NotADirectory");
    });
}

/// A missing namespace directory is created 0700, and a new lock file in it is 0600.
#[test]
fn missing_namespace_directory_is_created_private() {
    in_private_namespace(|dir| {
        std::fs::remove_dir(dir).unwrap();
        drop(Lock::open("first").expect("Lock::open creates the namespace"));
        assert_eq!(
            std::fs::metadata(dir).unwrap().permissions().mode() & 0o7777,
            0o700
        );
        let file = std::fs::metadata(dir.join("first.lock")).unwrap();
        assert_eq!(file.permissions().mode() & 0o7777, 0o600);
        assert_eq!(names_in(dir), ["first.lock"], "no temporary file left");
    });
}

/// Something other than a regular file at `NAME.lock` — a FIFO, a directory — is refused, not
/// replaced.
#[test]
fn non_file_at_the_lock_path_is_refused() {
    in_private_namespace(|dir| {
        let fifo = dir.join("fifo.lock");
        let c_path = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        // SAFETY: mkfifo reads a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) }, 0, "mkfifo");
        let (_, reason) = unsafe_path(Lock::open("fifo"), "Lock::open(FIFO)");
        assert!(reason.contains("not a regular file"), "{reason}");

        let sub = dir.join("sub.lock");
        std::fs::create_dir(&sub).unwrap();
        let (path, reason) = unsafe_path(Lock::open("sub"), "Lock::open(directory)");
        assert!(reason.contains("not a regular file"), "{reason}");
        assert_eq!(path, sub, "the error names the path");
        assert!(sub.is_dir() && std::fs::read_dir(&sub).unwrap().next().is_none());
    });
}

/// A file of other bytes at the lock path is `BadSegment(Foreign)` showing its first bytes —
/// through the namespace and through `open_path` — and is left exactly as it was.
#[test]
fn foreign_file_at_the_lock_path_is_refused_not_overwritten() {
    let garbage: Vec<u8> = b"NOTALOCK"
        .iter()
        .copied()
        .chain((0..184u8).map(|b| b.wrapping_mul(7)))
        .collect();
    in_private_namespace(|dir| {
        let path = dir.join("other.lock");
        std::fs::write(&path, &garbage).unwrap();
        set_mode(&path, 0o600);
        let fault = bad_segment(Lock::open("other"), "Lock::open", &path);
        assert_eq!(
            fault,
            SegmentFault::Foreign {
                found: *b"NOTALOCK"
            }
        );
        bad_segment(interlock::namespace::status("other"), "status", &path);
        assert!(
            !interlock::namespace::list()
                .unwrap()
                .iter()
                .any(|l| l.name == "other"),
            "list showed a foreign file"
        );
        assert_eq!(
            std::fs::read(&path).unwrap(),
            garbage,
            "the foreign file was changed"
        );
    });
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("other.lock");
    std::fs::write(&path, &garbage).unwrap();
    let err = Lock::open_path(&path, 0o600).unwrap_err();
    assert!(err.to_string().contains("foreign file"), "{err}");
    let fault = bad_segment(Err::<(), _>(err), "open_path", &path);
    assert!(matches!(fault, SegmentFault::Foreign { found } if &found == b"NOTALOCK"));
    assert_eq!(
        std::fs::read(&path).unwrap(),
        garbage,
        "the foreign file was changed"
    );
}

/// A file with a valid header but shorter than a segment (100 bytes of 192), an empty file and a
/// bare magic are `Truncated` with the length found, and are not extended.
#[test]
fn truncated_segment_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let real = dir.path().join("real.lock");
    drop(Lock::open_path(&real, 0o600).unwrap());
    let header = std::fs::read(&real).unwrap()[..64].to_vec();
    let segment_len = std::fs::metadata(&real).unwrap().len();

    let mut short = header.clone();
    short.resize(100, 0);
    for (name, bytes) in [
        ("short", short),
        ("empty", Vec::new()),
        ("magic-only", header[..8].to_vec()),
    ] {
        let path = dir.path().join(format!("{name}.lock"));
        std::fs::write(&path, &bytes).unwrap();
        let fault = bad_segment(
            Lock::open_path(&path, 0o600),
            &format!("open_path({name})"),
            &path,
        );
        assert_eq!(
            fault,
            SegmentFault::Truncated {
                len: bytes.len() as u64,
                needed: segment_len
            },
            "{name}"
        );
        assert_eq!(
            std::fs::read(&path).unwrap(),
            bytes,
            "{name}: the file was changed"
        );
    }
}

/// A segment from a newer format (version 99 at bytes 8..12) is `NewerFormat { found: 99,
/// supported: 1 }`, for both kinds, and the message names both versions.
#[test]
fn newer_format_version_is_refused_with_both_versions() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("future.lock");
    drop(Lock::open_path(&path, 0o600).unwrap());
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[8..12].copy_from_slice(&99u32.to_ne_bytes());
    std::fs::write(&path, &bytes).unwrap();

    let err = Lock::open_path(&path, 0o600).unwrap_err();
    let shown = err.to_string();
    let fault = bad_segment(Err::<(), _>(err), "Lock::open_path", &path);
    assert_eq!(
        fault,
        SegmentFault::NewerFormat {
            found: 99,
            supported: 1
        }
    );
    assert!(shown.contains("99") && shown.contains("(1)"), "{shown}");
    let fault = bad_segment(RLock::open_path(&path, 0o600), "RLock::open_path", &path);
    assert_eq!(
        fault,
        SegmentFault::NewerFormat {
            found: 99,
            supported: 1
        }
    );
    assert_eq!(
        std::fs::read(&path).unwrap(),
        bytes,
        "the newer file was changed"
    );
}

/// An RLock opened as a Lock, or a Lock as an RLock — by name or by path — is `KindMismatch`
/// saying which is which, and where.
#[test]
fn lock_kinds_do_not_mix() {
    in_private_namespace(|dir| {
        drop(RLock::open("recursive").unwrap());
        drop(Lock::open("plain").unwrap());
        match Lock::open("recursive") {
            Err(Error::KindMismatch {
                expected: Kind::Lock,
                found: Kind::RLock,
                ..
            }) => {}
            other => panic!("an RLock name opened as a Lock gave {other:?}"),
        }
        match RLock::open("plain") {
            Err(Error::KindMismatch {
                expected: Kind::RLock,
                found: Kind::Lock,
                ..
            }) => {}
            other => panic!("a Lock name opened as an RLock gave {other:?}"),
        }
        let shown = Lock::open("recursive").unwrap_err().to_string();
        assert!(
            shown.contains("RLock") && shown.contains("recursive"),
            "{shown}"
        );
        // Issue 18 (the hostile-file matrix): the message names the file, not the name alone.
        let file = dir.join("recursive.lock");
        assert!(
            shown.contains(&file.display().to_string()),
            "the error does not name {}: {shown}",
            file.display()
        );
    });
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("r.lock");
    drop(RLock::open_path(&path, 0o600).unwrap());
    assert!(matches!(
        Lock::open_path(&path, 0o600),
        Err(Error::KindMismatch {
            expected: Kind::Lock,
            found: Kind::RLock,
            ..
        })
    ));
}

/// `open_path` of a path with no file name is refused, not turned into a directory's lock.
#[test]
fn open_path_without_a_file_name_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    for path in [PathBuf::from("/"), dir.path().join("..")] {
        let (_, reason) = unsafe_path(
            Lock::open_path(&path, 0o600),
            &format!("open_path({})", path.display()),
        );
        assert!(reason.contains("no file name"), "{reason}");
    }
}

/// Issue 11, item 2: an `INTERLOCK_DIR` that is a relative path would name a different directory
/// from every working directory (two processes in different directories would each "hold" the
/// same name). It is refused, naming the variable and its value, by every namespace function,
/// and nothing is created.
#[test]
fn relative_interlock_dir_is_refused() {
    const ROLE: &str = "relative";
    if role().as_deref() == Some(ROLE) {
        let shown = namespace_error(Lock::open("x"), "Lock::open", "Relative");
        assert!(
            shown.contains("INTERLOCK_DIR")
                && shown.contains("\"ns-rel\"")
                && shown.contains("absolute"),
            "the error should name the variable, its value and the rule: {shown}"
        );
        namespace_error(interlock::namespace::dir(), "namespace::dir", "Relative");
        namespace_error(interlock::namespace::list(), "list", "Relative");
        namespace_error(interlock::namespace::status("x"), "status", "Relative");
        namespace_error(interlock::namespace::remove("x"), "remove", "Relative");
        namespace_error(RLock::open("x"), "RLock::open", "Relative");
        return;
    }
    let cwd = tempfile::tempdir().unwrap();
    let mut cmd = role_command(ROLE);
    cmd.env("INTERLOCK_DIR", "ns-rel").current_dir(cwd.path());
    RoleChild::spawn(cmd).finish();
    assert!(
        names_in(cwd.path()).is_empty(),
        "a relative INTERLOCK_DIR created {:?} in the working directory",
        names_in(cwd.path())
    );
}

/// Issue 11, item 9: `open_path` of a long file name used to fail naming an internal temporary
/// file (`.NAME.PID.N.tmp`, longer than the file system allows) the caller never chose. A name
/// the file system accepts now works; one it refuses is an error naming the caller's path.
#[test]
fn open_path_with_a_long_file_name_names_the_callers_path() {
    let dir = tempfile::tempdir().unwrap();
    let fits = dir.path().join(format!("{}.lock", "a".repeat(245))); // 250 bytes: allowed
    let lock = Lock::open_path(&fits, 0o600)
        .unwrap_or_else(|e| panic!("a 250-byte file name is valid, but open_path gave: {e}"));
    drop(lock.lock().expect("lock"));
    assert_eq!(
        names_in(dir.path()),
        [fits.file_name().unwrap().to_string_lossy().into_owned()],
        "exactly the lock file, no temporary file left"
    );
    let too_long = dir.path().join(format!("{}.lock", "b".repeat(300)));
    let err = Lock::open_path(&too_long, 0o600).unwrap_err();
    let shown = err.to_string();
    let caller = too_long.display().to_string();
    assert!(
        shown.contains(&caller) && !shown.replace(&caller, "").contains(".tmp"),
        "the error should name the caller's path, not a temporary file: {shown}"
    );
    assert!(
        names_in(dir.path()).len() == 1,
        "a refused name left {:?}",
        names_in(dir.path())
    );
}

/// The error a namespace function gave, as text, after checking that it is
/// `Error::UnusableNamespace` with a fault of kind `fault` (the `NamespaceFault` variant's name)
/// and fits on one line.
fn namespace_error<T: Debug>(result: Result<T, Error>, what: &str, fault: &str) -> String {
    unusable(result, what, fault).2
}

/// [`namespace_error`], with the directory and the fault.
fn unusable<T: Debug>(
    result: Result<T, Error>,
    what: &str,
    kind: &str,
) -> (PathBuf, NamespaceFault, String) {
    match result {
        Err(e @ Error::UnusableNamespace { .. }) => {
            let shown = e.to_string();
            assert!(!shown.contains('\n'), "{what}: one line: {shown}");
            let Error::UnusableNamespace { dir, fault } = e else {
                unreachable!()
            };
            assert!(
                format!("{fault:?}").starts_with(kind),
                "{what} gave {fault:?}, expected NamespaceFault::{kind}: {shown}"
            );
            (dir, fault, shown)
        }
        other => panic!("{what} gave {other:?}, expected Error::UnusableNamespace ({kind})"),
    }
}

/// A system user (and its group) created for one test with `useradd`, removed by `userdel` when
/// dropped.
#[derive(Debug)]
struct TestUser {
    name: String,
    uid: u32,
    gid: u32,
}

impl TestUser {
    /// `None` (after a loud skip) when `useradd` is not installed.
    fn create(tag: &str) -> Option<TestUser> {
        let name = format!("il{}{tag}", std::process::id());
        let out = match Command::new("useradd")
            .args(["--system", "--no-create-home", "--user-group"])
            .args(["--shell", "/usr/sbin/nologin", &name])
            .output()
        {
            Ok(out) => out,
            Err(e) => {
                loud_skip("create a second user", &format!("cannot run useradd ({e})"));
                return None;
            }
        };
        assert!(
            out.status.success(),
            "useradd {name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let id = |flag: &str| -> u32 {
            let out = Command::new("id").args([flag, &name]).output().expect("id");
            String::from_utf8_lossy(&out.stdout)
                .trim()
                .parse()
                .unwrap_or_else(|_| panic!("id {flag} {name}: {out:?}"))
        };
        let (uid, gid) = (id("-u"), id("-g"));
        Some(TestUser { name, uid, gid })
    }

    /// `setpriv` running `argv` as this user, with no supplementary groups.
    fn run(&self, argv: &[&str]) {
        let out = Command::new("setpriv")
            .args([
                "--reuid",
                &self.uid.to_string(),
                "--regid",
                &self.gid.to_string(),
            ])
            .args(["--clear-groups", "--"])
            .args(argv)
            .output()
            .expect("run setpriv");
        assert!(
            out.status.success(),
            "{argv:?} as {}: {}",
            self.name,
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

impl Drop for TestUser {
    fn drop(&mut self) {
        let out = Command::new("userdel").arg(&self.name).output();
        if !out.as_ref().is_ok_and(|o| o.status.success()) {
            eprintln!("userdel {}: {out:?}", self.name);
        }
    }
}

/// Removes a path (a directory tree or a symlink) when dropped.
struct RemoveOnDrop(PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        if self.0.symlink_metadata().is_ok_and(|m| m.is_dir()) {
            let _ = std::fs::remove_dir_all(&self.0);
        } else {
            let _ = std::fs::remove_file(&self.0);
        }
    }
}

/// Issue 11, item 2: `/dev/shm` is world-writable (1777), so any user can create
/// `/dev/shm/interlock-UID` for someone else's uid before they do. Here user B squats user C's
/// default namespace directory — as a directory, then as a symlink — and C's `Lock::open` is a
/// typed error, on one line, naming B (uid and user name) and the ways out. Both users are
/// created for the test (a third uid: root's own namespace, which other tests use, is never
/// touched).
#[test]
fn squatted_namespace_directory_names_its_owner_and_the_way_out() {
    const ROLE: &str = "victim";
    const SQUATTER_VAR: &str = "INTERLOCK_TEST_SQUATTER";
    if role().as_deref() == Some(ROLE) {
        let squatter = std::env::var(SQUATTER_VAR).unwrap();
        let (uid, name) = squatter.split_once(':').unwrap();
        let dir = default_namespace(euid()).display().to_string();
        let fault = std::env::var("INTERLOCK_TEST_FAULT").unwrap();
        let (_, found, shown) = unusable(Lock::open("x"), "Lock::open", &fault);
        let owner = match found {
            NamespaceFault::ForeignOwner { owner, .. } | NamespaceFault::Symlink { owner } => owner,
            other => panic!("{other:?}"),
        };
        assert_eq!(
            (owner.uid.to_string().as_str(), owner.name.as_deref()),
            (uid, Some(name)),
            "the squatter"
        );
        for want in [
            dir.as_str(),
            &format!("uid {uid}"),
            &format!("({name})"),
            "as root",
            "INTERLOCK_DIR",
        ] {
            assert!(
                shown.contains(want),
                "the error should say {want:?}: {shown}"
            );
        }
        namespace_error(interlock::namespace::list(), "list", &fault);
        tell_parent(&shown);
        return;
    }
    if !have_root("create two users; one squats the other's namespace directory") {
        return;
    }
    let Some(squatter) = TestUser::create("b") else {
        return;
    };
    let Some(victim) = TestUser::create("c") else {
        return;
    };
    let dir = default_namespace(victim.uid);
    let _cleanup = RemoveOnDrop(dir.clone());
    // A leftover of a run that was killed (for a uid nobody has now): not the victim's.
    drop(RemoveOnDrop(dir.clone()));
    let dir_s = dir.to_str().unwrap();
    let victim_opens = |fault: &str| {
        let mut cmd = role_command(ROLE);
        cmd.env_remove("INTERLOCK_DIR")
            .env_remove("XDG_RUNTIME_DIR")
            .env(SQUATTER_VAR, format!("{}:{}", squatter.uid, squatter.name))
            .env("INTERLOCK_TEST_FAULT", fault)
            .current_dir("/")
            .uid(victim.uid)
            .gid(victim.gid);
        let child = RoleChild::spawn(cmd);
        let shown = child.recv();
        child.finish();
        shown
    };

    squatter.run(&["mkdir", "-m", "700", dir_s]);
    let shown = victim_opens("ForeignOwner");
    eprintln!("squatted directory: {shown}");

    squatter.run(&["rmdir", dir_s]);
    squatter.run(&["ln", "-s", "/tmp", dir_s]);
    let shown = victim_opens("Symlink");
    eprintln!("squatted symlink: {shown}");
    assert!(
        std::fs::read_link(&dir).is_ok(),
        "the squatter's symlink was removed or replaced"
    );
}

/// The documented default namespace of `uid`: `/dev/shm/interlock-UID`, or under `/tmp` on a
/// system without `/dev/shm`.
fn default_namespace(uid: u32) -> PathBuf {
    let base = if Path::new("/dev/shm").is_dir() {
        "/dev/shm"
    } else {
        "/tmp"
    };
    PathBuf::from(format!("{base}/interlock-{uid}"))
}

fn euid() -> u32 {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() }
}

/// One way to open each kind of handle (issue 15: "a kind mismatch on open" for every
/// primitive), by name or at a path.
#[derive(Clone, Copy, Debug)]
enum Opener {
    Lock,
    RLock,
    LockTable,
    Semaphore,
    Event,
    Barrier,
    Condition,
    RwLock,
    Value,
}

impl Opener {
    const ALL: [Opener; 9] = [
        Opener::Lock,
        Opener::RLock,
        Opener::LockTable,
        Opener::Semaphore,
        Opener::Event,
        Opener::Barrier,
        Opener::Condition,
        Opener::RwLock,
        Opener::Value,
    ];

    fn kind(self) -> Kind {
        match self {
            Opener::Lock => Kind::Lock,
            Opener::RLock => Kind::RLock,
            Opener::LockTable => Kind::LockTable,
            Opener::Semaphore => Kind::Semaphore,
            Opener::Event => Kind::Event,
            Opener::Barrier => Kind::Barrier,
            Opener::Condition => Kind::Condition,
            Opener::RwLock => Kind::RwLock,
            Opener::Value => Kind::Value,
        }
    }

    /// Opens (creating if need be) the handle named `name`, or at `path` when one is given;
    /// the condition is bound to `lock`.
    fn open(self, name: &str, path: Option<&Path>, lock: &Lock) -> Result<(), Error> {
        use interlock::{Barrier, Condition, Event, LockTable, RwLock, Semaphore, Value};
        match (self, path) {
            (Opener::Lock, None) => Lock::open(name).map(drop),
            (Opener::Lock, Some(p)) => Lock::open_path(p, 0o600).map(drop),
            (Opener::RLock, None) => RLock::open(name).map(drop),
            (Opener::RLock, Some(p)) => RLock::open_path(p, 0o600).map(drop),
            (Opener::LockTable, None) => LockTable::open(name, 2).map(drop),
            (Opener::LockTable, Some(p)) => LockTable::open_path(p, 0o600, 2).map(drop),
            (Opener::Semaphore, None) => Semaphore::open(name, 2).map(drop),
            (Opener::Semaphore, Some(p)) => Semaphore::open_path(p, 0o600, 2).map(drop),
            (Opener::Event, None) => Event::open(name).map(drop),
            (Opener::Event, Some(p)) => Event::open_path(p, 0o600).map(drop),
            (Opener::Barrier, None) => Barrier::open(name, 2).map(drop),
            (Opener::Barrier, Some(p)) => Barrier::open_path(p, 0o600, 2).map(drop),
            (Opener::Condition, None) => Condition::open(name, lock).map(drop),
            (Opener::Condition, Some(p)) => Condition::open_path(p, 0o600, lock).map(drop),
            (Opener::RwLock, None) => RwLock::open(name).map(drop),
            (Opener::RwLock, Some(p)) => RwLock::open_path(p, 0o600).map(drop),
            (Opener::Value, None) => Value::open(name, 7u64).map(drop),
            (Opener::Value, Some(p)) => Value::open_path(p, 0o600, 7u64).map(drop),
        }
    }
}

/// Every kind opened as every other kind — by name and at a path — is `KindMismatch` naming
/// both kinds (issue 15's "a kind mismatch on open", for each primitive and each pair), before
/// any other check of the opener's (a semaphore's permits, a barrier's parties, a value's
/// size), and the handle that is there is left as it was.
#[test]
fn every_kind_opened_as_every_other_is_a_kind_mismatch() {
    in_private_namespace(|dir| {
        let lock = Lock::open("the-conditions-lock").unwrap();
        for there in Opener::ALL {
            let name = format!("a-{:?}", there.kind()).to_lowercase();
            let path = dir.join(format!("{name}.at-a-path"));
            for at in [None, Some(path.as_path())] {
                there.open(&name, at, &lock).unwrap();
                for opener in Opener::ALL.into_iter().filter(|o| o.kind() != there.kind()) {
                    match opener.open(&name, at, &lock) {
                        Err(Error::KindMismatch {
                            expected, found, ..
                        }) => assert_eq!(
                            (expected, found),
                            (opener.kind(), there.kind()),
                            "{there:?} opened as {opener:?} at {at:?}"
                        ),
                        other => panic!(
                            "a {there:?} opened as a {opener:?} ({at:?}) gave {other:?}, \
                             expected KindMismatch"
                        ),
                    }
                }
                there
                    .open(&name, at, &lock)
                    .unwrap_or_else(|e| panic!("{there:?} ({at:?}) after the mismatches: {e}"));
                let kind = match at {
                    None => interlock::namespace::status(&name).unwrap().status.kind,
                    Some(p) => interlock::path::status(p).unwrap().status.kind,
                };
                assert_eq!(kind, there.kind(), "{at:?}");
            }
        }
    });
}
