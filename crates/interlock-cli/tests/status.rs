use crate::util::{describe, stderr, stdout, Ns, PATIENCE};

#[test]
fn status_json_describes_a_held_lock() {
    let ns = Ns::new();
    let mut holder = ns.hold("c");
    let out = ns.run(&["status", "--json", "c"]);
    assert!(out.status.success(), "{}", describe(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["name"], "c");
    assert_eq!(v["kind"], "Lock");
    assert_eq!(v["held"], true);
    assert_eq!(v["holder"]["pid"], holder.id());
    assert_eq!(v["holder"]["alive"], true);
    assert_eq!(v["holder"]["token"], 1);
    assert!(
        v["holder"]["command"].as_str().unwrap().contains("run c"),
        "{v}"
    );
    assert!(v["holder"]["held_for_ms"].as_u64().unwrap() < 60_000);
    assert!(v["holder"]["since_unix_ms"].as_u64().unwrap() > 1_600_000_000_000);
    for field in [
        "waiters",
        "acquisitions",
        "owner_deaths",
        "poisoned",
        "depth",
        "owner_died_unclaimed",
    ] {
        assert!(!v[field].is_null(), "missing {field}: {v}");
    }
    assert_eq!(v["acquisitions"], 1);
    assert_eq!(v["owner_deaths"], 0);
    // The holder's COMMAND (`sh`, which execs `sleep`) leads the process group it runs in.
    assert!(v["holder"]["process_group"].as_u64().is_some(), "{v}");
    assert_eq!(v["leftover_group"], serde_json::Value::Null, "{v}");
    holder.kill().unwrap();
    holder.wait().unwrap();
}

#[test]
fn status_text_and_list_show_the_holder() {
    let ns = Ns::new();
    let mut holder = ns.hold("busy");
    assert!(ns.run(&["run", "idle", "--", "true"]).status.success());
    let out = ns.run(&["status", "busy"]);
    assert!(
        stdout(&out).contains(&format!("held by:       pid {}", holder.id())),
        "{}",
        describe(&out)
    );
    let out = ns.run(&["list"]);
    let text = stdout(&out);
    let busy = text
        .lines()
        .find(|l| l.starts_with("busy "))
        .expect("busy listed");
    assert!(
        busy.contains("held") && busy.contains(&holder.id().to_string()),
        "{text}"
    );
    let idle = text
        .lines()
        .find(|l| l.starts_with("idle "))
        .expect("idle listed");
    assert!(idle.contains("free"), "{text}");
    let out = ns.run(&["list", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v.as_array().unwrap().len(), 2);
    holder.kill().unwrap();
    holder.wait().unwrap();
}

#[test]
fn rm_refuses_a_held_lock_unless_forced() {
    let ns = Ns::new();
    let mut holder = ns.hold("c");
    let out = ns.run(&["rm", "c"]);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("use --force"));
    assert!(ns.run(&["rm", "--force", "c"]).status.success());
    let out = ns.run(&["status", "c"]);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    holder.kill().unwrap();
    holder.wait().unwrap();
}

/// A run waiting past the deadlock timeout shows in `status` and `list` as a wait-for edge;
/// `status --deadlocks` finds no cycle in a plain queue and exits 0.
#[test]
fn waiters_show_as_wait_for_edges_and_no_deadlock_is_reported() {
    let ns = Ns::new();
    let mut holder = ns.hold("busy");
    let mut waiter = ns
        .cmd()
        .args(["run", "busy", "--", "true"])
        .spawn()
        .expect("spawn the waiting run");
    // Past the 200 ms deadlock timeout the waiter registers; look until it shows.
    let line = format!("waiting:       pid {}", waiter.id());
    let deadline = std::time::Instant::now() + PATIENCE;
    loop {
        let out = ns.run(&["status", "busy"]);
        if stdout(&out).contains(&line) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no wait-for edge for the waiting run after {PATIENCE:?}: {}",
            describe(&out)
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let out = ns.run(&["status", "--json", "busy"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["wait_for"][0]["pid"], waiter.id(), "{v}");
    let out = ns.run(&["list"]);
    assert!(
        stdout(&out).contains(&format!("pid {} ", waiter.id()))
            && stdout(&out).contains("waits for \"busy\""),
        "{}",
        describe(&out)
    );
    let out = ns.run(&["status", "--deadlocks"]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    assert_eq!(stdout(&out).trim(), "no deadlock");
    holder.kill().unwrap();
    holder.wait().unwrap();
    assert!(waiter.wait().unwrap().success());
}

/// Issue 11, item 9: `rm` used to read the status, then unlink. That reads one record: a lock
/// table whose lock 5 is held looked free, and was removed under its holder. `rm` now takes
/// every lock of the file for the removal, so it is refused (exit 1, naming the held lock and
/// its holder) until the holder lets go.
#[test]
fn rm_refuses_a_table_with_any_lock_held() {
    let ns = Ns::new();
    std::os::unix::fs::DirBuilderExt::mode(&mut std::fs::DirBuilder::new(), 0o700)
        .create(ns.ns_dir())
        .unwrap();
    let file = ns.ns_dir().join("jobs.lock");
    let table = interlock::LockTable::open_path(&file, 0o600, 8).unwrap();
    let guard = table.get(5).unwrap().lock().unwrap();
    let out = ns.run(&["rm", "jobs"]);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let err = stderr(&out);
    assert!(
        err.contains("lock \"jobs\"[5] is in use")
            && err.contains(&format!("pid {}", std::process::id()))
            && err.contains("use --force"),
        "{err}"
    );
    assert!(file.exists(), "rm removed a table with a lock held");
    drop(guard);
    let out = ns.run(&["rm", "jobs"]);
    assert!(out.status.success(), "{}", describe(&out));
    assert!(!file.exists());
}

/// The keys every lock object has, in `status --json`, each element of `list --json`, and the
/// `lock` of `run --json` and `rm --json` (issue 12: one shape).
const LOCK_KEYS: [&str; 15] = [
    "name",
    "path",
    "held",
    "kind",
    "holder",
    "waiters",
    "acquisitions",
    "owner_deaths",
    "owner_died_unclaimed",
    "poisoned",
    "depth",
    "leftover_group",
    "record",
    "file_locks",
    "wait_for",
];

fn keys(v: &serde_json::Value) -> Vec<String> {
    let mut k: Vec<String> = v.as_object().expect("an object").keys().cloned().collect();
    k.sort();
    k
}

fn lock_keys() -> Vec<String> {
    let mut k: Vec<String> = LOCK_KEYS.iter().map(|k| k.to_string()).collect();
    k.sort();
    k
}

/// Issue 12: `list --json` carries exactly the fields of `status --json` (the wait-for edges
/// too), for names and for `--path` files alike.
#[test]
fn list_json_has_the_fields_of_status_json() {
    let ns = Ns::new();
    let mut holder = ns.hold("busy");
    let file = ns.dir.path().join("plain.lock");
    std::fs::File::create(&file).unwrap();
    assert!(ns
        .cmd()
        .args(["run", "--path"])
        .arg(&file)
        .args(["--", "true"])
        .status()
        .unwrap()
        .success());
    let out = ns.run(&["status", "--json", "busy"]);
    let status: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(keys(&status), lock_keys(), "{status}");
    let out = ns.run(&["list", "--json"]);
    assert!(out.status.success(), "{}", describe(&out));
    let list: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let busy = list
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["name"] == "busy")
        .expect("busy listed");
    assert_eq!(keys(busy), lock_keys(), "{busy}");
    assert_eq!(busy["holder"]["pid"], holder.id());
    assert_eq!(busy["wait_for"], serde_json::json!([]));

    let out = ns
        .cmd()
        .args(["list", "--json", "--path"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", describe(&out));
    let list: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let entry = &list[0];
    assert_eq!(keys(entry), lock_keys(), "{entry}");
    assert_eq!(entry["path"], file.to_str().unwrap());
    assert_eq!(entry["name"], serde_json::Value::Null);
    assert_eq!(entry["acquisitions"], 1);
    assert_eq!(entry["held"], false);
    let out = ns
        .cmd()
        .args(["status", "--json", "--path"])
        .arg(&file)
        .output()
        .unwrap();
    let status: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(&status, entry, "status --path and list --path differ");
    holder.kill().unwrap();
    holder.wait().unwrap();
}

/// `status --json --path FILE` of a file held by flock(1): held, no interlock holder, the
/// flock(2) lock listed with its pid.
#[test]
fn status_json_of_a_path_lists_its_flock_holders() {
    let ns = Ns::new();
    let file = ns.dir.path().join("f.lock");
    std::fs::File::create(&file).unwrap();
    let mut flock = std::process::Command::new("flock")
        .arg("-o")
        .arg(&file)
        .args(["sh", "-c", "echo held; read x"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(flock.stdout.as_mut().unwrap()),
        &mut line,
    )
    .unwrap();
    assert_eq!(line, "held\n");
    let out = ns
        .cmd()
        .args(["status", "--json", "--path"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", describe(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(keys(&v), lock_keys(), "{v}");
    assert_eq!(v["held"], true, "{v}");
    assert_eq!(v["holder"], serde_json::Value::Null, "{v}");
    assert_eq!(v["file_locks"][0]["pid"], flock.id(), "{v}");
    assert_eq!(v["file_locks"][0]["exclusive"], true, "{v}");
    assert_eq!(v["file_locks"][0]["waiting"], false, "{v}");
    assert!(
        v["file_locks"][0]["command"]
            .as_str()
            .is_some_and(|c| c.starts_with("flock")),
        "{v}"
    );
    std::io::Write::write_all(&mut flock.stdin.take().unwrap(), b"\n").unwrap();
    assert!(flock.wait().unwrap().success());
}

/// `run --json`: a conflict prints one JSON object on stdout (COMMAND did not run) naming the
/// reason and the lock as `status --json` shows it.
#[test]
fn run_json_reports_a_conflict_on_stdout() {
    let ns = Ns::new();
    let mut holder = ns.hold("c");
    let out = ns.run(&["run", "--json", "--no-wait", "c", "--", "echo", "ran"]);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["reason"], "held", "{v}");
    assert_eq!(v["lock"]["name"], "c", "{v}");
    assert_eq!(v["lock"]["holder"]["pid"], holder.id(), "{v}");
    assert_eq!(keys(&v["lock"]), lock_keys(), "{v}");
    let out = ns.run(&["run", "--json", "--wait", "0.2", "c", "--", "echo", "ran"]);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["reason"], "timeout", "{v}");
    assert!(v["waited_ms"].as_u64().unwrap() >= 200, "{v}");
    holder.kill().unwrap();
    holder.wait().unwrap();
    // Acquired: stdout is COMMAND's alone.
    let out = ns.run(&["run", "--json", "c", "--", "echo", "ran"]);
    assert!(out.status.success(), "{}", describe(&out));
    assert_eq!(stdout(&out), "ran\n");
}

/// `rm --json`: what was removed; a refusal names the holder (exit 1). `rm --path` of a
/// foreign file removes interlock's record of it and says so; the file stays.
#[test]
fn rm_json_says_what_was_removed_and_who_holds_it() {
    let ns = Ns::new();
    let mut holder = ns.hold("c");
    let out = ns.run(&["rm", "--json", "c"]);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["removed"], false, "{v}");
    assert_eq!(v["lock"]["holder"]["pid"], holder.id(), "{v}");
    holder.kill().unwrap();
    holder.wait().unwrap();
    let out = ns.run(&["rm", "--json", "c"]);
    assert!(out.status.success(), "{}", describe(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["removed"], true, "{v}");
    assert!(v["file"].as_str().unwrap().ends_with("/c.lock"), "{v}");
    assert_eq!(v["lock"]["name"], "c", "{v}");

    let file = ns.dir.path().join("data.txt");
    std::fs::write(&file, "keep me\n").unwrap();
    assert!(ns
        .cmd()
        .args(["run", "--path"])
        .arg(&file)
        .args(["--", "true"])
        .status()
        .unwrap()
        .success());
    let out = ns
        .cmd()
        .args(["rm", "--json", "--path"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", describe(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["removed"], true, "{v}");
    assert_ne!(v["file"], file.to_str().unwrap(), "{v}");
    assert_eq!(v["lock"]["path"], file.to_str().unwrap(), "{v}");
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "keep me\n");
    assert!(stderr(&out).contains("not removed"), "{}", describe(&out));
    // Nothing left to remove: exit 1.
    let out = ns.cmd().args(["rm", "--path"]).arg(&file).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    assert!(file.exists());
}
