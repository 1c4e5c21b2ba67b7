//! Tests that need root: in CI (`CI` set) they fail without it; elsewhere they say SKIPPED
//! loudly and return (STYLE.md §6, "loud skips only").

use std::io::Write;

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "0" && v != "false")
}

/// Whether the test may go on with root's powers. Not root: in CI (`CI` set) the test fails; else
/// a loud SKIPPED line goes straight to stderr (past libtest's capture) and the test returns.
///
/// # Panics
///
/// In CI, when not root.
pub fn have_root(what: &str) -> bool {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        return true;
    }
    loud_skip(what, "needs root");
    false
}

/// Fails the test in CI; elsewhere prints a loud SKIPPED line that libtest does not capture.
///
/// # Panics
///
/// In CI.
pub fn loud_skip(what: &str, why: &str) {
    assert!(
        !in_ci(),
        "{what}: {why}, and CI must run this test: run the suite as root in CI"
    );
    let _ = writeln!(
        std::io::stderr(),
        "\n!!!!!!!!!! SKIPPED ({why}): {} — {what} !!!!!!!!!!\n",
        std::thread::current().name().unwrap_or("?")
    );
}
