//! Linux: running a command as a process group of its own — signals passed on to the group,
//! the terminal's foreground handed to it and back, its members reaped and counted — for
//! [`LockGuard::spawn_group`](crate::LockGuard::spawn_group).
//!
//! # Safety
//!
//! `unsafe` here does what rustix leaves to libc and nothing else: the calling thread's signal
//! mask (`pthread_sigmask`, which libc owns: rustix offers only the raw kernel call, in its
//! unstable `runtime` module), `sigtimedwait`, and one `CommandExt::pre_exec` hook, whose code
//! runs in a just-forked child.

#![allow(unsafe_code)]

use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use rustix::io::Errno;
use rustix::process::{Pid, Signal};

/// The signals passed on to the command's group: what service managers (`systemctl stop`),
/// `timeout(1)`, terminals and users send to stop or poke a command.
pub(crate) const RELAYED: [i32; 6] = [
    libc::SIGINT,
    libc::SIGTERM,
    libc::SIGHUP,
    libc::SIGQUIT,
    libc::SIGUSR1,
    libc::SIGUSR2,
];

/// The calling thread's relayed signals, blocked so that they wait for [`Relay::next`]
/// instead of acting on this process; with them `SIGCHLD` (the command changed state),
/// `SIGCONT` (we were continued: so is the command) and `SIGTTOU` (so that we may hand the
/// terminal back from the background, and write to it there). Dropping it restores the mask.
///
/// A `SIGCHLD` that this process ignores (inherited: ignored dispositions survive `exec`) would
/// have the kernel reap our children behind our back, and their statuses would be lost:
/// `SIGCHLD` is set to its default meanwhile (and the child started with the old setting).
pub(crate) struct Relay {
    set: libc::sigset_t,
    old: libc::sigset_t,
    /// The `SIGCHLD` action replaced, if it was "ignore" (`SIG_IGN` or `SA_NOCLDWAIT`).
    old_chld: Option<libc::sigaction>,
}

