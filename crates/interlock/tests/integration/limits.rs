//! Issue 18: resource limits. A full file system, a read-only directory and a small address
//! space are each a clear error when a lock, table or shared file is made or written — never a
//! signal that kills the process, never a half-made lock left under a name, never the old
//! content lost. (Thousands of holds under a small descriptor limit: `named.rs`.)

use std::ffi::CString;
use std::io::Write;
use std::path::{Path, PathBuf};

use interlock::{Format, LockTable, SharedFile};
use interlock_testkit::{describe_status, have_root};

use crate::common;

/// A tmpfs of `size` bytes mounted on a fresh directory; unmounted (lazily) when dropped.
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    /// `None` after a loud skip when not root (a failure in CI).
    fn mount(what: &str, options: &str) -> Option<Tmpfs> {
        if !have_root(what) {
            return None;
        }
        let dir = tempfile::tempdir().expect("tempdir");
        let target = CString::new(dir.path().as_os_str().as_encoded_bytes()).unwrap();
        let data = CString::new(options).unwrap();
        // SAFETY: every pointer is a valid NUL-terminated string that outlives the call.
        let rc = unsafe {
            libc::mount(
                c"tmpfs".as_ptr(),
                target.as_ptr(),
                c"tmpfs".as_ptr(),
                0,
                data.as_ptr().cast(),
            )
        };
        assert_eq!(
            rc,
            0,
            "mount tmpfs ({options}) on {}: {}",
            dir.path().display(),
            std::io::Error::last_os_error()
        );
        Some(Tmpfs { dir })
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Writes a file until the file system refuses with ENOSPC; its path.
    fn fill(&self) -> PathBuf {
        let path = self.path().join("filler");
        let mut f = std::fs::File::create(&path).expect("create filler");
        let block = vec![0xa5u8; 4096];
        loop {
            match f.write(&block) {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) if e.raw_os_error() == Some(libc::ENOSPC) => break,
                Err(e) => panic!("filling {}: {e}", path.display()),
            }
        }
        path
    }

    /// The names in the directory, sorted.
    fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(self.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    /// Remounts it read-only (or back).
    fn remount(&self, read_only: bool) {
        let target = CString::new(self.path().as_os_str().as_encoded_bytes()).unwrap();
        let flags = libc::MS_REMOUNT | if read_only { libc::MS_RDONLY } else { 0 };
        // SAFETY: valid NUL-terminated strings; a remount of our own mount.
        let rc = unsafe {
            libc::mount(
                std::ptr::null(),
                target.as_ptr(),
                std::ptr::null(),
                flags,
                std::ptr::null(),
            )
        };
        assert_eq!(rc, 0, "remount: {}", std::io::Error::last_os_error());
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let target = CString::new(self.path().as_os_str().as_encoded_bytes()).unwrap();
        // SAFETY: a valid NUL-terminated path; MNT_DETACH never blocks.
        unsafe { libc::umount2(target.as_ptr(), libc::MNT_DETACH) };
    }
}

/// A lock table made on a full tmpfs: its pages past the first used to be holes, given storage
/// at the first write through the mapping — a SIGBUS in whichever process first took a row
/// past the 32nd. Now the table's creation reserves every page, so a full file system is an
/// error naming the path there, nothing is left under the name, and once there is room the
/// same call makes a table whose every row can be taken.
#[test]
fn a_table_made_on_a_full_file_system_is_an_error_not_a_sigbus() {
    let Some(fs) = Tmpfs::mount("a table on a full tmpfs", "size=256k") else {
        return;
    };
    let filler = fs.fill();
    // Two pages of room: enough for the header (written with `pwrite`, where ENOSPC is an
    // error anyway), not for the rows.
    let len = std::fs::metadata(&filler).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&filler)
        .unwrap()
        .set_len(len - 8192)
        .unwrap();
    let path = fs.path().join("rows.lock");
    let child_path = path.clone();
    let mut child = common::fork(move || {
        match LockTable::open_path(&child_path, 0o600, 1024) {
            Err(e) => {
                let shown = e.to_string();
                assert!(
                    shown.contains("rows.lock") && shown.contains("No space left"),
                    "the error does not say where and why: {shown}"
                );
            }
            Ok(table) => {
                // The old behaviour: made, then every row taken — row 32 faults.
                for i in 0..table.len() {
                    drop(table.get(i).unwrap().lock().expect("row"));
                }
                panic!("a 1,024-row table was made on a full file system");
            }
        }
    });
    let status = child.wait();
    assert_eq!(status, 0, "the child: {}", describe_status(status));
    assert_eq!(
        fs.names(),
        ["filler"],
        "a failed creation left files behind"
    );

    std::fs::remove_file(filler).unwrap();
    let table = LockTable::open_path(&path, 0o600, 1024).expect("with room, the table is made");
    for i in 0..table.len() {
        drop(table.get(i).unwrap().lock().expect("row"));
    }
}

