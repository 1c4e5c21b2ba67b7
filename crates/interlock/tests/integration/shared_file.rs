//! `SharedFile` under fire: writers SIGKILLed at random instants never leave a file that fails
//! to parse, and no acknowledged commit is lost or invented.

use crate::common;

use std::ffi::OsStr;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use common::{fork, hostile, Forked, SharedMem};
use interlock::{Error, Format, SharedFile};

/// Shared-memory slots of the torture test.
const STATE: usize = 0; // acknowledged commits × 2, + 1 while a commit of the next value is in flight
const STOP: usize = 2; // set by the parent: writers finish
const BAD: usize = 3; // set by anyone who saw content that does not parse

/// One writer: read-modify-write the counter until told to stop. The acknowledgement and the
/// end of "in flight" are one store inside the same hold as the commit, and a holder that finds
/// its predecessor died settles the predecessor's commit from the file itself: the count stays
/// exact across kills, wherever they land.
fn writer(file: &SharedFile, shm: &SharedMem) {
    while shm.slot(STOP).load(Ordering::SeqCst) == 0 {
        let mut update = file.begin().expect("begin");
        let value: u64 = match update.parse() {
            Ok(v) => v,
            Err(e) => {
                shm.slot(BAD).store(1, Ordering::SeqCst);
                panic!("content does not parse: {e}");
            }
        };
        let state = shm.slot(STATE).load(Ordering::SeqCst);
        let acked = if update.previous_owner_died() && state % 2 == 1 {
            // The dead holder's commit of acked + 1 happened iff the file shows it.
            let acked = state / 2 + u64::from(value == state / 2 + 1);
            shm.slot(STATE).store(acked * 2, Ordering::SeqCst);
            acked
        } else {
            state / 2
        };
        assert_eq!(value, acked, "the file and the acknowledgements disagree");
        shm.slot(STATE).store(acked * 2 + 1, Ordering::SeqCst);
        update
            .commit((value + 1).to_string().as_bytes())
            .expect("commit");
        shm.slot(STATE).store((acked + 1) * 2, Ordering::SeqCst);
        drop(update);
    }
}

/// xorshift: a reproducible sequence of kill delays and victims.
struct Rng(u64);
impl Rng {
    fn next(&mut self, below: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % below
    }
}

#[test]
fn sigkilled_writers_never_corrupt_a_plain_file_or_lose_acknowledged_commits() {
    torture(Format::Plain);
}

#[test]
fn sigkilled_writers_never_corrupt_a_slotted_file_or_lose_acknowledged_commits() {
    torture(Format::Slots);
}

fn torture(format: Format) {
    let kills: usize = std::env::var("INTERLOCK_TORTURE_KILLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    let dir = tempfile::tempdir().unwrap();
    let file = SharedFile::open(dir.path().join("counter.txt"))
        .unwrap()
        .format(format);
    let shm = SharedMem::new(4);
    let spawn = || fork(|| writer(&file, &shm));
    let mut writers: Vec<Forked> = (0..4).map(|_| spawn()).collect();
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    let started = Instant::now();
    // Acknowledged commits so far (one in flight counts once it is settled).
    let acks = || shm.slot(STATE).load(Ordering::SeqCst) / 2;
    for kill in 0..kills as u64 {
        std::thread::sleep(Duration::from_micros(200 + rng.next(2000)));
        // Progress between kills, whatever the load: the sleep alone gave a starved writer
        // no time, and too little progress fails the test below.
        common::wait_until("the writers commit between kills", || acks() > kill);
        // Lock-free readers see whole values only.
        let seen = file.read().unwrap();
        if !seen.is_empty() {
            let text = String::from_utf8(seen).expect("UTF-8");
            text.parse::<u64>()
                .unwrap_or_else(|e| panic!("reader saw {text:?}: {e}"));
        }
        let victim = rng.next(writers.len() as u64) as usize;
        writers[victim].kill(libc::SIGKILL);
        let status = writers[victim].wait();
        assert!(
            libc::WIFSIGNALED(status)
                || (libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0),
            "writer failed: {}",
            common::describe_status(status)
        );
        writers[victim] = spawn();
    }
    common::wait_until("the writers commit after the last kill", || {
        acks() > kills as u64
    });
    shm.slot(STOP).store(1, Ordering::SeqCst);
    for w in &mut writers {
        assert_eq!(w.wait(), 0, "a writer failed at the end");
    }
    assert_eq!(
        shm.slot(BAD).load(Ordering::SeqCst),
        0,
        "someone saw unparsable content"
    );

    // Settle a commit left in flight by the last victim, as any next holder would.
    let update = file.begin().unwrap();
    let value: u64 = update.parse().unwrap();
    let state = shm.slot(STATE).load(Ordering::SeqCst);
    let acked = state / 2 + u64::from(state % 2 == 1 && value == state / 2 + 1);
    drop(update);
    assert_eq!(
        value, acked,
        "file says {value}, {acked} commits were acknowledged"
    );
    assert!(
        acked > kills as u64,
        "the writers made too little progress to mean anything"
    );
    // A killed writer leaves at most one temporary, and the next holder (told of the death)
    // removes it: none is left, whoever was killed where.
    let mut names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["counter.txt", "counter.txt.lock"], "{format:?}");
    eprintln!(
        "{format:?}: {kills} kills, {acked} commits in {:?}",
        started.elapsed()
    );
}

