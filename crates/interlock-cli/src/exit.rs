//! The exit codes, in one place.

use std::process::ExitCode;

/// What `interlock` exits with (besides COMMAND's own status, which `run` passes through).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Exit {
    /// 0: success.
    Success,
    /// 1: the lock was held (`--no-wait`), the wait timed out, or waiting would deadlock, or a
    /// barrier broke (`barrier wait`); also
    /// `status`/`rm` of a lock that does not exist (a name, or a `--path` with nothing there),
    /// and `status --deadlocks` finding a cycle.
    /// `run --conflict-exit-code N` replaces this for conflicts.
    Conflict,
    /// 2: usage error or bad input (bad name, relative `INTERLOCK_DIR`, unsafe or corrupt lock
    /// file, unusable namespace directory, missing command).
    Usage,
    /// 3: the system refused something (I/O error).
    System,
    /// 126: COMMAND was found but could not be executed.
    CannotExecute,
    /// 127: COMMAND was not found.
    NotFound,
    /// COMMAND's own exit status; 128 + N when it was killed by signal N.
    Command(u8),
}

impl From<Exit> for i32 {
    fn from(e: Exit) -> i32 {
        match e {
            Exit::Success => 0,
            Exit::Conflict => 1,
            Exit::Usage => 2,
            Exit::System => 3,
            Exit::CannotExecute => 126,
            Exit::NotFound => 127,
            Exit::Command(n) => i32::from(n),
        }
    }
}

impl From<Exit> for ExitCode {
    fn from(e: Exit) -> ExitCode {
        ExitCode::from(i32::from(e) as u8)
    }
}

/// The exit code for a failed operation.
pub(crate) fn for_error(err: &anyhow::Error) -> Exit {
    if let Some(code) = err.downcast_ref::<Coded>() {
        return code.0;
    }
    match err.downcast_ref::<interlock::Error>() {
        Some(
            interlock::Error::Timeout { .. }
            | interlock::Error::NotFound { .. }
            | interlock::Error::NoLockAt { .. }
            | interlock::Error::InUse { .. }
            | interlock::Error::Deadlock { .. }
            | interlock::Error::BrokenBarrier { .. },
        ) => Exit::Conflict,
        Some(interlock::Error::Io { .. }) => Exit::System,
        Some(_) => Exit::Usage,
        None => match err.downcast_ref::<std::io::Error>() {
            Some(_) => Exit::System,
            None => Exit::Usage,
        },
    }
}

/// An error that carries its own exit code.
#[derive(Debug)]
pub(crate) struct Coded(pub(crate) Exit, pub(crate) String);

impl std::fmt::Display for Coded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.1)
    }
}

impl std::error::Error for Coded {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documented_codes() {
        let codes: Vec<i32> = [
            Exit::Success,
            Exit::Conflict,
            Exit::Usage,
            Exit::System,
            Exit::CannotExecute,
            Exit::NotFound,
            Exit::Command(143),
        ]
        .into_iter()
        .map(i32::from)
        .collect();
        assert_eq!(codes, [0, 1, 2, 3, 126, 127, 143]);
    }

    #[test]
    fn library_errors_map_to_their_class() {
        let timeout = anyhow::Error::new(interlock::Error::Timeout {
            lock: "x".into(),
            waited: std::time::Duration::from_millis(1),
            holder: None,
        });
        assert_eq!(for_error(&timeout), Exit::Conflict);
        let bad = anyhow::Error::new(interlock::namespace::validate_name("a/b").unwrap_err());
        assert_eq!(for_error(&bad), Exit::Usage);
        let coded = anyhow::Error::new(Coded(Exit::Command(7), "held".into()));
        assert_eq!(for_error(&coded), Exit::Command(7));
    }
}
