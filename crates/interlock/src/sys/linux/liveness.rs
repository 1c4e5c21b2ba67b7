//! Linux: whether a process or thread still runs — a process's boot-unique identity (its pidfs
//! inode, or its start time), pidfd and `/proc` checks that count only positive evidence of an
//! end, and what `/proc` says of a holder (its command line).
//!
//! # Safety
//!
//! `unsafe` here is one `tgkill(pid, tid, 0)`, which sends nothing.

#![allow(unsafe_code)]
// The platform layer is where raw system calls belong (clippy.toml forbids them elsewhere).
#![allow(clippy::disallowed_methods)]

use rustix::io::Errno;

use super::thread::{Ids, Me};

/// number is unique for the life of the system.
const PIDFS_MAGIC: u64 = 0x5049_4446;
/// Marks an identity that is a pidfs inode number (start times never reach bit 63).
const PIDFS_IDENTITY: u64 = 1 << 63;
/// Marks an identity that is random (neither pidfs nor `/proc` could give one): it still tells
/// this process from any other, but a liveness checker cannot verify it.
const OPAQUE_IDENTITY: u64 = 1 << 62;

/// A random identity for a process whose real one cannot be read ([`OPAQUE_IDENTITY`]).
pub(super) fn opaque_identity() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u32(std::process::id());
    (h.finish() & !(PIDFS_IDENTITY | OPAQUE_IDENTITY)) | OPAQUE_IDENTITY | 1
}

/// A boot-unique identity for process `pid`: its pidfs inode number, tagged with bit 63, where
/// the kernel has pidfs (Linux 6.9+); else its start time in clock ticks since boot, which two
/// processes that reuse a pid within one tick (10 ms) share. The tag tells a checker which of
/// the two a recorded identity is, so both sides always compare like with like.
pub(crate) fn process_identity(pid: u32) -> Option<u64> {
    pidfs_inode(pid)
        .map(|ino| ino | PIDFS_IDENTITY)
        .or_else(|| process_start_time(pid))
}

fn pidfs_inode(pid: u32) -> Option<u64> {
    let pid = rustix::process::Pid::from_raw(i32::try_from(pid).ok()?)?;
    let fd = rustix::process::pidfd_open(pid, rustix::process::PidfdFlags::empty()).ok()?;
    let fs = rustix::fs::fstatfs(&fd).ok()?;
    if fs.f_type as u64 != PIDFS_MAGIC {
        return None;
    }
    Some(rustix::fs::fstat(&fd).ok()?.st_ino)
}

/// Reads field 22 (`starttime`) of `/proc/PID/stat`.
pub(crate) fn process_start_time(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may contain spaces or ')'.
    let after = &stat[stat.rfind(')')? + 1..];
    after.split_whitespace().nth(19)?.parse().ok()
}

/// What a liveness check could establish about a holder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Liveness {
    /// Running.
    Alive,
    /// Provably gone: no such process, another process under its pid, or the thread exited.
    Dead,
    /// No proof either way (no identity recorded, `/proc` hidden or out of descriptors, …):
    /// a waiter keeps waiting rather than break mutual exclusion on a guess.
    Unknown,
}

/// Checks thread `tid` of process `pid`, whose identity ([`process_identity`]) was recorded as
/// `identity`. Only positive evidence makes a holder dead: ESRCH from `pidfd_open`, a different
/// identity under the pid, a missing task directory of a process whose `/proc` entry we can
/// read, or a zombie/dead task state. Any other failure is `Unknown`.
pub(crate) fn thread_liveness(pid: u32, tid: u32, identity: u64) -> Liveness {
    let Some(p) = i32::try_from(pid)
        .ok()
        .and_then(rustix::process::Pid::from_raw)
    else {
        return Liveness::Unknown;
    };
    if identity == 0 || identity & OPAQUE_IDENTITY != 0 {
        return Liveness::Unknown;
    }
    // Does any process have this pid? pidfd_open needs no /proc and no permission.
    let pidfd = match rustix::process::pidfd_open(p, rustix::process::PidfdFlags::empty()) {
        Ok(fd) => fd,
        Err(Errno::SRCH) => return Liveness::Dead,
        Err(_) => return Liveness::Unknown,
    };
    // Is it the same process?
    let now = if identity & PIDFS_IDENTITY != 0 {
        let pidfs = rustix::fs::fstatfs(&pidfd).map(|fs| fs.f_type as u64 == PIDFS_MAGIC);
        match (pidfs, rustix::fs::fstat(&pidfd)) {
            (Ok(true), Ok(st)) => Some(st.st_ino | PIDFS_IDENTITY),
            _ => return Liveness::Unknown,
        }
    } else {
        process_start_time(pid)
    };
    match now {
        Some(id) if id == identity => {}
        Some(_) => return Liveness::Dead,
        None => return Liveness::Unknown,
    }
    // Is the holding thread still running?
    match std::fs::read_to_string(format!("/proc/{pid}/task/{tid}/stat")) {
        Ok(stat) => {
            // Field 3, after the parenthesised command name: Z (zombie) and X (dead) are gone.
            match stat
                .rfind(')')
                .and_then(|i| stat[i + 1..].split_whitespace().next())
            {
                Some("Z" | "X") => Liveness::Dead,
                Some(_) => Liveness::Alive,
                None => Liveness::Unknown,
            }
        }
        // The task directory is missing although the process's own entry is visible to us:
        // the thread has exited. (With /proc hidden from us, both are missing: no proof.)
        Err(e)
            if e.kind() == std::io::ErrorKind::NotFound
                && std::path::Path::new(&format!("/proc/{pid}/stat")).exists() =>
        {
            Liveness::Dead
        }
        Err(_) => Liveness::Unknown,
    }
}

