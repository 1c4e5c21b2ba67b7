//! Forked children: [`fork`] and the [`Forked`] child it returns, a [`Gang`] of children that
//! start together, and what `/proc` says about a process.
//!
//! A child forked from a multi-threaded process (a test binary: libtest runs tests on threads)
//! is a copy in which only the forking thread exists: anything another thread held at the fork
//! — the allocator's locks, stdout's, the panic hook's — stays held for ever. So children do the
//! minimum: take locks, touch shared memory, write to a pipe, and leave through `_exit`. A
//! single-threaded parent (a benchmark harness) may let its children do anything.

use std::fs::File;
use std::io::{ErrorKind, Read, Write};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Once;
use std::time::{Duration, Instant};

use crate::pipe::{channel, pipe, set_nonblocking, Gate};
use crate::PATIENCE;

/// A forked child; killed and reaped if dropped before it was reaped (a failing test leaves no
/// process behind).
#[derive(Debug)]
pub struct Forked {
    pid: libc::pid_t,
    report: File,
    status: Option<i32>,
    /// What the child is, for messages; empty: just "child PID".
    what: String,
    /// How long [`Forked::wait`] waits; `None`: as long as the child runs.
    patience: Option<Duration>,
}

/// Forks a child that runs `child` and `_exit`s: 0 when it returns, 101 when it panics (the
/// panic message is reported to the parent through a pipe and shown when the parent asserts).
///
/// `child` runs only in the child. It should borrow what it uses: anything the closure *owns*
/// is dropped in the parent right after the fork. Buffered stdout is flushed before the fork
/// (it would be written twice otherwise); the child's unflushed output is lost at its `_exit`.
///
/// # Panics
///
/// When `fork` fails.
pub fn fork(child: impl FnOnce()) -> Forked {
    quiet_panics_in_forked_children();
    let (report_r, report_w) = pipe();
    let _ = std::io::stdout().flush();
    // SAFETY: fork has no memory-safety preconditions. The child is a copy of a possibly
    // multi-threaded process: it only runs `child`, which callers keep to what such a copy may
    // do (module docs), and leaves through `_exit`.
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
        // atexit handlers, which belong to state copied from the parent.
        unsafe { libc::_exit(code) }
    }
    drop(report_w);
    set_nonblocking(&report_r);
    Forked {
        pid,
        report: report_r,
        status: None,
        what: String::new(),
        patience: Some(PATIENCE),
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

/// "exited with code 3 (raw status 0x300)", "killed by signal 9 (SIGKILL) (raw status 0x9)", …,
/// for assertion messages.
pub fn describe_status(status: i32) -> String {
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
    /// Names the child in messages: "child 123 (holder) exited with …".
    pub fn named(mut self, what: impl Into<String>) -> Forked {
        self.what = what.into();
        self
    }

    /// How long [`wait`](Self::wait) and the `join`s wait for the child before killing it and
    /// failing: [`PATIENCE`] unless set; `None` for as long as it runs (a benchmark's worker).
    pub fn patience(mut self, limit: Option<Duration>) -> Forked {
        self.patience = limit;
        self
    }

    /// The child's pid.
    pub fn pid(&self) -> u32 {
        self.pid as u32
    }

    /// "child 123" or "child 123 (holder)".
    fn who(&self) -> String {
        if self.what.is_empty() {
            format!("child {}", self.pid)
        } else {
            format!("child {} ({})", self.pid, self.what)
        }
    }

    /// Sends `sig` to the child.
    ///
    /// # Panics
    ///
    /// When `kill` fails.
    pub fn kill(&self, sig: i32) {
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
    pub fn report(&self) -> String {
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

    /// Reaps the child (waiting at most its [`patience`](Self::patience)) and returns its raw
    /// wait status.
    ///
    /// # Panics
    ///
    /// When the child is still running after its patience (it is then killed and reaped, and
    /// the message says what `/proc` showed of it), or `waitpid` fails.
    pub fn wait(&mut self) -> i32 {
        if let Some(status) = self.status {
            return status;
        }
        let Some(patience) = self.patience else {
            return self.wait_blocking();
        };
        let deadline = Instant::now() + patience;
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
                // SAFETY: kill with integer arguments on our unreaped child.
                unsafe { libc::kill(self.pid, libc::SIGKILL) };
                let status = self.wait_blocking();
                panic!(
                    "{} still running after {patience:?}; killed it ({}); it reported: {:?}\n{seen}",
                    self.who(),
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
    ///
    /// # Panics
    ///
    /// When it did not (the message has the raw status and the child's report), or as
    /// [`wait`](Self::wait).
    pub fn join(mut self) {
        let status = self.wait();
        assert!(
            libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
            "{} {}; it reported: {:?}",
            self.who(),
            describe_status(status),
            self.report()
        );
    }

    /// Reaps the child and asserts it was killed by `sig`.
    ///
    /// # Panics
    ///
    /// When it was not, or as [`wait`](Self::wait).
    pub fn join_killed_by(mut self, sig: i32) {
        let status = self.wait();
        assert!(
            libc::WIFSIGNALED(status) && libc::WTERMSIG(status) == sig,
            "{} should have been killed by signal {sig} but {}; it reported: {:?}",
            self.who(),
            describe_status(status),
            self.report()
        );
    }

    /// Reaps the child, asserts it exited with `code`, and returns what it reported.
    ///
    /// # Panics
    ///
    /// When it did not, or as [`wait`](Self::wait).
    pub fn join_with_code(mut self, code: i32) -> String {
        let status = self.wait();
        let report = self.report();
        assert!(
            libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == code,
            "{} should have exited with code {code} but {}; it reported: {report:?}",
            self.who(),
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

/// Forked children that start together: each says "ready" and waits at a [`Gate`], so that the
/// parent releases them all at once — forking and the children's first page faults stay out
/// of what is measured after [`start`](Gang::start).
#[derive(Debug)]
pub struct Gang {
    children: Vec<Forked>,
    gate: Gate,
}

impl Gang {
    /// Forks `n` children running `body(i)` once released; returns when all are ready (waiting
    /// at most [`PATIENCE`] for each).
    ///
    /// # Panics
    ///
    /// As [`fork`], or when a child is not ready in time.
    pub fn fork(n: usize, body: impl Fn(usize)) -> Gang {
        let (ready_tx, ready_rx) = channel();
        let gate = Gate::new();
        let children = (0..n)
            .map(|i| {
                let (body, ready_tx, gate) = (&body, &ready_tx, &gate);
                fork(move || {
                    ready_tx.send("ready");
                    gate.wait();
                    body(i);
                })
            })
            .collect();
        for _ in 0..n {
            ready_rx.expect("ready");
        }
        Gang { children, gate }
    }

    /// Names the children in messages and sets their patience (see [`Forked::named`],
    /// [`Forked::patience`]).
    pub fn labelled(mut self, what: &str, patience: Option<Duration>) -> Gang {
        self.children = self
            .children
            .into_iter()
            .map(|c| c.named(what).patience(patience))
            .collect();
        self
    }

    /// Releases every child; the instant of the release.
    pub fn start(&self) -> Instant {
        let t0 = Instant::now();
        self.gate.open(self.children.len());
        t0
    }

    /// Reaps every child and asserts that each exited with code 0 ([`Forked::join`]).
    pub fn join(self) {
        for child in self.children {
            child.join();
        }
    }
}

/// Blocks the calling (forked) process until it is killed: the "holder that never lets go".
pub fn hold_until_killed() -> ! {
    loop {
        std::thread::sleep(Duration::from_secs(3600));
    }
}

/// What `/proc` shows of each thread of process `pid`: state, wait channel and (as root) kernel
/// stack — for messages about a child that is stuck.
pub fn proc_diag(pid: u32) -> String {
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
pub fn start_time(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = &stat[stat.rfind(')')? + 1..];
    after.split_whitespace().nth(19)?.parse().ok()
}

/// The threads of this process (`/proc/self/status`), if `/proc` says.
pub fn threads_in_this_process() -> Option<usize> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("Threads:"))?;
    line["Threads:".len()..].trim().parse().ok()
}

/// The calling thread's kernel thread id.
pub fn gettid() -> u32 {
    // SAFETY: gettid has no preconditions.
    (unsafe { libc::gettid() }) as u32
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shm::SharedMem;
    use std::sync::atomic::Ordering;

    #[test]
    fn a_child_that_returns_exits_zero_and_its_writes_are_shared() {
        let shm = SharedMem::new(1);
        fork(|| shm.slot(0).store(7, Ordering::Relaxed)).join();
        assert_eq!(shm.slot(0).load(Ordering::Relaxed), 7);
    }

    #[test]
    fn a_panicking_child_is_reported_with_its_message_and_raw_status() {
        let child = fork(|| panic!("boom")).named("the panicker");
        let pid = child.pid();
        let msg = catch_unwind(AssertUnwindSafe(|| child.join()))
            .expect_err("join must fail")
            .downcast::<String>()
            .expect("a formatted message");
        assert!(
            msg.contains(&format!("child {pid} (the panicker) exited with code 101"))
                && msg.contains("raw status 0x6500")
                && msg.contains("panicked: boom"),
            "{msg}"
        );
    }

    #[test]
    fn a_killed_child_is_joined_as_killed() {
        let (tx, rx) = channel();
        let child = fork(|| {
            tx.send("up");
            hold_until_killed();
        });
        rx.expect("up");
        child.kill(libc::SIGKILL);
        child.join_killed_by(libc::SIGKILL);
    }

    #[test]
    fn a_stuck_child_is_killed_after_its_patience() {
        let child = fork(|| hold_until_killed()).patience(Some(Duration::from_millis(50)));
        let msg = catch_unwind(AssertUnwindSafe(|| child.join()))
            .expect_err("join must fail")
            .downcast::<String>()
            .expect("a formatted message");
        assert!(
            msg.contains("still running after 50ms") && msg.contains("SIGKILL"),
            "{msg}"
        );
    }

    #[test]
    fn a_gang_starts_only_when_released() {
        let shm = SharedMem::new(2);
        let gang = Gang::fork(3, |_| {
            // Released only after the parent's store below: each sees it.
            assert_eq!(shm.slot(0).load(Ordering::SeqCst), 1);
            shm.slot(1).fetch_add(1, Ordering::SeqCst);
        });
        assert_eq!(shm.slot(1).load(Ordering::SeqCst), 0, "a child ran early");
        shm.slot(0).store(1, Ordering::SeqCst);
        gang.start();
        gang.join();
        assert_eq!(shm.slot(1).load(Ordering::SeqCst), 3);
    }
}
