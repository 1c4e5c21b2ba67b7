//! Helpers for the multi-process tests (STYLE.md §6).
//!
//! - [`fork`]: a child that runs a closure and ends in `libc::_exit`; the parent reaps it and
//!   asserts how it ended, printing pid, raw status and what the child reported.
//! - [`channel`]: a pipe for "I hold it" / "release it now" between parent and forked child.
//! - [`role_command`] / [`RoleChild`]: this test binary re-run as `--exact TEST` in a child role
//!   (rusty-fork's method), talking over its stdin/stdout.
//! - [`unique_name`], [`shared_namespace`], [`in_private_namespace`], [`LockUnderTest`]: each test
//!   gets its own lock name, directory or whole namespace.
//! - [`SharedMem`], [`bump`]: a counter in `MAP_SHARED` memory, incremented non-atomically.
//! - [`have_root`], [`loud_skip`]: root-only tests fail in CI and say SKIPPED loudly elsewhere.
//! - [`hostile`]: a second, unprivileged user and sticky directories, for hostile-neighbour tests.
//! - [`robust`]: the calling thread's robust list as the kernel sees it.
//!
//! Forked children run in a copy of a multi-threaded process (the test harness), so they do the
//! minimum: take locks, touch shared memory, write to a pipe, `_exit`.
#![allow(dead_code)] // each test binary uses a different subset of these helpers

use std::fs::File;
use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex, Once, OnceLock};
use std::time::{Duration, Instant};

use interlock::Lock;

pub(crate) mod hostile;
pub(crate) mod robust;

/// How long a test waits for a child's message or exit before calling it stuck. Generous: these
/// are liveness bounds, not performance claims.
pub(crate) const PATIENCE: Duration = Duration::from_secs(30);

// ---------------------------------------------------------------------------------------------
// Names and namespaces
// ---------------------------------------------------------------------------------------------

/// The running test's name, as libtest gave it to the test's thread (`module::test`).
pub(crate) fn test_name() -> String {
    let thread = std::thread::current();
    let name = thread
        .name()
        .expect("libtest names each test's thread after the test");
    assert_ne!(
        name, "main",
        "test_name() must be called on the test's own thread"
    );
    name.to_owned()
}

/// A lock name no other test (or run) uses: the test's name, our pid and a counter.
pub(crate) fn unique_name() -> String {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let base: String = test_name()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .take(120)
        .collect();
    format!(
        "{base}-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

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
        remove_stale_namespaces();
        let dir = tempfile::Builder::new()
            .prefix("interlock-ns-")
            .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
            .expect("create the namespace directory")
            .keep();
        // tempfile's mode follows the umask (0755 here); a namespace must be 0700.
        std::fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(0o700))
            .expect("chmod 0700 the namespace directory");
        // Environment writes are process-global: this one happens once, before any test of this
        // binary reads INTERLOCK_DIR (every reader calls this function first), and std
        // serialises it with its own readers.
        std::env::set_var("INTERLOCK_DIR", &dir);
        dir
    })
}

