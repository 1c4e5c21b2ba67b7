//! `--etcd ENDPOINTS`: `run`, `status` and `list` of locks on an etcd cluster
//! (`interlock-etcd`) instead of this machine's namespace.

use std::io::Write;
use std::os::fd::OwnedFd;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use interlock_etcd::{Error, EtcdClient, EtcdLock, EtcdOptions, EtcdStatus};
use serde::Serialize;

use crate::cli::{EtcdArgs, ListArgs, RunArgs, StatusArgs, WaitLimit};
use crate::exit::{Coded, Exit};

impl EtcdArgs {
    /// The endpoints (the dispatch comes here only with --etcd or its variable set).
    fn endpoints(&self) -> &str {
        self.etcd.as_deref().expect("--etcd given")
    }

    fn connect(&self, endpoints: &str) -> anyhow::Result<EtcdClient> {
        let options = EtcdOptions::parse(endpoints).ttl(Duration::from_secs(self.etcd_ttl));
        EtcdClient::connect(options).map_err(coded)
    }
}

/// An etcd error with its exit code: a timeout is a conflict (1), a bad name or setting a
/// usage error (2), the cluster's failures a system error (3).
fn coded(err: Error) -> anyhow::Error {
    let code = match err {
        Error::Timeout { .. } => Exit::Conflict,
        Error::InvalidName { .. } | Error::InvalidConfig(_) => Exit::Usage,
        _ => Exit::System,
    };
    anyhow::Error::new(Coded(code, err.to_string()))
}