/// [`thread_liveness`] of a lock holder recorded as `ids`: `Unknown` unless it was numbered in
/// the checker's own pid namespace (its pid and tid mean another process here otherwise), as
/// far as the namespace tags tell (both unknown counts as the same).
pub(crate) fn holder_liveness(me: &Me, ids: Ids, identity: u64) -> Liveness {
    if ids.ns != Ids::unpack(me.ids).ns {
        return Liveness::Unknown;
    }
    thread_liveness(ids.pid, ids.tid, identity)
}

/// Whether thread `tid` of process `pid` (numbers of the caller's pid namespace) exists at
/// all: false only on proof — no such process (ESRCH), or its task directory missing while
/// the process's own `/proc` entry is visible. No identity: a reused pid counts as existing.
pub(crate) fn thread_exists(pid: u32, tid: u32) -> bool {
    let Some(p) = i32::try_from(pid)
        .ok()
        .and_then(rustix::process::Pid::from_raw)
    else {
        return true;
    };
    match rustix::process::pidfd_open(p, rustix::process::PidfdFlags::empty()) {
        Err(Errno::SRCH) => return false,
        Err(_) => return true,
        Ok(_) => {}
    }
    let task = std::path::PathBuf::from(format!("/proc/{pid}/task/{tid}"));
    task.exists() || !std::path::Path::new(&format!("/proc/{pid}/stat")).exists()
}

/// `syscall(SYS_tgkill, getpid(), tid, 0)`: whether `tid` is a live thread of the calling
/// process (signal 0 only checks). Needs no `/proc`.
pub(crate) fn is_own_thread(tid: u32) -> bool {
    let pid = rustix::process::getpid().as_raw_nonzero().get();
    // SAFETY: tgkill with signal 0 sends nothing; it only reports whether the thread exists in
    // our thread group. All arguments are plain integers.
    let rc = unsafe { libc::syscall(libc::SYS_tgkill, pid, tid as libc::c_int, 0) };
    rc == 0
}

/// `/proc/PID/cmdline` with NULs as spaces, if readable.
pub(crate) fn command_line(pid: u32) -> Option<String> {
    let raw = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    let text: Vec<String> = raw
        .split(|&b| b == 0)
        .filter(|s| !s.is_empty())
        .map(|s| String::from_utf8_lossy(s).into_owned())
        .collect();
    (!text.is_empty()).then(|| text.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sys::me;

    #[test]
    fn identity_is_a_pidfs_inode_on_this_kernel() {
        let id = process_identity(std::process::id()).unwrap();
        assert_ne!(id & PIDFS_IDENTITY, 0, "this kernel has pidfs (Linux 6.9+)");
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let theirs = process_identity(child.id());
        child.wait().unwrap();
        assert!(
            theirs.is_some_and(|t| t != id && t & PIDFS_IDENTITY != 0),
            "{theirs:?}"
        );
    }

    #[test]
    fn identity_tells_a_live_thread_from_a_reused_pid() {
        let me = me();
        assert_eq!(
            thread_liveness(me.pid, me.tid, me.start_time),
            Liveness::Alive
        );
        assert_eq!(
            thread_liveness(me.pid, me.tid, me.start_time + 1),
            Liveness::Dead
        );
        assert_eq!(
            thread_liveness(me.pid, me.tid, 0),
            Liveness::Unknown,
            "no identity, no verdict"
        );
        assert!(is_own_thread(me.tid));
        let gone = std::thread::spawn(me_tid).join().unwrap();
        assert!(!is_own_thread(gone));
        assert_eq!(thread_liveness(me.pid, gone, me.start_time), Liveness::Dead);
    }

    fn me_tid() -> u32 {
        me().tid
    }
}