/// Removes namespace directories that earlier runs left in `CARGO_TARGET_TMPDIR` (a kept
/// directory cannot be removed when its run ends), once they are an hour old: no run still
/// uses them.
fn remove_stale_namespaces() {
    let Ok(entries) = std::fs::read_dir(env!("CARGO_TARGET_TMPDIR")) else {
        return;
    };
    for entry in entries.flatten() {
        let old = entry
            .metadata()
            .and_then(|m| m.modified())
            .is_ok_and(|t| t.elapsed().is_ok_and(|age| age > Duration::from_secs(3600)));
        if old
            && entry
                .file_name()
                .to_string_lossy()
                .starts_with("interlock-ns-")
        {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
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
    pub(crate) flavor: Flavor,
    dir: Option<tempfile::TempDir>,
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
        LockUnderTest { lock, flavor, dir }
    }
}

/// Expands one test body into one test per [`Flavor`], in a module named after the test:
/// `name::anonymous`, `name::private_file`, `name::shared_file`, `name::fair` (STYLE.md §6, "one
/// body, every backend").
#[allow(unused_macros)] // not every test binary has per-flavour tests
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
// Shared memory
// ---------------------------------------------------------------------------------------------

/// `len` zeroed `u64` slots in `MAP_SHARED | MAP_ANONYMOUS` memory: a forked child's writes are
/// the parent's. Slots are atomics so that even a broken lock gives lost updates, not UB.
#[derive(Debug)]
pub(crate) struct SharedMem {
    base: NonNull<AtomicU64>,
    len: usize,
}

/// Shared between threads (of the parent, and of forked children) on purpose: it only hands out
/// `&AtomicU64`.
// SAFETY: the mapping is plain shared memory reached only through `&AtomicU64`, which is Sync;
// nothing in it is tied to the creating thread.
unsafe impl Sync for SharedMem {}
// SAFETY: as for Sync; the mapping belongs to the process, not to a thread.
unsafe impl Send for SharedMem {}

impl SharedMem {
    pub(crate) fn new(len: usize) -> SharedMem {
        let bytes = len.max(1) * std::mem::size_of::<u64>();
        // SAFETY: a fresh anonymous shared mapping with no address hint; it aliases nothing.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                bytes,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        assert_ne!(
            ptr,
            libc::MAP_FAILED,
            "mmap: {}",
            std::io::Error::last_os_error()
        );
        SharedMem {
            base: NonNull::new(ptr.cast()).expect("mmap returned null"),
            len: len.max(1),
        }
    }

    /// Slot `i`.
    pub(crate) fn slot(&self, i: usize) -> &AtomicU64 {
        assert!(i < self.len, "slot {i} of {}", self.len);
        let slot = self.base.as_ptr().wrapping_add(i);
        // SAFETY: `base` is a live, page-aligned mapping of `len` zero-initialised u64s, valid
        // as AtomicU64 for the life of `self`, and `i < len`, so `slot` is in it.
        unsafe { &*slot }
    }
}

impl Drop for SharedMem {
    fn drop(&mut self) {
        // SAFETY: our own mapping of exactly this size; no `&AtomicU64` outlives `self`.
        unsafe {
            libc::munmap(
                self.base.as_ptr().cast(),
                self.len * std::mem::size_of::<u64>(),
            )
        };
    }
}

/// One non-atomic increment: a load, then a store. Two holders in the section at once lose an
/// update; every 64th call yields between the two to widen that window.
pub(crate) fn bump(counter: &AtomicU64, i: u64) {
    let seen = counter.load(Ordering::Relaxed);
    if i % 64 == 0 {
        std::thread::yield_now();
    }
    counter.store(seen + 1, Ordering::Relaxed);
}

/// Polls `cond` until it holds or [`PATIENCE`] runs out (then panics with `what`). For waiting on
/// state a test can observe but not be told about (e.g. "a waiter is blocked in `lock()`").
pub(crate) fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + PATIENCE;
    while !cond() {
        assert!(
            Instant::now() < deadline,
            "gave up after {PATIENCE:?} waiting until {what}"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
}

// ---------------------------------------------------------------------------------------------
// Pipes
// ---------------------------------------------------------------------------------------------

pub(crate) fn pipe() -> (File, File) {
    let mut fds = [0; 2];
    // SAFETY: pipe2 writes two descriptors into `fds`, a valid array of two c_ints.
    let rc = unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) };
    assert_eq!(rc, 0, "pipe2: {}", std::io::Error::last_os_error());
    // SAFETY: fds[0] is the read end pipe2 just opened, owned by nobody else.
    let r = unsafe { OwnedFd::from_raw_fd(fds[0]) };
    // SAFETY: fds[1] is the write end pipe2 just opened, owned by nobody else.
    let w = unsafe { OwnedFd::from_raw_fd(fds[1]) };
    (File::from(r), File::from(w))
}

/// Sending end of a [`channel`]: one line per message.
#[derive(Debug)]
pub(crate) struct Sender(File);

