//! Issue 18: resource limits. A full file system, a read-only directory and a small address
//! space are each a clear error when a lock, table or shared file is made or written — never a
//! signal that kills the process, never a half-made lock left under a name, never the old
//! content lost. The descriptor limit reached while opening named locks is an error too, and
//! leaks no descriptor and no mapping; 5,000 named locks opened, held, released and removed
//! leave none behind either. (Thousands of lock files by path under a small descriptor limit:
//! `named.rs`.)

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

/// This process's open descriptors, each with what it names (`/proc/self/fd`; the directory
/// handle reading it is left out).
fn open_fds() -> std::collections::BTreeMap<i32, String> {
    let dir = std::fs::read_dir("/proc/self/fd").expect("/proc/self/fd");
    dir.filter_map(|e| {
        let e = e.ok()?;
        let fd: i32 = e.file_name().to_str()?.parse().ok()?;
        let target = std::fs::read_link(e.path()).ok()?;
        Some((fd, target.display().to_string()))
    })
    .filter(|(_, target)| !target.starts_with("/proc/") || !target.ends_with("/fd"))
    .collect()
}

/// How many mappings this process has (`/proc/self/maps` lines).
fn mappings() -> usize {
    std::fs::read_to_string("/proc/self/maps")
        .expect("/proc/self/maps")
        .lines()
        .count()
}

/// Sets this process's soft descriptor limit (a forked child's own; the hard limit stays, so
/// that it can be raised again without privileges); `None`: back up to the hard limit.
fn set_nofile(n: Option<u64>) {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes the valid rlimit it is given.
    let rc = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) };
    assert_eq!(rc, 0, "getrlimit: {}", std::io::Error::last_os_error());
    limit.rlim_cur = n.unwrap_or(limit.rlim_max).min(limit.rlim_max);
    // SAFETY: setrlimit reads a valid, initialised rlimit.
    let rc = unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) };
    assert_eq!(rc, 0, "setrlimit: {}", std::io::Error::last_os_error());
}

/// RLIMIT_NOFILE reached while named locks (and the other handles that open files) are opened
/// and created: with 0, 1, 2, … descriptors to spare, each call either works or fails with an
/// error that names what it opened and says "Too many open files" — and either way leaves the
/// process's descriptors and mappings exactly as they were (nothing leaked on the error path).
/// With the limit raised again, every call works.
#[test]
fn the_descriptor_limit_reached_while_opening_locks_is_a_clear_error_and_leaks_nothing() {
    let ns = common::shared_namespace();
    let prefix = common::unique_name();
    let dir = tempfile::tempdir().unwrap();
    let existing = format!("{prefix}-existing");
    drop(interlock::Lock::open(&existing).unwrap());
    let child = common::fork(|| {
        type Call<'a> = (
            &'a str,
            Box<dyn Fn(usize) -> Result<(), interlock::Error> + 'a>,
        );
        let calls: Vec<Call> = vec![
            (
                "Lock::open (new name)",
                Box::new(|i| interlock::Lock::open(&format!("{prefix}-new-{i}")).map(drop)),
            ),
            (
                "Lock::open (existing)",
                Box::new(|_| interlock::Lock::open(&existing).map(drop)),
            ),
            (
                "RwLock::open (new name)",
                Box::new(|i| interlock::RwLock::open(&format!("{prefix}-rw-{i}")).map(drop)),
            ),
            (
                "Semaphore::open (new name)",
                Box::new(|i| interlock::Semaphore::open(&format!("{prefix}-sem-{i}"), 2).map(drop)),
            ),
            (
                "LockTable::open_path",
                Box::new(|i| {
                    LockTable::open_path(dir.path().join(format!("t{i}.lock")), 0o600, 64).map(drop)
                }),
            ),
            (
                "SharedFile update",
                Box::new(|i| {
                    SharedFile::open(dir.path().join(format!("f{i}")))?
                        .update(|_| Ok::<_, std::convert::Infallible>(b"1".to_vec()))
                        .map(drop)
                }),
            ),
            (
                "namespace::list",
                Box::new(|_| interlock::namespace::list().map(drop)),
            ),
        ];
        let base = open_fds();
        // The limit under which exactly `spare` descriptor numbers are free (new descriptors
        // take the lowest free number, which must be under the limit).
        let limit_for = |spare: u64| {
            (0u64..)
                .find(|&l| l - base.keys().filter(|&&fd| (fd as u64) < l).count() as u64 == spare)
                .unwrap()
        };
        let mut attempt = 0;
        let mut works_from = vec![None; calls.len()];
        for spare in 0..=6u64 {
            for (k, (what, call)) in calls.iter().enumerate() {
                attempt += 1;
                let maps = mappings();
                set_nofile(Some(limit_for(spare)));
                let result = call(attempt);
                set_nofile(None);
                match &result {
                    Ok(()) => {
                        works_from[k].get_or_insert(spare);
                    }
                    Err(e) => {
                        let shown = e.to_string();
                        assert!(
                            shown.contains("Too many open files")
                                && (shown.contains(&*ns.display().to_string())
                                    || shown.contains(&*dir.path().display().to_string())),
                            "{what} with {spare} to spare: {shown}"
                        );
                    }
                }
                assert_eq!(
                    open_fds(),
                    base,
                    "{what} with {spare} to spare: descriptors leaked"
                );
                assert_eq!(
                    mappings(),
                    maps,
                    "{what} with {spare} to spare: mappings leaked"
                );
                if spare == 0 {
                    assert!(result.is_err(), "{what} needs no descriptor at all?");
                }
            }
        }
        for ((what, _), from) in calls.iter().zip(&works_from) {
            let from = from.unwrap_or_else(|| panic!("{what} failed even with 6 to spare"));
            println!("{what}: an error naming the path with fewer than {from} descriptors to spare, works with {from}; nothing leaked");
        }
        // Room again: every call works.
        for (what, call) in &calls {
            attempt += 1;
            call(attempt).unwrap_or_else(|e| panic!("{what} after the limit was raised: {e}"));
        }
    });
    child.join();
    for name in interlock::namespace::list().unwrap() {
        if name.name.starts_with(&prefix) {
            interlock::namespace::remove(&name.name).unwrap();
        }
    }
}

