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
/// COMMAND runs as a process group of its own, which the lock's record names. The lock is
/// held until every process of that group has exited: what COMMAND leaves running in the
/// background keeps it (a line on stderr says so). INT, TERM, HUP, QUIT, USR1 and USR2 sent to
/// interlock are passed on to the group, so COMMAND's handlers run to the end with the lock
/// still held. With a terminal, the group is a job: it gets the terminal, and Ctrl-C and Ctrl-Z
/// reach it.
///
/// If the interlock process itself is killed, the kernel releases the lock, marking the owner
/// dead (the lock is never left wedged), and COMMAND gets SIGKILL — but what COMMAND started,
/// or a COMMAND that changed its credentials (sudo, su, setpriv, a setuid program), may live
/// on. The next holder then waits until that process group has exited (or kills it, with
/// --kill-orphans), saying so on stderr, before its COMMAND runs: the next holder never
/// overlaps the previous one's processes.
///
/// What leaves the process group escapes both: a daemon that calls setsid, a job that a shell
/// with job control (sh -m, an interactive shell) puts in a group of its own, a nested
/// `interlock run` (which holds its own lock over its own group).
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  interlock run backup -- rsync -a /src/ /dst/
  interlock run --no-wait nightly -- ./nightly.sh        # exit 1 at once if held
  interlock run --wait 0.5 --conflict-exit-code 75 db -- ./migrate
  interlock run --path /srv/shared/deploy.lock --mode 660 -- ./deploy.sh
  interlock run --fair jobs -- ./job.sh                   # no waiter starves")]
pub(crate) struct RunArgs {
    /// The lock's name ([A-Za-z0-9._-], at most 200 bytes, no leading dot).
    #[arg(required_unless_present = "path", conflicts_with = "path")]
    pub(crate) name: Option<String>,
    /// Use the lock file at FILE instead of a name (for sharing between users).
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
    /// If a holder died leaving processes of its COMMAND running, kill them (SIGKILL) instead
    /// of waiting for them to exit.
    #[arg(long)]
    pub(crate) kill_orphans: bool,
    /// Exit code for a conflict or timeout.
    #[arg(long, short = 'E', value_name = "N", default_value_t = 1)]
    pub(crate) conflict_exit_code: u8,
    /// The command and its arguments.
    #[arg(last = true, required = true, value_name = "COMMAND")]
    pub(crate) command: Vec<OsString>,
}

/// Show a named lock: holder (pid, command line, since when), waiters (and who has waited past
/// the deadlock timeout), acquisitions, owner deaths, poison. With --deadlocks, print the
/// lock-order cycles present among this user's waiters instead (exit 1 if there is one).
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  interlock status backup
  interlock status --json backup | jq .holder.pid
  interlock status --deadlocks")]
pub(crate) struct StatusArgs {
    /// The lock's name.
    #[arg(required_unless_present = "deadlocks")]
    pub(crate) name: Option<String>,
    /// Print any deadlock cycle among this user's waiting processes (exit 1 if one is found).
    #[arg(long, conflicts_with = "name")]
    pub(crate) deadlocks: bool,
    /// Print JSON (stable field names) instead of text.
    #[arg(long)]
    pub(crate) json: bool,
}

/// List this user's named locks and who holds them.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  interlock list
  interlock list --json")]
pub(crate) struct ListArgs {
    /// Print JSON (an array of `status --json` objects).
    #[arg(long)]
    pub(crate) json: bool,
}

/// Remove a named lock. Refused while it is held, unless --force.
///
/// Without --force the lock is taken (without waiting) and the file removed while it is held,
/// so nobody holds it at that moment (exit 1, naming the holder, if somebody does).
///
/// Processes that still have the lock open keep the old one: one of them may take it after the
/// removal while the next `run` of the name creates and takes a new lock, and both then run at
/// once. Remove only locks that are no longer in use.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  interlock rm old-job
  interlock rm --force stuck-job")]
pub(crate) struct RmArgs {
    /// The lock's name.
    pub(crate) name: String,
    /// Remove even while the lock is held.
    #[arg(long)]
    pub(crate) force: bool,
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
