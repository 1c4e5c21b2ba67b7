//! The command line, as clap derive types: doc comments are the long help.

use std::ffi::OsString;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// Process locks that survive crashed holders.
///
/// Named locks live in a private per-user directory: $INTERLOCK_DIR if set (an absolute path),
/// else /dev/shm/interlock-EUID (/tmp/interlock-EUID without /dev/shm) — the same for a login
/// shell, a cron job, a systemd service or sudo -u. If another user owns that directory (it
/// created it first), it is refused with a message naming that user.
///
/// Exit codes: 0 success; 1 lock held or wait timed out (or the lock does not exist, for
/// status and rm); 2 usage error or bad input (bad name, relative INTERLOCK_DIR, unsafe lock
/// file or namespace directory); 3 system error; for `run`, COMMAND's own status, 128+N if it
/// was killed by signal N, 126/127 if it could not be executed / was not found.
#[derive(Debug, Parser)]
#[command(name = "interlock", version, max_term_width = 100)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    Run(RunArgs),
    Status(StatusArgs),
    List(ListArgs),
    Rm(RmArgs),
    #[command(subcommand)]
    Demo(Demo),
    /// One worker of `demo counter` (internal).
    #[command(hide = true)]
    DemoWorker(DemoWorkerArgs),
}

/// Run COMMAND while holding a lock, like flock(1).
///
/// Waits for the lock (forever, or --wait SECONDS, or not at all with --no-wait), runs COMMAND,
/// releases the lock when COMMAND exits, and exits with COMMAND's status. On conflict or
/// timeout it prints one line naming the holder and exits 1 (or --conflict-exit-code).
///
/// If the previous holder died while holding the lock, a line on stderr says so and COMMAND
/// runs with INTERLOCK_PREVIOUS_OWNER_DIED=1; the lock's poison mark is cleared when COMMAND
/// then exits 0. COMMAND also gets INTERLOCK_TOKEN, the fencing token of this hold.
///
/// If the interlock process itself is killed while COMMAND runs, COMMAND is killed too
/// (SIGKILL, via PR_SET_PDEATHSIG) and the kernel releases the lock, marking the owner dead:
/// the lock is never left wedged, and the next holder never overlaps an orphaned COMMAND.
///
/// --path FILE works on any file, as flock(1) does: an interlock lock file (created with
/// --mode if FILE does not exist), or a file made by `touch`, a data file, a directory. A
/// file that is not an interlock lock file is opened read-only and never written; interlock
/// keeps its record of it (holder, deaths, tokens) in this user's namespace. Either way `run` also takes flock(2) on FILE,
/// after the interlock lock, so `flock FILE ...` users of the same file and `interlock run
/// --path FILE` exclude each other. Like `flock -o`, COMMAND does not inherit that lock.
///
/// With --json, a conflict or timeout also prints one JSON object on stdout (COMMAND did not
/// run): {"reason": "held" | "timeout" | "deadlock", "message": the stderr line, "waited_ms",
/// "lock": the lock as `status --json` shows it}. When COMMAND runs, stdout is COMMAND's alone.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  interlock run backup -- rsync -a /src/ /dst/
  interlock run --no-wait nightly -- ./nightly.sh        # exit 1 at once if held
  interlock run --wait 0.5 --conflict-exit-code 75 db -- ./migrate
  interlock run --path /srv/shared/deploy.lock --mode 660 -- ./deploy.sh
  interlock run --path /var/lock/backup.lock -- ./backup.sh   # also excludes `flock /var/lock/backup.lock`
  interlock run --json -n nightly -- ./nightly.sh > result.json
  interlock run --fair jobs -- ./job.sh                   # no waiter starves")]
