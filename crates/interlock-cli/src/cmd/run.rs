//! `interlock run`: COMMAND under a lock, flock(1)-style.

use std::io::ErrorKind;
use std::os::unix::process::ExitStatusExt;
use std::process::Command;
use std::time::Duration;

use anyhow::Context;
use interlock::Lock;

use crate::cli::RunArgs;
use crate::exit::{Coded, Exit};

pub(crate) fn run(args: RunArgs) -> anyhow::Result<Exit> {
    let (lock, label) = match (&args.name, &args.path) {
        (Some(name), _) => (open_named(name, args.fair)?, format!("lock {name:?}")),
        (None, Some(path)) => (
            Lock::open_path(path, args.mode)?,
            format!("lock at {}", path.display()),
        ),
        (None, None) => unreachable!("clap requires a name or --path"),
    };
    // `status` shows how long the holder has held it: worth the clock read here.
    lock.set_timestamps(true);
    let conflict = |message: String| anyhow::Error::new(Coded(conflict_code(&args), message));
    let guard = if args.no_wait {
        match lock.try_lock()? {
            Some(guard) => guard,
            None => {
                let holder = lock.status().holder;
                return Err(conflict(match holder {
                    Some(h) => format!("{label} is held by {h}"),
                    None => format!("{label} is held"),
                }));
            }
        }
    } else if let Some(secs) = args.wait {
        match lock.lock_timeout(Duration::from_secs_f64(secs)) {
            Ok(guard) => guard,
            Err(e @ (interlock::Error::Timeout { .. } | interlock::Error::Deadlock { .. })) => {
                return Err(conflict(e.to_string()))
            }
            Err(e) => return Err(e.into()),
        }
    } else {
        match lock.lock() {
            Ok(guard) => guard,
            Err(e @ interlock::Error::Deadlock { .. }) => return Err(conflict(e.to_string())),
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

/// Opens the named lock; a bad name is told in the CLI's words (a name with a slash was
/// probably meant as a lock file: that is `--path`).
fn open_named(name: &str, fair: bool) -> anyhow::Result<Lock> {
    let opened = if fair {
        Lock::open_fair(name)
    } else {
        Lock::open(name)
    };
    opened.map_err(|e| match e {
        interlock::Error::InvalidName { .. } if name.contains('/') => anyhow::Error::new(Coded(
            Exit::Usage,
            format!("{e}; to use a lock file, give its path with --path"),
        )),
        e => e.into(),
    })
}

fn conflict_code(args: &RunArgs) -> Exit {
    match args.conflict_exit_code {
        1 => Exit::Conflict,
        n => Exit::Command(n),
    }
}