#[test]
fn the_next_holder_removes_the_temporary_of_a_writer_that_died() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("counter.txt");
    // A temporary's name (`.NAME.interlock-tmp.` and 16 random hex digits), and the one fixed
    // name that versions before issue 11 used.
    let tmp = dir
        .path()
        .join(".counter.txt.interlock-tmp.5eed5eed5eed5eed");
    let legacy = dir.path().join(".counter.txt.interlock-tmp");
    let file = SharedFile::open(&path).unwrap();
    file.update_parsed(|n: u64| n + 1).unwrap();
    let mut child = fork(|| {
        let update = file.begin().unwrap();
        // Half a commit: the temporary is written, the rename never happens.
        std::fs::write(&tmp, "2").unwrap();
        std::fs::write(&legacy, "2").unwrap();
        std::mem::forget(update);
        // SAFETY: _exit ends the process at once, as a kill would; the kernel releases the
        // lock on the robust list.
        unsafe { libc::_exit(0) }
    });
    assert_eq!(child.wait(), 0);
    assert!(tmp.exists());
    let update = file.begin().unwrap();
    assert!(update.previous_owner_died());
    assert_eq!(
        update.parse::<u64>().unwrap(),
        1,
        "the rename never happened"
    );
    assert!(!tmp.exists(), "the dead writer's temporary is still there");
    assert!(
        !legacy.exists(),
        "an older version's temporary is still there"
    );
}

#[test]
fn a_slotted_file_refuses_foreign_content_and_leaves_it_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("counter.txt");
    std::fs::write(&path, "12").unwrap();
    let file = SharedFile::open(&path).unwrap().format(Format::Slots);
    match file.update_parsed(|n: u64| n + 1) {
        Err(Error::BadContent { path: p, reason }) => {
            assert_eq!(p, path);
            assert!(reason.contains("too short"), "{reason}");
        }
        other => panic!("expected BadContent, got {other:?}"),
    }
    assert!(matches!(file.read(), Err(Error::BadContent { .. })));
    std::fs::write(&path, "x".repeat(1000)).unwrap();
    let err = file.update_parsed(|n: u64| n + 1).unwrap_err();
    assert!(
        err.to_string().contains("not an interlock slotted file"),
        "{err}"
    );
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "x".repeat(1000));
}

