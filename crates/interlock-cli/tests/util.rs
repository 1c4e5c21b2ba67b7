use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// A private namespace directory for one test.
pub(crate) struct Ns {
    pub(crate) dir: tempfile::TempDir,
}

impl Ns {
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
        cmd
    }

    pub(crate) fn run(&self, args: &[&str]) -> Output {
        self.cmd().args(args).output().unwrap()
    }

    /// Starts `interlock run NAME -- sh -c 'echo held; exec sleep SECS'` and waits until it
    /// holds the lock (its command printed `held`).
    pub(crate) fn hold(&self, name: &str, secs: f64) -> Child {
        let mut child = self
            .cmd()
            .args([
                "run",
                name,
                "--",
                "sh",
                "-c",
                &format!("echo held; exec sleep {secs}"),
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
        std::io::BufRead::read_line(&mut out, &mut line).unwrap();
        assert_eq!(line, "held\n", "the holder did not start");
        child
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
