use std::ops::{Deref, DerefMut};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// How long a test waits for an `interlock` invocation or a process before calling it stuck.
/// Generous: a liveness bound, not a performance claim (a loaded machine must not fail a test).
pub(crate) const PATIENCE: Duration = Duration::from_secs(30);

/// How long a [`Ns::hold`] holder's command sleeps: far longer than any test, which kills it.
pub(crate) const HOLD_SECS: u32 = 3600;

/// A private namespace directory for one test.
pub(crate) struct Ns {
    pub(crate) dir: tempfile::TempDir,
}

impl Ns {
    /// Runs `loops` copies of the shell `script` at once in this namespace, and waits until
    /// every one has ended, each successfully.
    pub(crate) fn run_shell_loops(&self, loops: usize, script: &str) {
        let children: Vec<_> = (0..loops)
            .map(|_| {
                std::process::Command::new("sh")
                    .args(["-c", script])
                    .env("INTERLOCK_DIR", self.ns_dir())
                    .spawn()
                    .expect("spawn sh")
            })
            .collect();
        for mut child in children {
            assert!(
                child.wait().expect("wait for sh").success(),
                "a loop failed"
            );
        }
    }
    pub(crate) fn new() -> Ns {
        let dir = tempfile::Builder::new()
            .prefix("interlock-cli-")
            .tempdir()
            .unwrap();
        Ns { dir }
    }

    pub(crate) fn ns_dir(&self) -> std::path::PathBuf {
        self.dir.path().join("ns")
    }

    /// `interlock ARGS` in this namespace.
    pub(crate) fn cmd(&self) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_interlock"));
        cmd.env("INTERLOCK_DIR", self.ns_dir());
        // Named locks are this machine's unless a test says --etcd (issue 16).
        cmd.env_remove("INTERLOCK_ETCD_ENDPOINTS");
        cmd
    }

    /// Runs `interlock ARGS` in this namespace and returns its output; panics (killing it) if
    /// it is still running after [`PATIENCE`].
    pub(crate) fn run(&self, args: &[&str]) -> Output {
        let child = self
            .cmd()
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let pid = child.id();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || tx.send(child.wait_with_output()));
        match rx.recv_timeout(PATIENCE) {
            Ok(out) => out.unwrap(),
            Err(_) => {
                // SAFETY: kill with integer arguments; `pid` is our child, unreaped until the
                // thread's wait returns, so not reused.
                unsafe { libc::kill(pid as i32, libc::SIGKILL) };
                let out = rx.recv().unwrap().unwrap();
                panic!(
                    "interlock {args:?} still running after {PATIENCE:?}; killed it\n{}",
                    describe(&out)
                );
            }
        }
    }

    /// Starts `interlock run NAME -- sh -c 'echo held; exec sleep HOLD_SECS'` and waits until
    /// it holds the lock (its command printed `held`). The holder keeps the lock until the test
    /// kills it; dropping the [`Holder`] kills it too.
    pub(crate) fn hold(&self, name: &str) -> Holder {
        self.hold_with(&[], name)
    }

    /// [`Ns::hold`] with `run` options before NAME (`["--slots", "3"]`: a semaphore's permit).
    pub(crate) fn hold_with(&self, options: &[&str], name: &str) -> Holder {
        let mut child = self
            .cmd()
            .arg("run")
            .args(options)
            .args([name, "--", "sh", "-c"])
            .arg(format!("echo held; exec sleep {HOLD_SECS}"))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
        std::io::BufRead::read_line(&mut out, &mut line).unwrap();
        assert_eq!(line, "held\n", "the holder did not start");
        Holder(child)
    }
}

/// A running `interlock run` that holds a lock (see [`Ns::hold`]); killed and reaped when
/// dropped, so that a failing test leaves no holder behind.
pub(crate) struct Holder(Child);

impl Deref for Holder {
    type Target = Child;
    fn deref(&self) -> &Child {
        &self.0
    }
}

impl DerefMut for Holder {
    fn deref_mut(&mut self) -> &mut Child {
        &mut self.0
    }
}

impl Drop for Holder {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Polls `cond` until it holds or [`PATIENCE`] runs out (then panics with `what`).
pub(crate) fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + PATIENCE;
    while !cond() {
        assert!(
            Instant::now() < deadline,
            "gave up after {PATIENCE:?} waiting until {what}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

pub(crate) fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

pub(crate) fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub(crate) fn describe(out: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        stdout(out),
        stderr(out)
    )
}

/// Runs `f` and returns its result and how long it took.
pub(crate) fn timed<T>(f: impl FnOnce() -> T) -> (T, Duration) {
    let start = Instant::now();
    let t = f();
    (t, start.elapsed())
}