#[test]
fn a_slotted_file_replaced_by_another_is_reopened() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("counter");
    let file = SharedFile::open(&path).unwrap().format(Format::Slots);
    assert_eq!(file.update_parsed(|n: u64| n + 5).unwrap(), 5);
    // Another slotted file renamed over the path (a restore from backup, say).
    let other_path = dir.path().join("other");
    let other = SharedFile::open(&other_path).unwrap().format(Format::Slots);
    assert_eq!(other.update_parsed(|n: u64| n + 100).unwrap(), 100);
    std::fs::rename(&other_path, &path).unwrap();
    assert_eq!(file.read().unwrap(), b"100");
    assert_eq!(file.update_parsed(|n: u64| n + 1).unwrap(), 101);
    std::fs::remove_file(&path).unwrap();
    assert_eq!(file.read().unwrap(), b"", "a removed file reads as empty");
    assert_eq!(file.update_parsed(|n: u64| n + 1).unwrap(), 1);
}

#[test]
fn unparsable_content_is_refused_and_left_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("counter.txt");
    std::fs::write(&path, "twelve").unwrap();
    let file = SharedFile::open(&path).unwrap();
    match file.update_parsed(|n: u64| n + 1) {
        Err(Error::BadContent { path: p, reason }) => {
            assert_eq!(p, path);
            assert!(reason.contains("\"twelve\""), "{reason}");
        }
        other => panic!("expected BadContent, got {other:?}"),
    }
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "twelve");
    // The lock was released: the next update proceeds.
    std::fs::write(&path, "12").unwrap();
    assert_eq!(file.update_parsed(|n: u64| n + 1).unwrap(), 13);
}

#[test]
fn a_directory_at_the_path_is_a_clear_error() {
    for format in [Format::Plain, Format::Slots] {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("counter.txt");
        std::fs::create_dir(&path).unwrap();
        let file = SharedFile::open(&path).unwrap().format(format);
        let err = file.update_parsed(|n: u64| n + 1).unwrap_err();
        assert!(matches!(err, Error::Io { .. }), "{format:?}: {err:?}");
        assert!(err.to_string().contains("counter.txt"), "{err}");
        assert!(path.is_dir() && std::fs::read_dir(&path).unwrap().next().is_none());
    }
}

#[test]
fn a_read_only_file_is_refused_and_unchanged() {
    for format in [Format::Plain, Format::Slots] {
        read_only_file_is_refused(format);
    }
}

fn read_only_file_is_refused(format: Format) {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("counter.txt");
    let before = if format == Format::Slots {
        let file = SharedFile::open(&path).unwrap().format(format);
        file.update_parsed(|_: u64| 5).unwrap();
        std::fs::read(&path).unwrap()
    } else {
        std::fs::write(&path, "5").unwrap();
        b"5".to_vec()
    };
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o444)).unwrap();
    let file = SharedFile::open(&path).unwrap().format(format);
    let err = file.update_parsed(|n: u64| n + 1).unwrap_err();
    assert!(err.to_string().contains("read-only"), "{format:?}: {err}");
    assert_eq!(std::fs::read(&path).unwrap(), before);
    assert_eq!(file.read().unwrap(), b"5");
    assert_eq!(
        std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
        0o444
    );
}

#[test]
fn commits_keep_the_file_mode_and_leave_no_temporaries() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("counter.txt");
    std::fs::write(&path, "1").unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
    let file = SharedFile::open(&path).unwrap().durable(true);
    assert_eq!(file.update_parsed(|n: u64| n * 10).unwrap(), 10);
    assert_eq!(
        std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
        0o640
    );
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(names.iter().all(|n| !n.ends_with("tmp")), "{names:?}");
}