pub(crate) struct RunArgs {
    /// The lock's name ([A-Za-z0-9._-], at most 200 bytes, no leading dot).
    #[arg(required_unless_present = "path", conflicts_with = "path")]
    pub(crate) name: Option<String>,
    /// Lock FILE instead of a name: any file or directory, shared with flock(1) users of it
    /// (see above), or between users.
    #[arg(long, value_name = "FILE")]
    pub(crate) path: Option<PathBuf>,
    /// Mode (octal) for a lock file that --path creates.
    #[arg(long, value_name = "OCTAL", default_value = "600", requires = "path", value_parser = parse_mode)]
    pub(crate) mode: u32,
    /// Wait at most SECONDS (fractions allowed) for the lock.
    #[arg(long, short = 'w', value_name = "SECONDS", conflicts_with = "no_wait", value_parser = parse_seconds)]
    pub(crate) wait: Option<f64>,
    /// Do not wait: fail at once if the lock is held.
    #[arg(long, short = 'n')]
    pub(crate) no_wait: bool,
    /// Create the named lock as a fair one if it does not exist (a release hands the lock to a
    /// waiter that has slept, roughly the longest, instead of letting anyone barge in); refuse
    /// an existing unfair one. Every later `run` of the name is fair.
    #[arg(long, conflicts_with = "path")]
    pub(crate) fair: bool,
    /// Exit code for a conflict or timeout.
    #[arg(long, short = 'E', value_name = "N", default_value_t = 1)]
    pub(crate) conflict_exit_code: u8,
    /// On a conflict or timeout, also print a JSON object on stdout (see above).
    #[arg(long)]
    pub(crate) json: bool,
    /// The command and its arguments.
    #[arg(last = true, required = true, value_name = "COMMAND")]
    pub(crate) command: Vec<OsString>,
}

/// Show a lock: holder (pid, command line, since when), waiters (and who has waited past
/// the deadlock timeout), acquisitions, owner deaths, poison; for --path FILE also the flock(2)
/// locks on FILE (flock(1) users, as lslocks shows them) and where interlock's record of FILE
/// is. With --deadlocks, print the lock-order cycles present among this user's waiters instead
/// (exit 1 if there is one).
///
/// JSON (stable field names; new ones may be added), the same object in `status --json`, in
/// `list --json` and as "lock" in `run --json` and `rm --json`: {"name" (null for --path),
/// "path" (null for a name), "record" (the file holding interlock's record), "held" (by an
/// interlock holder or a flock(2) lock), "kind", "holder": null or {"pid", "tid", "command",
/// "since_unix_ms", "held_for_ms", "token", "alive"} (interlock's holder), "waiters",
/// "acquisitions", "owner_deaths", "owner_died_unclaimed", "poisoned", "depth", "file_locks":
/// [{"pid", "command", "exclusive", "waiting"}], "wait_for": [{"pid", "tid", "waits_for",
/// "held_by_tid", "waited_ms"}]}.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  interlock status backup
  interlock status --json backup | jq .holder.pid
  interlock status --path /var/lock/backup.lock       # also who holds it with flock(1)
  interlock status --deadlocks")]
pub(crate) struct StatusArgs {
    /// The lock's name.
    #[arg(required_unless_present_any = ["deadlocks", "path"])]
    pub(crate) name: Option<String>,
    /// The lock at FILE (as `run --path FILE` takes it), instead of a name.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["name", "deadlocks"])]
    pub(crate) path: Option<PathBuf>,
    /// Print any deadlock cycle among this user's waiting processes (exit 1 if one is found).
    #[arg(long, conflicts_with = "name")]
    pub(crate) deadlocks: bool,
    /// Print JSON (see above) instead of text.
    #[arg(long)]
    pub(crate) json: bool,
}

/// List this user's named locks and who holds them; with --path, the locks at those files
/// instead.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  interlock list
  interlock list --json
  interlock list --path /var/lock/backup.lock --path /var/lock/sync.lock")]
pub(crate) struct ListArgs {
    /// List the lock at FILE (repeatable) instead of the named locks.
    #[arg(long, value_name = "FILE")]
    pub(crate) path: Vec<PathBuf>,
    /// Print JSON: an array of `status --json` objects (the same fields).
    #[arg(long)]
    pub(crate) json: bool,
}

