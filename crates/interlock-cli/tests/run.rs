use std::os::unix::process::ExitStatusExt;
use std::time::Duration;

use crate::util::{describe, stderr, timed, wait_until, Ns, HOLD_SECS};

#[test]
fn eight_shell_loops_of_fifty_runs_count_exactly_400() {
    let ns = Ns::new();
    let counter = ns.dir.path().join("count");
    std::fs::write(&counter, "0").unwrap();
    let bin = env!("CARGO_BIN_EXE_interlock");
    // Each loop: 50 × read a number, add 1, write it back — racy without the lock.
    let script = format!(
        "i=0; while [ $i -lt 50 ]; do \
           \"{bin}\" run c -- sh -c 'n=$(cat \"{c}\"); echo $((n + 1)) > \"{c}\"' || exit 1; \
           i=$((i + 1)); \
         done",
        c = counter.display()
    );
    ns.run_shell_loops(8, &script);
    assert_eq!(std::fs::read_to_string(&counter).unwrap().trim(), "400");
}

#[test]
fn wait_times_out_after_the_given_time_and_names_the_holder() {
    let ns = Ns::new();
    let mut holder = ns.hold("c");
    // The holder keeps the lock until killed: the run can only end by giving up (and `run`
    // fails the test if it has not within PATIENCE).
    let (out, took) = timed(|| ns.run(&["run", "--wait", "0.5", "c", "--", "true"]));
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    assert!(
        took >= Duration::from_millis(500),
        "gave up early: {took:?}"
    );
    let err = stderr(&out);
    assert!(err.contains(&format!("pid {}", holder.id())), "{err}");
    assert!(
        err.contains(&format!("sleep {HOLD_SECS}")) || err.contains("interlock run c"),
        "no command in: {err}"
    );
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    holder.kill().unwrap();
    holder.wait().unwrap();
}

#[test]
fn no_wait_conflicts_at_once_with_the_chosen_exit_code() {
    let ns = Ns::new();
    let mut holder = ns.hold("c");
    // The holder keeps the lock until killed: a `--no-wait` that waited would never return
    // (`run` fails the test after PATIENCE).
    let out = ns.run(&["run", "--no-wait", "c", "--", "true"]);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    assert!(
        stderr(&out).contains("is held by pid"),
        "{}",
        describe(&out)
    );
    let out = ns.run(&["run", "-n", "--conflict-exit-code", "7", "c", "--", "true"]);
    assert_eq!(out.status.code(), Some(7), "{}", describe(&out));
    holder.kill().unwrap();
    holder.wait().unwrap();
}

#[test]
fn command_exit_status_passes_through() {
    let ns = Ns::new();
    for (script, want) in [
        ("exit 0", 0),
        ("exit 3", 3),
        ("kill -TERM $$", 128 + 15),
        ("kill -KILL $$", 128 + 9),
    ] {
        let out = ns.run(&["run", "c", "--", "sh", "-c", script]);
        assert_eq!(
            out.status.code(),
            Some(want),
            "{script}: {}",
            describe(&out)
        );
    }
}

#[test]
fn command_is_told_its_token_which_grows() {
    let ns = Ns::new();
    let token = |ns: &Ns| -> u64 {
        let out = ns.run(&["run", "c", "--", "sh", "-c", "echo $INTERLOCK_TOKEN"]);
        String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
    };
    let a = token(&ns);
    let b = token(&ns);
    assert!(b > a, "{a} then {b}");
}

#[test]
fn sigkilled_runner_frees_the_lock_kills_its_command_and_is_reported() {
    let ns = Ns::new();
    // The command says its pid and then sleeps for an hour unless it dies with its runner.
    let mut runner = ns
        .cmd()
        .args([
            "run",
            "c",
            "--",
            "sh",
            "-c",
            &format!("echo $$; exec sleep {HOLD_SECS}"),
        ])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(runner.stdout.take().unwrap()),
        &mut line,
    )
    .unwrap();
    let command: i32 = line.trim().parse().expect("the command's pid");
    /// Kills the command if the test ends with it still running.
    struct Reap(i32);
    impl Drop for Reap {
        fn drop(&mut self) {
            // SAFETY: kill with integer arguments. The pid is the command's, which the test
            // watched until it was gone or ends with it still running (then it is still the
            // command: a running process keeps its pid).
            unsafe { libc::kill(self.0, libc::SIGKILL) };
        }
    }
    let reap = Reap(command);
    runner.kill().unwrap(); // SIGKILL
    let status = runner.wait().unwrap();
    assert_eq!(status.signal(), Some(9));
    // Orphaned, it would sleep on; killed with its runner, it is gone (or an unreaped zombie).
    wait_until(
        &format!("the command (pid {command}) dies with its killed runner"),
        || match std::fs::read_to_string(format!("/proc/{command}/stat")) {
            Ok(stat) => stat.contains(") Z ") || stat.contains(") X "),
            Err(_) => true,
        },
    );
    std::mem::forget(reap);

    let (out, took) = timed(|| {
        ns.run(&[
            "run",
            "--wait",
            "30",
            "c",
            "--",
            "sh",
            "-c",
            "echo $INTERLOCK_PREVIOUS_OWNER_DIED",
        ])
    });
    assert!(out.status.success(), "{}", describe(&out));
    eprintln!("recovered the killed runner's lock in {took:?}");
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "1");
    assert!(
        stderr(&out).contains("previous holder of lock \"c\" died"),
        "{}",
        describe(&out)
    );
    // The poison was cleared by the successful command; the death stays counted.
    let status = ns.run(&["status", "--json", "c"]);
    let v: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(v["poisoned"], false);
    assert_eq!(v["owner_deaths"], 1);
}

/// `run --fair` makes the named lock fair: `status` says so, a later plain `run` of the name
/// works with it, and `--fair` on an existing unfair lock is refused with one line, exit 2.
#[test]
fn fair_runs_create_a_fair_lock_and_refuse_an_unfair_one() {
    let ns = Ns::new();
    let out = ns.run(&["run", "--fair", "queue", "--", "true"]);
    assert!(out.status.success(), "{}", describe(&out));
    let out = ns.run(&["status", "--json", "queue"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["kind"], "FairLock", "{v}");
    assert!(ns.run(&["run", "queue", "--", "true"]).status.success());
    assert!(ns.run(&["run", "plain", "--", "true"]).status.success());
    let out = ns.run(&["run", "--fair", "plain", "--", "true"]);
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    assert_eq!(stderr(&out).lines().count(), 1, "{}", describe(&out));
    assert!(stderr(&out).contains("FairLock"), "{}", describe(&out));
}