impl Relay {
    /// `pthread_sigmask(SIG_BLOCK, {RELAYED, CHLD, CONT, TTOU})`.
    pub(crate) fn block() -> io::Result<Relay> {
        // SAFETY: sigset_t is plain data; sigemptyset initialises it before any other use.
        let mut set: libc::sigset_t = unsafe { std::mem::zeroed() };
        // SAFETY: `set` is a valid sigset_t we own.
        unsafe { libc::sigemptyset(&mut set) };
        for sig in RELAYED
            .into_iter()
            .chain([libc::SIGCHLD, libc::SIGCONT, libc::SIGTTOU])
        {
            // SAFETY: `set` is initialised; every signal number here is valid.
            unsafe { libc::sigaddset(&mut set, sig) };
        }
        // SAFETY: plain data, written by pthread_sigmask below before it is read.
        let mut old: libc::sigset_t = unsafe { std::mem::zeroed() };
        // SAFETY: both pointers are to valid sigset_t values we own.
        let rc = unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &set, &mut old) };
        if rc != 0 {
            return Err(io::Error::from_raw_os_error(rc));
        }
        Ok(Relay {
            set,
            old,
            old_chld: reap_our_children(),
        })
    }

    /// `sigtimedwait`: the next of the blocked signals sent to us (taking it off the pending
    /// set), waiting at most `timeout` (`None`: until one comes). `None` on timeout or when a
    /// stop and continue interrupted the wait.
    pub(crate) fn next(&self, timeout: Option<Duration>) -> Option<Received> {
        self.next_raw(timeout).map(|sig| match sig {
            libc::SIGCHLD => Received::Child,
            libc::SIGCONT => Received::Continued,
            sig if RELAYED.contains(&sig) => Received::Relayed(sig),
            _ => Received::Other,
        })
    }

    fn next_raw(&self, timeout: Option<Duration>) -> Option<i32> {
        let ts = timeout.map(|d| libc::timespec {
            tv_sec: d.as_secs().min(i64::MAX as u64) as libc::time_t,
            tv_nsec: d.subsec_nanos() as libc::c_long,
        });
        let ts_ptr = ts
            .as_ref()
            .map_or(std::ptr::null(), |t| t as *const libc::timespec);
        // SAFETY: `set` is initialised; a null siginfo pointer is allowed; `ts_ptr` is null or
        // points at `ts`, which outlives the call.
        let sig = unsafe { libc::sigtimedwait(&self.set, std::ptr::null_mut(), ts_ptr) };
        (sig > 0).then_some(sig)
    }

    /// Prepares each child `cmd` spawns, between fork and exec (after std has made it the
    /// leader of a group of its own): if `tty` is given, makes the child's group the
    /// terminal's foreground group (`tcsetpgrp`, with `SIGTTOU` still blocked, as it must be
    /// from a background group), then restores the signal mask this thread had before
    /// [`Relay::block`] — std passes the parent's mask on to children, and a command that
    /// started with its signals blocked would never see the ones we pass on.
    pub(crate) fn prepare_child(&self, cmd: &mut Command, tty: Option<Arc<OwnedFd>>) {
        let old = self.old;
        let old_chld = self.old_chld;
        let hook = move || {
            if let Some(act) = &old_chld {
                // SAFETY: `act` is an initialised sigaction saved by `reap_our_children`; a
                // null old-action pointer is allowed.
                unsafe { libc::sigaction(libc::SIGCHLD, act, std::ptr::null_mut()) };
            }
            if let Some(tty) = &tty {
                // A terminal hung up meanwhile: the command runs in the background, as it
                // would under a shell that lost its terminal.
                let _ = rustix::termios::tcsetpgrp(tty.as_fd(), rustix::process::getpid());
            }
            // SAFETY: `old` is an initialised sigset_t owned by the hook; a null old-mask
            // pointer is allowed.
            let rc =
                unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, &old, std::ptr::null_mut()) };
            if rc != 0 {
                return Err(io::Error::from_raw_os_error(rc));
            }
            Ok(())
        };
        // SAFETY: the hook makes four system calls (rt_sigaction, getpid, the tcsetpgrp
        // ioctl, rt_sigprocmask), all async-signal-safe; it allocates only on the error path just
        // before the child exits, and takes no locks, as `pre_exec` requires.
        unsafe { cmd.pre_exec(hook) };
    }
}

/// Sets `SIGCHLD` to its default action if this process ignores it (`SIG_IGN`, or
/// `SA_NOCLDWAIT`), returning the action replaced.
fn reap_our_children() -> Option<libc::sigaction> {
    // SAFETY: sigaction is plain data, filled in by the call below before it is read.
    let mut old: libc::sigaction = unsafe { std::mem::zeroed() };
    // SAFETY: a null new action only reads the current one into `old`, which we own.
    if unsafe { libc::sigaction(libc::SIGCHLD, std::ptr::null(), &mut old) } != 0 {
        return None;
    }
    if old.sa_sigaction != libc::SIG_IGN && old.sa_flags & libc::SA_NOCLDWAIT == 0 {
        return None;
    }
    // SAFETY: as above; zeroed is SIG_DFL (0) with an empty mask and no flags.
    let mut dfl: libc::sigaction = unsafe { std::mem::zeroed() };
    dfl.sa_sigaction = libc::SIG_DFL;
    // SAFETY: `dfl` is an initialised action; a null old-action pointer is allowed.
    unsafe { libc::sigaction(libc::SIGCHLD, &dfl, std::ptr::null_mut()) };
    Some(old)
}

impl Drop for Relay {
    fn drop(&mut self) {
        if let Some(act) = &self.old_chld {
            // SAFETY: `act` is the initialised action `reap_our_children` saved.
            unsafe { libc::sigaction(libc::SIGCHLD, act, std::ptr::null_mut()) };
        }
        // SAFETY: `old` is the initialised mask saved by `block`.
        unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, &self.old, std::ptr::null_mut()) };
    }
}