/// Issue 18 (the hostile-file matrix): a private plain file's first commit gave it exactly 0644
/// whatever the umask — a user with umask 077 found their file readable by every user of
/// `/tmp` (the slotted format already honoured the umask). Now a new private file gets 0644 less
/// the umask in both formats; a shared one gets exactly its mode, and an existing file keeps
/// its own (above).
#[test]
fn a_new_private_file_follows_the_umask_in_both_formats() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    // A child: the umask is process-wide.
    let child = fork(|| {
        for (umask, want) in [(0o077, 0o600), (0o027, 0o640), (0o022, 0o644)] {
            // SAFETY: umask has no preconditions; this child is single-threaded.
            unsafe { libc::umask(umask) };
            for format in [Format::Plain, Format::Slots] {
                let path = dir.path().join(format!("private-{umask:o}-{format:?}"));
                let file = SharedFile::open(&path).unwrap().format(format);
                file.update(|_| Ok::<_, std::convert::Infallible>(b"1".to_vec()))
                    .unwrap();
                let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
                assert_eq!(mode, want, "{format:?} with umask {umask:03o}: {mode:o}");
                let shared = dir.path().join(format!("shared-{umask:o}-{format:?}"));
                SharedFile::open_shared(&shared, 0o660)
                    .unwrap()
                    .format(format)
                    .update(|_| Ok::<_, std::convert::Infallible>(b"1".to_vec()))
                    .unwrap();
                let mode = std::fs::metadata(&shared).unwrap().permissions().mode() & 0o777;
                assert_eq!(mode, 0o660, "shared {format:?} with umask {umask:03o}");
            }
        }
    });
    child.join();
}

// ---------------------------------------------------------------------------------------------
// Hostile neighbours (issue 11, item 8): another user of a sticky, world-writable directory
// (/tmp, /dev/shm) plants files where a SharedFile will look. The planting is done as a second,
// unprivileged user; the SharedFile is root's.
// ---------------------------------------------------------------------------------------------

fn euid() -> u32 {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() }
}

/// Issue 11 item 8: a FIFO planted at the temporary's name blocked every commit for ever (in
/// `open(2)`, while holding the lock); a regular file planted there received the content and was
/// renamed into place, leaving the other user owning the data file.
#[test]
fn a_temporary_planted_by_another_user_neither_blocks_nor_receives_a_commit() {
    if !common::have_root("plants files as a second user") {
        return;
    }
    let hostile = hostile::user();
    for (fs, dir) in hostile::sticky_dirs() {
        for kind in ["fifo", "file"] {
            let path = dir.path().join(format!("counter-{kind}.txt"));
            // The name the commit's temporary had (a fixed one).
            let planted = dir
                .path()
                .join(format!(".counter-{kind}.txt.interlock-tmp"));
            match kind {
                "fifo" => hostile.run("mkfifo", [OsStr::new("-m666"), planted.as_os_str()]),
                _ => hostile.run(
                    "sh",
                    [
                        OsStr::new("-c"),
                        OsStr::new("umask 0; printf planted > \"$1\""),
                        OsStr::new("sh"),
                        planted.as_os_str(),
                    ],
                ),
            };
            let file = SharedFile::open(&path).unwrap();
            // In a child, so that a commit blocked for ever is killed (after PATIENCE) and the
            // test fails instead of hanging.
            fork(|| assert_eq!(file.update_parsed(|n: u64| n + 1).unwrap(), 1)).join();
            assert_eq!(file.read().unwrap(), b"1", "{fs}, {kind}");
            let data = std::fs::symlink_metadata(&path).unwrap();
            assert!(
                data.file_type().is_file() && data.uid() == euid() && data.nlink() == 1,
                "{fs}, {kind}: the data file is not our own regular file: uid {}, {:?}",
                data.uid(),
                data.file_type()
            );
            let after = std::fs::symlink_metadata(&planted)
                .unwrap_or_else(|e| panic!("{fs}, {kind}: the planted file is gone: {e}"));
            assert_eq!(after.uid(), hostile.uid, "{fs}, {kind}");
            if kind == "fifo" {
                assert!(after.file_type().is_fifo(), "{fs}: {:?}", after.file_type());
            } else {
                assert_eq!(
                    std::fs::read(&planted).unwrap(),
                    b"planted",
                    "{fs}: our content went into the other user's file"
                );
            }
        }
    }
}

