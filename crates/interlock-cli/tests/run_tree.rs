//! Issue 12, items 1–3: `interlock run` keeps COMMAND's whole process tree under the lock,
//! passes signals on to it, and says what went wrong once, in the CLI's own words.
//!
//! Every scenario uses a marker file that COMMAND (or what it left running) writes only while
//! it is "inside", and a FIFO that the test writes to when the process inside may finish: no
//! sleeps decide anything, and a machine loaded to its limits only makes the tests slower.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{channel, Receiver};
use std::time::Duration;

use crate::util::{describe, stderr, stdout, Ns};

/// How long to wait for a line from a child before calling it stuck: a liveness bound for a
/// loaded machine, not a performance claim.
const PATIENCE: Duration = Duration::from_secs(60);

/// The lines a child writes to one of its pipes, read on a thread so a test can wait for one
/// with a bound.
struct Lines(Receiver<String>);

impl Lines {
    fn of(pipe: impl Read + Send + 'static) -> Lines {
        let (tx, rx) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Lines(rx)
    }

    fn stdout(child: &mut Child) -> Lines {
        Lines::of(child.stdout.take().expect("stdout piped"))
    }

    fn stderr(child: &mut Child) -> Lines {
        Lines::of(child.stderr.take().expect("stderr piped"))
    }

    /// The next line; panics naming `what` if the pipe closes or nothing comes in time.
    fn next(&self, what: &str) -> String {
        match self.0.recv_timeout(PATIENCE) {
            Ok(line) => line,
            Err(e) => panic!("no line {what}: {e:?}"),
        }
    }
}

/// A test directory others may use too (for COMMANDs that change their uid), with a FIFO,
/// `release`, that processes inside block on until the test lets them go.
struct Scene {
    ns: Ns,
}

impl Scene {
    fn new() -> Scene {
        let ns = Ns::new();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(ns.dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
        let fifo = ns.dir.path().join("release");
        let c = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).unwrap();
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o666) }, 0, "mkfifo");
        // mkfifo's mode is filtered by the umask.
        std::fs::set_permissions(&fifo, std::fs::Permissions::from_mode(0o666)).unwrap();
        Scene { ns }
    }

    fn dir(&self) -> &Path {
        self.ns.dir.path()
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir().join(name)
    }

    /// `interlock ARGS` with `D` set to the test directory.
    fn cmd(&self, args: &[&str]) -> Command {
        let mut cmd = self.ns.cmd();
        cmd.args(args).env("D", self.dir());
        cmd
    }

    fn spawn(&self, args: &[&str]) -> Child {
        self.cmd(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    }

    fn output(&self, args: &[&str]) -> std::process::Output {
        self.cmd(args).output().unwrap()
    }

    /// Lets one process blocked on `$D/release` go.
    fn release_one(&self) {
        let mut fifo = std::fs::OpenOptions::new()
            .write(true)
            .open(self.path("release"))
            .unwrap();
        fifo.write_all(b"go\n").unwrap();
    }
}

/// Kills a stray process a failed test left blocked on the FIFO.
struct Stray(Option<u32>);

impl Drop for Stray {
    fn drop(&mut self) {
        if let Some(pid) = self.0 {
            // SAFETY: kill has no memory-safety preconditions.
            unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) };
        }
    }
}

/// A shell snippet that is "inside" from when it creates `$D/inside` until it removes it, says
/// `held PID` in between, and stays inside until the test writes to `$D/release`.
const INSIDE: &str = r#": > "$D/inside"; echo "held $$"; read x < "$D/release"; rm "$D/inside""#;

/// COMMAND for the next holder: reports whether anything of the previous one is inside.
const CHECK: &str = r#"if [ -e "$D/inside" ]; then echo OVERLAP; else echo clean; fi"#;

fn pid_from_held(line: &str) -> u32 {
    line.strip_prefix("held ")
        .and_then(|p| p.trim().parse().ok())
        .unwrap_or_else(|| panic!("expected `held PID`, got {line:?}"))
}

