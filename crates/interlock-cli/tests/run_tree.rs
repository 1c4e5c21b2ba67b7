//! Issue 12, items 1–3: `interlock run` keeps COMMAND's whole process tree under the lock,
//! passes signals on to it, and says what went wrong once, in the CLI's own words.

use crate::util::{describe, stderr, Ns};

/// Issue 12, item 3: an OS error is printed once, not once per level of the error chain.
#[test]
fn missing_directory_is_one_line_with_the_os_error_once() {
    let ns = Ns::new();
    let path = ns.dir.path().join("nodir").join("x.lock");
    let out = ns.run(&["run", "--path", path.to_str().unwrap(), "--", "true"]);
    assert_eq!(out.status.code(), Some(3), "{}", describe(&out));
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert_eq!(
        err.matches("No such file or directory").count(),
        1,
        "the OS error once: {err}"
    );
    assert!(err.contains("nodir"), "names the path: {err}");
}

/// Issue 12, item 3: a name with a slash points to the CLI's `--path`, not to a library
/// function.
#[test]
fn name_with_a_slash_points_to_the_path_option() {
    let ns = Ns::new();
    let out = ns.run(&["run", "bad/name", "--", "true"]);
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("--path"), "{err}");
    assert!(!err.contains("open_path"), "{err}");
}
