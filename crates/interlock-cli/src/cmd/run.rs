//! `interlock run`: COMMAND under a lock, flock(1)-style.

use std::io::ErrorKind;
use std::os::unix::process::ExitStatusExt;
use std::process::Command;

use anyhow::Context;

use crate::cli::RunArgs;
use crate::cmd::target::Target;
use crate::exit::{Coded, Exit};

pub(crate) fn run(args: RunArgs) -> anyhow::Result<Exit> {
    if let Some(n) = args.slots {
        return super::slots::run(&args, n);
    }
    // A name, or any file at --path (with flock(2) on it too: `interlock::FileLock`).
    let target = Target::open(&args)?;
    let label = target.label();
    // `status` shows how long the holder has held it: worth the clock read here.
    target.lock().set_timestamps(true);
    let guard = super::acquire::acquire(&target, &args, &label)?;

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
