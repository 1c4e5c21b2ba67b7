use crate::util::{describe, stderr, Ns};

#[test]
fn bad_names_are_usage_errors_with_one_clear_line() {
    let ns = Ns::new();
    for (name, want) in [
        ("a/b", "contains '/'"),
        (".hidden", "starts with '.'"),
        ("", "empty"),
    ] {
        let out = ns.run(&["run", name, "--", "true"]);
        assert_eq!(out.status.code(), Some(2), "{name:?}: {}", describe(&out));
        let err = stderr(&out);
        assert!(err.starts_with("interlock: invalid lock name"), "{err}");
        assert!(err.contains(want), "{err}");
        assert_eq!(err.lines().count(), 1, "{err}");
    }
}

#[test]
fn missing_command_is_a_usage_error() {
    let ns = Ns::new();
    let out = ns.run(&["run", "c"]);
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    assert!(stderr(&out).contains("COMMAND"), "{}", describe(&out));
}

#[test]
fn unknown_lock_in_status_exits_1_naming_it() {
    let ns = Ns::new();
    let out = ns.run(&["status", "nope"]);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    assert!(
        stderr(&out).contains("no lock named \"nope\""),
        "{}",
        describe(&out)
    );
}

#[test]
fn command_not_found_is_127() {
    let ns = Ns::new();
    let out = ns.run(&["run", "c", "--", "/definitely/not/here"]);
    assert_eq!(out.status.code(), Some(127), "{}", describe(&out));
}

#[test]
fn every_subcommand_has_help_with_examples() {
    let ns = Ns::new();
    for sub in ["run", "status", "list", "rm"] {
        let out = ns.run(&[sub, "--help"]);
        assert!(out.status.success());
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("Examples:"),
            "{sub}"
        );
    }
    let out = ns.run(&["demo", "counter", "--help"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("Examples:"));
}

/// Issue 11, item 2: a relative `INTERLOCK_DIR` would make the lock depend on the working
/// directory; it is bad input: exit 2, one line naming the variable and what it must be.
#[test]
fn relative_interlock_dir_is_a_usage_error_with_one_line() {
    let ns = Ns::new();
    let out = ns
        .cmd()
        .env("INTERLOCK_DIR", "ns")
        .current_dir(ns.dir.path())
        .args(["run", "c", "--", "true"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with("interlock: ") && err.contains("INTERLOCK_DIR") && err.contains("absolute"),
        "{err}"
    );
    assert!(
        !ns.dir.path().join("ns").exists(),
        "a relative INTERLOCK_DIR was created in the working directory"
    );
}

/// Issue 11, item 2: a namespace directory owned by another user (here `nobody`, as if it had
/// created the directory first) is bad input: exit 2, one line naming the owner by uid and
/// name, and the ways out.
#[test]
fn foreign_namespace_directory_is_one_line_naming_its_owner() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        assert!(
            std::env::var_os("CI").is_none(),
            "chown the namespace directory: needs root, and CI must run this test"
        );
        eprintln!("\n!!!!!!!!!! SKIPPED (needs root): foreign_namespace_directory !!!!!!!!!!\n");
        return;
    }
    let ns = Ns::new();
    std::fs::create_dir(ns.ns_dir()).unwrap();
    std::os::unix::fs::chown(ns.ns_dir(), Some(65534), Some(65534)).unwrap();
    for args in [&["run", "c", "--", "true"][..], &["list"], &["status", "c"]] {
        let out = ns.run(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", describe(&out));
        let err = stderr(&out);
        assert_eq!(err.lines().count(), 1, "{err}");
        for want in [
            ns.ns_dir().display().to_string().as_str(),
            "uid 65534 (nobody)",
            "INTERLOCK_DIR",
        ] {
            assert!(err.contains(want), "{args:?} should say {want:?}: {err}");
        }
        // A directory INTERLOCK_DIR names may be anything (`/`, a home): never offered for
        // removal; only the default `interlock-EUID` is.
        assert!(
            !err.contains("rm -r"),
            "{args:?} must not suggest rm -r: {err}"
        );
    }
}