/// Receiving end of a [`channel`].
#[derive(Debug)]
pub(crate) struct Receiver {
    file: File,
    pending: Mutex<Vec<u8>>,
}

/// A one-way pipe for line messages between a parent and its forked children (close-on-exec, so
/// spawned programs do not inherit it). Receiving never relies on end-of-file — copies of the
/// write end may live in other tests' children — but on a message arriving within [`PATIENCE`].
pub(crate) fn channel() -> (Sender, Receiver) {
    let (r, w) = pipe();
    (
        Sender(w),
        Receiver {
            file: r,
            pending: Mutex::new(Vec::new()),
        },
    )
}

impl Sender {
    pub(crate) fn send(&self, msg: &str) {
        assert!(!msg.contains('\n'));
        (&self.0)
            .write_all(format!("{msg}\n").as_bytes())
            .expect("write to pipe");
    }
}

impl Receiver {
    /// The next line, waiting at most [`PATIENCE`].
    pub(crate) fn recv(&self) -> String {
        self.recv_timeout(PATIENCE).unwrap_or_else(|partial| {
            panic!("no message within {PATIENCE:?} (partial: {partial:?})")
        })
    }

    /// The next line, or (after `timeout`) `Err` with whatever partial line arrived.
    pub(crate) fn recv_timeout(&self, timeout: Duration) -> Result<String, String> {
        let deadline = Instant::now() + timeout;
        let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if let Some(at) = pending.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = pending.drain(..=at).collect();
                return Ok(String::from_utf8_lossy(&line[..at]).into_owned());
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(String::from_utf8_lossy(&pending).into_owned());
            }
            let mut pfd = libc::pollfd {
                fd: self.file.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            };
            // SAFETY: poll reads and writes exactly one pollfd, a valid local.
            let rc = unsafe { libc::poll(&mut pfd, 1, left.as_millis().min(1000) as i32 + 1) };
            if rc < 0 {
                let e = std::io::Error::last_os_error();
                assert_eq!(e.kind(), ErrorKind::Interrupted, "poll: {e}");
                continue;
            }
            if rc == 0 {
                continue;
            }
            let mut chunk = [0u8; 512];
            match (&self.file).read(&mut chunk) {
                Ok(0) => panic!(
                    "the pipe was closed with no further message (partial: {:?})",
                    String::from_utf8_lossy(&pending)
                ),
                Ok(n) => pending.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => panic!("read from pipe: {e}"),
            }
        }
    }

    /// Receives a line and asserts it is `want`.
    pub(crate) fn expect(&self, want: &str) {
        let got = self.recv();
        assert_eq!(got, want, "unexpected message from the other side");
    }
}

// ---------------------------------------------------------------------------------------------
// Forked children
// ---------------------------------------------------------------------------------------------

/// A forked child; killed and reaped if dropped before it was reaped (a failing test leaves no
/// process behind).
#[derive(Debug)]
pub(crate) struct Forked {
    pid: libc::pid_t,
    report: File,
    status: Option<i32>,
}

/// Forks a child that runs `child` and `_exit`s: 0 when it returns, 101 when it panics (the
/// panic message is reported to the parent through a pipe and shown when the parent asserts).
///
/// `child` runs only in the child. It should borrow what it uses: anything the closure *owns*
/// is dropped in the parent right after the fork.
///
/// Before the first fork of the process, interlock's one-time set-up is completed (see
/// [`finish_interlocks_first_use`]).
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
    quiet_panics_in_forked_children();
    let (report_r, report_w) = pipe();
    // SAFETY: fork has no memory-safety preconditions. The child is a copy of a multi-threaded
    // process: it only runs `child`, which these tests keep to lock calls, shared memory, pipe
    // writes and (after the fork) its own threads, and leaves through `_exit`.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork: {}", std::io::Error::last_os_error());
    if pid == 0 {
        IN_FORKED_CHILD.store(true, Ordering::Relaxed);
        drop(report_r);
        let code = match catch_unwind(AssertUnwindSafe(child)) {
            Ok(()) => 0,
            Err(payload) => {
                let msg = payload
                    .downcast_ref::<String>()
                    .map(String::as_str)
                    .or_else(|| payload.downcast_ref::<&str>().copied())
                    .unwrap_or("(non-string panic payload)");
                let _ = (&report_w).write_all(format!("panicked: {msg}").as_bytes());
                101
            }
        };
        // SAFETY: _exit ends the child at once; it runs none of the parent's destructors or
        // atexit handlers, which belong to state copied from a multi-threaded process.
        unsafe { libc::_exit(code) }
    }
    drop(report_w);
    set_nonblocking(&report_r);
    Forked {
        pid,
        report: report_r,
        status: None,
    }
}

