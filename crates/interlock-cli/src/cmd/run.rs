//! `interlock run`: COMMAND under a lock, flock(1)-style.

use std::io::{ErrorKind, Write};
use std::os::unix::process::ExitStatusExt;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::Context;

use crate::cli::RunArgs;
use crate::cmd::target::Target;
use crate::exit::{Coded, Exit};

pub(crate) fn run(args: RunArgs) -> anyhow::Result<Exit> {
    // A name, or any file at --path (with flock(2) on it too: `interlock::FileLock`).
    let target = Target::open(&args)?;
    let label = target.label();
    // `status` shows how long the holder has held it: worth the clock read here.
    target.lock().set_timestamps(true);
    let started = Instant::now();
    let conflict = |reason: &str, message: String| {
        if args.json {
            print_conflict(&target, reason, &message, started);
        }
        anyhow::Error::new(Coded(conflict_code(&args), message))
    };
    let guard = if args.no_wait {
        match target.try_lock()? {
            Some(guard) => guard,
            None => {
                let holder = target.holder();
                return Err(conflict(
                    "held",
                    match holder {
                        Some(h) => format!("{label} is held by {h}"),
                        None => format!("{label} is held"),
                    },
                ));
            }
        }
    } else if let Some(secs) = args.wait {
        match target.lock_timeout(Duration::from_secs_f64(secs)) {
            Ok(guard) => guard,
            Err(e @ interlock::Error::Timeout { .. }) => {
                return Err(conflict("timeout", e.to_string()))
            }
            Err(e @ interlock::Error::Deadlock { .. }) => {
                return Err(conflict("deadlock", e.to_string()))
            }
            Err(e) => return Err(e.into()),
        }
    } else {
        match target.acquire() {
            Ok(guard) => guard,
            Err(e @ interlock::Error::Deadlock { .. }) => {
                return Err(conflict("deadlock", e.to_string()))
            }
            Err(e) => return Err(e.into()),
        }
    };
    if guard.previous_owner_died() {
        eprintln!("interlock: the previous holder of {label} died while holding it; running COMMAND anyway");
    }

    let (program, rest) = args.command.split_first().expect("clap requires COMMAND");
    let mut cmd = Command::new(program);
    cmd.args(rest)
        .env("INTERLOCK_TOKEN", guard.token().to_string())
        .env(
            "INTERLOCK_PREVIOUS_OWNER_DIED",
            if guard.previous_owner_died() {
                "1"
            } else {
                "0"
            },
        );
    interlock::kill_with_parent(&mut cmd);
    let status = match cmd.status() {
        Ok(status) => status,
        Err(e) => {
            let code = match e.kind() {
                ErrorKind::NotFound => Exit::NotFound,
                _ => Exit::CannotExecute,
            };
            let shown = program.to_string_lossy();
            return Err(anyhow::Error::new(Coded(
                code,
                format!("cannot run {shown:?}: {e}"),
            )));
        }
    };
    if status.success() && guard.is_poisoned() {
        guard.clear_poison();
    }
    guard
        .unlock()
        .with_context(|| format!("releasing {label}"))?;
    Ok(match (status.code(), status.signal()) {
        (Some(code), _) => Exit::Command(code as u8),
        (None, Some(signal)) => Exit::Command(128u8.wrapping_add(signal as u8)),
        (None, None) => Exit::System,
    })
}

/// `run --json`'s conflict object on stdout (documented in `run --help`). Best effort: the
/// exit code and the stderr line say it all already.
fn print_conflict(target: &Target, reason: &str, message: &str, started: Instant) {
    #[derive(serde::Serialize)]
    struct Conflict<'a> {
        reason: &'a str,
        message: &'a str,
        waited_ms: u64,
        lock: Option<crate::cmd::status::Report>,
    }
    let value = Conflict {
        reason,
        message,
        waited_ms: started.elapsed().as_millis() as u64,
        lock: target.report().ok(),
    };
    if let Ok(text) = serde_json::to_string_pretty(&value) {
        let _ = writeln!(std::io::stdout(), "{text}");
    }
}

fn conflict_code(args: &RunArgs) -> Exit {
    match args.conflict_exit_code {
        1 => Exit::Conflict,
        n => Exit::Command(n),
    }
}