/// `run --etcd`: COMMAND while holding the etcd lock NAME. INT, TERM, HUP, QUIT, USR1 and USR2
/// are passed on to COMMAND. If the lease is lost while COMMAND runs (another holder may have
/// the lock then), COMMAND gets SIGTERM, SIGKILL a second later, and `run` exits 3.
pub(crate) fn run(args: &RunArgs) -> anyhow::Result<Exit> {
    let endpoints = args.etcd.endpoints();
    let unsupported = [
        (args.path.is_some(), "--path"),
        (args.slots.is_some(), "--slots"),
        (args.fair, "--fair"),
        (args.kill_orphans, "--kill-orphans"),
    ];
    if let Some((_, option)) = unsupported.iter().find(|(given, _)| *given) {
        return Err(anyhow::Error::new(Coded(
            Exit::Usage,
            format!("{option} does not work with --etcd (or INTERLOCK_ETCD_ENDPOINTS)"),
        )));
    }
    let name = args.name.as_deref().expect("NAME without --path");
    let label = format!("etcd lock {name:?}");
    // Before any thread exists (the client's runtime): the signals passed on to COMMAND stay
    // blocked in every thread of interlock, so that only the forwarding thread takes them.
    let signals = Signals::block();
    // The same name rules as on this machine, checked before connecting.
    interlock::namespace::validate_name(name)?;
    let client = args.etcd.connect(endpoints)?;
    let lock = EtcdLock::new(&client, name).map_err(coded)?;
    let started = Instant::now();
    let acquired = match args.wait {
        _ if args.no_wait => lock.try_lock(),
        Some(WaitLimit::AtMost(limit)) => lock.try_lock_for(limit),
        Some(WaitLimit::Forever) | None => lock.lock().map(Some),
    };
    let Some(guard) = acquired.map_err(coded)? else {
        let status = interlock_etcd::status(&client, name).ok();
        let holder = status
            .as_ref()
            .and_then(|s| s.holder.as_ref())
            .map(|h| {
                format!(
                    " by pid {} on {} (token {})",
                    h.pid.map_or("?".into(), |p| p.to_string()),
                    h.host.as_deref().unwrap_or("?"),
                    h.token
                )
            })
            .unwrap_or_default();
        let (reason, message) = if args.no_wait {
            ("held", format!("{label} is held{holder}"))
        } else {
            (
                "timeout",
                format!(
                    "timed out after {:.2}s waiting for {label}, held{holder}",
                    started.elapsed().as_secs_f64()
                ),
            )
        };
        if args.json {
            let object = serde_json::json!({
                "reason": reason,
                "message": message,
                "waited_ms": started.elapsed().as_millis() as u64,
                "lock": status.as_ref().map(Report::of),
            });
            println!("{object}");
        }
        return Err(anyhow::Error::new(Coded(
            Exit::Command(args.conflict_exit_code),
            message,
        )));
    };
    if args.verbose {
        let took = started.elapsed().as_secs_f64();
        eprintln!("interlock: getting {label} took {took:.6} seconds");
    }
    if guard.previous_owner_died() {
        eprintln!(
            "interlock: the previous holder of {label} (token {}) lost its lease while holding it",
            guard.previous_token().unwrap_or_default()
        );
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
    // If interlock dies, so does COMMAND: it must not run on without the lock.
    interlock::kill_with_parent(&mut cmd);
    signals.unblock_in(&mut cmd);
    signals.spawning(true);
    let child = cmd.spawn().map_err(|e| {
        signals.spawning(false);
        let code = match e.kind() {
            std::io::ErrorKind::NotFound => Exit::NotFound,
            _ => Exit::CannotExecute,
        };
        let shown = program.to_string_lossy();
        anyhow::Error::new(Coded(code, format!("cannot run {shown:?}: {e}")))
    })?;
    let pid = child.id() as libc::pid_t;
    signals.pass_on_to(pid);
    let (tx, mut rx) = tokio::sync::oneshot::channel();
    let mut child = child;
    std::thread::spawn(move || {
        let _ = tx.send(child.wait());
    });
    let ended = client.block_on(async {
        tokio::select! {
            status = &mut rx => Some(status),
            () = guard.lease_lost_wait() => None,
        }
    });
    let status = match ended {
        Some(status) => status.expect("the waiting thread sends")?,
        None => {
            eprintln!(
                "interlock: lost the lease of {label} while COMMAND ran (cut off from the \
                 cluster, or paused past the {}s TTL): another holder may have the lock; \
                 stopping COMMAND (pid {pid})",
                args.etcd.etcd_ttl
            );
            terminate(pid, rx);
            return Err(anyhow::Error::new(Coded(
                Exit::System,
                format!("the hold of {label} ended with its lease while COMMAND ran"),
            )));
        }
    };
    if let Err(e) = guard.unlock() {
        eprintln!("interlock: releasing {label}: {e}");
    }
    Ok(crate::cmd::exit_of(status))
}

/// The signals `run --etcd` passes on to COMMAND, as the local `run` does: COMMAND's handlers
/// run to their end while interlock holds the lock, then interlock releases it and exits with
/// COMMAND's status (`timeout(1)`, `systemctl stop`, Ctrl-C). Before COMMAND runs (while
/// waiting for the lock), such a signal ends interlock as it would have without this.
struct Signals {
    old: libc::sigset_t,
    /// COMMAND's pidfd once it runs.
    pidfd: Arc<OnceLock<OwnedFd>>,
    /// Set from just before COMMAND is spawned until its pidfd is known: a signal arriving then
    /// waits for the pidfd and goes to COMMAND, instead of ending interlock — which would take
    /// COMMAND with it (it dies with its parent) when it may already be running its handlers'
    /// set-up (the CLI test that sends SIGTERM as soon as COMMAND prints caught it in CI).
    spawning: Arc<AtomicBool>,
}

const PASSED_ON: [libc::c_int; 6] = [
    libc::SIGINT,
    libc::SIGTERM,
    libc::SIGHUP,
    libc::SIGQUIT,
    libc::SIGUSR1,
    libc::SIGUSR2,
];

impl Signals {
    /// Blocks [`PASSED_ON`] in the calling thread (and the threads it starts later) and starts
    /// the thread that takes them.
    fn block() -> Signals {
        // SAFETY: sigset_t is plain data that sigemptyset initialises before any other use.
        let mut set: libc::sigset_t = unsafe { std::mem::zeroed() };
        // SAFETY: as above.
        let mut old: libc::sigset_t = unsafe { std::mem::zeroed() };
        // SAFETY: `set` is a valid sigset_t we own.
        unsafe { libc::sigemptyset(&mut set) };
        for sig in PASSED_ON {
            // SAFETY: as above; `sig` is a valid signal number.
            unsafe { libc::sigaddset(&mut set, sig) };
        }
        // SAFETY: both pointers are valid sigset_t we own.
        unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &set, &mut old) };
        let pidfd = Arc::new(OnceLock::<OwnedFd>::new());
        let target = Arc::clone(&pidfd);
        let spawning = Arc::new(AtomicBool::new(false));
        let in_spawn = Arc::clone(&spawning);
        std::thread::spawn(move || loop {
            let mut sig: libc::c_int = 0;
            // SAFETY: `set` is a valid sigset_t, `sig` a valid out pointer.
            if unsafe { libc::sigwait(&set, &mut sig) } != 0 {
                return;
            }
            let fd = loop {
                if let Some(fd) = target.get() {
                    break fd;
                }
                if !in_spawn.load(Ordering::SeqCst) {
                    // Before COMMAND runs (or after it could not be started): this signal ends
                    // interlock, as it would have without the blocking.
                    die_of(sig);
                }
                std::thread::sleep(Duration::from_millis(1));
            };
            // After COMMAND's end this fails with ESRCH, harmlessly.
            if let Some(sig) = rustix::process::Signal::from_named_raw(sig) {
                let _ = rustix::process::pidfd_send_signal(fd, sig);
            }
        });
        Signals {
            old,
            pidfd,
            spawning,
        }
    }

    /// Whether COMMAND is being spawned (see the `spawning` field).
    fn spawning(&self, now: bool) {
        self.spawning.store(now, Ordering::SeqCst);
    }

    /// COMMAND starts with interlock's signal mask as it was before [`block`](Self::block).
    fn unblock_in(&self, cmd: &mut Command) {
        use std::os::unix::process::CommandExt;
        let old = self.old;
        let hook = move || {
            // SAFETY: `old` is a valid sigset_t copied into the hook; no old mask is asked for.
            unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, &old, std::ptr::null_mut()) };
            Ok(())
        };
        // SAFETY: the hook calls only pthread_sigmask (sigprocmask, async-signal-safe) between
        // fork and exec, and allocates nothing.
        unsafe { cmd.pre_exec(hook) };
    }

    /// From now on the signals go to `pid`, through a pidfd opened now (COMMAND is not reaped
    /// yet: nothing waits for it before this returns), so that one arriving after COMMAND was
    /// reaped never reaches a process that reuses its pid.
    fn pass_on_to(&self, pid: libc::pid_t) {
        let pidfd = rustix::process::Pid::from_raw(pid).and_then(|pid| {
            rustix::process::pidfd_open(pid, rustix::process::PidfdFlags::empty()).ok()
        });
        if let Some(fd) = pidfd {
            let _ = self.pidfd.set(fd);
        }
        self.spawning(false);
    }
}

