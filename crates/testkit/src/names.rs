//! Names and directories that no other test, and no other run, uses (STYLE.md §6, isolation).

use std::io::ErrorKind;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// The running test's name, as libtest gave it to the test's thread (`module::test`).
///
/// # Panics
///
/// On a thread that is not a test's own (unnamed, or libtest's `main`).
pub fn test_name() -> String {
    let thread = std::thread::current();
    let name = thread
        .name()
        .expect("libtest names each test's thread after the test");
    assert_ne!(
        name, "main",
        "test_name() must be called on the test's own thread"
    );
    name.to_owned()
}

/// A name no other test (or run) uses: the test's name (characters other than ASCII letters,
/// digits, `-` and `_` replaced by `_`, at most 120 of them), our pid and a counter.
pub fn unique_name() -> String {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let base: String = test_name()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .take(120)
        .collect();
    format!(
        "{base}-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// Creates a fresh directory `parent/PREFIX<pid>-<n>`, mode 0700 whatever the umask, that is
/// kept when the process ends (the caller removes it, or [`remove_stale`] does in a later run).
///
/// # Panics
///
/// When the directory cannot be created.
pub fn private_dir(parent: &Path, prefix: &str) -> PathBuf {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    loop {
        let dir = parent.join(format!(
            "{prefix}{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        // `mode` is filtered by the umask, so the mode is set again below.
        match std::fs::DirBuilder::new().mode(0o700).create(&dir) {
            Ok(()) => {
                std::fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(0o700))
                    .unwrap_or_else(|e| panic!("chmod 0700 {}: {e}", dir.display()));
                return dir;
            }
            // Left by an earlier process with our pid: take the next number.
            Err(e) if e.kind() == ErrorKind::AlreadyExists => continue,
            Err(e) => panic!("create {}: {e}", dir.display()),
        }
    }
}

/// Removes the directories named `PREFIX…` in `parent` that are older than `age`: what earlier
/// runs' [`private_dir`]s left once no run can still be using them.
pub fn remove_stale(parent: &Path, prefix: &str, age: Duration) {
    let Ok(entries) = std::fs::read_dir(parent) else {
        return;
    };
    for entry in entries.flatten() {
        let old = entry
            .metadata()
            .and_then(|m| m.modified())
            .is_ok_and(|t| t.elapsed().is_ok_and(|a| a > age));
        if old && entry.file_name().to_string_lossy().starts_with(prefix) {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}
