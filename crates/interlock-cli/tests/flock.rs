//! Issue 12, "flock(1) and lslocks users' habits": `interlock run --path FILE` on any file —
//! a `touch`ed lock file, a data file, a directory — and flock(1) on the same file exclude each
//! other; the file's bytes are never changed.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::util::{describe, stderr, stdout, timed, Ns};

/// A process that holds a lock on `file` until told to let go: started with `argv` (whose
/// command runs `sh -c 'echo held; read x'`), returned once it printed `held`.
struct Holder {
    child: Child,
}

impl Holder {
    fn start(mut cmd: Command) -> Holder {
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.as_mut().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(line, "held\n", "the holder did not start");
        Holder { child }
    }

    /// `flock -o FILE sh -c 'echo held; read x'`: flock(1) holds the lock itself (`-o`: the
    /// command does not inherit it), so its pid is the one /proc/locks shows.
    fn flock(file: &Path) -> Holder {
        let mut cmd = Command::new("flock");
        cmd.arg("-o")
            .arg(file)
            .args(["sh", "-c", "echo held; read x"]);
        Holder::start(cmd)
    }

    /// `interlock run --path FILE -- sh -c 'echo held; read x'`.
    fn interlock(ns: &Ns, file: &Path) -> Holder {
        let mut cmd = ns.cmd();
        cmd.args(["run", "--path"])
            .arg(file)
            .args(["--", "sh", "-c", "echo held; read x"]);
        Holder::start(cmd)
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn release(mut self) {
        let mut stdin = self.child.stdin.take().unwrap();
        stdin.write_all(b"\n").unwrap();
        drop(stdin);
        let status = self.child.wait().unwrap();
        assert!(status.success(), "holder ended with {status:?}");
    }
}

/// One shell loop of `runs` read-increment-writes of `counter`, each under `lock_cmd`
/// (a shell word list that ends where the command starts). The 5 ms between read and write
/// make a missing exclusion lose updates every time (checked: with interlock's flock(2) step
/// disabled, the loops below counted 33 of 400 and 12 of 100).
fn shell_loop(lock_cmd: &str, counter: &Path, runs: u32) -> Command {
    let script = format!(
        "i=0; while [ $i -lt {runs} ]; do \
           {lock_cmd} sh -c 'n=$(cat \"{c}\"); sleep 0.005; echo $((n + 1)) > \"{c}\"' \
             || exit 1; \
           i=$((i + 1)); \
         done",
        c = counter.display()
    );
    let mut cmd = Command::new("sh");
    cmd.args(["-c", &script]);
    cmd
}

/// `flock -n LOCK true`: whether flock(1) gets in at once.
fn flock_n(lock: &Path) -> std::process::Output {
    Command::new("flock")
        .arg("-n")
        .arg(lock)
        .arg("true")
        .output()
        .unwrap()
}

/// `pairs` loops of `flock LOCK` beside as many of `interlock run --path LOCK`, each
/// incrementing `counter` `rounds` times; asserts every loop succeeded.
fn race_flock_and_interlock(ns: &Ns, lock: &Path, counter: &Path, pairs: usize, rounds: u32) {
    let bin = env!("CARGO_BIN_EXE_interlock");
    let flock_cmd = format!("flock \"{}\"", lock.display());
    let interlock_cmd = format!("\"{bin}\" run --path \"{}\" --", lock.display());
    let mut loops = Vec::new();
    for _ in 0..pairs {
        for lock_cmd in [&flock_cmd, &interlock_cmd] {
            let mut cmd = shell_loop(lock_cmd, counter, rounds);
            cmd.env("INTERLOCK_DIR", ns.ns_dir()).stderr(Stdio::piped());
            loops.push(cmd.spawn().unwrap());
        }
    }
    for l in loops {
        let out = l.wait_with_output().unwrap();
        assert!(out.status.success(), "a loop failed: {}", describe(&out));
    }
}

/// Four loops of `flock FILE` and four of `interlock run --path FILE`, 50 read-increment-writes
/// each, on a lock file made by `touch`: exactly 400. Before issue 12 every interlock run was
/// refused ("truncated").
#[test]
fn flock_and_interlock_loops_on_one_touched_file_count_exactly_400() {
    let ns = Ns::new();
    let lock = ns.dir.path().join("backup.lock");
    std::fs::File::create(&lock).unwrap();
    let counter = ns.dir.path().join("count");
    std::fs::write(&counter, "0").unwrap();
    race_flock_and_interlock(&ns, &lock, &counter, 4, 50);
    assert_eq!(std::fs::read_to_string(&counter).unwrap().trim(), "400");
    assert_eq!(
        std::fs::metadata(&lock).unwrap().len(),
        0,
        "the lock file was written"
    );
}

/// The counter file is itself the lock, as flock users often do: two loops of each, 25 runs
/// each, count exactly 100.
#[test]
fn the_data_file_itself_can_be_the_lock_of_both() {
    let ns = Ns::new();
    let counter = ns.dir.path().join("count");
    std::fs::write(&counter, "0").unwrap();
    race_flock_and_interlock(&ns, &counter, &counter, 2, 25);
    assert_eq!(std::fs::read_to_string(&counter).unwrap().trim(), "100");
}

/// A `touch`ed file, a data file with content and a directory all work with `--path`, and
/// neither file's bytes, size nor modification time change — also when `status` and `rm`
/// look at them.
#[test]
fn touched_files_data_files_and_directories_work_and_keep_their_bytes() {
    let ns = Ns::new();
    let touched = ns.dir.path().join("touched.lock");
    std::fs::File::create(&touched).unwrap();
    let data = ns.dir.path().join("data.db");
    let content: Vec<u8> = (0..=255u8).cycle().take(5000).collect();
    std::fs::write(&data, &content).unwrap();
    let dir = ns.dir.path().join("a-directory");
    std::fs::create_dir(&dir).unwrap();
    let before: Vec<_> = [&touched, &data]
        .iter()
        .map(|p| std::fs::metadata(p).unwrap())
        .collect();
    for file in [&touched, &data, &dir] {
        let out = ns
            .cmd()
            .args(["run", "--path"])
            .arg(file)
            .args(["--", "sh", "-c", "echo ran $INTERLOCK_TOKEN"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}: {}",
            file.display(),
            describe(&out)
        );
        assert_eq!(stdout(&out), "ran 1\n", "{}", file.display());
        // Taken again: the record of the file is kept, and the token grows.
        let out = ns
            .cmd()
            .args(["run", "--path"])
            .arg(file)
            .args(["--", "sh", "-c", "echo $INTERLOCK_TOKEN"])
            .output()
            .unwrap();
        assert_eq!(stdout(&out), "2\n", "{}", describe(&out));
        let out = ns
            .cmd()
            .args(["status", "--path"])
            .arg(file)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", describe(&out));
        assert!(
            stdout(&out).contains("held by:       nobody"),
            "{}",
            describe(&out)
        );
    }
    // `rm --path` removes interlock's record only, never the file.
    for file in [&touched, &data] {
        let out = ns.cmd().args(["rm", "--path"]).arg(file).output().unwrap();
        assert!(out.status.success(), "{}", describe(&out));
        assert!(file.exists(), "rm --path removed the user's file");
    }
    assert_eq!(
        std::fs::read(&data).unwrap(),
        content,
        "the data file changed"
    );
    assert_eq!(
        std::fs::read(&touched).unwrap(),
        b"",
        "the touched file changed"
    );
    for (file, before) in [&touched, &data].iter().zip(&before) {
        let after = std::fs::metadata(file).unwrap();
        assert_eq!(
            (
                after.ino(),
                after.len(),
                after.mtime(),
                after.mtime_nsec(),
                after.mode()
            ),
            (
                before.ino(),
                before.len(),
                before.mtime(),
                before.mtime_nsec(),
                before.mode()
            ),
            "{} changed",
            file.display()
        );
    }
    assert!(dir.is_dir());
}

/// flock(1) holding the file keeps `interlock run --path` out — `--no-wait` fails at once and
/// `--wait` times out, both naming flock's pid — and an interlock holder keeps `flock -n` out.
#[test]
fn flock_and_interlock_holders_keep_each_other_out_and_are_named() {
    let ns = Ns::new();
    let lock = ns.dir.path().join("job.lock");
    std::fs::File::create(&lock).unwrap();

    let flock = Holder::flock(&lock);
    let out = ns
        .cmd()
        .args(["run", "-n", "--path"])
        .arg(&lock)
        .args(["--", "true"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    assert!(
        stderr(&out).contains(&format!("pid {}", flock.pid())),
        "{}",
        describe(&out)
    );
    let (out, took) = timed(|| {
        ns.cmd()
            .args(["run", "--wait", "0.3", "--path"])
            .arg(&lock)
            .args(["--", "true"])
            .output()
            .unwrap()
    });
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    assert!(
        took >= Duration::from_millis(300),
        "gave up early: {took:?}"
    );
    assert!(
        stderr(&out).contains(&format!("pid {}", flock.pid())),
        "{}",
        describe(&out)
    );
    let out = ns
        .cmd()
        .args(["status", "--path"])
        .arg(&lock)
        .output()
        .unwrap();
    assert!(
        stdout(&out).contains(&format!("pid {}", flock.pid())) && stdout(&out).contains("flock"),
        "{}",
        describe(&out)
    );
    flock.release();

    let held = Holder::interlock(&ns, &lock);
    let out = flock_n(&lock);
    assert_eq!(
        out.status.code(),
        Some(1),
        "flock -n got in: {}",
        describe(&out)
    );
    held.release();
    let out = flock_n(&lock);
    assert!(out.status.success(), "{}", describe(&out));
}

/// A lock file that `interlock run --path` created (an interlock segment) keeps working as
/// before, and flock(1) users of that same file are kept out too.
#[test]
fn a_segment_file_at_path_also_keeps_flock_users_out() {
    let ns = Ns::new();
    let lock = ns.dir.path().join("deploy.lock");
    let out = ns
        .cmd()
        .args(["run", "--path"])
        .arg(&lock)
        .args(["--", "true"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", describe(&out));
    assert!(
        std::fs::metadata(&lock).unwrap().len() > 0,
        "no segment was created"
    );
    let held = Holder::interlock(&ns, &lock);
    let out = flock_n(&lock);
    assert_eq!(
        out.status.code(),
        Some(1),
        "flock -n got in: {}",
        describe(&out)
    );
    let out = ns
        .cmd()
        .args(["status", "--json", "--path"])
        .arg(&lock)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", describe(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["holder"]["pid"], held.pid(), "{v}");
    assert_eq!(v["acquisitions"], 2, "{v}");
    held.release();
    let flock = Holder::flock(&lock);
    let out = ns
        .cmd()
        .args(["run", "-n", "--path"])
        .arg(&lock)
        .args(["--", "true"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    flock.release();
    // `rm --path` removes a segment file (interlock made it).
    let out = ns.cmd().args(["rm", "--path"]).arg(&lock).output().unwrap();
    assert!(out.status.success(), "{}", describe(&out));
    assert!(!lock.exists());
}