/// Set in a forked child as soon as it starts.
static IN_FORKED_CHILD: AtomicBool = AtomicBool::new(false);

/// Wraps the panic hook (once per process, before the first fork) so that it does nothing in a
/// forked child. std's default hook takes a process-wide lock (`sys::backtrace::lock`, to keep
/// messages whole); a child forked while another thread of the parent was inside the hook
/// inherits that lock held by a thread that does not exist in the child, and its own first
/// panic would wait for it forever. The child's panic message reaches the parent through the
/// report pipe instead.
fn quiet_panics_in_forked_children() {
    static WRAPPED: Once = Once::new();
    WRAPPED.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !IN_FORKED_CHILD.load(Ordering::Relaxed) {
                previous(info);
            }
        }));
    });
}

fn set_nonblocking(f: &File) {
    // SAFETY: fcntl on a descriptor we own, with integer arguments only.
    let flags = unsafe { libc::fcntl(f.as_raw_fd(), libc::F_GETFL) };
    assert!(flags >= 0);
    // SAFETY: as above.
    let rc = unsafe { libc::fcntl(f.as_raw_fd(), libc::F_SETFL, flags | libc::O_NONBLOCK) };
    assert_eq!(rc, 0);
}

/// "exited with code 3", "killed by signal 9 (SIGKILL)", …, for assertion messages.
pub(crate) fn describe_status(status: i32) -> String {
    if libc::WIFEXITED(status) {
        format!(
            "exited with code {} (raw status {status:#x})",
            libc::WEXITSTATUS(status)
        )
    } else if libc::WIFSIGNALED(status) {
        let sig = libc::WTERMSIG(status);
        let name = match sig {
            libc::SIGKILL => "SIGKILL",
            libc::SIGABRT => "SIGABRT",
            libc::SIGSEGV => "SIGSEGV",
            libc::SIGBUS => "SIGBUS",
            libc::SIGTERM => "SIGTERM",
            _ => "?",
        };
        format!("killed by signal {sig} ({name}) (raw status {status:#x})")
    } else {
        format!("raw status {status:#x}")
    }
}

impl Forked {
    pub(crate) fn pid(&self) -> u32 {
        self.pid as u32
    }

    /// Sends `sig` to the child.
    pub(crate) fn kill(&self, sig: i32) {
        // SAFETY: kill with integer arguments; the pid is our unreaped child, so it cannot have
        // been reused by another process.
        let rc = unsafe { libc::kill(self.pid, sig) };
        assert_eq!(
            rc,
            0,
            "kill({}, {sig}): {}",
            self.pid,
            std::io::Error::last_os_error()
        );
    }

