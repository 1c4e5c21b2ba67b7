//! `interlock event` and `interlock barrier` (issue 15): shell scripts meeting at a named event
//! or barrier; `status` and `list` show each kind's state; a party killed breaks the barrier
//! for the others, who exit 1 naming it.

use std::process::Stdio;

use crate::util::{describe, stderr, stdout, wait_until, Ns};

#[test]
fn event_wait_returns_when_another_shell_sets_it() {
    let ns = Ns::new();
    let out = ns.run(&["event", "wait", "--wait", "20ms", "ready"]);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    assert!(
        stderr(&out).contains("was not set within"),
        "{}",
        describe(&out)
    );
    let mut waiter = ns
        .cmd()
        .args(["event", "wait", "ready"])
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    wait_until("the waiter asleep", || {
        stdout(&ns.run(&["status", "ready"])).contains("waiters:       maybe")
    });
    assert!(ns.run(&["event", "set", "ready"]).status.success());
    assert!(waiter.wait().unwrap().success());
    let v: serde_json::Value =
        serde_json::from_slice(&ns.run(&["status", "--json", "ready"]).stdout).unwrap();
    assert_eq!(v["kind"], "Event");
    assert_eq!(v["event"]["set"], true);
    assert_eq!(v["event"]["sets"], 1);
    assert!(v.get("barrier").is_none(), "{v}");
    assert_eq!(list_row(&ns, "ready")[1..3], ["Event", "set"]);
    assert!(ns.run(&["event", "clear", "ready"]).status.success());
    assert!(stdout(&ns.run(&["status", "ready"])).contains("set:           no"));
}

#[test]
fn barrier_wait_passes_fresh_processes_generation_after_generation() {
    let ns = Ns::new();
    for _ in 0..3 {
        let other = ns
            .cmd()
            .args(["barrier", "wait", "-n", "2", "--wait", "30s", "phase"])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mine = ns.run(&["barrier", "wait", "-n", "2", "--wait", "30s", "phase"]);
        let theirs = other.wait_with_output().unwrap();
        assert!(mine.status.success(), "{}", describe(&mine));
        assert!(theirs.status.success(), "{}", describe(&theirs));
        assert_eq!(
            [stdout(&mine), stdout(&theirs)]
                .iter()
                .filter(|o| o.contains("leader"))
                .count(),
            1
        );
    }
    let v: serde_json::Value =
        serde_json::from_slice(&ns.run(&["status", "--json", "phase"]).stdout).unwrap();
    assert_eq!(v["kind"], "Barrier");
    assert_eq!(v["barrier"]["generation"], 3);
    assert_eq!(v["barrier"]["parties"], 2);
}

#[test]
fn a_killed_party_breaks_the_barrier_and_the_others_exit_1_naming_it() {
    let ns = Ns::new();
    let mut first = ns
        .cmd()
        .args(["barrier", "wait", "-n", "3", "gate"])
        .spawn()
        .unwrap();
    wait_until("the first party waiting", || {
        stdout(&ns.run(&["status", "gate"])).contains("arrived:       1")
    });
    let second = ns
        .cmd()
        .args(["barrier", "wait", "-n", "3", "--wait", "30s", "gate"])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_until("the second party waiting", || {
        stdout(&ns.run(&["status", "gate"])).contains("arrived:       2")
    });
    first.kill().unwrap();
    first.wait().unwrap();
    let out = second.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    assert!(
        stderr(&out).contains(&format!("a party died (pid {})", first.id())),
        "{}",
        describe(&out)
    );
    let status = stdout(&ns.run(&["status", "gate"]));
    assert!(
        status.contains("broken:        yes: a party died"),
        "{status}"
    );
    assert_eq!(list_row(&ns, "gate")[1..3], ["Barrier", "broken"]);
    let out = ns.run(&["barrier", "wait", "-n", "3", "gate"]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "broken until reset: {}",
        describe(&out)
    );
    assert!(ns.run(&["barrier", "reset", "gate"]).status.success());
    assert!(stdout(&ns.run(&["status", "gate"])).contains("broken:        no"));
    assert!(ns.run(&["barrier", "abort", "gate"]).status.success());
    assert!(stdout(&ns.run(&["status", "gate"])).contains("it was aborted"));
    let out = ns.run(&["barrier", "wait", "-n", "0", "zero"]);
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
}

/// The whitespace-separated columns of `interlock list`'s row for `name`.
fn list_row(ns: &Ns, name: &str) -> Vec<String> {
    let out = stdout(&ns.run(&["list"]));
    out.lines()
        .map(|l| l.split_whitespace().map(str::to_owned).collect::<Vec<_>>())
        .find(|cols| cols.first().is_some_and(|c| c.trim_matches('"') == name))
        .unwrap_or_else(|| panic!("no row for {name} in:\n{out}"))
}
