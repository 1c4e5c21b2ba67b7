//! The command line, as clap derive types: doc comments are the long help.

use std::ffi::OsString;
use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use clap::error::ErrorKind;
use clap::{Args, CommandFactory, Parser, Subcommand, ValueHint};

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
    Completions(CompletionsArgs),
    Man(ManArgs),
    Event(crate::cmd::event::EventArgs),
    Barrier(crate::cmd::barrier::BarrierArgs),
    /// One worker of `demo counter` (internal).
    #[command(hide = true)]
    DemoWorker(DemoWorkerArgs),
}

/// Run COMMAND while holding a lock, like flock(1).
///
/// Waits for the lock (forever, or --wait DURATION, or not at all with --no-wait), runs COMMAND,
/// releases the lock when COMMAND and what it left running in its process group have exited,
/// and exits with COMMAND's status. On conflict or timeout it prints one line naming the holder
/// and exits 1 (or --conflict-exit-code). A wait that goes past a second says so on stderr,
/// once, naming the holder.
///
/// Every word after NAME belongs to COMMAND, as with flock(1), words that look like options
/// included: interlock's own options go before NAME. `--` between NAME and COMMAND is optional;
/// a NAME starting with '-' goes after a `--` of its own (`interlock run -- -x CMD`).
/// -c SHELL-COMMAND runs one shell command with `sh -c`, as `flock FILE -c` does. With --path
/// FILE there is no NAME: COMMAND is the first word after the options.
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
/// overlaps the previous one's processes. --wait and --no-wait bound that wait too.
///
/// What leaves the process group escapes both: a daemon that calls setsid, a job that a shell
/// with job control (sh -m, an interactive shell) puts in a group of its own, a nested
/// `interlock run` (which holds its own lock over its own group). flock(1) users of a --path
/// FILE know nothing of the group: they are kept out only while interlock itself lives.
///
/// --path FILE works on any file, as flock(1) does: an interlock lock file (created with
/// --mode if FILE does not exist), or a file made by `touch`, a data file, a directory. A
/// file that is not an interlock lock file is opened read-only and never written; interlock
/// keeps its record of it (holder, deaths, tokens, COMMAND's process group) in this user's
/// namespace. Either way `run` also takes flock(2) on FILE, after the interlock lock, so
/// `flock FILE ...` users of the same file and `interlock run --path FILE` exclude each other.
/// Like `flock -o`, COMMAND does not inherit that lock.
///
/// With --json, a conflict or timeout also prints one JSON object on stdout (COMMAND did not
/// run): {"reason": "held" | "timeout" | "deadlock", "message": the stderr line, "waited_ms",
/// "lock": the lock as `status --json` shows it}. When COMMAND runs, stdout is COMMAND's alone.
#[derive(Debug, Args)]
#[command(
    override_usage = "interlock run [OPTIONS] NAME [--] COMMAND [ARG]...
       interlock run [OPTIONS] NAME -c SHELL-COMMAND
       interlock run [OPTIONS] --path FILE [--] COMMAND [ARG]...
       interlock run [OPTIONS] --path FILE -c SHELL-COMMAND",
    after_help = "Examples:
  interlock run backup rsync -a /src/ /dst/
  interlock run --no-wait nightly ./nightly.sh          # exit 1 at once if held
  interlock run --wait 2m --conflict-exit-code 75 db ./migrate
  interlock run --path /srv/shared/deploy.lock --mode 660 ./deploy.sh
  interlock run --path /var/lock/backup.lock ./backup.sh  # also excludes `flock /var/lock/backup.lock`
  interlock run --json -n nightly ./nightly.sh > result.json
  interlock run build -c 'make && make install'         # a shell command, as flock -c
  interlock run --verbose --wait 500ms cache ./refresh  # say how long getting the lock took
  interlock run --fair jobs ./job.sh                    # no waiter starves
  interlock run --kill-orphans backup ./backup.sh       # kill what a killed holder left running
  interlock run --shared catalog ./report.sh            # readers at once; `run catalog` writes
  interlock run --shared --path /var/lock/db.lock ./read.sh  # flock -s /var/lock/db.lock
  interlock run backup -- rsync -a /src/ /dst/          # the same: `--` is optional"
)]
pub(crate) struct RunArgs {
    /// NAME: the lock's name ([A-Za-z0-9._-], at most 200 bytes, no leading dot; none with
    /// --path). COMMAND: the command and its arguments, every word after NAME (after the
    /// options, with --path).
    #[arg(
        value_names = ["NAME", "COMMAND"],
        required_unless_present = "path",
        num_args = 1..,
        trailing_var_arg = true,
        allow_hyphen_values = true
    )]
    words: Vec<OsString>,
    /// The lock's name (set by `finish` from the first word, unless --path is given).
    #[arg(skip)]
    pub(crate) name: Option<String>,
    /// Lock FILE instead of a name: any file or directory, shared with flock(1) users of it
    /// (see above), or between users.
    #[arg(long, value_name = "FILE", value_hint = ValueHint::FilePath)]
    pub(crate) path: Option<PathBuf>,
    /// Mode (octal) for a lock file that --path creates.
    #[arg(long, value_name = "OCTAL", default_value = "600", requires = "path", value_parser = parse_mode)]
    pub(crate) mode: u32,
    /// Wait at most DURATION for the lock: seconds (2, 0.5) or a number with a unit, one of
    /// ms, s, m, h, d (500ms, 1.5s, 2m); `inf` waits without limit, as without --wait; 0 tries
    /// once, as --no-wait.
    #[arg(
        long,
        short = 'w',
        value_name = "DURATION",
        conflicts_with = "no_wait",
        allow_negative_numbers = true,
        value_parser = parse_wait
    )]
    pub(crate) wait: Option<WaitLimit>,
    /// Do not wait: fail at once if the lock is held.
    #[arg(long, short = 'n')]
    pub(crate) no_wait: bool,
    /// Create the named lock as a fair one if it does not exist (a release hands the lock to a
    /// waiter that has slept, roughly the longest, instead of letting anyone barge in); refuse
    /// an existing unfair one. Every later `run` of the name is fair.
    #[arg(long, conflicts_with = "path")]
    pub(crate) fair: bool,
    /// Run at most N COMMANDs of NAME at once (like GNU parallel's `sem`): NAME is a
    /// semaphore of N permits, created on first use; an existing one with another N is an
    /// error. A permit whose holder is killed comes back; as with a lock, COMMAND runs as a
    /// process group the permit's record names, and the permit's next taker waits for (or,
    /// with --kill-orphans, kills) what a killed holder left running.
    #[arg(long, value_name = "N", conflicts_with_all = ["path", "fair"])]
    pub(crate) slots: Option<usize>,
    /// Take the lock shared, as a reader (flock -s): any number of `run --shared` COMMANDs of
    /// NAME run at once, and none beside a `run NAME` without --shared, which takes it
    /// exclusively; a writer waiting keeps new readers out. NAME is then a reader-writer lock
    /// (RwLock), created on first use, and `run NAME` of an RwLock's name takes it
    /// exclusively; a NAME that is a plain lock is refused (exit 2). A reader or writer that is
    /// killed gives its hold back, and the next writer is told (INTERLOCK_PREVIOUS_OWNER_DIED).
    /// With --path, flock(2) LOCK_SH on FILE, exactly as `flock -s FILE`: it shares FILE with
    /// `flock -s` users and excludes `flock FILE` ones (no interlock record, no owner-death news,
    /// COMMAND not run as a process group).
    #[arg(long, short = 's', conflicts_with_all = ["slots", "fair"])]
    pub(crate) shared: bool,
    /// If a holder died leaving processes of its COMMAND's process group running, kill them
    /// (SIGKILL) instead of waiting for them to exit.
    #[arg(long)]
    pub(crate) kill_orphans: bool,
    /// Exit code for a conflict or timeout.
    #[arg(long, short = 'E', value_name = "N", default_value_t = 1)]
    pub(crate) conflict_exit_code: u8,
    /// Say on stderr how long getting the lock took (as flock --verbose says on stdout).
    #[arg(long)]
    pub(crate) verbose: bool,
    /// Run SHELL-COMMAND with `sh -c` instead of a COMMAND with arguments (as flock -c).
    #[arg(short = 'c', long = "command", value_name = "SHELL-COMMAND")]
    shell: Option<OsString>,
    /// On a conflict or timeout, also print a JSON object on stdout (see above).
    #[arg(long)]
    pub(crate) json: bool,
    #[command(flatten)]
    pub(crate) etcd: EtcdArgs,
    /// COMMAND and its arguments (set by `finish` from the words).
    #[arg(skip)]
    pub(crate) command: Vec<OsString>,
}

