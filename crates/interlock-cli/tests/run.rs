use std::os::unix::process::ExitStatusExt;
use std::time::Duration;

use crate::util::{describe, stderr, timed, Ns};

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
    let loops: Vec<_> = (0..8)
        .map(|_| {
            std::process::Command::new("sh")
                .args(["-c", &script])
                .env("INTERLOCK_DIR", ns.ns_dir())
                .spawn()
                .unwrap()
        })
        .collect();
    for mut l in loops {
        assert!(l.wait().unwrap().success());
    }
    assert_eq!(std::fs::read_to_string(&counter).unwrap().trim(), "400");
}

#[test]
fn wait_times_out_after_the_given_time_and_names_the_holder() {
    let ns = Ns::new();
    let mut holder = ns.hold("c", 3.0);
    let (out, took) = timed(|| ns.run(&["run", "--wait", "0.5", "c", "--", "true"]));
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    assert!(
        took >= Duration::from_millis(500),
        "gave up early: {took:?}"
    );
    assert!(took < Duration::from_millis(2500), "gave up late: {took:?}");
    let err = stderr(&out);
    assert!(err.contains(&format!("pid {}", holder.id())), "{err}");
    assert!(
        err.contains("sleep 3") || err.contains("interlock run c"),
        "no command in: {err}"
    );
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    holder.kill().unwrap();
    holder.wait().unwrap();
}

#[test]
fn no_wait_conflicts_at_once_with_the_chosen_exit_code() {
    let ns = Ns::new();
    let mut holder = ns.hold("c", 3.0);
    let (out, took) = timed(|| ns.run(&["run", "--no-wait", "c", "--", "true"]));
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    assert!(
        took < Duration::from_millis(1500),
        "--no-wait waited {took:?}"
    );
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
    let marker = ns.dir.path().join("orphan-ran");
    // The command would write the marker after 1 s if it outlived its runner.
    let script = format!("echo held; sleep 1; touch \"{}\"", marker.display());
    let mut runner = ns
        .cmd()
        .args(["run", "c", "--", "sh", "-c", &script])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(runner.stdout.take().unwrap()),
        &mut line,
    )
    .unwrap();
    assert_eq!(line, "held\n");
    runner.kill().unwrap(); // SIGKILL
    let status = runner.wait().unwrap();
    assert_eq!(status.signal(), Some(9));

    let (out, took) = timed(|| {
        ns.run(&[
            "run",
            "--wait",
            "5",
            "c",
            "--",
            "sh",
            "-c",
            "echo $INTERLOCK_PREVIOUS_OWNER_DIED",
        ])
    });
    assert!(out.status.success(), "{}", describe(&out));
    assert!(took < Duration::from_secs(2), "recovery took {took:?}");
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
    std::thread::sleep(Duration::from_millis(1500));
    assert!(!marker.exists(), "the command outlived its killed runner");
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
