//! `interlock run --shared` (flock -s): readers of a named reader-writer lock at once, a writer
//! (`run NAME`) alone; a killed reader's or writer's hold comes back, the next writer told; a
//! plain lock's name refused; with --path, flock(2) LOCK_SH side by side with flock(1).

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};

use crate::util::{describe, stderr, stdout, wait_until, Ns};

/// `interlock run --shared NAME -- sh -c 'echo held; exec sleep …'`, once it reads.
fn reader(ns: &Ns, name: &str) -> crate::util::Holder {
    ns.hold_with(&["--shared"], name)
}

/// Two readers at once; a writer refused while they read, and readers refused while it
/// writes; `status`, `status --json` and `list` show the readers, then the writer.
#[test]
fn readers_share_and_a_writer_excludes_them() {
    let ns = Ns::new();
    let first = reader(&ns, "catalog");
    let second = reader(&ns, "catalog");
    let out = ns.run(&["run", "--shared", "-n", "catalog", "true"]);
    assert!(out.status.success(), "a third reader: {}", describe(&out));
    let out = ns.run(&["run", "-n", "catalog", "true"]);
    assert_eq!(out.status.code(), Some(1), "a writer: {}", describe(&out));
    assert!(
        stderr(&out).contains("rwlock \"catalog\""),
        "{}",
        describe(&out)
    );

    let out = ns.run(&["status", "catalog"]);
    let text = stdout(&out);
    assert!(text.starts_with("rwlock \"catalog\" (RwLock)\n"), "{text}");
    assert!(text.contains("readers:       2 (of 64 slots)"), "{text}");
    assert!(text.contains("policy:        writer-preferring"), "{text}");
    for pid in [first.id(), second.id()] {
        assert!(
            text.contains(&format!("held by pid {pid} tid {pid}")),
            "{text}"
        );
    }
    let out = ns.run(&["status", "--json", "catalog"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["kind"], "RwLock");
    assert_eq!(v["held"], true);
    assert_eq!(v["rwlock"]["readers"].as_array().unwrap().len(), 2);
    assert_eq!(v["rwlock"]["policy"], "prefer_writers");
    assert_eq!(v["rwlock"]["entered"], false);
    let out = ns.run(&["list"]);
    let text = stdout(&out);
    let row = text
        .lines()
        .find(|l| l.starts_with("catalog "))
        .expect("listed");
    assert!(row.contains("RwLock") && row.contains(" 2 read "), "{text}");
    let out = ns.run(&["rm", "catalog"]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "rm while read: {}",
        describe(&out)
    );
    assert!(stderr(&out).contains("reader slot"), "{}", describe(&out));
    drop((first, second));

    let writer = ns.hold("catalog");
    let out = ns.run(&["run", "--shared", "-n", "catalog", "true"]);
    assert_eq!(out.status.code(), Some(1), "a reader: {}", describe(&out));
    let out = ns.run(&["status", "--json", "catalog"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["rwlock"]["writer"]["pid"], writer.id());
    assert_eq!(v["holder"]["pid"], writer.id());
}

/// A reader's `interlock run` SIGKILLed: the next writer gets in, told; so is the next reader
/// after a killed writer.
#[test]
fn a_killed_reader_or_writer_is_told_to_the_next_holder() {
    let ns = Ns::new();
    let mut r = reader(&ns, "catalog");
    r.kill().unwrap();
    r.wait().unwrap();
    let out = ns.run(&[
        "run",
        "--wait",
        "20",
        "catalog",
        "sh",
        "-c",
        "echo $INTERLOCK_PREVIOUS_OWNER_DIED",
    ]);
    assert!(out.status.success(), "{}", describe(&out));
    assert_eq!(stdout(&out), "1\n", "{}", describe(&out));

    let mut w = ns.hold("catalog");
    w.kill().unwrap();
    w.wait().unwrap();
    let out = ns.run(&[
        "run",
        "--shared",
        "--wait",
        "20",
        "catalog",
        "sh",
        "-c",
        "echo $INTERLOCK_PREVIOUS_OWNER_DIED",
    ]);
    assert!(out.status.success(), "{}", describe(&out));
    assert_eq!(stdout(&out), "1\n", "{}", describe(&out));
    let out = ns.run(&["status", "--json", "catalog"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["rwlock"]["reader_deaths"], 1);
    assert_eq!(v["rwlock"]["writer_deaths"], 1);
}

/// A writer waiting for a reader keeps new readers out (writer preference), and gets in when
/// the reader is done.
#[test]
fn a_waiting_writer_keeps_new_readers_out() {
    let ns = Ns::new();
    let r = reader(&ns, "catalog");
    let writer = ns
        .cmd()
        .args(["run", "catalog", "--", "sh", "-c", "echo wrote"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_until("the writer holds the lock against readers", || {
        let out = ns.run(&["status", "--json", "catalog"]);
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        v["rwlock"]["writer"]["pid"] == writer.id()
    });
    let out = ns.run(&["run", "--shared", "-n", "catalog", "true"]);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    drop(r);
    let out = writer.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", describe(&out));
    assert_eq!(stdout(&out), "wrote\n");
}

/// `run --shared` of a plain lock's name: one line saying what it is and the way out, exit 2.
#[test]
fn shared_on_a_plain_lock_is_refused_with_the_way_out() {
    let ns = Ns::new();
    let out = ns.run(&["run", "plain", "true"]);
    assert!(out.status.success(), "{}", describe(&out));
    let out = ns.run(&["run", "--shared", "plain", "true"]);
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("\"plain\" is a Lock") && err.contains("without --shared"),
        "{err}"
    );
    let out = ns.run(&["run", "--shared", "--slots", "2", "x", "true"]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "--slots and --shared: {}",
        describe(&out)
    );
}

/// A holder that keeps FILE locked until told to let go.
struct FileHolder(std::process::Child);

impl FileHolder {
    fn start(mut cmd: Command) -> FileHolder {
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
        FileHolder(child)
    }

    fn release(mut self) {
        self.0.stdin.take().unwrap().write_all(b"\n").unwrap();
        assert!(self.0.wait().unwrap().success());
    }
}

fn flock_ok(args: &[&str], file: &std::path::Path) -> Option<i32> {
    Command::new("flock")
        .args(args)
        .arg(file)
        .arg("true")
        .status()
        .unwrap()
        .code()
}

/// `run --shared --path FILE` is `flock -s FILE`: it shares FILE with `flock -s` and excludes
/// `flock FILE` (and `run --path FILE`), both ways.
#[test]
fn shared_path_is_flock_s() {
    if Command::new("flock").arg("-V").output().is_err() {
        eprintln!("SKIP: flock(1) not installed");
        return;
    }
    let ns = Ns::new();
    let file = ns.dir.path().join("db.lock");
    std::fs::write(&file, b"").unwrap();
    let f = file.to_str().unwrap();

    // flock -s holds: interlock's shared run gets in, its exclusive one does not.
    let mut cmd = Command::new("flock");
    cmd.args(["-s", f, "sh", "-c", "echo held; read x"]);
    let holder = FileHolder::start(cmd);
    let out = ns.run(&["run", "--shared", "-n", "--path", f, "true"]);
    assert!(out.status.success(), "{}", describe(&out));
    let out = ns.run(&["run", "-n", "--path", f, "true"]);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    holder.release();

    // interlock's shared run holds: flock -s gets in, flock -x does not.
    let mut cmd = ns.cmd();
    cmd.args([
        "run",
        "--shared",
        "--path",
        f,
        "--",
        "sh",
        "-c",
        "echo held; read x",
    ]);
    let holder = FileHolder::start(cmd);
    assert_eq!(flock_ok(&["-s", "-n"], &file), Some(0));
    assert_eq!(flock_ok(&["-n"], &file), Some(1));
    let out = ns.run(&["run", "--wait", "0.1", "--path", f, "true"]);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    holder.release();
    assert_eq!(flock_ok(&["-n"], &file), Some(0));

    // An exclusive flock(1) holder: --shared --wait times out with the conflict code.
    let mut cmd = Command::new("flock");
    cmd.args([f, "sh", "-c", "echo held; read x"]);
    let holder = FileHolder::start(cmd);
    let out = ns.run(&[
        "run", "--shared", "--wait", "0.2", "-E", "75", "--path", f, "true",
    ]);
    assert_eq!(out.status.code(), Some(75), "{}", describe(&out));
    holder.release();
}

/// Issue 18 (the hostile-file matrix): `run --shared --path` opened FILE as flock(1) does —
/// through a symbolic link (in `/tmp`, another user's link chooses the file we lock) and
/// waiting for ever on a FIFO nobody writes. It now refuses both at once, as `run --path`
/// does, naming FILE; the link's target is untouched, and nothing is created.
#[test]
fn shared_path_refuses_a_symlink_and_a_fifo_as_path_does() {
    let ns = Ns::new();
    let target = ns.dir.path().join("target.db");
    std::fs::write(&target, b"data").unwrap();
    let link = ns.dir.path().join("link.lock");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    let fifo = ns.dir.path().join("fifo.lock");
    rustix::fs::mknodat(
        rustix::fs::CWD,
        &fifo,
        rustix::fs::FileType::Fifo,
        rustix::fs::Mode::from_raw_mode(0o600),
        0,
    )
    .unwrap();
    for (file, why) in [
        (&link, "symbolic link"),
        (&fifo, "not a regular file or a directory"),
    ] {
        let f = file.to_str().unwrap();
        for args in [
            &["run", "--shared", "--path", f, "true"][..],
            &["run", "--path", f, "true"][..],
        ] {
            // `ns.run` fails the test if it is still running after its patience (a hang).
            let out = ns.run(args);
            assert!(!out.status.success(), "{args:?}: {}", describe(&out));
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(
                err.contains(f) && err.contains(why),
                "{args:?}: {}",
                describe(&out)
            );
        }
    }
    assert_eq!(std::fs::read(&target).unwrap(), b"data");
    let mut names: Vec<_> = std::fs::read_dir(ns.dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["fifo.lock", "link.lock", "target.db"]);
}