impl RunArgs {
    /// Settles what clap leaves open. Without --path, the first word is NAME and everything
    /// after it is COMMAND's, as with flock(1): `--` there is dropped, and flock's `-c
    /// SHELL-COMMAND` recognised. With --path, the first word is COMMAND. -c becomes `sh -c
    /// SHELL-COMMAND`; COMMAND is required one way or the other. `escaped`: the words came
    /// after a `--`, so a first word starting with '-' is NAME (or, with --path, COMMAND, as
    /// the usage line `--path FILE [--] COMMAND` says), not an unknown option.
    fn finish(&mut self, escaped: bool) -> Result<(), clap::Error> {
        let mut words = std::mem::take(&mut self.words).into_iter();
        if let Some(word) = words.as_slice().first().and_then(|w| w.to_str()) {
            // Only an option interlock does not know gets here (clap parses the known ones),
            // or, after `--`, a NAME (or with --path a COMMAND) that starts with '-', which is
            // then taken as such, as `flock -- -x true` takes the file `-x`.
            if word.starts_with('-') && !escaped {
                let name = if self.path.is_none() {
                    " (a lock name starting with '-' goes after `--`)"
                } else {
                    " (a COMMAND starting with '-' goes after `--`)"
                };
                return Err(run_error(
                    ErrorKind::UnknownArgument,
                    format!("unexpected argument '{word}': not an option of `interlock run`{name}"),
                ));
            }
        }
        if self.path.is_none() {
            let name = words.next().expect("clap requires NAME without --path");
            let name = name.into_string().map_err(|name| {
                run_error(
                    ErrorKind::InvalidUtf8,
                    format!("the lock name {name:?} is not valid UTF-8"),
                )
            })?;
            self.name = Some(name);
            self.command = words.collect();
            match self.command.first().and_then(|w| w.to_str()) {
                Some("--") => {
                    self.command.remove(0);
                }
                Some(c @ ("-c" | "--command")) if self.command.len() != 2 => {
                    return Err(run_error(
                        ErrorKind::WrongNumberOfValues,
                        format!("{c} takes exactly one SHELL-COMMAND (quote it as one word)"),
                    ));
                }
                Some("-c" | "--command") if self.shell.is_some() => {
                    return Err(run_error(
                        ErrorKind::ArgumentConflict,
                        "-c is given twice".into(),
                    ));
                }
                Some("-c" | "--command") => {
                    self.shell = self.command.pop();
                    self.command.clear();
                }
                Some(word) if word.starts_with('-') => {
                    return Err(run_error(
                        ErrorKind::UnknownArgument,
                        format!(
                            "'{word}' after the lock name would be COMMAND: interlock's options go before \
                             NAME (to run a program called '{word}', put -- before it)"
                        ),
                    ));
                }
                _ => {}
            }
        } else {
            self.command = words.collect();
        }
        match self.shell.take() {
            Some(shell) if self.command.is_empty() => {
                self.command = vec!["/bin/sh".into(), "-c".into(), shell];
            }
            Some(_) => {
                return Err(run_error(
                    ErrorKind::ArgumentConflict,
                    format!(
                        "-c takes the whole command as one word: {:?} is one word too many",
                        self.command[0]
                    ),
                ))
            }
            None if self.command.is_empty() => {
                return Err(run_error(
                    ErrorKind::MissingRequiredArgument,
                    "no COMMAND to run: give COMMAND [ARG]... or -c SHELL-COMMAND".into(),
                ))
            }
            None => {}
        }
        Ok(())
    }
}

