//! The running test binary re-run as a child in a role (rusty-fork's method): a real second
//! program, not a fork, for tests that need a fresh process, another user, or `exec`.
//!
//! [`role_command`] re-runs this binary for the current test only (`--exact`, the name libtest
//! gave the test's thread) with the role in [`ROLE_VAR`]; the test checks [`role`] first and, in
//! the child, plays its part. The two talk over the child's stdin ([`RoleChild::send`],
//! [`hear_from_parent`]) and stdout ([`tell_parent`], [`RoleChild::recv`]).

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use crate::names::test_name;
use crate::PATIENCE;

/// The environment variable that tells a re-run test binary which role it plays.
pub const ROLE_VAR: &str = "INTERLOCK_TEST_ROLE";
const MARK_OPEN: &str = "<<interlock-test:";
const MARK_CLOSE: &str = ">>";

/// The role this process plays, when a test re-ran this binary as its child.
pub fn role() -> Option<String> {
    std::env::var(ROLE_VAR).ok()
}

/// A command that re-runs this test binary for the current test only (`--exact`), in `role`,
/// with stdin/stdout/stderr piped (see [`RoleChild`]).
///
/// # Panics
///
/// In a child role (roles do not start roles), or off a test's own thread ([`test_name`]).
pub fn role_command(role: &str) -> Command {
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
///
/// # Panics
///
/// When stdout cannot be written.
pub fn tell_parent(msg: &str) {
    let mut out = std::io::stdout().lock();
    writeln!(out, "\n{MARK_OPEN}{msg}{MARK_CLOSE}").expect("write to stdout");
    out.flush().expect("flush stdout");
}

/// In a child role: the next line the parent wrote to our stdin.
///
/// # Panics
///
/// When the parent closed our stdin, or it cannot be read.
pub fn hear_from_parent() -> String {
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
pub struct RoleChild {
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
    /// Spawns `cmd` (usually a [`role_command`]) and starts collecting its output.
    ///
    /// # Panics
    ///
    /// When it cannot be spawned.
    pub fn spawn(mut cmd: Command) -> RoleChild {
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

    /// The child's pid.
    pub fn pid(&self) -> u32 {
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
    ///
    /// # Panics
    ///
    /// When none comes in time (the message has the child's output so far).
    pub fn recv(&self) -> String {
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
    ///
    /// # Panics
    ///
    /// As [`recv`](Self::recv), or when the message is another.
    pub fn expect(&self, want: &str) {
        let got = self.recv();
        assert_eq!(got, want, "unexpected message from child {}", self.pid());
    }

    /// Writes `line` to the child's stdin.
    ///
    /// # Panics
    ///
    /// When the child's stdin is closed or was not piped.
    pub fn send(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("stdin is piped");
        writeln!(stdin, "{line}").expect("write to child's stdin");
        stdin.flush().expect("flush child's stdin");
    }

    /// SIGKILLs the child.
    ///
    /// # Panics
    ///
    /// When `kill` fails.
    pub fn kill(&mut self) {
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
    ///
    /// # Panics
    ///
    /// When it did not, or still runs after [`PATIENCE`].
    pub fn finish(mut self) {
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
    ///
    /// # Panics
    ///
    /// When something else ended it, or it still runs after [`PATIENCE`].
    pub fn finish_killed(mut self) {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_child_role_hears_its_parent_and_answers() {
        if role().as_deref() == Some("echo") {
            let heard = hear_from_parent();
            tell_parent(&format!("heard {heard}"));
            return;
        }
        let mut child = RoleChild::spawn(role_command("echo"));
        child.send("ping");
        child.expect("heard ping");
        child.finish();
    }
}
