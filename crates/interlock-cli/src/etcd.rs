//! `--etcd ENDPOINTS`: `run`, `status` and `list` of locks on an etcd cluster
//! (`interlock-etcd`) instead of this machine's namespace.

use std::io::Write;
use std::process::Command;
use std::time::{Duration, Instant};

use clap::Args;
use interlock_etcd::{Error, EtcdClient, EtcdLock, EtcdOptions, EtcdStatus};
use serde::Serialize;

use crate::cli::{ListArgs, RunArgs, StatusArgs, WaitLimit};
use crate::exit::{Coded, Exit};

/// The options that point a command at an etcd cluster.
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

/// `run --etcd`: COMMAND while holding the etcd lock NAME. If the lease is lost while COMMAND
/// runs (another holder may have the lock then), COMMAND gets SIGTERM, SIGKILL a second later,
/// and `run` exits 3.
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
    let child = cmd.spawn().map_err(|e| {
        let code = match e.kind() {
            std::io::ErrorKind::NotFound => Exit::NotFound,
            _ => Exit::CannotExecute,
        };
        let shown = program.to_string_lossy();
        anyhow::Error::new(Coded(code, format!("cannot run {shown:?}: {e}")))
    })?;
    let pid = child.id() as libc::pid_t;
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