/// A signal [`Relay::next`] took.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Received {
    /// One of [`RELAYED`], to pass on.
    Relayed(i32),
    /// `SIGCHLD`: a child changed state.
    Child,
    /// `SIGCONT`: we were continued after a stop.
    Continued,
    /// `SIGTTOU` (sent by someone; we never cause one).
    Other,
}

fn pid(raw: u32) -> io::Result<Pid> {
    i32::try_from(raw)
        .ok()
        .and_then(Pid::from_raw)
        .ok_or_else(|| io::Error::from(io::ErrorKind::InvalidInput))
}

/// `kill(-pgid, sig)`: sends `sig` to every process of group `pgid`.
pub(crate) fn signal_group(pgid: u32, sig: i32) -> io::Result<()> {
    let sig =
        Signal::from_named_raw(sig).ok_or_else(|| io::Error::from(io::ErrorKind::InvalidInput))?;
    rustix::process::kill_process_group(pid(pgid)?, sig).map_err(io::Error::from)
}

/// `kill(-pgid, SIGKILL)`.
pub(crate) fn kill_group(pgid: u32) -> io::Result<()> {
    signal_group(pgid, libc::SIGKILL)
}

/// `kill(-pgid, SIGCONT)`.
pub(crate) fn continue_group(pgid: u32) -> io::Result<()> {
    signal_group(pgid, libc::SIGCONT)
}

/// `kill(getpid(), SIGSTOP)`: stops this process until a `SIGCONT`.
pub(crate) fn stop_self() {
    let _ = rustix::process::kill_process(rustix::process::getpid(), Signal::STOP);
}

/// `prctl(PR_SET_CHILD_SUBREAPER, 1)`: orphans among our descendants become our children (and
/// their exits ours to reap) instead of init's.
pub(crate) fn become_subreaper() -> io::Result<()> {
    // Any pid: the call only tests it for non-zero (this spares a getpid).
    rustix::process::set_child_subreaper(Some(Pid::INIT)).map_err(io::Error::from)
}

/// How a child in the group changed ([`reap_group`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reaped {
    /// It ended: its raw wait status.
    Ended(i32),
    /// It was stopped (by a signal or by terminal access from the background).
    Stopped,
}

