//! `interlock run`: COMMAND under a lock, flock(1)-style.

use std::ffi::OsStr;
use std::io::ErrorKind;
use std::os::unix::process::ExitStatusExt;
use std::process::{Command, ExitStatus};

use anyhow::Context;
use interlock::GroupChild;

use crate::cli::RunArgs;
use crate::cmd::target::Target;
use crate::exit::{Coded, Exit};

pub(crate) fn run(args: RunArgs) -> anyhow::Result<Exit> {
    if let Some(n) = args.slots {
        return super::slots::run(&args, n);
    }
    if args.shared && args.path.is_some() {
        return super::shared::run_path(&args);
    }
    // A name, or any file at --path (with flock(2) on it too: `interlock::FileLock`).
    let target = Target::open(&args)?;
    let label = target.label();
    // `status` shows how long the holder has held it: worth the clock read here.
    target.set_timestamps(true);
    let guard = super::acquire::acquire(&target, &args, &label)?;

    let (program, rest) = args.command.split_first().expect("clap requires COMMAND");
    let mut cmd = Command::new(program);
    if let Some(token) = guard.token() {
        cmd.env("INTERLOCK_TOKEN", token.to_string());
    }
    cmd.args(rest).env(
        "INTERLOCK_PREVIOUS_OWNER_DIED",
        if guard.previous_owner_died() {
            "1"
        } else {
            "0"
        },
    );
    let (status, child) = wait_for_group(guard.spawn_group(&mut cmd), program, &label)?;
    if status.success() && guard.is_poisoned() {
        guard.clear_poison();
    }
    guard
        .unlock()
        .with_context(|| format!("releasing {label}"))?;
    // Signals are ours again (one that came after the group ended acts now).
    drop(child);
    Ok(exit_of(status))
}

/// COMMAND as spawned by `spawn_group` (a lock guard's or a semaphore permit's), waited for
/// with everything left running in its process group, saying so on stderr while `label` is
/// held for it. Returns COMMAND's status and the child, whose drop gives the passed-on signals
/// back: drop it after releasing. A COMMAND that cannot run is an error with its exit code.
pub(crate) fn wait_for_group(
    spawned: Result<GroupChild, interlock::Error>,
    program: &OsStr,
    label: &str,
) -> anyhow::Result<(ExitStatus, GroupChild)> {
    let mut child = match spawned {
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
    Ok((status, child))
}

/// `run`'s exit status for COMMAND's: its code, or 128 + the signal that ended it.
pub(crate) fn exit_of(status: ExitStatus) -> Exit {
    match (status.code(), status.signal()) {
        (Some(code), _) => Exit::Command(code as u8),
        (None, Some(signal)) => Exit::Command(128u8.wrapping_add(signal as u8)),
        (None, None) => Exit::System,
    }
}