/// A usage error of `interlock run`, shown with its usage lines.
fn run_error(kind: ErrorKind, message: String) -> clap::Error {
    let mut cli = Cli::command();
    let run = cli.find_subcommand_mut("run").expect("run is a subcommand");
    clap::Error::raw(kind, message).format(run)
}

/// Parses the command line, exiting 2 with a message on a usage error; a bad value (say
/// `--wait soon`) is one line naming it.
pub(crate) fn parse() -> Cli {
    try_parse_from(std::env::args_os()).unwrap_or_else(|e| {
        if let Some(line) = one_line(&e) {
            let _ = writeln!(std::io::stderr(), "interlock: {line}");
            std::process::exit(2);
        }
        e.exit()
    })
}

/// Parses ARGS (the program's name first): clap's parse, then what `RunArgs::finish` settles.
/// What `parse` does short of exiting — the fuzzers' entry (`crate::fuzzing`).
pub(crate) fn try_parse_from<I, T>(args: I) -> Result<Cli, clap::Error>
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let args: Vec<OsString> = args.into_iter().map(Into::into).collect();
    let mut cli = Cli::try_parse_from(args.iter().cloned())?;
    if let Command::Run(run) = &mut cli.command {
        // The words clap leaves to `finish` are the command line's last ones (the first
        // positional word takes every word after it): whether `--` came just before them.
        let before = args.len().checked_sub(run.words.len() + 1);
        let escaped = !run.words.is_empty() && before.is_some_and(|i| args[i] == "--");
        run.finish(escaped)?;
    }
    Ok(cli)
}

