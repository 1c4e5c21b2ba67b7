//! `interlock run`: COMMAND under a lock, flock(1)-style.

use std::io::ErrorKind;
use std::os::unix::process::ExitStatusExt;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::Context;
use interlock::{GroupState, Lock, LockGuard};

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
    // What is left of --wait once the lock is ours (for what a dead holder left running).
    let deadline = match (args.no_wait, args.wait) {
        (true, _) => Some(Instant::now()),
        (false, Some(secs)) => Instant::now().checked_add(Duration::from_secs_f64(secs)),
        (false, None) => None,
    };
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
    outlive_leftovers(&guard, &label, args.kill_orphans, deadline).map_err(conflict)?;

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
    let mut child = match guard.spawn_group(&mut cmd) {
        Ok(child) => child,
        Err(interlock::Error::Io { error, .. }) => {
            let code = match error.kind() {
                ErrorKind::NotFound => Exit::NotFound,
                _ => Exit::CannotExecute,
            };
            let shown = program.to_string_lossy();
            return Err(anyhow::Error::new(Coded(
                code,
                format!("cannot run {shown:?}: {error}"),
            )));
        }
        Err(e) => return Err(e.into()),
    };
    let status = child.wait()?;
    if child.group_running()? {
        eprintln!(
            "interlock: COMMAND exited; holding {label} until what it left running in its \
             process group ({}) exits",
            child.id()
        );
    }
    child.wait_group()?;
    if status.success() && guard.is_poisoned() {
        guard.clear_poison();
    }
    guard
        .unlock()
        .with_context(|| format!("releasing {label}"))?;
    // Signals are ours again (one that came after the group ended acts now).
    drop(child);
    Ok(match (status.code(), status.signal()) {
        (Some(code), _) => Exit::Command(code as u8),
        (None, Some(signal)) => Exit::Command(128u8.wrapping_add(signal as u8)),
        (None, None) => Exit::System,
    })
}

/// Before COMMAND runs: if a holder died (or an earlier one did, and what it left running was
/// never seen to end), wait until what it left running in its process group has exited, or kill
/// it (`--kill-orphans`), saying so in one line. `Err` (a conflict) if it still runs at
/// `deadline`.
fn outlive_leftovers(
    guard: &LockGuard<'_>,
    label: &str,
    kill: bool,
    deadline: Option<Instant>,
) -> Result<(), String> {
    let died = guard.previous_owner_died();
    let cause = if died {
        format!("the previous holder of {label} died while holding it")
    } else {
        format!("an earlier holder of {label} died while holding it")
    };
    let Some(group) = guard.leftover_group() else {
        if died {
            eprintln!("interlock: {cause}; running COMMAND anyway");
        }
        return Ok(());
    };
    match group.state() {
        GroupState::Running => {}
        GroupState::Unknown => {
            eprintln!(
                "interlock: {cause}; it ran its COMMAND as {group} of another pid namespace, \
                 which cannot be checked from here; running COMMAND anyway"
            );
            return Ok(());
        }
        _ => {
            if died {
                eprintln!("interlock: {cause}; running COMMAND anyway");
            }
            return Ok(());
        }
    }
    let killed = kill.then(|| group.kill());
    match &killed {
        Some(Ok(())) => {
            eprintln!(
                "interlock: {cause}; killed what it left running ({group}) before running COMMAND"
            )
        }
        Some(Err(e)) => eprintln!(
            "interlock: {cause}; cannot kill what it left running ({group}: {}); waiting for it \
             to exit before running COMMAND",
            match e {
                interlock::Error::Io { error, .. } => error.to_string(),
                e => e.to_string(),
            }
        ),
        None => eprintln!(
            "interlock: {cause}; waiting for what it left running ({group}) to exit before \
             running COMMAND"
        ),
    }
    let timeout = deadline.map(|d| d.saturating_duration_since(Instant::now()));
    match group.wait_gone(timeout) {
        GroupState::Running => Err(format!(
            "gave up waiting for what a dead holder of {label} left running ({group}): it still \
             runs"
        )),
        _ => Ok(()),
    }
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
