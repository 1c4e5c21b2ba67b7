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
