//! `run --slots N` (issue 15: at most N commands at once, like GNU parallel's `sem`) and the
//! `status`, `status --json` and `list` of its semaphore: every permit's holder, the free ones,
//! and a SIGKILLed holder's permit free with its death counted and told to the next command.

use crate::util::{describe, stderr, stdout, Holder, Ns};

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

/// With both permits of `--slots 2` held, a third command is refused (`--no-wait`: exit 1,
/// naming the semaphore); once one holder is SIGKILLed, the third runs on its permit and is
/// told (`INTERLOCK_PREVIOUS_OWNER_DIED=1`), while the other holder keeps its own.
#[test]
fn slots_admit_n_commands_and_a_killed_ones_permit_goes_to_the_next_told() {
    let ns = Ns::new();
    let first = hold_permit(&ns, "jobs", 2);
    let mut second = hold_permit(&ns, "jobs", 2);
    let out = ns.run(&["run", "--slots", "2", "--no-wait", "jobs", "--", "true"]);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    assert!(stderr(&out).contains("\"jobs\""), "{}", describe(&out));

    second.kill().unwrap();
    second.wait().unwrap();
    let out = ns.run(&[
        "run",
        "--slots",
        "2",
        "--wait",
        "20",
        "jobs",
        "--",
        "sh",
        "-c",
        "echo $INTERLOCK_PREVIOUS_OWNER_DIED",
    ]);
    assert!(out.status.success(), "{}", describe(&out));
    assert_eq!(stdout(&out), "1\n", "{}", describe(&out));
    // The living holder's permit was never taken: still one command at most beside it.
    let out = ns.run(&["run", "--slots", "2", "--no-wait", "jobs", "--", "true"]);
    assert!(out.status.success(), "{}", describe(&out));
    let text = stdout(&ns.run(&["status", "jobs"]));
    assert!(text.contains("permits:       1 free of 2"), "{text}");
    assert!(permit_line_of(&text, first.id()).is_some(), "{text}");
    drop(first);
}

/// The line of the permit held by `pid` in `status` text, if any.
fn permit_line_of(text: &str, pid: u32) -> Option<&str> {
    text.lines()
        .find(|l| l.contains(" permit ") && l.contains(&format!("held by pid {pid} ")))
}

/// Six shell loops of twenty `run --slots 2` commands each: every command records how many
/// commands are inside when it is (each marks itself with a directory, counts the marks,
/// removes its own), and no count is ever above 2; every command ran.
#[test]
fn six_shell_loops_never_have_more_than_two_commands_inside() {
    let ns = Ns::new();
    let inside = ns.dir.path().join("inside");
    std::fs::create_dir(&inside).unwrap();
    let counts = ns.dir.path().join("counts");
    let bin = env!("CARGO_BIN_EXE_interlock");
    let script = format!(
        "i=0; while [ $i -lt 20 ]; do \
           \"{bin}\" run --slots 2 jobs -- sh -c \
             'mkdir \"{d}/$$\" && ls \"{d}\" | wc -l >> \"{c}\" && rmdir \"{d}/$$\"' || exit 1; \
           i=$((i + 1)); \
         done",
        d = inside.display(),
        c = counts.display()
    );
    ns.run_shell_loops(6, &script);
    let counts: Vec<u32> = std::fs::read_to_string(&counts)
        .unwrap()
        .lines()
        .map(|l| l.trim().parse().unwrap())
        .collect();
    assert_eq!(counts.len(), 120, "every command ran");
    let max = counts.iter().max().copied();
    assert!(
        counts.iter().all(|&n| (1..=2).contains(&n)),
        "a command saw {max:?} inside"
    );
    let text = stdout(&ns.run(&["status", "jobs"]));
    assert!(
        text.contains("permits:       2 free of 2") && text.contains("acquisitions:  120"),
        "{text}"
    );
}
