//! `interlock run --shared --path FILE -- COMMAND`: flock(2) `LOCK_SH` on FILE, exactly as
//! `flock -s FILE COMMAND`, so that it shares FILE with `flock -s` users and excludes `flock
//! FILE` (and `interlock run --path FILE`) ones. (A named `--shared` is a read of an
//! `interlock::RwLock`: `run` with `cmd/target.rs`.)

use std::fs::OpenOptions;
use std::os::unix::fs::OpenOptionsExt;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::Context;
use rustix::fs::{flock, FlockOperation};
use rustix::io::Errno;

use crate::cli::{RunArgs, WaitLimit};
use crate::exit::{Coded, Exit};

/// The longest pause between two non-blocking attempts of a timed wait (flock(2) has no
/// timeout of its own; flock(1) uses an alarm).
const POLL_MAX: Duration = Duration::from_millis(16);

/// FILE opened as `run --path` opens it (`FileLock::open`): read-only, never through a
/// symbolic link (in a sticky directory like `/tmp`, another user's link would choose the file
/// we lock), without blocking on a FIFO or taking a terminal as ours; a regular file or a
/// directory only. (flock(1) follows links and waits on a FIFO for a writer: the one place
/// `--shared` differs from `flock -s`, as `--path` already did from `flock`.)
fn open_for_flock(path: &std::path::Path) -> anyhow::Result<std::fs::File> {
    let refuse = |reason: &str| interlock::Error::UnsafePath {
        path: path.to_owned(),
        reason: reason.into(),
    };
    let file = match OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
    {
        Ok(file) => file,
        Err(e) if e.raw_os_error() == Some(libc::ELOOP) => {
            return Err(refuse("it is a symbolic link").into())
        }
        Err(e) => return Err(anyhow::Error::new(e).context(format!("open {}", path.display()))),
    };
    let kind = file
        .metadata()
        .with_context(|| format!("stat {}", path.display()))?
        .file_type();
    if !(kind.is_file() || kind.is_dir()) {
        return Err(refuse("not a regular file or a directory").into());
    }
    Ok(file)
}

pub(crate) fn run_path(args: &RunArgs) -> anyhow::Result<Exit> {
    let path = args.path.as_deref().expect("run_path is for --path");
    let label = format!("{} (shared)", path.display());
    // As flock(1): a missing file is created (with --mode), and the lock is taken through a
    // read-only descriptor, which also works on a directory. The descriptor is close-on-exec:
    // COMMAND does not inherit the lock (flock -o), as with `run --path`.
    if !path.exists() {
        let _ = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(args.mode)
            .open(path);
    }
    let file = open_for_flock(path)?;
    let limit = match args.wait {
        _ if args.no_wait => Some(Duration::ZERO),
        Some(WaitLimit::AtMost(limit)) => Some(limit),
        Some(WaitLimit::Forever) | None => None,
    };
    let started = Instant::now();
    let got = match limit {
        None => loop {
            match flock(&file, FlockOperation::LockShared) {
                Err(Errno::INTR) => continue,
                other => break other.map(|()| true),
            }
        },
        Some(limit) => {
            let mut pause = Duration::from_millis(1);
            loop {
                match flock(&file, FlockOperation::NonBlockingLockShared) {
                    Ok(()) => break Ok(true),
                    Err(Errno::WOULDBLOCK | Errno::INTR) => {}
                    Err(e) => break Err(e),
                }
                let waited = started.elapsed();
                if waited >= limit {
                    break Ok(false);
                }
                std::thread::sleep(pause.min(limit - waited));
                pause = (pause * 2).min(POLL_MAX);
            }
        }
    }
    .with_context(|| format!("flock {label}"))?;
    if !got {
        let message = if args.no_wait {
            format!("{label} is locked exclusively")
        } else {
            format!(
                "timed out after {:.1}s waiting for {label}: it is locked exclusively",
                started.elapsed().as_secs_f64()
            )
        };
        return Err(anyhow::Error::new(Coded(
            super::acquire::conflict_code(args),
            message,
        )));
    }
    if args.verbose {
        eprintln!(
            "interlock: getting {label} took {:.6} seconds",
            started.elapsed().as_secs_f64()
        );
    }
    let (program, rest) = args.command.split_first().expect("clap requires COMMAND");
    let status = match Command::new(program).args(rest).status() {
        Ok(status) => status,
        Err(error) => {
            let code = match error.kind() {
                std::io::ErrorKind::NotFound => Exit::NotFound,
                _ => Exit::CannotExecute,
            };
            return Err(anyhow::Error::new(Coded(
                code,
                format!("cannot run {:?}: {error}", program.to_string_lossy()),
            )));
        }
    };
    drop(file);
    Ok(super::run::exit_of(status))
}