/// A value our own parser refused, as one line: "invalid value 'soon' for '--wait
/// <DURATION>': why".
pub(crate) fn one_line(e: &clap::Error) -> Option<String> {
    use clap::error::{ContextKind, ContextValue};
    if e.kind() != ErrorKind::ValueValidation {
        return None;
    }
    let (Some(ContextValue::String(arg)), Some(ContextValue::String(value))) = (
        e.get(ContextKind::InvalidArg),
        e.get(ContextKind::InvalidValue),
    ) else {
        return None;
    };
    let why = std::error::Error::source(e)?;
    Some(format!("invalid value '{value}' for '{arg}': {why}"))
}

/// The options that point a command at an etcd cluster (`src/etcd.rs` acts on them; here, so
/// that the parser is the same without the `etcd` feature).
#[derive(Debug, Clone, Args)]
pub(crate) struct EtcdArgs {
    /// Use the lock NAME on the etcd cluster at ENDPOINTS (comma-separated host:port)
    /// instead of this machine's: the fencing token is then the hold's etcd revision, and a
    /// holder that is killed, paused or cut off loses the lock when its lease's TTL runs out.
    /// Default: $INTERLOCK_ETCD_ENDPOINTS.
    #[arg(long, value_name = "ENDPOINTS", env = "INTERLOCK_ETCD_ENDPOINTS")]
    pub(crate) etcd: Option<String>,
    /// With --etcd: the lease's TTL in seconds (how long after interlock stops renewing it
    /// the lock is free for the next holder).
    #[arg(long, value_name = "SECONDS", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..))]
    pub(crate) etcd_ttl: u64,
}

