//! Getting the lock for `interlock run`: `--no-wait`, `--wait`, the line naming the holder once
//! a wait goes past a second, `--verbose`, and `--json`'s object on a conflict.

use std::io::Write;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::{Duration, Instant};

use interlock::Holder;

use crate::cli::{RunArgs, WaitLimit};
use crate::cmd::target::{Held, Target};
use crate::exit::{Coded, Exit};

/// How long a wait goes on before a line on stderr says who holds the lock.
const NOTICE_AFTER: Duration = Duration::from_secs(1);

/// Takes `lock` as `args` ask; a conflict, timeout or deadlock is a [`Coded`] error with
/// `--conflict-exit-code` (and, with `--json`, an object on stdout). `label` names the lock in
/// messages (`lock "x"`).
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
        drop(watcher);
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

fn conflict_code(args: &RunArgs) -> Exit {
    match args.conflict_exit_code {
        1 => Exit::Conflict,
        n => Exit::Command(n),
    }
}
