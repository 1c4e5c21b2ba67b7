//! Linux: hooks on a spawned `Command` that run in the child between fork and exec — keep a
//! descriptor across `exec`, die with the spawning thread.
//!
//! # Safety
//!
//! `unsafe` here is `CommandExt::pre_exec`, whose hooks run in a just-forked child: each one
//! only makes async-signal-safe system calls.

#![allow(unsafe_code)]

use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::process::Command;

/// Arranges for `fd` to survive `exec` in children spawned by `cmd` (clears `FD_CLOEXEC` in
/// the child between fork and exec, so the parent's copy and concurrent spawns are unaffected).
pub(crate) fn inherit_fd_on_exec(cmd: &mut Command, owned: OwnedFd) {
    // The hook owns the descriptor, so it stays open (under this number) as long as `cmd` can
    // spawn.
    let hook = move || {
        let fd = owned.as_raw_fd();
        // SAFETY: `fd` is a plain integer; fcntl on an integer is sound even if it were not open
        // (EBADF is reported, not UB). It runs in the child, where it is async-signal-safe.
        let flags = unsafe { libc::fcntl(fd, libc::F_GETFD) };
        if flags < 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: as above.
        if unsafe { libc::fcntl(fd, libc::F_SETFD, flags & !libc::FD_CLOEXEC) } < 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(())
    };
    // SAFETY: the hook only calls fcntl, which is async-signal-safe, allocates nothing and takes
    // no locks, as `pre_exec` requires of code running between fork and exec.
    unsafe { cmd.pre_exec(hook) };
}

/// Makes each program `cmd` spawns get `SIGKILL` when the thread that spawned it ends
/// (`prctl(PR_SET_PDEATHSIG, SIGKILL)` in the child, then a check that the parent has not
/// already gone).
pub(crate) fn kill_on_parent_death(cmd: &mut Command) {
    let parent = rustix::process::getpid();
    let hook = move || {
        rustix::process::set_parent_process_death_signal(Some(rustix::process::Signal::KILL))?;
        // Had the parent died before the prctl, no signal would ever come: refuse to run.
        if rustix::process::getppid() != Some(parent) {
            return Err(std::io::Error::other(
                "the parent exited before the child started",
            ));
        }
        Ok(())
    };
    // SAFETY: the hook makes two system calls (prctl, getppid) and allocates only on the error
    // path just before the child exits; it takes no locks, as `pre_exec` requires.
    unsafe { cmd.pre_exec(hook) };
}