/// Remove a lock (a name, or --path FILE). Refused while it is held, unless --force.
///
/// Without --force the lock is taken (without waiting) and the file removed while it is held,
/// so nobody holds it at that moment (exit 1, naming the holder, if somebody does).
///
/// Processes that still have the lock open keep the old one: one of them may take it after the
/// removal while the next `run` of the name creates and takes a new lock, and both then run at
/// once. Remove only locks that are no longer in use.
///
/// With --path FILE: an interlock lock file is removed the same way (taken, flock(2) too, and
/// unlinked while held). Any other file is never removed: only interlock's record of it is.
///
/// With --json, one object on stdout: {"removed": true | false, "file": the file removed
/// (null if none), "lock": the lock before the removal, as `status --json` shows it}; also on
/// a refusal (exit 1), where "lock" names the holder.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  interlock rm old-job
  interlock rm --force stuck-job
  interlock rm --path /var/lock/backup.lock     # a plain file stays; its record goes")]
pub(crate) struct RmArgs {
    /// The lock's name.
    #[arg(required_unless_present = "path")]
    pub(crate) name: Option<String>,
    /// The lock at FILE (as `run --path FILE` takes it), instead of a name.
    #[arg(long, value_name = "FILE", conflicts_with = "name")]
    pub(crate) path: Option<PathBuf>,
    /// Remove even while the lock is held.
    #[arg(long)]
    pub(crate) force: bool,
    /// Print what was removed as JSON (see above).
    #[arg(long)]
    pub(crate) json: bool,
}

/// The seed programs, run by interlock's own processes.
#[derive(Debug, Subcommand)]
pub(crate) enum Demo {
    /// The seed's file counter: N processes each add 1 to a number in a file, LOOPS times,
    /// under one lock; prints the seed's Example Output.
    ///
    /// With --no-lock the workers really run without the lock, and the race usually loses
    /// updates: the result line then says Failure.
    #[command(after_help = "Examples:
  interlock demo counter
  interlock demo counter --procs 8 --loops 50
  interlock demo counter --no-lock      # see the race lose updates")]
    Counter(CounterArgs),
    /// The seed's recursive lock: a child process takes an RLock three layers deep.
    Rlock,
}

#[derive(Debug, Args)]
pub(crate) struct CounterArgs {
    /// Worker processes.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u32).range(1..=256))]
    pub(crate) procs: u32,
    /// Increments per worker.
    #[arg(long, default_value_t = 10)]
    pub(crate) loops: u32,
    /// Run the read-modify-write without the lock.
    #[arg(long)]
    pub(crate) no_lock: bool,
}

#[derive(Debug, Args)]
pub(crate) struct DemoWorkerArgs {
    /// "counter" or "rlock".
    pub(crate) role: String,
    pub(crate) name: String,
    pub(crate) loops: u32,
    pub(crate) file: Option<PathBuf>,
    #[arg(long)]
    pub(crate) no_lock: bool,
}

fn parse_seconds(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if (0.0..1e9).contains(&v) => Ok(v),
        _ => Err(format!("{s:?} is not a number of seconds (e.g. 2 or 0.5)")),
    }
}

fn parse_mode(s: &str) -> Result<u32, String> {
    u32::from_str_radix(s, 8)
        .ok()
        .filter(|m| *m <= 0o7777)
        .ok_or_else(|| format!("{s:?} is not an octal file mode (e.g. 600 or 660)"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn seconds_and_modes_are_checked() {
        assert_eq!(parse_seconds("0.5"), Ok(0.5));
        assert!(parse_seconds("-1").is_err());
        assert!(parse_seconds("soon").is_err());
        assert_eq!(parse_mode("660"), Ok(0o660));
        assert!(parse_mode("999").is_err());
    }
}
