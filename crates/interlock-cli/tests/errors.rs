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
