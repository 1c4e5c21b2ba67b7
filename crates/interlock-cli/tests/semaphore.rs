//! `status`, `status --json` and `list` of a semaphore (`run --slots`): every permit's holder,
//! the free ones, and a SIGKILLed holder's permit free with its death counted.

use crate::util::{describe, stdout, Holder, Ns};

/// `interlock run --slots N NAME -- sh -c 'echo held; exec sleep …'`, once it holds a permit.
fn hold_permit(ns: &Ns, name: &str, n: usize) -> Holder {
    ns.hold_with(&["--slots", &n.to_string()], name)
}

/// The line of permit `i` in `status` text.
fn permit_line(text: &str, i: usize) -> &str {
    let prefix = format!("semaphore \"jobs\" permit {i}: ");
    text.lines()
        .find(|l| l.starts_with(&prefix))
        .unwrap_or_else(|| panic!("no line for permit {i}:\n{text}"))
}

/// Two holders of a semaphore of three permits: text, JSON and `list` show both pids and one
/// permit free; one SIGKILLed, its permit is free, with the death shown.
#[test]
fn status_shows_each_permit_and_a_killed_holders_death() {
    let ns = Ns::new();
    let first = hold_permit(&ns, "jobs", 3);
    let mut second = hold_permit(&ns, "jobs", 3);
    let pids = [first.id(), second.id()];

    let out = ns.run(&["status", "jobs"]);
    assert!(out.status.success(), "{}", describe(&out));
    let text = stdout(&out);
    assert!(
        text.starts_with("semaphore \"jobs\" (Semaphore)\n"),
        "{text}"
    );
    assert!(text.contains("permits:       1 free of 3"), "{text}");
    for (i, pid) in pids.iter().enumerate() {
        let line = permit_line(&text, i);
        assert!(
            line.contains(&format!("held by pid {pid} tid {pid} for ")),
            "{line}"
        );
    }
    assert_eq!(permit_line(&text, 2), "semaphore \"jobs\" permit 2: free");

    let out = ns.run(&["status", "--json", "jobs"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["kind"], "Semaphore");
    assert_eq!(v["held"], true);
    assert_eq!(v["holder"], serde_json::Value::Null);
    let sem = &v["semaphore"];
    assert_eq!(sem["free"], 1);
    assert_eq!(sem["sleepers"], 0);
    let permits = sem["permits"].as_array().unwrap();
    assert_eq!(permits.len(), 3);
    for (i, pid) in pids.iter().enumerate() {
        let p = &permits[i];
        assert_eq!(p["permit"], i);
        assert_eq!(p["holder"]["pid"], *pid);
        assert!(p["holder"]["since_unix_ms"].as_u64().is_some(), "{p}");
        assert_eq!(p["owner_deaths"], 0);
    }
    assert_eq!(permits[2]["holder"], serde_json::Value::Null);

    let out = ns.run(&["list"]);
    let text = stdout(&out);
    let row = text
        .lines()
        .find(|l| l.starts_with("jobs "))
        .expect("listed");
    assert!(row.contains(" 2/3 "), "{text}");
    for pid in pids {
        assert!(row.contains(&format!("pid {pid}")), "{text}");
    }

    second.kill().unwrap();
    second.wait().unwrap();
    let out = ns.run(&["status", "jobs"]);
    let text = stdout(&out);
    assert!(text.contains("permits:       2 free of 3"), "{text}");
    assert!(text.contains("owner deaths:  1"), "{text}");
    assert_eq!(
        permit_line(&text, 1),
        "semaphore \"jobs\" permit 1: free (its last holder died holding it); owner deaths 1"
    );
    assert!(permit_line(&text, 0).contains(&format!("pid {}", pids[0])));
    let out = ns.run(&["status", "--json", "jobs"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["semaphore"]["free"], 2);
    assert_eq!(v["owner_deaths"], 1);
    let dead = &v["semaphore"]["permits"][1];
    assert_eq!(dead["holder"], serde_json::Value::Null);
    assert_eq!(dead["owner_deaths"], 1);
    assert_eq!(dead["owner_died_unclaimed"], true);
    drop(first);
}