/// Whether `pid` is a live (not zombie) process.
fn running(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !matches!(
            stat.rfind(')')
                .and_then(|i| stat[i + 1..].split_whitespace().next()),
            Some("Z" | "X")
        ),
        Err(_) => false,
    }
}

fn in_ci() -> bool {
    std::env::var_os("CI").is_some()
}

fn have_root(what: &str) -> bool {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        return true;
    }
    assert!(!in_ci(), "{what}: needs root, and CI must run this test");
    eprintln!("\n!!!!!!!!!! SKIPPED (needs root): {what} !!!!!!!!!!\n");
    false
}

/// Lock `c` by name: the lock words of `run` (before `--`) and the label messages give it.
const NAMED: (&[&str], &str) = (&["c"], "lock \"c\"");

/// Runs `script` under `lock` (`run`'s words for the lock) in a runner, waits until what it
/// started is inside, SIGKILLs the runner and returns the pid of the process inside.
fn kill_runner_while_inside(scene: &Scene, lock: &[&str], script: &str) -> Stray {
    let args = [&["run"], lock, &["--", "sh", "-c", script]].concat();
    let mut runner = scene.spawn(&args);
    let out = Lines::stdout(&mut runner);
    let inside = Stray(Some(pid_from_held(&out.next("from the process inside"))));
    runner.kill().unwrap(); // SIGKILL
    let status = runner.wait().unwrap();
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&status),
        Some(9)
    );
    assert!(
        running(inside.0.unwrap()),
        "the scenario needs a process that outlives its runner"
    );
    inside
}

/// Starts the next holder of `lock` (`(words, label)`), which must wait for what the dead
/// runner left inside: its one stderr line says so (naming the process group), and its COMMAND
/// then finds nobody inside.
fn next_holder_waits_for(scene: &Scene, (lock, label): (&[&str], &str), mut inside: Stray) {
    let args = [&["run"], lock, &["--", "sh", "-c", CHECK]].concat();
    let mut next = scene.spawn(&args);
    let err = Lines::stderr(&mut next);
    let said = err.next("from the next holder on stderr");
    // Let the process inside finish only once the next holder says it waits for it; one that
    // does not wait runs its COMMAND at once, and the process inside stays until it has.
    let waits = said.contains("waiting");
    if waits {
        scene.release_one();
        inside.0 = None;
    }
    let out = next.wait_with_output().unwrap();
    if !waits {
        scene.release_one();
        inside.0 = None;
    }
    assert_eq!(
        stdout(&out).trim(),
        "clean",
        "the next holder overlapped the dead runner's process tree; it said: {said}\n{}",
        describe(&out)
    );
    assert!(out.status.success(), "{}", describe(&out));
    assert!(
        said.contains(&format!("previous holder of {label} died"))
            && said.contains("waiting")
            && said.contains("process group"),
        "one line saying it waits for the dead holder's process group: {said}"
    );
    assert_eq!(stderr(&out), "", "one line only");
}

/// Issue 12, item 1: the runner is SIGKILLed; PDEATHSIG kills COMMAND (`sh`), but a process
/// COMMAND started lives on. The next holder waits until it is gone.
#[test]
fn grandchild_of_a_killed_runner_never_overlaps_the_next_holder() {
    let scene = Scene::new();
    let script = format!("sh -c '{}' & wait", INSIDE.replace('\'', r"'\''"));
    let inside = kill_runner_while_inside(&scene, NAMED.0, &script);
    next_holder_waits_for(&scene, NAMED, inside);
}

/// The same with `--path` on a file made by `touch` (not an interlock lock file: interlock's
/// record of it is a sidecar in the namespace), which names the group as a name's record does.
#[test]
fn grandchild_of_a_killed_runner_never_overlaps_the_next_holder_of_a_path() {
    let scene = Scene::new();
    let file = scene.path("touched.lock");
    std::fs::File::create(&file).unwrap();
    let file = file.to_str().unwrap();
    let lock: &[&str] = &["--path", file];
    let script = format!("sh -c '{}' & wait", INSIDE.replace('\'', r"'\''"));
    let inside = kill_runner_while_inside(&scene, lock, &script);
    next_holder_waits_for(&scene, (lock, &format!("lock at {file}")), inside);
    assert_eq!(
        std::fs::metadata(file).unwrap().len(),
        0,
        "the file was written"
    );
}