/// `waitpid(-pgid, WNOHANG [| WUNTRACED])`: one child of ours in group `pgid` that ended (and
/// is reaped) or, with `stops`, stopped; `None` when none did. `ECHILD` when we have no child
/// in the group.
pub(crate) fn reap_group(pgid: u32, stops: bool) -> io::Result<Option<(u32, Reaped)>> {
    let mut opts = rustix::process::WaitOptions::NOHANG;
    if stops {
        opts |= rustix::process::WaitOptions::UNTRACED;
    }
    match rustix::process::waitpgid(pid(pgid)?, opts) {
        Ok(Some((child, status))) => {
            let how = if status.stopped() {
                Reaped::Stopped
            } else {
                Reaped::Ended(status.as_raw())
            };
            Ok(Some((child.as_raw_nonzero().get() as u32, how)))
        }
        Ok(None) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// `open("/dev/tty")`: the controlling terminal, if this process has one.
pub(crate) fn controlling_tty() -> Option<OwnedFd> {
    rustix::fs::open(
        "/dev/tty",
        rustix::fs::OFlags::RDWR | rustix::fs::OFlags::NOCTTY | rustix::fs::OFlags::CLOEXEC,
        rustix::fs::Mode::empty(),
    )
    .ok()
}

/// `tcgetpgrp(tty)`: the terminal's foreground process group.
pub(crate) fn foreground(tty: impl AsFd) -> Option<u32> {
    rustix::termios::tcgetpgrp(tty)
        .ok()
        .map(|p| p.as_raw_nonzero().get() as u32)
}

/// `tcsetpgrp(tty, pgid)` (`SIGTTOU` blocked: see [`Relay`]).
pub(crate) fn set_foreground(tty: impl AsFd, pgid: u32) {
    if let Ok(p) = pid(pgid) {
        let _ = rustix::termios::tcsetpgrp(tty, p);
    }
}

/// `getpgrp()`.
pub(crate) fn own_group() -> u32 {
    rustix::process::getpgrp().as_raw_nonzero().get() as u32
}

/// What a look at a process group found ([`probe_group`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Probe {
    /// A process of the group is running (or may be: one exists that we cannot see).
    Running,
    /// No process of the group runs: none is left, only zombies are, or the group's id now
    /// names another process's group.
    Gone,
    /// The kernel would not say.
    Unknown,
}

/// Looks at process group `pgid`, whose leader had process identity `identity`
/// (`process_identity`; 0: not known), numbered in the caller's pid namespace.
///
/// - `kill(-pgid, 0)` says whether any process is in the group (`EPERM`: one is, another
///   user's).
/// - A group id is a pid the kernel does not give out again while the group has a member; so a
///   process under the leader's pid with another identity proves the old group gone.
/// - Members that are all zombies do not count: in a container whose init reaps nobody, an
///   orphan's zombie would otherwise keep the group forever. (Only members `/proc` shows are
///   judged: when it shows none, an unseen member is assumed to run.)
pub(crate) fn probe_group(pgid: u32, identity: u64) -> Probe {
    let Ok(p) = pid(pgid) else {
        return Probe::Unknown;
    };
    match rustix::process::test_kill_process_group(p) {
        Ok(()) | Err(Errno::PERM) => {}
        Err(Errno::SRCH) => return Probe::Gone,
        Err(_) => return Probe::Unknown,
    }
    if identity != 0 && super::process_identity(pgid).is_some_and(|now| now != identity) {
        return Probe::Gone;
    }
    match members(pgid) {
        Some(Members { seen, running }) if seen > 0 && running == 0 => Probe::Gone,
        _ => Probe::Running,
    }
}

struct Members {
    seen: usize,
    running: usize,
}

/// The processes of group `pgid` that `/proc` shows, and how many of them are not zombies
/// (the count stops at the first such one).
fn members(pgid: u32) -> Option<Members> {
    let mut found = Members {
        seen: 0,
        running: 0,
    };
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let name = entry.file_name();
        let Some(pid) = name.to_str().and_then(|n| n.parse::<u32>().ok()) else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // After the parenthesised command name: state, ppid, pgrp.
        let Some(close) = stat.rfind(')') else {
            continue;
        };
        let mut fields = stat[close + 1..].split_whitespace();
        let (Some(state), Some(_ppid), Some(pgrp)) = (fields.next(), fields.next(), fields.next())
        else {
            continue;
        };
        if pgrp.parse::<u32>().ok() != Some(pgid) {
            continue;
        }
        found.seen += 1;
        if !matches!(state, "Z" | "X") {
            found.running += 1;
            break;
        }
    }
    Some(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_group_is_running_until_only_a_zombie_is_left() {
        let mut child = Command::new("sleep")
            .arg("600")
            .process_group(0)
            .spawn()
            .unwrap();
        let pgid = child.id();
        let identity = super::super::process_identity(pgid).unwrap();
        assert_eq!(probe_group(pgid, identity), Probe::Running);
        assert_eq!(
            probe_group(pgid, identity ^ 1),
            Probe::Gone,
            "another identity under the leader's pid: the group was reused"
        );
        signal_group(pgid, libc::SIGKILL).unwrap();
        // Not reaped yet: a zombie, which does not count.
        while members(pgid).is_some_and(|m| m.running > 0) {
            std::thread::yield_now();
        }
        assert_eq!(probe_group(pgid, identity), Probe::Gone);
        child.wait().unwrap();
        assert_eq!(probe_group(pgid, identity), Probe::Gone);
    }
}