/// The next holder told of a writer's death removes the dead writer's temporary — and only
/// files it can prove are its own (our uid, a regular file, one link): what another user planted
/// under a temporary's name stays.
#[test]
fn the_next_holder_removes_only_temporaries_it_can_prove_are_its_own() {
    if !common::have_root("plants files as a second user") {
        return;
    }
    let hostile = hostile::user();
    for (fs, dir) in hostile::sticky_dirs() {
        let path = dir.path().join("counter.txt");
        let theirs = [
            dir.path().join(".counter.txt.interlock-tmp"),
            dir.path()
                .join(".counter.txt.interlock-tmp.0123456789abcdef"),
        ];
        let their_fifo = dir
            .path()
            .join(".counter.txt.interlock-tmp.fedcba9876543210");
        for planted in &theirs {
            hostile.run(
                "sh",
                [
                    OsStr::new("-c"),
                    OsStr::new("umask 0; printf planted > \"$1\""),
                    OsStr::new("sh"),
                    planted.as_os_str(),
                ],
            );
        }
        hostile.run("mkfifo", [OsStr::new("-m666"), their_fifo.as_os_str()]);
        let ours = dir
            .path()
            .join(".counter.txt.interlock-tmp.00000000deadbeef");
        let file = SharedFile::open(&path).unwrap();
        file.update_parsed(|n: u64| n + 1).unwrap();
        let mut child = fork(|| {
            let update = file.begin().unwrap();
            // Half a commit: the temporary is written, the rename never happens.
            std::fs::write(&ours, "2").unwrap();
            std::mem::forget(update);
            // SAFETY: _exit ends the process at once, as a kill would; the kernel releases the
            // lock on the robust list.
            unsafe { libc::_exit(0) }
        });
        assert_eq!(child.wait(), 0);
        let update = file.begin().unwrap();
        assert!(update.previous_owner_died());
        assert_eq!(update.parse::<u64>().unwrap(), 1);
        drop(update);
        assert!(
            !ours.exists(),
            "{fs}: the dead writer's temporary is still there"
        );
        for planted in theirs.iter().chain([&their_fifo]) {
            let meta = std::fs::symlink_metadata(planted).unwrap_or_else(|e| {
                panic!(
                    "{fs}: {} (the other user's) was removed: {e}",
                    planted.display()
                )
            });
            assert_eq!(meta.uid(), hostile.uid);
        }
    }
}

/// A FIFO planted at the file's own path blocked every reader and every `begin` (in `open(2)`,
/// the latter while holding the lock); a symlink planted there was followed. Both are refused
/// at once, in both formats.
#[test]
fn a_fifo_or_symlink_planted_at_the_path_is_refused_without_blocking() {
    if !common::have_root("plants files as a second user") {
        return;
    }
    let hostile = hostile::user();
    for (fs, dir) in hostile::sticky_dirs() {
        let victim = dir.path().join("victim");
        std::fs::write(&victim, "7").unwrap();
        for format in [Format::Plain, Format::Slots] {
            let fifo = dir.path().join(format!("fifo-{format:?}"));
            let link = dir.path().join(format!("link-{format:?}"));
            hostile.run("mkfifo", [OsStr::new("-m666"), fifo.as_os_str()]);
            hostile.run(
                "ln",
                [OsStr::new("-s"), victim.as_os_str(), link.as_os_str()],
            );
            let fifo_file = SharedFile::open(&fifo).unwrap().format(format);
            let link_file = SharedFile::open(&link).unwrap().format(format);
            // In a child, so that an open blocked for ever is killed (after PATIENCE) and the
            // test fails instead of hanging.
            fork(|| {
                let err = fifo_file.read().unwrap_err();
                assert!(err.to_string().contains("not a regular file"), "{err}");
                let err = fifo_file.update_parsed(|n: u64| n + 1).unwrap_err();
                assert!(err.to_string().contains("not a regular file"), "{err}");
                for err in [
                    link_file.read().unwrap_err(),
                    link_file.update_parsed(|n: u64| n + 1).unwrap_err(),
                ] {
                    assert!(
                        matches!(&err, Error::UnsafePath { reason, .. } if reason.contains("symbolic link")),
                        "{err:?}"
                    );
                }
            })
            .join();
            assert!(
                std::fs::symlink_metadata(&fifo)
                    .unwrap()
                    .file_type()
                    .is_fifo(),
                "{fs}"
            );
            assert!(
                std::fs::symlink_metadata(&link)
                    .unwrap()
                    .file_type()
                    .is_symlink(),
                "{fs}"
            );
            assert_eq!(std::fs::read(&victim).unwrap(), b"7", "{fs}, {format:?}");
        }
    }
}