/// How long `run --wait` waits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WaitLimit {
    /// `inf`: as long as it takes.
    Forever,
    /// At most this long.
    AtMost(Duration),
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
/// "since_unix_ms", "held_for_ms", "token", "alive", "process_group" (the group `run` runs
/// COMMAND in, or null)} (interlock's holder), "waiters", "acquisitions", "owner_deaths",
/// "owner_died_unclaimed", "poisoned", "depth", "leftover_group": null or {"pgid", "token",
/// "running" (null: cannot be checked from here)} (what a holder that died left running),
/// "file_locks": [{"pid", "command", "exclusive", "waiting"}], "wait_for": [{"pid", "tid",
/// "waits_for", "held_by_tid", "waited_ms"}]}. A semaphore (`run --slots`) adds "semaphore":
/// {"permits": [{"permit", "holder" (as above, or null), "acquisitions", "owner_deaths",
/// "owner_died_unclaimed", "waiters", "leftover_group"}], "free", "sleepers"}; its "holder" is
/// null, "held" says whether any permit is, "waiters" is "sleepers", "acquisitions" and
/// "owner_deaths" are the permits' totals. A reader-writer lock (`run --shared`) adds "rwlock":
/// {"writer" (a holder, or null), "readers": [{"slot", "holder"}], "reader_slots", "waiters",
/// "waiting_readers", "writes", "writer_deaths", "reader_deaths", "poisoned", "policy"
/// ("prefer_writers" or "prefer_readers"), "entered" (a reader-preferring writer is writing)}; its "holder" is
/// the writer, "held" says whether a writer or any reader is.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  interlock status backup
  interlock status --json backup | jq .holder.pid
  interlock status --json jobs | jq '.semaphore.permits[].holder.pid'   # a `run --slots` semaphore
  interlock status --json catalog | jq '.rwlock.readers[].holder.pid'   # a `run --shared` rwlock
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
    #[command(flatten)]
    pub(crate) etcd: EtcdArgs,
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
    #[command(flatten)]
    pub(crate) etcd: EtcdArgs,
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