/// The same for `run --slots N`: a permit whose runner was SIGKILLed with a grandchild still
/// inside is not taken by a next command that runs beside that grandchild (N + 1 at once): the
/// permit's record names the group, and its next taker waits for it.
#[test]
fn grandchild_of_a_killed_slots_runner_never_overlaps_the_next_holder_of_its_permit() {
    let scene = Scene::new();
    let lock: &[&str] = &["--slots", "1", "c"];
    let script = format!("sh -c '{}' & wait", INSIDE.replace('\'', r"'\''"));
    let inside = kill_runner_while_inside(&scene, lock, &script);
    next_holder_waits_for(&scene, (lock, "semaphore \"c\" permit 0"), inside);
}

/// Issue 12, item 1: the kernel clears PDEATHSIG when COMMAND changes its credentials
/// (setuid binaries, `su`, `sudo`, `setpriv`): COMMAND itself outlives the SIGKILLed runner. The
/// next holder waits for it all the same.
#[test]
fn setpriv_command_of_a_killed_runner_never_overlaps_the_next_holder() {
    if !have_root("setpriv to an unprivileged uid") {
        return;
    }
    let scene = Scene::new();
    let script = format!(
        "exec setpriv --reuid=65534 --regid=65534 --clear-groups sh -c '{}'",
        INSIDE.replace('\'', r"'\''")
    );
    let inside = kill_runner_while_inside(&scene, NAMED.0, &script);
    next_holder_waits_for(&scene, NAMED, inside);
}

/// `--kill-orphans`: the next holder kills what the dead runner left running instead of
/// waiting for it, and says so.
#[test]
fn kill_orphans_kills_what_a_dead_holder_left_running() {
    let scene = Scene::new();
    let script = format!("sh -c '{}' & wait", INSIDE.replace('\'', r"'\''"));
    let inside = kill_runner_while_inside(&scene, NAMED.0, &script);
    let pid = inside.0.unwrap();
    // `status` names what the dead holder left running, before anyone takes the lock again.
    let json = scene.output(&["status", "--json", "c"]);
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(v["leftover_group"]["pgid"], group_of(pid), "{v}");
    assert_eq!(v["leftover_group"]["running"], true, "{v}");
    let text = stdout(&scene.output(&["status", "c"]));
    assert!(
        text.contains("left running:") && text.contains("still running"),
        "{text}"
    );
    let check = format!(
        "if grep -qs '^{pid} ([^)]*) [^ZX]' /proc/{pid}/stat; then echo ALIVE; else echo dead; fi"
    );
    let out = scene.output(&["run", "--kill-orphans", "c", "--", "sh", "-c", &check]);
    assert!(out.status.success(), "{}", describe(&out));
    assert_eq!(stdout(&out).trim(), "dead", "{}", describe(&out));
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("killed") && err.contains("process group"),
        "{err}"
    );
    assert!(!running(pid));
    let json = scene.output(&["status", "--json", "c"]);
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(v["leftover_group"], serde_json::Value::Null, "{v}");
}

/// The process group `pid` is in (`/proc/PID/stat`'s pgrp).
fn group_of(pid: u32) -> u32 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let close = stat.rfind(')').unwrap();
    stat[close + 1..]
        .split_whitespace()
        .nth(2)
        .and_then(|g| g.parse().ok())
        .unwrap_or_else(|| panic!("no pgrp in {stat:?}"))
}