    /// What the child wrote to its report pipe (its panic message, if it panicked).
    pub(crate) fn report(&self) -> String {
        let mut out = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            match (&self.report).read(&mut buf) {
                Ok(0) => break,
                Ok(n) => out.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => break, // WouldBlock: everything the dead child wrote has been read
            }
        }
        String::from_utf8_lossy(&out).into_owned()
    }

    /// Reaps the child (waiting at most [`PATIENCE`]) and returns its raw wait status.
    pub(crate) fn wait(&mut self) -> i32 {
        if let Some(status) = self.status {
            return status;
        }
        let deadline = Instant::now() + PATIENCE;
        let mut nap = Duration::from_micros(100);
        loop {
            let mut status = 0;
            // SAFETY: waitpid writes only `status`, a valid local.
            let rc = unsafe { libc::waitpid(self.pid, &mut status, libc::WNOHANG) };
            if rc == self.pid {
                self.status = Some(status);
                return status;
            }
            if rc < 0 {
                let e = std::io::Error::last_os_error();
                assert_eq!(
                    e.kind(),
                    ErrorKind::Interrupted,
                    "waitpid({}): {e}",
                    self.pid
                );
                continue;
            }
            if Instant::now() > deadline {
                let seen = proc_diag(self.pid as u32);
                self.kill(libc::SIGKILL);
                let status = self.wait_blocking();
                panic!(
                    "child {} still running after {PATIENCE:?}; killed it ({}); it reported: {:?}\n{seen}",
                    self.pid,
                    describe_status(status),
                    self.report()
                );
            }
            std::thread::sleep(nap);
            nap = (nap * 2).min(Duration::from_millis(5));
        }
    }

    fn wait_blocking(&mut self) -> i32 {
        loop {
            let mut status = 0;
            // SAFETY: waitpid writes only `status`, a valid local.
            let rc = unsafe { libc::waitpid(self.pid, &mut status, 0) };
            if rc == self.pid {
                self.status = Some(status);
                return status;
            }
            let e = std::io::Error::last_os_error();
            assert_eq!(
                e.kind(),
                ErrorKind::Interrupted,
                "waitpid({}): {e}",
                self.pid
            );
        }
    }

    /// Reaps the child and asserts it exited with code 0.
    pub(crate) fn join(mut self) {
        let status = self.wait();
        assert!(
            libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
            "child {} {}; it reported: {:?}",
            self.pid,
            describe_status(status),
            self.report()
        );
    }

    /// Reaps the child and asserts it was killed by `sig`.
    pub(crate) fn join_killed_by(mut self, sig: i32) {
        let status = self.wait();
        assert!(
            libc::WIFSIGNALED(status) && libc::WTERMSIG(status) == sig,
            "child {} should have been killed by signal {sig} but {}; it reported: {:?}",
            self.pid,
            describe_status(status),
            self.report()
        );
    }

    /// Reaps the child, asserts it exited with `code`, and returns what it reported.
    pub(crate) fn join_with_code(mut self, code: i32) -> String {
        let status = self.wait();
        let report = self.report();
        assert!(
            libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == code,
            "child {} should have exited with code {code} but {}; it reported: {report:?}",
            self.pid,
            describe_status(status),
        );
        report
    }
}

impl Drop for Forked {
    fn drop(&mut self) {
        if self.status.is_none() {
            // SAFETY: kill with integer arguments on our unreaped child.
            unsafe { libc::kill(self.pid, libc::SIGKILL) };
            self.wait_blocking();
        }
    }
}

/// Blocks the calling (forked) process until it is killed: the "holder that never lets go".
pub(crate) fn hold_until_killed() -> ! {
    loop {
        std::thread::sleep(Duration::from_secs(3600));
    }
}

/// What `/proc` shows of each thread of process `pid`: state, wait channel and (as root) kernel
/// stack — for messages about a child that is stuck.
pub(crate) fn proc_diag(pid: u32) -> String {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return format!("(process {pid} is gone)");
    };
    let mut out = String::new();
    for task in tasks.flatten() {
        let dir = task.path();
        let read = |file: &str| std::fs::read_to_string(dir.join(file)).unwrap_or_default();
        let stat = read("stat");
        let state = stat
            .rfind(')')
            .and_then(|at| stat[at + 1..].split_whitespace().next())
            .unwrap_or("?")
            .to_owned();
        out.push_str(&format!(
            "thread {} state {state} wchan {}\n{}",
            task.file_name().to_string_lossy(),
            read("wchan"),
            read("stack")
        ));
    }
    out
}