/// Ends interlock by `sig`, as if it had never been blocked (the shell sees 128+N).
fn die_of(sig: libc::c_int) -> ! {
    // SAFETY: the default action of a valid signal (nothing installed a handler for it).
    unsafe { libc::signal(sig, libc::SIG_DFL) };
    // SAFETY: sigset_t is plain data that sigemptyset initialises before any other use.
    let mut one: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: `one` is a valid sigset_t we own.
    unsafe { libc::sigemptyset(&mut one) };
    // SAFETY: as above; `sig` is a valid signal number.
    unsafe { libc::sigaddset(&mut one, sig) };
    // SAFETY: unblocking it in this thread only; no old mask asked for.
    unsafe { libc::pthread_sigmask(libc::SIG_UNBLOCK, &one, std::ptr::null_mut()) };
    // SAFETY: raise(3) in this thread: the default action of every signal in PASSED_ON ends
    // the process.
    unsafe { libc::raise(sig) };
    std::process::exit(128 + sig)
}

/// SIGTERM to COMMAND, SIGKILL a second later if it still runs; waits for it.
fn terminate(
    pid: libc::pid_t,
    mut rx: tokio::sync::oneshot::Receiver<std::io::Result<std::process::ExitStatus>>,
) {
    // SAFETY: kill(2) on our child, not reaped yet: the waiting thread reaps it and then
    // sends, and nothing was received from `rx` yet.
    unsafe { libc::kill(pid, libc::SIGTERM) };
    let deadline = Instant::now() + Duration::from_secs(1);
    while Instant::now() < deadline {
        if rx.try_recv().is_ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    // SAFETY: as above; `try_recv` found nothing, so the child is not reaped yet (a reaped
    // child's status would be there).
    unsafe { libc::kill(pid, libc::SIGKILL) };
    let _ = rx.blocking_recv();
}

/// One etcd lock as `status --etcd --json` shows it.
#[derive(Debug, Serialize)]
struct Report {
    name: String,
    backend: &'static str,
    held: bool,
    holder: Option<HolderReport>,
    waiters: usize,
    /// The last hold: its token, and whether it ended in a release (false: still on, or
    /// ended by its lease lapsing).
    last: Option<LastReport>,
}

#[derive(Debug, Serialize)]
struct HolderReport {
    pid: Option<u32>,
    host: Option<String>,
    token: u64,
    lease: String,
    held_for_ms: Option<u64>,
}

#[derive(Debug, Serialize)]
struct LastReport {
    token: u64,
    released: bool,
}

impl Report {
    fn of(status: &EtcdStatus) -> Report {
        Report {
            name: status.name.clone(),
            backend: "etcd",
            held: status.holder.is_some(),
            holder: status.holder.as_ref().map(|h| HolderReport {
                pid: h.pid,
                host: h.host.clone(),
                token: h.token,
                lease: format!("{:x}", h.lease),
                held_for_ms: h.held_for.map(|d| d.as_millis() as u64),
            }),
            waiters: status.waiters,
            last: status
                .last
                .map(|(token, released)| LastReport { token, released }),
        }
    }

    fn text(&self) -> String {
        match &self.holder {
            Some(h) => format!(
                "{}: held by pid {} on {} (token {}, lease {}{}), {} waiting",
                self.name,
                h.pid.map_or("?".into(), |p| p.to_string()),
                h.host.as_deref().unwrap_or("?"),
                h.token,
                h.lease,
                h.held_for_ms
                    .map(|ms| format!(", for {:.1}s", ms as f64 / 1000.0))
                    .unwrap_or_default(),
                self.waiters
            ),
            None => match &self.last {
                Some(last) => format!(
                    "{}: free (the last hold, token {}, {})",
                    self.name,
                    last.token,
                    if last.released {
                        "was released"
                    } else {
                        "ended with its lease: its holder died"
                    }
                ),
                None => format!("{}: free", self.name),
            },
        }
    }
}

/// `status --etcd NAME`.
pub(crate) fn status(args: &StatusArgs) -> anyhow::Result<Exit> {
    let endpoints = args.etcd.endpoints();
    let Some(name) = args.name.as_deref() else {
        return Err(anyhow::Error::new(Coded(
            Exit::Usage,
            "status --etcd takes a NAME (no --path, no --deadlocks)".into(),
        )));
    };
    interlock::namespace::validate_name(name)?;
    let client = args.etcd.connect(endpoints)?;
    let status = interlock_etcd::status(&client, name).map_err(coded)?;
    if status.holder.is_none() && status.last.is_none() {
        return Err(anyhow::Error::new(Coded(
            Exit::Conflict,
            format!("no etcd lock named {name:?} (never taken)"),
        )));
    }
    let report = Report::of(&status);
    let mut out = std::io::stdout().lock();
    if args.json {
        writeln!(out, "{}", serde_json::to_string_pretty(&report)?)?;
    } else {
        writeln!(out, "{}", report.text())?;
    }
    Ok(Exit::Success)
}

/// `list --etcd`.
pub(crate) fn list(args: &ListArgs) -> anyhow::Result<Exit> {
    let endpoints = args.etcd.endpoints();
    let client = args.etcd.connect(endpoints)?;
    let reports = interlock_etcd::list(&client)
        .map_err(coded)?
        .iter()
        .map(|name| {
            Ok(Report::of(
                &interlock_etcd::status(&client, name).map_err(coded)?,
            ))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let mut out = std::io::stdout().lock();
    if args.json {
        writeln!(out, "{}", serde_json::to_string_pretty(&reports)?)?;
    } else {
        for report in &reports {
            writeln!(out, "{}", report.text())?;
        }
    }
    Ok(Exit::Success)
}
