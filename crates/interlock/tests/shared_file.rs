//! `SharedFile` under fire: writers SIGKILLed at random instants never leave a file that fails
//! to parse, and no acknowledged commit is lost or invented.

mod common;

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use common::{fork, Forked, SharedMem};
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
    // Killed writers leave at most the one temporary, whoever they were.
    let mut names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names.retain(|n| n != ".counter.txt.interlock-tmp");
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
    let tmp = dir.path().join(".counter.txt.interlock-tmp");
    let file = SharedFile::open(&path).unwrap();
    file.update_parsed(|n: u64| n + 1).unwrap();
    let mut child = fork(|| {
        let update = file.begin().unwrap();
        // Half a commit: the temporary is written, the rename never happens.
        std::fs::write(&tmp, "2").unwrap();
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