/// 5,000 named locks in one process under a 64-descriptor limit: opened (created), each held —
/// all at once —, released, closed and removed. Named locks hold no descriptor, so the
/// descriptors never change; each adds one mapping while open and none is left after; and
/// every file is gone from the namespace afterwards. The process is this binary re-run with a
/// private namespace on `/dev/shm` (tmpfs, where the default namespace lives too), so that
/// nothing else adds descriptors or mappings meanwhile.
#[test]
fn five_thousand_named_locks_leak_no_descriptor_and_no_mapping() {
    const N: usize = 5_000;
    const ROLE: &str = "five-thousand-named-locks";
    if common::role().as_deref() == Some(ROLE) {
        set_nofile(Some(64));
        let fds = open_fds();
        let maps = mappings();
        let names: Vec<String> = (0..N).map(|i| format!("lock-{i}")).collect();
        let locks: Vec<interlock::Lock> = names
            .iter()
            .map(|n| interlock::Lock::open(n).unwrap_or_else(|e| panic!("{n}: {e}")))
            .collect();
        assert_eq!(open_fds(), fds, "open named locks hold descriptors");
        let held = mappings();
        assert!(
            held >= maps + N && held <= maps + N + 16,
            "{N} locks open: {held} mappings, {maps} before"
        );
        let guards: Vec<_> = locks.iter().map(|l| l.lock().unwrap()).collect();
        assert!(locks.iter().all(|l| l.is_held_by_current_thread()));
        drop(guards);
        assert!(locks.iter().all(|l| !l.is_held_by_current_thread()));
        drop(locks);
        assert_eq!(open_fds(), fds, "descriptors after closing");
        let after = mappings();
        assert!(
            after <= maps + 2,
            "{after} mappings after closing {N} locks, {maps} before"
        );
        for n in &names {
            interlock::namespace::remove(n).unwrap_or_else(|e| panic!("remove {n}: {e}"));
        }
        assert_eq!(open_fds(), fds, "descriptors after removing");
        let left = interlock::namespace::list().unwrap();
        assert!(
            left.is_empty(),
            "{} lock files left after removing all {N}",
            left.len()
        );
        common::tell_parent(&format!(
            "{N} named locks: {} descriptors throughout, {maps} mappings before, {held} while \
             open, {after} after, 0 files left",
            fds.len()
        ));
        return;
    }
    let scratch = tempfile::Builder::new()
        .prefix("interlock-5000-")
        .tempdir_in("/dev/shm")
        .unwrap();
    let ns = scratch.path().join("ns");
    std::os::unix::fs::DirBuilderExt::mode(&mut std::fs::DirBuilder::new(), 0o700)
        .create(&ns)
        .unwrap();
    let mut cmd = common::role_command(ROLE);
    cmd.env("INTERLOCK_DIR", &ns);
    let child = common::RoleChild::spawn(cmd);
    println!("{}", child.recv());
    child.finish();
}