/// The start time of process `pid` in clock ticks since boot (`/proc/PID/stat` field 22).
pub(crate) fn start_time(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = &stat[stat.rfind(')')? + 1..];
    after.split_whitespace().nth(19)?.parse().ok()
}

/// The calling thread's kernel thread id.
pub(crate) fn gettid() -> u32 {
    // SAFETY: gettid has no preconditions.
    (unsafe { libc::gettid() }) as u32
}

// ---------------------------------------------------------------------------------------------
// This test binary re-run in a child role
// ---------------------------------------------------------------------------------------------

/// The environment variable that tells a re-run test binary which role it plays.
pub(crate) const ROLE_VAR: &str = "INTERLOCK_TEST_ROLE";
const MARK_OPEN: &str = "<<interlock-test:";
const MARK_CLOSE: &str = ">>";

/// The role this process plays, when a test re-ran this binary as its child.
pub(crate) fn role() -> Option<String> {
    std::env::var(ROLE_VAR).ok()
}

/// A command that re-runs this test binary for the current test only (`--exact`), in `role`,
/// with stdin/stdout/stderr piped (see [`RoleChild`]).
pub(crate) fn role_command(role: &str) -> Command {
    if let Some(mine) = self::role() {
        panic!("a child role ({mine}) must not start child roles itself: unknown role {role:?}?");
    }
    let exe = std::env::current_exe().expect("current_exe");
    let mut cmd = Command::new(exe);
    cmd.arg(test_name())
        .args(["--exact", "--nocapture", "--test-threads=1"])
        .env(ROLE_VAR, role)
        .env_remove("RUST_TEST_THREADS")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

/// In a child role: tells the parent `msg` (a marked line on stdout).
pub(crate) fn tell_parent(msg: &str) {
    let mut out = std::io::stdout().lock();
    writeln!(out, "\n{MARK_OPEN}{msg}{MARK_CLOSE}").expect("write to stdout");
    out.flush().expect("flush stdout");
}

/// In a child role: the next line the parent wrote to our stdin.
pub(crate) fn hear_from_parent() -> String {
    let mut line = String::new();
    let n = std::io::stdin()
        .lock()
        .read_line(&mut line)
        .expect("read stdin");
    assert!(n > 0, "the parent closed our stdin");
    line.trim_end().to_owned()
}

/// A running child role, its messages and its output.
#[derive(Debug)]
pub(crate) struct RoleChild {
    child: Child,
    what: String,
    stdin: Option<ChildStdin>,
    messages: mpsc::Receiver<String>,
    stdout: Arc<Mutex<String>>,
    stderr: Arc<Mutex<String>>,
    readers: Vec<std::thread::JoinHandle<()>>,
    reaped: bool,
}

impl RoleChild {
    pub(crate) fn spawn(mut cmd: Command) -> RoleChild {
        let what = format!("{cmd:?}");
        let mut child = cmd.spawn().unwrap_or_else(|e| panic!("spawn {what}: {e}"));
        let stdin = child.stdin.take();
        let (tx, messages) = mpsc::channel();
        let stdout = Arc::new(Mutex::new(String::new()));
        let stderr = Arc::new(Mutex::new(String::new()));
        let mut readers = Vec::new();
        if let Some(out) = child.stdout.take() {
            let log = Arc::clone(&stdout);
            readers.push(std::thread::spawn(move || {
                for line in BufReader::new(out).lines() {
                    let Ok(line) = line else { break };
                    if let Some(start) = line.find(MARK_OPEN) {
                        let rest = &line[start + MARK_OPEN.len()..];
                        if let Some(end) = rest.find(MARK_CLOSE) {
                            let _ = tx.send(rest[..end].to_owned());
                        }
                    }
                    let mut log = log.lock().unwrap_or_else(|e| e.into_inner());
                    log.push_str(&line);
                    log.push('\n');
                }
            }));
        }
        if let Some(mut err) = child.stderr.take() {
            let log = Arc::clone(&stderr);
            readers.push(std::thread::spawn(move || {
                let mut text = String::new();
                let _ = err.read_to_string(&mut text);
                log.lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push_str(&text);
            }));
        }
        RoleChild {
            child,
            what,
            stdin,
            messages,
            stdout,
            stderr,
            readers,
            reaped: false,
        }
    }

    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    fn output(&self) -> String {
        format!(
            "--- stdout ---\n{}--- stderr ---\n{}",
            self.stdout.lock().unwrap_or_else(|e| e.into_inner()),
            self.stderr.lock().unwrap_or_else(|e| e.into_inner())
        )
    }

    /// The child's next message, waiting at most [`PATIENCE`].
    pub(crate) fn recv(&self) -> String {
        match self.messages.recv_timeout(PATIENCE) {
            Ok(msg) => msg,
            Err(e) => {
                // Let the reader threads collect what there is, for the message.
                std::thread::sleep(Duration::from_millis(100));
                panic!(
                    "no message from child {} ({e}): {}\n{}",
                    self.pid(),
                    self.what,
                    self.output()
                )
            }
        }
    }

    /// Receives a message and asserts it is `want`.
    pub(crate) fn expect(&self, want: &str) {
        let got = self.recv();
        assert_eq!(got, want, "unexpected message from child {}", self.pid());
    }

    /// Writes `line` to the child's stdin.
    pub(crate) fn send(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("stdin is piped");
        writeln!(stdin, "{line}").expect("write to child's stdin");
        stdin.flush().expect("flush child's stdin");
    }

    /// SIGKILLs the child.
    pub(crate) fn kill(&mut self) {
        self.child.kill().expect("kill child");
    }

    fn wait(&mut self) -> std::process::ExitStatus {
        drop(self.stdin.take());
        let deadline = Instant::now() + PATIENCE;
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                break status;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                self.reaped = true;
                panic!(
                    "child {} still running after {PATIENCE:?}: {}\n{}",
                    self.pid(),
                    self.what,
                    self.output()
                );
            }
            std::thread::sleep(Duration::from_millis(2));
        };
        self.reaped = true;
        for reader in self.readers.drain(..) {
            let _ = reader.join();
        }
        status
    }

    /// Waits for the child and asserts that its one test ran and passed.
    pub(crate) fn finish(mut self) {
        let status = self.wait();
        let stdout = self
            .stdout
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        assert!(
            status.success() && stdout.contains("test result: ok. 1 passed"),
            "child role {} failed ({status}; it must run exactly one test and pass): {}\n{}",
            self.pid(),
            self.what,
            self.output()
        );
    }

    /// Waits for the child and asserts that SIGKILL ended it.
    pub(crate) fn finish_killed(mut self) {
        use std::os::unix::process::ExitStatusExt;
        let status = self.wait();
        assert_eq!(
            status.signal(),
            Some(libc::SIGKILL),
            "child role {} should have died of SIGKILL but {status}: {}\n{}",
            self.pid(),
            self.what,
            self.output()
        );
    }
}

impl Drop for RoleChild {
    fn drop(&mut self) {
        if !self.reaped {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Root-only tests
// ---------------------------------------------------------------------------------------------

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "0" && v != "false")
}

/// Whether the test may go on with root's powers. Not root: in CI (`CI` set) the test fails; else
/// a loud SKIPPED line goes straight to stderr (past libtest's capture) and the test returns.
pub(crate) fn have_root(what: &str) -> bool {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        return true;
    }
    loud_skip(what, "needs root");
    false
}

/// Fails the test in CI; elsewhere prints a loud SKIPPED line that libtest does not capture.
pub(crate) fn loud_skip(what: &str, why: &str) {
    assert!(
        !in_ci(),
        "{what}: {why}, and CI must run this test: run the suite as root in CI"
    );
    let _ = writeln!(
        std::io::stderr(),
        "\n!!!!!!!!!! SKIPPED ({why}): {} — {what} !!!!!!!!!!\n",
        std::thread::current().name().unwrap_or("?")
    );
}

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
#[allow(dead_code)] // not every test binary counts in a file
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