/// A shared file whose commit finds the file system full: the commit is an error naming the
/// path, the content stays what it was, and no temporary file is left — in both formats.
#[test]
fn a_commit_on_a_full_file_system_fails_clearly_and_keeps_the_old_content() {
    for format in [Format::Plain, Format::Slots] {
        let Some(fs) = Tmpfs::mount("a shared file on a full tmpfs", "size=128k") else {
            return;
        };
        let path = fs.path().join("counter.txt");
        let file = SharedFile::open(&path).unwrap().format(format);
        assert_eq!(file.update_parsed(|n: u64| n + 41).unwrap(), 41);
        let before = fs.names();
        let filler = fs.fill();
        // Content larger than whatever crumbs the filler left.
        let err = file
            .update(|_| Ok::<_, std::convert::Infallible>(vec![b'7'; 64 * 1024]))
            .expect_err("a 64 KiB commit on a full file system succeeded");
        let shown = err.to_string();
        assert!(
            shown.contains("counter.txt") && shown.contains("No space left"),
            "{format:?}: the error does not say where and why: {shown}"
        );
        assert_eq!(
            file.read().unwrap(),
            b"41",
            "{format:?}: the old content is gone"
        );
        let mut after = fs.names();
        after.retain(|n| n != "filler");
        assert_eq!(after, before, "{format:?}: files left behind");
        std::fs::remove_file(filler).unwrap();
        assert_eq!(
            file.update_parsed(|n: u64| n + 1).unwrap(),
            42,
            "{format:?}"
        );
    }
}

/// A lock at a path in a read-only file system: an error naming the path and saying so; an
/// existing lock there is still opened and taken (its memory is a shared mapping of a file
/// the kernel lets us map writable only if opened writable — a read-only mount refuses that,
/// and that refusal is what the user sees, not a crash).
#[test]
fn a_lock_in_a_read_only_directory_is_a_clear_error() {
    let Some(fs) = Tmpfs::mount("a lock on a read-only mount", "size=1m") else {
        return;
    };
    let existing = fs.path().join("existing.lock");
    drop(interlock::Lock::open_path(&existing, 0o600).unwrap());
    fs.remount(true);
    let err = interlock::Lock::open_path(fs.path().join("new.lock"), 0o600)
        .expect_err("a lock made on a read-only mount");
    let shown = err.to_string();
    assert!(
        shown.contains("new.lock") && shown.contains("Read-only"),
        "the error does not say where and why: {shown}"
    );
    let err = interlock::Lock::open_path(&existing, 0o600)
        .expect_err("a lock opened writable on a read-only mount");
    assert!(
        err.to_string().contains("existing.lock"),
        "the error does not name the file: {err}"
    );
    fs.remount(false);
    let lock = interlock::Lock::open_path(&existing, 0o600).unwrap();
    drop(lock.lock().unwrap());
}

/// A process whose address space is nearly used up makes locks until `mmap` refuses: each
/// refusal is an `Error` naming the lock, and the process lives on to release and reuse them.
#[test]
fn a_small_address_space_makes_lock_creation_fail_with_an_error() {
    let mut child = common::fork(|| {
        // Headroom over what is mapped now: room for the allocator, not for 100,000 locks.
        let mapped = std::fs::read_to_string("/proc/self/status")
            .unwrap()
            .lines()
            .find_map(|l| l.strip_prefix("VmSize:"))
            .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse::<u64>().ok())
            .expect("VmSize")
            * 1024;
        let limit = libc::rlimit {
            rlim_cur: mapped + 16 * 1024 * 1024,
            rlim_max: mapped + 16 * 1024 * 1024,
        };
        // SAFETY: setrlimit reads a valid, initialised rlimit.
        assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_AS, &limit) }, 0);
        let mut locks = Vec::with_capacity(100_000);
        let err = loop {
            match interlock::Lock::new() {
                Ok(lock) => locks.push(lock),
                Err(e) => break e,
            }
            assert!(locks.len() < 100_000, "100,000 locks in 16 MiB of headroom");
        };
        let shown = err.to_string();
        assert!(
            shown.contains("Cannot allocate memory") || shown.contains("Too many open files"),
            "after {} locks: {shown}",
            locks.len()
        );
        let made = locks.len();
        assert!(made > 0, "not one lock fit: {shown}");
        // The process goes on: the locks it has work, and freeing some makes room again.
        drop(locks[0].lock().unwrap());
        locks.truncate(made / 2);
        interlock::Lock::new().expect("a lock after freeing half");
    });
    let status = child.wait();
    assert_eq!(status, 0, "the child: {}", describe_status(status));
}
