//! A [`Condition`](interlock::Condition) in `interlock status`, `list` and `status --json`
//! (issue 15): the kind, its waiters counted, its notifications; and a
//! [`Value`](interlock::Value): its kind, its holder, a killed holder's death.

use std::time::Duration;

use crate::util::{describe, stdout, wait_until, Ns};

#[test]
fn status_and_list_show_a_condition_and_its_waiters() {
    let ns = Ns::new();
    std::os::unix::fs::DirBuilderExt::mode(&mut std::fs::DirBuilder::new(), 0o700)
        .create(ns.ns_dir())
        .unwrap();
    let lock = interlock::Lock::open_path(ns.ns_dir().join("queue.lock"), 0o600).unwrap();
    let cond =
        interlock::Condition::open_path(ns.ns_dir().join("ready.lock"), 0o600, &lock).unwrap();
    let out = ns.run(&["status", "ready"]);
    assert!(out.status.success(), "{}", describe(&out));
    assert!(stdout(&out).contains("(Condition)"), "{}", describe(&out));
    std::thread::scope(|s| {
        let waiter = s.spawn(|| {
            let guard = lock.lock().unwrap();
            let (_guard, r) = cond.wait_timeout(guard, Duration::from_secs(60)).unwrap();
            r.timed_out()
        });
        wait_until("the waiter counted in", || {
            stdout(&ns.run(&["status", "ready"])).contains("waiters:       1 ")
        });
        assert_eq!(list_row(&ns, "ready")[1..3], ["Condition", "waiting"]);
        let v: serde_json::Value =
            serde_json::from_slice(&ns.run(&["status", "--json", "ready"]).stdout).unwrap();
        assert_eq!(v["kind"], "Condition");
        assert_eq!(v["condition"]["waiters"], 1, "{v}");
        assert_eq!(v["condition"]["pending"], 0, "{v}");
        assert_eq!(
            v["condition"]["waiting"],
            serde_json::json!([std::process::id()]),
            "{v}"
        );
        assert!(stdout(&ns.run(&["status", "ready"]))
            .contains(&format!("waiting:       pid {}", std::process::id())));
        assert!(v.get("event").is_none(), "{v}");
        cond.notify_one();
        assert!(!waiter.join().unwrap(), "notified, not timed out");
    });
    let text = stdout(&ns.run(&["status", "ready"]));
    assert!(
        text.contains("waiters:       0 ") && text.contains("notifications: 1"),
        "{text}"
    );
    assert_eq!(list_row(&ns, "ready")[1..3], ["Condition", "idle"]);
}

/// `list`'s columns for `name`: NAME, KIND, STATE, …
fn list_row(ns: &Ns, name: &str) -> Vec<String> {
    let out = stdout(&ns.run(&["list"]));
    out.lines()
        .map(|l| l.split_whitespace().map(str::to_owned).collect::<Vec<_>>())
        .find(|cols| cols.first().is_some_and(|c| c.trim_matches('"') == name))
        .unwrap_or_else(|| panic!("no row for {name} in:\n{out}"))
}

/// A [`Value`](interlock::Value) (issue 15: every primitive in `status`, `list`, `--json`): its
/// kind and its holder; its holder SIGKILLed mid-update, the death and the poison, then the
/// next holder told.
#[test]
fn status_and_list_show_a_value_its_holder_and_a_killed_holders_death() {
    let ns = Ns::new();
    std::os::unix::fs::DirBuilderExt::mode(&mut std::fs::DirBuilder::new(), 0o700)
        .create(ns.ns_dir())
        .unwrap();
    let value = interlock::Value::open_path(ns.ns_dir().join("hits.lock"), 0o600, 0u64).unwrap();
    let (tx, rx) = interlock_testkit::channel();
    let holder = interlock_testkit::fork(|| {
        let mut guard = value.lock().unwrap();
        *guard = 41; // never committed: the holder dies first
        tx.send("holding");
        interlock_testkit::hold_until_killed();
    });
    rx.expect("holding");
    let out = ns.run(&["status", "hits"]);
    assert!(out.status.success(), "{}", describe(&out));
    let text = stdout(&out);
    assert!(text.starts_with("lock \"hits\" (Value)\n"), "{text}");
    assert!(
        text.contains(&format!("held by:       pid {}", holder.pid())),
        "{text}"
    );
    let row = list_row(&ns, "hits");
    assert_eq!(row[1..3], ["Value", "held"], "{row:?}");
    let v: serde_json::Value =
        serde_json::from_slice(&ns.run(&["status", "--json", "hits"]).stdout).unwrap();
    assert_eq!(v["kind"], "Value");
    assert_eq!(v["holder"]["pid"], holder.pid(), "{v}");

    holder.kill(libc::SIGKILL);
    holder.join_killed_by(libc::SIGKILL);
    let v: serde_json::Value =
        serde_json::from_slice(&ns.run(&["status", "--json", "hits"]).stdout).unwrap();
    assert_eq!(v["held"], false, "{v}");
    assert_eq!(v["owner_deaths"], 1, "{v}");
    assert_eq!(v["owner_died_unclaimed"], true, "{v}");
    assert_eq!(v["poisoned"], true, "{v}");
    let guard = value.lock().unwrap();
    assert!(
        guard.previous_owner_died() && *guard == 0,
        "told, and nothing torn"
    );
    drop(guard);
    assert_eq!(list_row(&ns, "hits")[1..3], ["Value", "free"]);
}