/// What COMMAND leaves running in its process group (a background job) keeps the lock: the
/// runner holds it until that is gone too, saying so in one line.
#[test]
fn what_command_leaves_running_keeps_the_lock_until_it_exits() {
    let scene = Scene::new();
    let script = format!("sh -c '{}' &", INSIDE.replace('\'', r"'\''"));
    let mut runner = scene.spawn(&["run", "c", "--", "sh", "-c", &script]);
    let out = Lines::stdout(&mut runner);
    let err = Lines::stderr(&mut runner);
    let mut inside = Stray(Some(pid_from_held(&out.next("from the background job"))));
    let said = err.next("from the runner about the background job");
    assert!(
        said.contains("COMMAND exited") && said.contains("process group"),
        "{said}"
    );
    let busy = scene.output(&["run", "--no-wait", "c", "--", "sh", "-c", CHECK]);
    assert_eq!(
        busy.status.code(),
        Some(1),
        "the lock was free while COMMAND's background job was inside: {}",
        describe(&busy)
    );
    scene.release_one();
    inside.0 = None;
    let status = runner.wait().unwrap();
    assert!(status.success(), "{status:?}");
    let after = scene.output(&["run", "--no-wait", "c", "--", "sh", "-c", CHECK]);
    assert_eq!(stdout(&after).trim(), "clean", "{}", describe(&after));
}

/// Issue 12, item 2: TERM, INT and HUP sent to the runner (systemctl stop, timeout(1), Ctrl-C
/// from a script's terminal) reach COMMAND's handler; the lock stays held until the handler
/// has finished, and the runner exits with COMMAND's status.
#[test]
fn term_int_and_hup_reach_the_handler_which_finishes_before_the_release() {
    let scene = Scene::new();
    for (signal, name) in [
        (libc::SIGTERM, "TERM"),
        (libc::SIGINT, "INT"),
        (libc::SIGHUP, "HUP"),
    ] {
        let _ = std::fs::remove_file(scene.path("handled"));
        let script = format!(
            r#"trap 'echo handling; read x < "$D/release"; : > "$D/handled"; exit 7' {name}
               echo ready; while :; do sleep 1; done"#
        );
        let mut runner = scene.spawn(&["run", "c", "--", "sh", "-c", &script]);
        let out = Lines::stdout(&mut runner);
        assert_eq!(out.next("ready"), "ready");
        // SAFETY: kill has no memory-safety preconditions.
        assert_eq!(unsafe { libc::kill(runner.id() as i32, signal) }, 0);
        let line = out.next(&format!("from COMMAND's {name} handler"));
        assert_eq!(line, "handling", "SIG{name}");
        // The handler runs: the lock is still held.
        let busy = scene.output(&["run", "--no-wait", "c", "--", "true"]);
        assert_eq!(
            busy.status.code(),
            Some(1),
            "SIG{name}: the lock was free while COMMAND's handler ran: {}",
            describe(&busy)
        );
        scene.release_one();
        let status = runner.wait().unwrap();
        assert_eq!(status.code(), Some(7), "SIG{name}: COMMAND's status");
        let next = scene.output(&[
            "run",
            "--no-wait",
            "c",
            "--",
            "sh",
            "-c",
            r#"test -e "$D/handled" && echo after"#,
        ]);
        assert_eq!(
            stdout(&next).trim(),
            "after",
            "SIG{name}: {}",
            describe(&next)
        );
    }
}

/// A COMMAND that does not handle the forwarded signal dies of it, and the runner exits
/// 128 + N, as timeout(1) does.
#[test]
fn forwarded_signal_that_kills_command_exits_128_plus_n() {
    let scene = Scene::new();
    for (signal, code) in [
        (libc::SIGTERM, 143),
        (libc::SIGQUIT, 131),
        (libc::SIGUSR1, 138),
    ] {
        let mut runner = scene.spawn(&["run", "c", "--", "sh", "-c", "echo ready; exec sleep 600"]);
        let out = Lines::stdout(&mut runner);
        assert_eq!(out.next("ready"), "ready");
        // SAFETY: kill has no memory-safety preconditions.
        assert_eq!(unsafe { libc::kill(runner.id() as i32, signal) }, 0);
        let status = runner.wait().unwrap();
        assert_eq!(status.code(), Some(code), "signal {signal}: {status:?}");
    }
}