/// Python's multiprocessing examples (the file counter, the recursive lock), run by interlock's
/// own processes.
#[derive(Debug, Subcommand)]
pub(crate) enum Demo {
    /// The multiprocessing counter example: N processes each add 1 to a number in a file,
    /// LOOPS times, under one lock; prints the example's output.
    ///
    /// With --no-lock the workers really run without the lock, and the race usually loses
    /// updates: the result line then says Failure.
    #[command(after_help = "Examples:
  interlock demo counter
  interlock demo counter --procs 8 --loops 50
  interlock demo counter --no-lock      # see the race lose updates")]
    Counter(CounterArgs),
    /// The multiprocessing RLock example: a child process takes an RLock three layers deep.
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

/// Print a completion script for SHELL on stdout.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  interlock completions bash > ~/.local/share/bash-completion/completions/interlock
  interlock completions zsh > ~/.zfunc/_interlock      # a directory in $fpath
  interlock completions fish > ~/.config/fish/completions/interlock.fish")]
pub(crate) struct CompletionsArgs {
    /// The shell.
    pub(crate) shell: clap_complete::Shell,
}

/// Print the manual page (roff) on stdout: every subcommand, its options and examples.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  interlock man > interlock.1 && man -l interlock.1
  interlock man | gzip > /usr/local/share/man/man1/interlock.1.gz")]
pub(crate) struct ManArgs {}

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

/// What `--wait` accepts, for error messages.
const DURATIONS: &str =
    "expected seconds (2, 0.5), a number with a unit (500ms, 1.5s, 2m, 1h, 1d) or inf";

/// Parses a `--wait` DURATION: seconds (`2`, `0.5`, `.5`), a number with a unit (`ms`, `s`,
/// `m`, `h`, `d`: `500ms`, `1.5s`, `2m`), or `inf`/`infinity` (no limit).
pub(crate) fn parse_wait(s: &str) -> Result<WaitLimit, String> {
    if matches!(s, "inf" | "infinity") {
        return Ok(WaitLimit::Forever);
    }
    let (number, unit) = s.split_at(
        s.find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(s.len()),
    );
    let digits = number.bytes().filter(u8::is_ascii_digit).count();
    let dots = number.len() - digits;
    if s.starts_with('-') {
        return Err("a wait cannot be negative".into());
    }
    if digits == 0 || dots > 1 {
        return Err(DURATIONS.into());
    }
    let nanos_per_unit: f64 = match unit {
        "" | "s" => 1e9,
        "ms" => 1e6,
        "m" => 60e9,
        "h" => 3600e9,
        "d" => 86400e9,
        _ => return Err(format!("unknown unit '{unit}' (use ms, s, m, h or d)")),
    };
    let value: f64 = number.parse().map_err(|_| DURATIONS.to_owned())?;
    let nanos = (value * nanos_per_unit).round();
    if nanos >= u64::MAX as f64 {
        return Err("too long (over 500 years): use inf to wait without limit".into());
    }
    Ok(WaitLimit::AtMost(Duration::from_nanos(nanos as u64)))
}

pub(crate) fn parse_mode(s: &str) -> Result<u32, String> {
    u32::from_str_radix(s, 8)
        .ok()
        .filter(|m| *m <= 0o7777)
        .ok_or_else(|| "not an octal file mode (e.g. 600 or 660)".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    /// The words of `run` after the options, as `try_parse_from` settles them.
    fn run_words(line: &[&str]) -> Result<(Option<String>, Vec<OsString>), ErrorKind> {
        let args = ["interlock", "run"].iter().chain(line);
        match try_parse_from(args) {
            Ok(Cli {
                command: Command::Run(run),
            }) => Ok((run.name, run.command)),
            Ok(other) => panic!("{other:?}"),
            Err(e) => Err(e.kind()),
        }
    }

    /// Issue 18 (found writing the `cli` fuzz target's round trip): `run --path FILE -- -x`
    /// was refused as an unknown option '-x', although the usage line is `--path FILE [--]
    /// COMMAND` and `run NAME -- -x` runs `-x`; and `run -- -x true` said a lock name cannot
    /// start with '-', which the library accepts.
    #[test]
    fn a_command_starting_with_a_dash_runs_after_dash_dash_with_path_too() {
        let words = |w: &[&str]| w.iter().map(OsString::from).collect::<Vec<_>>();
        assert_eq!(
            run_words(&["--path", "f", "--", "-x", "a"]),
            Ok((None, words(&["-x", "a"])))
        );
        assert_eq!(
            run_words(&["name", "--", "-x"]),
            Ok((Some("name".into()), words(&["-x"])))
        );
        // Without `--`, a word starting with '-' is still an option interlock does not know.
        assert_eq!(
            run_words(&["--path", "f", "-x"]),
            Err(ErrorKind::UnknownArgument)
        );
        assert_eq!(run_words(&["-x", "true"]), Err(ErrorKind::UnknownArgument));
        // `--` before a NAME that starts with '-': the name (the library accepts it), as
        // `flock -- -x true` takes the file `-x`.
        assert_eq!(
            run_words(&["--", "-x", "true"]),
            Ok((Some("-x".into()), words(&["true"])))
        );
    }

    #[test]
    fn modes_are_checked() {
        assert_eq!(parse_mode("660"), Ok(0o660));
        assert!(parse_mode("999").is_err());
    }

    #[test]
    fn wait_takes_seconds_units_and_inf() {
        let at_most = |d| Ok(WaitLimit::AtMost(d));
        for (s, want) in [
            ("0", at_most(Duration::ZERO)),
            ("2", at_most(Duration::from_secs(2))),
            ("0.5", at_most(Duration::from_millis(500))),
            (".5", at_most(Duration::from_millis(500))),
            ("5.", at_most(Duration::from_secs(5))),
            ("0.3", at_most(Duration::from_millis(300))),
            ("1.5s", at_most(Duration::from_millis(1500))),
            ("500ms", at_most(Duration::from_millis(500))),
            ("300ms", at_most(Duration::from_millis(300))),
            ("0.5ms", at_most(Duration::from_micros(500))),
            ("2m", at_most(Duration::from_secs(120))),
            ("1.5h", at_most(Duration::from_secs(5400))),
            ("1d", at_most(Duration::from_secs(86400))),
            ("inf", Ok(WaitLimit::Forever)),
            ("infinity", Ok(WaitLimit::Forever)),
        ] {
            assert_eq!(parse_wait(s), want, "{s:?}");
        }
    }

    #[test]
    fn bad_waits_say_what_is_wrong() {
        for (s, why) in [
            ("", "expected seconds"),
            ("soon", "expected seconds"),
            ("ms", "expected seconds"),
            (".", "expected seconds"),
            ("1.2.3", "expected seconds"),
            ("nan", "expected seconds"),
            ("+5", "expected seconds"),
            ("-1", "negative"),
            ("-inf", "negative"),
            ("5x", "unknown unit 'x'"),
            ("5 s", "unknown unit ' s'"),
            ("1e3", "unknown unit 'e3'"),
            ("5sec", "unknown unit 'sec'"),
            ("inf5", "expected seconds"),
            ("99999999999999999999d", "too long"),
        ] {
            let err = parse_wait(s).expect_err(s);
            assert!(err.contains(why), "{s:?}: {err}");
        }
    }

    // Issue 18: the parsers of what users type, over generated input (proptest).
    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig { cases: 3000, ..Default::default() })]

