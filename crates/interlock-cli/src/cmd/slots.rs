//! `interlock run --slots N NAME -- COMMAND`: at most N COMMANDs of NAME at once, like GNU
//! parallel's `sem`, over an `interlock::Semaphore` of N permits (created on first use).

use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::Context;
use interlock::Semaphore;

use crate::cli::{RunArgs, WaitLimit};
use crate::exit::{Coded, Exit};

pub(crate) fn run(args: &RunArgs, n: usize) -> anyhow::Result<Exit> {
    let name = args.name.as_deref().expect("--slots conflicts with --path");
    let sem = Semaphore::options()
        .permits(n)
        .timestamps(true)
        .open(name)
        .with_context(|| format!("semaphore {name:?} with {n} slots"))?;
    let conflict =
        |message: String| anyhow::Error::new(Coded(super::acquire::conflict_code(args), message));
    let limit = match args.wait {
        _ if args.no_wait => Some(Duration::ZERO),
        Some(WaitLimit::AtMost(limit)) => Some(limit),
        Some(WaitLimit::Forever) | None => None,
    };
    let started = Instant::now();
    let permit = match limit {
        None => sem.acquire()?,
        Some(limit) => match sem.try_acquire_for(limit)? {
            Some(p) => p,
            None => {
                return Err(conflict(format!(
                    "semaphore {name:?}: all {n} slots are taken"
                )))
            }
        },
    };
    // A dead holder of this permit may have left its COMMAND's processes running: wait for them
    // (or kill them) within the same --wait, as `run` with a lock does, so that N + 1 commands
    // never run at once.
    let label = format!("semaphore {name:?} permit {}", permit.slot());
    let deadline = limit.and_then(|limit| started.checked_add(limit));
    let (died, group) = (permit.previous_owner_died(), permit.leftover_group());
    if let Err(message) =
        super::acquire::outlive_leftovers(died, group, &label, args.kill_orphans, deadline)
    {
        drop(permit);
        return Err(conflict(message));
    }
    let (program, rest) = args.command.split_first().expect("clap requires COMMAND");
    let mut cmd = Command::new(program);
    cmd.args(rest)
        .env("INTERLOCK_SLOT", permit.slot().to_string())
        .env(
            "INTERLOCK_PREVIOUS_OWNER_DIED",
            if died { "1" } else { "0" },
        );
    // COMMAND as a process group the permit's record names (signals passed on, its whole group
    // waited for before the permit is given back), as `run` does with a lock.
    let (status, child) =
        super::run::wait_for_group(permit.spawn_group(&mut cmd), program, &label)?;
    permit
        .release()
        .with_context(|| format!("releasing {label}"))?;
    // Signals are ours again (one that came after the group ended acts now).
    drop(child);
    Ok(super::run::exit_of(status))
}
