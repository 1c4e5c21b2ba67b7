//! Getting the lock for `interlock run`: `--no-wait`, `--wait`, the line naming the holder once
//! a wait goes past a second, what a dead holder left running (waited for, or killed with
//! `--kill-orphans`), `--verbose`, and `--json`'s object on a conflict.

use std::io::Write;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::{Duration, Instant};

use interlock::{GroupState, Holder, ProcessGroup};

use crate::cli::{RunArgs, WaitLimit};
use crate::cmd::target::{Held, Target};
use crate::exit::{Coded, Exit};

/// How long a wait goes on before a line on stderr says who holds the lock.
const NOTICE_AFTER: Duration = Duration::from_secs(1);

/// Takes `lock` as `args` ask, then outlives what a dead holder left running
/// ([`outlive_leftovers`], within the same `--wait`); a conflict, timeout or deadlock is a
/// [`Coded`] error with `--conflict-exit-code` (and, with `--json`, an object on stdout).
/// `label` names the lock in messages (`lock "x"`).
pub(crate) fn acquire<'l>(
    lock: &'l Target,
    args: &RunArgs,
    label: &str,
) -> anyhow::Result<Held<'l>> {
    let started = Instant::now();
    let conflict = |reason: &str, message: String| {
        if args.json {
            print_conflict(lock, reason, &message, started);
        }
        anyhow::Error::new(Coded(conflict_code(args), message))
    };
    let limit = match args.wait {
        _ if args.no_wait => Some(Duration::ZERO),
        Some(WaitLimit::AtMost(limit)) => Some(limit),
        Some(WaitLimit::Forever) | None => None,
    };
    let guard = match lock.try_lock()? {
        Some(guard) => guard,
        None if args.no_wait => {
            return Err(conflict(
                "held",
                match lock.holder() {
                    Some(h) => format!("{label} is held by {h}"),
                    None => format!("{label} is held"),
                },
            ))
        }
        None => match wait_saying_who_holds(lock, limit, label) {
            Ok(guard) => guard,
            Err(e @ interlock::Error::Timeout { .. }) => {
                return Err(conflict("timeout", e.to_string()))
            }
            Err(e @ interlock::Error::Deadlock { .. }) => {
                return Err(conflict("deadlock", e.to_string()))
            }
            Err(e) => return Err(e.into()),
        },
    };
    let deadline = limit.and_then(|limit| started.checked_add(limit));
    // One group for a lock; an rwlock's writer may find several dead holders' groups (a dead
    // writer's, dead readers'): each in turn, until the records name none not yet outlived.
    let died = guard.previous_owner_died();
    let mut group = guard.leftover_group();
    let mut outlived = Vec::new();
    loop {
        let first = outlived.is_empty();
        if let Err(message) =
            outlive_leftovers(died && first, group, label, args.kill_orphans, deadline)
        {
            drop(guard);
            let reason = if args.no_wait { "held" } else { "timeout" };
            return Err(conflict(reason, message));
        }
        let Some(g) = group else { break };
        outlived.push(g);
        group = guard.leftover_group();
        if group.is_none_or(|g| outlived.contains(&g)) {
            break;
        }
    }
    if args.verbose {
        // As flock --verbose words it (which prints it on stdout, mixed into COMMAND's output).
        let took = started.elapsed().as_secs_f64();
        let _ = writeln!(
            std::io::stderr(),
            "interlock: getting {label} took {took:.6} seconds"
        );
    }
    Ok(guard)
}

/// Once the lock is ours: if a holder died (or an earlier one did, and what it left running was
/// never seen to end), waits until what it left running in its process group has exited, or
/// kills it (`kill`: `--kill-orphans`), saying so in one line. `Err` (the conflict's message) if
/// it still runs at `deadline`.
/// `died`: the hold was told its previous holder died; `group`: the hold's
/// `leftover_group()` (a lock's or a semaphore permit's).
pub(crate) fn outlive_leftovers(
    died: bool,
    group: Option<ProcessGroup>,
    label: &str,
    kill: bool,
    deadline: Option<Instant>,
) -> Result<(), String> {
    let cause = if died {
        format!("the previous holder of {label} died while holding it")
    } else {
        format!("an earlier holder of {label} died while holding it")
    };
    let Some(group) = group else {
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

/// Waits for the lock (at most `limit`); a wait that goes past [`NOTICE_AFTER`] says so on
/// stderr, once, naming the holder. The wait itself is one library call (deadlock detection
/// and the timeout see one waiter from start to end); a second thread watches the clock.
fn wait_saying_who_holds<'l>(
    lock: &'l Target,
    limit: Option<Duration>,
    label: &str,
) -> Result<Held<'l>, interlock::Error> {
    let wait = || match limit {
        Some(limit) => lock.lock_timeout(limit),
        None => lock.acquire(),
    };
    if limit.is_some_and(|limit| limit <= NOTICE_AFTER) {
        return wait();
    }
    std::thread::scope(|s| {
        let (done, told) = mpsc::channel::<()>();
        let watcher = std::thread::Builder::new().spawn_scoped(s, move || {
            if told.recv_timeout(NOTICE_AFTER) == Err(RecvTimeoutError::Timeout) {
                let line = notice(label, lock.holder().as_ref());
                let _ = writeln!(std::io::stderr(), "{line}");
            }
        });
        // Without a thread (none could be made), the wait goes on without the line.
        let got = wait();
        drop(done);
        // Joined here, not left to the scope, which only waits for the closure to return: a
        // thread still on its way out, without the signals blocked, would take the SIGCHLD
        // (or a TERM) meant for COMMAND's runner (`spawn_group` blocks them in this thread).
        if let Ok(watcher) = watcher {
            let _ = watcher.join();
        }
        got
    })
}

/// `interlock: waiting for lock "x", held by pid N `cmd` for 3.2s`.
fn notice(label: &str, holder: Option<&Holder>) -> String {
    let mut line = format!("interlock: waiting for {label}");
    if let Some(h) = holder {
        line += &format!(", held by pid {}", h.pid);
        if h.tid != h.pid {
            line += &format!(" thread {}", h.tid);
        }
        if let Some(cmd) = &h.command {
            line += &format!(" `{cmd}`");
        }
        if let Some(held) = h.since.and_then(|since| since.elapsed().ok()) {
            line += &format!(" for {:.1}s", held.as_secs_f64());
        }
        if !h.alive {
            line += " (no longer running)";
        }
    }
    line
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

/// The exit status of a conflict (held, timeout, deadlock): `-E N`, or 1.
pub(crate) fn conflict_code(args: &RunArgs) -> Exit {
    match args.conflict_exit_code {
        1 => Exit::Conflict,
        n => Exit::Command(n),
    }
}