        /// Any text: an answer or a message, never a panic; an accepted wait is finite and
        /// representable, or `inf`.
        #[test]
        fn any_wait_text_is_parsed_or_refused(s in "\\PC{0,12}|[0-9.]{0,25}(ms|s|m|h|d|x)?") {
            match parse_wait(&s) {
                Ok(WaitLimit::Forever) => proptest::prop_assert!(s == "inf" || s == "infinity"),
                Ok(WaitLimit::AtMost(d)) => proptest::prop_assert!(d.as_nanos() < u128::from(u64::MAX)),
                Err(why) => proptest::prop_assert!(!why.is_empty()),
            }
        }

        /// Whole numbers in every unit mean exactly that many of the unit, up to the limit.
        #[test]
        fn whole_waits_are_exact(n in 0u64..1_000_000) {
            for (unit, each) in [("ms", Duration::from_millis(1)), ("s", Duration::from_secs(1)),
                                 ("", Duration::from_secs(1)), ("m", Duration::from_secs(60)),
                                 ("h", Duration::from_secs(3600)), ("d", Duration::from_secs(86400))] {
                let got = parse_wait(&format!("{n}{unit}"));
                if each.as_nanos() * u128::from(n) < u128::from(u64::MAX) {
                    proptest::prop_assert_eq!(got, Ok(WaitLimit::AtMost(each * n as u32)));
                } else {
                    // Past what a deadline can hold (~584 years): refused, pointing at `inf`.
                    proptest::prop_assert!(got.is_err_and(|e| e.contains("use inf")));
                }
            }
        }

        /// A mode is accepted exactly when it is an octal number up to 7777, and reads back as
        /// written.
        #[test]
        fn modes_are_octal_up_to_7777(m in 0u32..0o20000) {
            let shown = format!("{m:o}");
            proptest::prop_assert_eq!(parse_mode(&shown).is_ok(), m <= 0o7777);
            if m <= 0o7777 {
                proptest::prop_assert_eq!(parse_mode(&shown), Ok(m));
            }
        }
    }
}