/// The environment variable that tells a hostile role child which path to work on.
const PATH_VAR: &str = "INTERLOCK_TEST_PATH";
/// ... and in which format (`Plain` or `Slots`).
const FORMAT_VAR: &str = "INTERLOCK_TEST_FORMAT";

fn role_path() -> std::path::PathBuf {
    std::env::var_os(PATH_VAR)
        .expect("the parent sets the path")
        .into()
}

fn role_format() -> Format {
    match std::env::var(FORMAT_VAR).as_deref() {
        Ok("Slots") => Format::Slots,
        _ => Format::Plain,
    }
}

/// Runs this test again as the hostile user, in `role`, on `path` in `format`, and asserts that
/// its part passed.
fn as_hostile(hostile: &hostile::User, role: &str, path: &std::path::Path, format: Format) {
    let mut cmd = hostile.role_command(role);
    cmd.env(PATH_VAR, path)
        .env(FORMAT_VAR, format!("{format:?}"));
    common::RoleChild::spawn(cmd).finish();
}

/// Issue 11 item 8: `SharedFile::open` used a `PATH.lock` that another user had made (planted in
/// advance in a sticky directory, mode 0666): their lock, which they can hold for ever or reset
/// at will. It is refused, naming the file and its owner.
#[test]
fn a_lock_file_another_user_made_is_refused() {
    if common::role().as_deref() == Some("make-lock") {
        interlock::Lock::open_path(role_path(), 0o666).unwrap();
        return;
    }
    if !common::have_root("plants files as a second user") {
        return;
    }
    let hostile = hostile::user();
    for (fs, dir) in hostile::sticky_dirs() {
        let path = dir.path().join("counter.txt");
        let lock_path = dir.path().join("counter.txt.lock");
        as_hostile(&hostile, "make-lock", &lock_path, Format::Plain);
        assert_eq!(std::fs::metadata(&lock_path).unwrap().uid(), hostile.uid);
        match SharedFile::open(&path) {
            Err(Error::UnsafePath { path: p, reason }) => {
                assert_eq!(p, lock_path, "{fs}");
                assert!(
                    reason.contains(&format!("uid {}", hostile.uid)),
                    "{fs}: {reason}"
                );
            }
            other => panic!("{fs}: expected UnsafePath, got {other:?}"),
        }
        // Asked for explicitly, sharing their lock is allowed.
        let shared = SharedFile::open_shared(&path, 0o666).unwrap();
        assert_eq!(shared.update_parsed(|n: u64| n + 1).unwrap(), 1, "{fs}");
    }
}

/// The explicit way to share a file between users: both open it with `open_shared`, and their
/// updates add up, in both formats — plain files in a directory without the sticky bit (a
/// rename may replace the other user's file there), slotted files in a sticky one too.
#[test]
fn two_users_share_a_file_opened_with_open_shared() {
    if common::role().as_deref() == Some("share") {
        let file = SharedFile::open_shared(role_path(), 0o666)
            .unwrap()
            .format(role_format());
        file.update_parsed(|n: u64| n + 1).unwrap();
        return;
    }
    if !common::have_root("runs a second user") {
        return;
    }
    let hostile = hostile::user();
    let open = hostile::open_dirs();
    let sticky = hostile::sticky_dirs();
    let cases = open
        .iter()
        .flat_map(|(fs, dir)| [(*fs, dir, Format::Plain), (*fs, dir, Format::Slots)])
        .chain(sticky.iter().map(|(fs, dir)| (*fs, dir, Format::Slots)));
    for (fs, dir, format) in cases {
        let path = dir.path().join(format!("shared-{format:?}"));
        let file = SharedFile::open_shared(&path, 0o666)
            .unwrap()
            .format(format);
        assert_eq!(file.update_parsed(|n: u64| n + 1).unwrap(), 1);
        as_hostile(&hostile, "share", &path, format);
        assert_eq!(
            file.update_parsed(|n: u64| n + 1).unwrap(),
            3,
            "{fs}, {format:?}"
        );
        as_hostile(&hostile, "share", &path, format);
        assert_eq!(file.read().unwrap(), b"4", "{fs}, {format:?}");
    }
}