/// `interlock status` names the process group COMMAND runs in.
#[test]
fn status_names_the_commands_process_group() {
    let scene = Scene::new();
    let mut runner = scene.spawn(&[
        "run",
        "c",
        "--",
        "sh",
        "-c",
        "echo \"held $$\"; exec sleep 600",
    ]);
    let out = Lines::stdout(&mut runner);
    let pid = pid_from_held(&out.next("held"));
    let text = scene.output(&["status", "c"]);
    assert!(
        stdout(&text).contains(&format!("process group {pid}")),
        "{}",
        describe(&text)
    );
    let json = scene.output(&["status", "--json", "c"]);
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(v["holder"]["process_group"], pid, "{v}");
    runner.kill().unwrap();
    runner.wait().unwrap();
}

/// Issue 12, item 3: an OS error is printed once, not once per level of the error chain.
#[test]
fn missing_directory_is_one_line_with_the_os_error_once() {
    let ns = Ns::new();
    let path = ns.dir.path().join("nodir").join("x.lock");
    let out = ns.run(&["run", "--path", path.to_str().unwrap(), "--", "true"]);
    assert_eq!(out.status.code(), Some(3), "{}", describe(&out));
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert_eq!(
        err.matches("No such file or directory").count(),
        1,
        "the OS error once: {err}"
    );
    assert!(err.contains("nodir"), "names the path: {err}");
}

/// Issue 12, item 3: a name with a slash points to the CLI's `--path`, not to a library
/// function.
#[test]
fn name_with_a_slash_points_to_the_path_option() {
    let ns = Ns::new();
    let out = ns.run(&["run", "bad/name", "--", "true"]);
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("--path"), "{err}");
    assert!(!err.contains("open_path"), "{err}");
}

/// With a terminal, COMMAND's group is a job in its foreground: COMMAND reads the terminal
/// (a background group would be stopped by SIGTTIN), and Ctrl-C reaches COMMAND's handler,
/// which runs to its end with the lock still held. The terminal is a pseudo-terminal made by
/// util-linux `script`, typed into through its standard input.
#[test]
fn on_a_terminal_command_reads_it_and_ctrl_c_reaches_its_handler() {
    if which("script").is_none() {
        assert!(
            !in_ci(),
            "script (util-linux) is missing, and CI must run this test"
        );
        eprintln!("\n!!!!!!!!!! SKIPPED (no script(1)): terminal test !!!!!!!!!!\n");
        return;
    }
    let scene = Scene::new();
    let command = r#"trap 'echo got-int; read x < "$D/release"; exit 5' INT
        echo ready; read line; echo "read: $line"; while :; do sleep 1; done"#;
    let inner = format!(
        "'{}' run c -- sh -c '{}'; echo rc=$?",
        env!("CARGO_BIN_EXE_interlock"),
        command.replace('\'', r"'\''")
    );
    let mut script = Command::new("script")
        .args(["-qec", &inner, "/dev/null"])
        .env("INTERLOCK_DIR", scene.ns.ns_dir())
        .env("D", scene.dir())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut keys = script.stdin.take().unwrap();
    let out = Lines::stdout(&mut script);
    let wait_for = |want: &str| loop {
        let line = out.next(&format!("{want:?} on the terminal"));
        if line.trim_end_matches('\r').ends_with(want) {
            break;
        }
    };
    wait_for("ready");
    keys.write_all(b"hello\n").unwrap();
    wait_for("read: hello");
    keys.write_all(b"\x03").unwrap(); // Ctrl-C
    wait_for("got-int");
    let busy = scene.output(&["run", "--no-wait", "c", "--", "true"]);
    assert_eq!(
        busy.status.code(),
        Some(1),
        "the lock was free while COMMAND's handler ran: {}",
        describe(&busy)
    );
    scene.release_one();
    wait_for("rc=5");
    drop(keys);
    script.wait().unwrap();
}

fn which(program: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(program))
            .find(|p| p.is_file())
    })
}

/// A runner whose parent ignores SIGCHLD (an ignored signal stays ignored across exec) still
/// gets COMMAND's status: the kernel would otherwise reap COMMAND behind its back.
#[test]
fn runner_started_with_sigchld_ignored_still_gets_the_status() {
    use std::os::unix::process::CommandExt;
    let scene = Scene::new();
    let mut cmd = scene.cmd(&["run", "c", "--", "sh", "-c", "exit 3"]);
    let ignore_sigchld = || {
        // SAFETY: signal(2) with SIG_IGN installs no handler; async-signal-safe.
        unsafe { libc::signal(libc::SIGCHLD, libc::SIG_IGN) };
        Ok(())
    };
    // SAFETY: the hook makes one async-signal-safe call (signal) between fork and exec.
    unsafe { cmd.pre_exec(ignore_sigchld) };
    let child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, rx) = channel();
    std::thread::spawn(move || tx.send(child.wait_with_output().unwrap()));
    let out = rx.recv_timeout(PATIENCE).expect("the runner hung");
    assert_eq!(out.status.code(), Some(3), "{}", describe(&out));
}

/// Issue 15: an rwlock's next writer after two readers whose runners (`run --shared`) were
/// SIGKILLed, each with a grandchild still inside: it waits for both readers' process groups,
/// one after the other, and its COMMAND finds neither inside.
#[test]
fn grandchildren_of_two_killed_readers_never_overlap_the_next_writer() {
    let scene = Scene::new();
    // One FIFO per reader, so that each can be let go alone.
    for n in [1, 2] {
        let fifo = scene.path(&format!("release{n}"));
        let c = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).unwrap();
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0, "mkfifo");
    }
    let inside = |n: u32| {
        let body = INSIDE
            .replace("$D/inside", &format!("$D/inside{n}"))
            .replace("$D/release", &format!("$D/release{n}"));
        format!("sh -c '{}' & wait", body.replace('\'', r"'\''"))
    };
    let lock: &[&str] = &["--shared", "c"];
    let mut first = kill_runner_while_inside(&scene, lock, &inside(1));
    let mut second = kill_runner_while_inside(&scene, lock, &inside(2));
    let check =
        r#"if [ -e "$D/inside1" ] || [ -e "$D/inside2" ]; then echo OVERLAP; else echo clean; fi"#;
    let before = scene.output(&["status", "--json", "c"]);
    let mut next = scene.spawn(&["run", "c", "--", "sh", "-c", check]);
    let err = Lines::stderr(&mut next);
    let release = |n: u32| {
        let mut fifo = std::fs::OpenOptions::new()
            .write(true)
            .open(scene.path(&format!("release{n}")))
            .unwrap();
        fifo.write_all(b"go\n").unwrap();
    };
    // Each line names the group it waits for; let that reader's grandchild go, then the other.
    for _ in 0..2 {
        let said = match err.0.recv_timeout(PATIENCE) {
            Ok(line) => line,
            Err(e) => {
                let out = next.wait_with_output().unwrap();
                let after = scene.output(&["status", "--json", "c"]);
                panic!(
                    "no line from the next writer on stderr ({e:?}): {}\nbefore: {}\nafter: {}",
                    describe(&out),
                    describe(&before),
                    describe(&after)
                );
            }
        };
        assert!(
            said.contains("waiting") && said.contains("process group"),
            "{said}"
        );
        let pgid_of = |pid: u32| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            stat.rfind(')')
                .and_then(|i| stat[i + 1..].split_whitespace().nth(2))
                .map(str::to_owned)
                .unwrap_or_default()
        };
        let named = |s: &Stray| {
            s.0.is_some_and(|pid| said.contains(&format!("process group {}", pgid_of(pid))))
        };
        if named(&first) {
            release(1);
            first.0 = None;
        } else {
            assert!(named(&second), "names neither reader's group: {said}");
            release(2);
            second.0 = None;
        }
    }
    let out = next.wait_with_output().unwrap();
    assert_eq!(stdout(&out).trim(), "clean", "{}", describe(&out));
    assert!(out.status.success(), "{}", describe(&out));
}