/// A file another user made at the path (with content of their choosing, which they can change
/// at any time) is refused by a `SharedFile` that did not ask to share, in both formats.
#[test]
fn a_file_another_user_made_is_refused() {
    if common::role().as_deref() == Some("make-file") {
        let file = SharedFile::open(role_path()).unwrap().format(role_format());
        file.update_parsed(|_: u64| 41).unwrap();
        return;
    }
    if !common::have_root("plants files as a second user") {
        return;
    }
    let hostile = hostile::user();
    for (fs, dir) in hostile::sticky_dirs() {
        for format in [Format::Plain, Format::Slots] {
            let path = dir.path().join(format!("counter-{format:?}"));
            as_hostile(&hostile, "make-file", &path, format);
            let mut lock_path = path.clone().into_os_string();
            lock_path.push(".lock");
            // Theirs too; without it, our own lock file is made.
            std::fs::remove_file(lock_path).unwrap();
            let before = std::fs::read(&path).unwrap();
            assert_eq!(std::fs::metadata(&path).unwrap().uid(), hostile.uid);
            let file = SharedFile::open(&path).unwrap().format(format);
            for err in [
                file.read().unwrap_err(),
                file.update_parsed(|n: u64| n + 1).unwrap_err(),
            ] {
                match err {
                    Error::UnsafePath { path: p, reason } => {
                        assert_eq!(p, path, "{fs}, {format:?}");
                        assert!(
                            reason.contains(&format!("uid {}", hostile.uid)),
                            "{fs}, {format:?}: {reason}"
                        );
                    }
                    other => panic!("{fs}, {format:?}: expected UnsafePath, got {other:?}"),
                }
            }
            assert_eq!(std::fs::read(&path).unwrap(), before, "{fs}, {format:?}");
        }
    }
}

/// Issue 11 item 8: a 272-byte slotted file whose meta (with a valid checksum) claims 512 GiB of
/// content made the reader allocate that much first — and abort. Lengths are checked against
/// the file's size before anything is allocated: a clear error naming the file.
#[test]
fn a_slot_claiming_more_bytes_than_the_file_holds_is_refused_before_allocating() {
    use std::os::unix::fs::FileExt;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("counter");
    let file = SharedFile::open(&path).unwrap().format(Format::Slots);
    file.update(|_| Ok::<_, std::convert::Infallible>(b"sixteen bytes!!!".to_vec()))
        .unwrap();
    assert_eq!(std::fs::metadata(&path).unwrap().len(), 272);
    // Generation 1's meta is the second slot, at 128: generation u64, offset u64, length u64,
    // crc32 of the data u32, crc32 of the 28 bytes before it u32.
    let raw = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&path)
        .unwrap();
    let mut meta = [0u8; 32];
    raw.read_exact_at(&mut meta, 128).unwrap();
    assert_eq!(meta[..8], 1u64.to_le_bytes(), "generation 1 in slot 1");
    meta[16..24].copy_from_slice(&(512u64 << 30).to_le_bytes());
    let own = crc32fast::hash(&meta[..28]);
    meta[28..].copy_from_slice(&own.to_le_bytes());
    raw.write_all_at(&meta, 128).unwrap();
    // In a child: the old code aborted the whole process.
    fork(|| {
        for err in [
            file.read().unwrap_err(),
            file.update_parsed(|n: u64| n + 1).unwrap_err(),
        ] {
            match err {
                Error::BadContent { path: p, reason } => {
                    assert_eq!(p, path);
                    assert!(
                        reason.contains("549755813888 bytes") && reason.contains("272-byte file"),
                        "{reason}"
                    );
                }
                other => panic!("expected BadContent, got {other:?}"),
            }
        }
    })
    .join();
}
