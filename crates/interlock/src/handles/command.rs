//! Layer 5: running a program while holding a lock — as a process group of its own, named in
//! the lock's record, with signals passed on to it (decision 0018).

use std::fmt;
use std::marker::PhantomData;
use std::os::fd::OwnedFd;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Command, ExitStatus};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::locks::lock::LockGuard;
use crate::locks::raw::Raw;
use crate::shm::{GroupRecord, RecordRef};
use crate::sys::{self, Probe, Reaped, Received};
use crate::types::{Error, GroupState, ProcessGroup};

/// Arranges for every program `cmd` spawns to be killed (`SIGKILL`) when the thread that spawns
/// it ends — for any reason, `SIGKILL` included.
///
/// This is what makes "run COMMAND while holding a lock" safe: the lock is held by the
/// spawning process, so when that process dies the kernel releases the lock, and the command,
/// which would otherwise run on unprotected, dies with it.
///
/// It covers the spawned program only: what that program starts lives on, and the kernel
/// forgets the arrangement when the program changes its credentials (a setuid binary, `su`,
/// `sudo`, `setpriv`). [`LockGuard::spawn_group`](crate::LockGuard::spawn_group) covers the
/// whole process group, as the next holder waits for it.
///
/// Spawn from a thread that outlives the child (the kernel watches the spawning *thread*).
///
/// # Examples
///
/// ```
/// use std::process::Command;
///
/// let lock = interlock::Lock::new()?;
/// let guard = lock.lock()?;
/// let mut cmd = Command::new("true");
/// interlock::kill_with_parent(&mut cmd);
/// assert!(cmd.status().expect("spawn true").success());
/// drop(guard);
/// # Ok::<(), interlock::Error>(())
/// ```
pub fn kill_with_parent(cmd: &mut Command) {
    crate::sys::kill_on_parent_death(cmd);
}

/// What a [`ProcessGroup`] (public data, `types/status.rs`) can do: look at the group's
/// processes, kill them, wait for their end.
impl ProcessGroup {
    /// Whether any process of the group still runs (`kill(-pgid, 0)`, the first process's
    /// identity, and `/proc` for zombies).
    ///
    /// # Examples
    ///
    /// ```
    /// let lock = interlock::Lock::new()?;
    /// let guard = lock.lock()?;
    /// let mut child = guard.spawn_group(std::process::Command::new("sleep").arg("60"))?;
    /// assert_eq!(child.group().state(), interlock::GroupState::Running);
    /// child.group().kill()?;
    /// child.wait_group()?;
    /// # Ok::<(), interlock::Error>(())
    /// ```
    pub fn state(&self) -> GroupState {
        if self.ns != sys::Ids::unpack(sys::me().ids).ns {
            return GroupState::Unknown;
        }
        match sys::probe_group(self.pgid, self.identity) {
            Probe::Running => GroupState::Running,
            Probe::Gone => GroupState::Gone,
            Probe::Unknown => GroupState::Unknown,
        }
    }

    /// Kills (`SIGKILL`) every process of the group, if it still runs.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] if the kernel refused (`EPERM`: processes of another user, and we are
    /// not root) or the group cannot be checked from this pid namespace.
    ///
    /// # Examples
    ///
    /// ```
    /// let lock = interlock::Lock::new()?;
    /// let guard = lock.lock()?;
    /// let mut child = guard.spawn_group(std::process::Command::new("sleep").arg("60"))?;
    /// child.group().kill()?;
    /// assert!(!child.wait()?.success());
    /// child.wait_group()?;
    /// # Ok::<(), interlock::Error>(())
    /// ```
    pub fn kill(&self) -> Result<(), Error> {
        match self.state() {
            GroupState::Gone => Ok(()),
            GroupState::Unknown => Err(Error::io(
                "kill",
                self,
                std::io::Error::other("it is numbered in another pid namespace"),
            )),
            GroupState::Running => match sys::kill_group(self.pgid) {
                Err(e) if e.raw_os_error() == Some(rustix::io::Errno::SRCH.raw_os_error()) => {
                    Ok(())
                }
                other => other.map_err(|e| Error::io("kill", self, e)),
            },
        }
    }

    /// Waits until no process of the group runs, or `timeout` (`None`: however long) has
    /// passed, looking every few milliseconds (they are not our children: nothing tells us
    /// when they end). Returns the last state seen: [`GroupState::Gone`], or
    /// [`GroupState::Running`] when the time ran out, or [`GroupState::Unknown`] at once.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use interlock::GroupState;
    ///
    /// let lock = interlock::Lock::new()?;
    /// let guard = lock.lock()?;
    /// let mut child = guard.spawn_group(std::process::Command::new("sleep").arg("60"))?;
    /// let group = child.group();
    /// assert_eq!(group.wait_gone(Some(Duration::from_millis(10))), GroupState::Running);
    /// group.kill()?;
    /// child.wait()?;
    /// assert_eq!(group.wait_gone(None), GroupState::Gone);
    /// # Ok::<(), interlock::Error>(())
    /// ```
    pub fn wait_gone(&self, timeout: Option<Duration>) -> GroupState {
        let end = timeout.and_then(|t| Instant::now().checked_add(t));
        let mut pause = Duration::from_millis(1);
        loop {
            let state = self.state();
            if state != GroupState::Running {
                return state;
            }
            let now = Instant::now();
            if end.is_some_and(|end| now >= end) {
                return state;
            }
            let nap = end.map_or(pause, |end| pause.min(end - now));
            std::thread::sleep(nap);
            pause = (pause * 2).min(POLL_MAX);
        }
    }
}

/// `ECHILD`, as `std::io::Error::raw_os_error` gives it.
fn libc_echild() -> i32 {
    rustix::io::Errno::CHILD.raw_os_error()
}

/// The longest pause between two looks at a group that is not ours to reap.
const POLL_MAX: Duration = Duration::from_millis(50);

/// How often [`GroupChild::wait`] looks for the command's end without a `SIGCHLD`: the signal
/// goes to another thread of the process when that thread does not block it and the waiting
/// thread is not in `sigtimedwait` at that instant (then it is lost to us).
const CHILD_LOOK: Duration = Duration::from_millis(200);

/// A command running as a process group of its own while a lock is held
/// ([`LockGuard::spawn_group`](crate::LockGuard::spawn_group)).
///
/// While it lives, the spawning thread has `SIGINT`, `SIGTERM`, `SIGHUP`, `SIGQUIT`, `SIGUSR1`
/// and `SIGUSR2` blocked, and [`GroupChild::wait`] and [`GroupChild::wait_group`] pass each
/// one that comes on to the command's group (`SIGCONT` too, after a stop). Dropping it
/// restores the signal mask: a signal still pending then acts on this process.
///
/// `!Send`: the signals are blocked in the spawning thread, so only that thread can take
/// them.
///
/// # Examples
///
/// ```
/// let lock = interlock::Lock::new()?;
/// let guard = lock.lock()?;
/// let mut child = guard.spawn_group(std::process::Command::new("sh").args(["-c", "exit 3"]))?;
/// assert_eq!(child.wait()?.code(), Some(3));
/// child.wait_group()?;
/// drop(child);
/// guard.unlock()?;
/// # Ok::<(), interlock::Error>(())
/// ```
pub struct GroupChild {
    /// The command's pid, which is also its group's id.
    pid: u32,
    /// The leader's process identity (0: not known).
    identity: u64,
    /// The lock's record, which names the group while this hold lasts.
    at: RecordRef,
    token: u64,
    ns: u32,
    relay: sys::Relay,
    /// The controlling terminal, when we have one: the group is then a job of ours, given the
    /// terminal when we have it, stopped and continued with us.
    tty: Option<Arc<OwnedFd>>,
    /// The command's exit status, once reaped.
    status: Option<ExitStatus>,
    /// No process of the group runs any more (and the record no longer names it).
    gone: bool,
    /// The command is reaped and no child of ours was left in the group (no SIGCHLD since).
    drained: bool,
    _not_send: PhantomData<*const ()>,
}

impl fmt::Debug for GroupChild {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GroupChild")
            .field("pid", &self.pid)
            .field("token", &self.token)
            .field("status", &self.status)
            .field("gone", &self.gone)
            .finish_non_exhaustive()
    }
}

/// Running a command while holding a [`Lock`](crate::Lock).
impl LockGuard<'_> {
    /// Spawns `cmd` as a process group of its own, named in the lock's record as this hold's:
    /// what `interlock run` does with COMMAND. Wait for it with [`GroupChild::wait`] and,
    /// before releasing the lock, [`GroupChild::wait_group`].
    ///
    /// - The child leads a new process group, and names it in the record before it execs
    ///   (between fork and exec): a holder killed at any instant leaves no process unnamed.
    ///   If this holder dies, the next one finds the group in
    ///   [`LockGuard::leftover_group`] and can wait for it (or kill it) — covering what
    ///   `PR_SET_PDEATHSIG` cannot: the command's own children, and a command that changed
    ///   its credentials (the kernel then clears PDEATHSIG).
    /// - The command still gets `SIGKILL` if this thread dies ([`kill_with_parent`]).
    /// - `SIGINT`, `SIGTERM`, `SIGHUP`, `SIGQUIT`, `SIGUSR1` and `SIGUSR2` are blocked in this
    ///   thread from now until the [`GroupChild`] is dropped, and passed on to the group while
    ///   waiting (the child starts with this thread's previous mask).
    /// - This process becomes a child subreaper (`PR_SET_CHILD_SUBREAPER`, for good): orphans
    ///   of the group's processes are reparented to it, and reaped while waiting.
    /// - With a controlling terminal, the group is run as a job: see [`GroupChild::wait`].
    ///
    /// Pipes set up on `cmd` are closed on our side: give the command inherited descriptors or
    /// files. `cmd` keeps the hooks this adds: spawn it once. Meant for a thread that runs one
    /// command at a time. A signal sent to the process may be taken by any thread that does
    /// not block it: block the passed-on signals in the program's other threads (or join them
    /// before spawning) to have each one reach the group. A `SIGCHLD` another thread takes
    /// only delays [`GroupChild::wait`] (which looks for the command's end every 200 ms
    /// without one).
    ///
    /// Escapes: a process that leaves the group (`setsid`, as daemons do; a shell with job
    /// control giving its jobs groups of their own) is neither waited for nor signalled.
    ///
    /// [`kill_with_parent`]: crate::kill_with_parent
    /// [`GroupChild`]: crate::GroupChild
    /// [`GroupChild::wait`]: crate::GroupChild::wait
    /// [`GroupChild::wait_group`]: crate::GroupChild::wait_group
    ///
    /// # Errors
    ///
    /// [`Error::Io`] if the program cannot be spawned (its `error` is the one of
    /// [`Command::spawn`](std::process::Command::spawn): `NotFound`, `PermissionDenied`, …).
    ///
    /// # Examples
    ///
    /// ```
    /// let lock = interlock::Lock::new()?;
    /// let guard = lock.lock()?;
    /// let mut child = guard.spawn_group(std::process::Command::new("sh").args(["-c", "exit 3"]))?;
    /// assert_eq!(lock.status().holder.unwrap().process_group, Some(child.id()));
    /// assert_eq!(child.wait()?.code(), Some(3));
    /// child.wait_group()?;
    /// drop(child);
    /// guard.unlock()?;
    /// # Ok::<(), interlock::Error>(())
    /// ```
    pub fn spawn_group(&self, cmd: &mut Command) -> Result<GroupChild, Error> {
        spawn_group(self.hold.raw, self.token(), cmd)
    }

    /// The process group an earlier hold ran its command in ([`LockGuard::spawn_group`]) and
    /// did not see end: what a holder that died left behind. Check whether it still runs
    /// ([`ProcessGroup::state`]) and wait for it ([`ProcessGroup::wait_gone`]) or kill it
    /// ([`ProcessGroup::kill`]) before touching what the lock protects. `None` when the
    /// earlier holds' groups all ended while they were held (or none ran one).
    ///
    /// # Examples
    ///
    /// ```
    /// let lock = interlock::Lock::new()?;
    /// let guard = lock.lock()?;
    /// let mut child = guard.spawn_group(&mut std::process::Command::new("true"))?;
    /// child.wait_group()?;
    /// drop(child);
    /// guard.unlock()?;
    /// assert_eq!(lock.lock()?.leftover_group(), None, "the group ended while it was held");
    /// # Ok::<(), interlock::Error>(())
    /// ```
    pub fn leftover_group(&self) -> Option<ProcessGroup> {
        leftover_group(self.hold.raw, self.token())
    }
}

impl crate::locks::semaphore::Permit<'_> {
    /// [`LockGuard::spawn_group`] for a permit: `cmd` as a process group of its own, named in
    /// this permit's record, signals passed on — what `interlock run --slots N` does, so that a
    /// runner killed at any instant leaves nothing unnamed, and the permit's next taker can
    /// wait for what it left running ([`Permit::leftover_group`](crate::Permit::leftover_group))
    /// instead of running beside it (N + 1 commands at once).
    ///
    /// # Errors
    ///
    /// As [`LockGuard::spawn_group`].
    ///
    /// # Examples
    ///
    /// ```
    /// let sem = interlock::Semaphore::new(2)?;
    /// let permit = sem.acquire()?;
    /// let mut child = permit.spawn_group(std::process::Command::new("sh").args(["-c", "exit 3"]))?;
    /// assert_eq!(child.wait()?.code(), Some(3));
    /// child.wait_group()?;
    /// drop(child);
    /// permit.release()?;
    /// # Ok::<(), interlock::Error>(())
    /// ```
    pub fn spawn_group(&self, cmd: &mut Command) -> Result<GroupChild, Error> {
        self.lock_guard().spawn_group(cmd)
    }

    /// [`LockGuard::leftover_group`] for a permit: the process group an earlier holder of this
    /// permit ran its command in and did not see end.
    ///
    /// # Examples
    ///
    /// ```
    /// let sem = interlock::Semaphore::new(1)?;
    /// assert_eq!(sem.acquire()?.leftover_group(), None);
    /// # Ok::<(), interlock::Error>(())
    /// ```
    pub fn leftover_group(&self) -> Option<ProcessGroup> {
        self.lock_guard().leftover_group()
    }
}

// Issue 15: running a command while holding an RwLock (`interlock run --shared`, and `run` of
// an rwlock's name).
impl crate::locks::rwlock::RwLockReadGuard<'_> {
    /// [`LockGuard::spawn_group`] for a read: `cmd` as a process group of its own, named in
    /// this read's slot record, signals passed on — what `interlock run --shared` does.
    ///
    /// # Errors
    ///
    /// As [`LockGuard::spawn_group`].
    ///
    /// # Examples
    ///
    /// ```
    /// let rw = interlock::RwLock::new()?;
    /// let read = rw.read()?;
    /// let mut child = read.spawn_group(std::process::Command::new("sh").args(["-c", "exit 3"]))?;
    /// assert_eq!(child.wait()?.code(), Some(3));
    /// child.wait_group()?;
    /// drop(child);
    /// read.unlock()?;
    /// # Ok::<(), interlock::Error>(())
    /// ```
    pub fn spawn_group(&self, cmd: &mut Command) -> Result<GroupChild, Error> {
        self.parts().0.spawn_group(cmd)
    }

    /// What a writer that died left running in its command's process group
    /// ([`RwLockWriteGuard::spawn_group`](crate::RwLockWriteGuard::spawn_group)), if anything:
    /// a reader should not read beside it. (Readers that died leave their groups to the next
    /// writer.)
    ///
    /// # Examples
    ///
    /// ```
    /// let rw = interlock::RwLock::new()?;
    /// assert_eq!(rw.read()?.leftover_group(), None);
    /// # Ok::<(), interlock::Error>(())
    /// ```
    pub fn leftover_group(&self) -> Option<ProcessGroup> {
        // No write is under way while this read holds: any group the writer's record names
        // is a dead writer's.
        leftover_group(self.parts().1, u64::MAX)
    }
}

impl crate::locks::rwlock::RwLockWriteGuard<'_> {
    /// [`LockGuard::spawn_group`] for the write: `cmd` as a process group of its own, named in
    /// the writer's record — what `interlock run` does with the name of an rwlock.
    ///
    /// # Errors
    ///
    /// As [`LockGuard::spawn_group`].
    ///
    /// # Examples
    ///
    /// ```
    /// let rw = interlock::RwLock::new()?;
    /// let write = rw.write()?;
    /// let mut child = write.spawn_group(&mut std::process::Command::new("true"))?;
    /// assert!(child.wait()?.success());
    /// child.wait_group()?;
    /// drop(child);
    /// write.unlock()?;
    /// # Ok::<(), interlock::Error>(())
    /// ```
    pub fn spawn_group(&self, cmd: &mut Command) -> Result<GroupChild, Error> {
        let (raw, token, _) = self.parts();
        spawn_group(raw, token, cmd)
    }

    /// What a holder that died — a writer, or a reader — left running in its command's
    /// process group, if anything: the first such group that still runs (or cannot be checked
    /// from here), the writer's record first, then the reader slots'; else the first one the
    /// records name, gone. A writer should wait for it (or kill it) before writing, then ask
    /// again: another dead reader's group may still run.
    ///
    /// # Examples
    ///
    /// ```
    /// let rw = interlock::RwLock::new()?;
    /// assert_eq!(rw.write()?.leftover_group(), None);
    /// # Ok::<(), interlock::Error>(())
    /// ```
    pub fn leftover_group(&self) -> Option<ProcessGroup> {
        let (raw, token, slots) = self.parts();
        // With the write held no reader is inside: any group a slot names is a dead reader's.
        let mut groups = std::iter::once(leftover_group(raw, token))
            .chain(slots.map(|s| leftover_group(s, u64::MAX)))
            .flatten();
        let first = groups.next()?;
        if first.state() != crate::types::GroupState::Gone {
            return Some(first);
        }
        groups
            .find(|g| g.state() != crate::types::GroupState::Gone)
            .or(Some(first))
    }
}

/// [`LockGuard::leftover_group`](crate::LockGuard::leftover_group): the group the record
/// names, unless it is hold `token`'s own.
pub(crate) fn leftover_group(raw: &Raw, token: u64) -> Option<ProcessGroup> {
    raw.record()
        .group()
        .filter(|g| g.token != token)
        .map(GroupRecord::process_group)
}

/// [`LockGuard::spawn_group`](crate::LockGuard::spawn_group) and
/// [`FileLockGuard::spawn_group`](crate::FileLockGuard::spawn_group).
pub(crate) fn spawn_group(raw: &Raw, token: u64, cmd: &mut Command) -> Result<GroupChild, Error> {
    let program = cmd.get_program().to_owned();
    let what = || format!("{program:?}");
    let relay = sys::Relay::block().map_err(|e| Error::io("block signals for", what(), e))?;
    // Orphans of the command's processes become ours to reap, so that the group's end is
    // seen promptly even where init reaps nobody. Best effort: waiting works without it.
    let _ = sys::become_subreaper();
    let tty = sys::controlling_tty().map(Arc::new);
    // A job in the terminal's foreground (a shell ran us there) hands the terminal on.
    let hand_over = tty
        .as_ref()
        .filter(|t| sys::foreground(t.as_ref()) == Some(sys::own_group()))
        .cloned();
    let ns = sys::Ids::unpack(sys::me().ids).ns;
    // In the child, in this order: its own group (std, first), PDEATHSIG, the record names
    // the group, the terminal, the signal mask.
    cmd.process_group(0);
    kill_with_parent(cmd);
    raw.record_ref().name_group_at_spawn(cmd, token, ns);
    relay.prepare_child(cmd, hand_over);
    let child = cmd.spawn().map_err(|e| {
        raw.record().clear_group(token);
        Error::io("spawn", what(), e)
    })?;
    let pid = child.id();
    // std's handle is not used to wait (we reap the whole group ourselves); pipes the
    // command was given are closed on our side with it.
    drop(child);
    let identity = sys::process_identity(pid).unwrap_or(0);
    raw.record().set_group_identity(token, identity);
    Ok(GroupChild {
        pid,
        identity,
        at: raw.record_ref().clone(),
        token,
        ns,
        relay,
        tty,
        status: None,
        gone: false,
        drained: false,
        _not_send: PhantomData,
    })
}

impl GroupChild {
    /// The command's pid, which is also its process group's id.
    ///
    /// # Examples
    ///
    /// ```
    /// let lock = interlock::Lock::new()?;
    /// let guard = lock.lock()?;
    /// let mut child = guard.spawn_group(&mut std::process::Command::new("true"))?;
    /// assert_eq!(child.id(), child.group().pgid);
    /// child.wait_group()?;
    /// # Ok::<(), interlock::Error>(())
    /// ```
    pub fn id(&self) -> u32 {
        self.pid
    }

    /// The command's process group.
    ///
    /// # Examples
    ///
    /// ```
    /// let lock = interlock::Lock::new()?;
    /// let guard = lock.lock()?;
    /// let mut child = guard.spawn_group(&mut std::process::Command::new("true"))?;
    /// assert_eq!(child.group().token, guard.token());
    /// child.wait_group()?;
    /// # Ok::<(), interlock::Error>(())
    /// ```
    pub fn group(&self) -> ProcessGroup {
        ProcessGroup {
            pgid: self.pid,
            token: self.token,
            identity: self.identity,
            ns: self.ns,
        }
    }

    /// Waits for the command to exit, passing on the signals this thread receives meanwhile
    /// (see [`GroupChild`]), and returns its exit status. Processes it started may still run:
    /// see [`GroupChild::wait_group`].
    ///
    /// With a controlling terminal, the command is a job: it is given the terminal when we
    /// have it; when it stops (Ctrl-Z, or terminal input from the background) we take the
    /// terminal back and stop too, so that the shell that started us sees its job stop; when
    /// we are continued, so is it (and it gets the terminal again if we have it).
    ///
    /// # Errors
    ///
    /// [`Error::Io`] if waiting fails.
    ///
    /// # Examples
    ///
    /// ```
    /// let lock = interlock::Lock::new()?;
    /// let guard = lock.lock()?;
    /// let mut child = guard.spawn_group(std::process::Command::new("sh").args(["-c", "exit 3"]))?;
    /// assert_eq!(child.wait()?.code(), Some(3));
    /// assert_eq!(child.wait()?.code(), Some(3), "asked again: the same status");
    /// child.wait_group()?;
    /// # Ok::<(), interlock::Error>(())
    /// ```
    pub fn wait(&mut self) -> Result<ExitStatus, Error> {
        loop {
            if let Some(status) = self.status {
                return Ok(status);
            }
            // The signals were blocked before the command was spawned: its end leaves a
            // SIGCHLD pending — unless another thread of this process, one that does not block
            // it, took it first (the kernel gives a process's signal to any thread that wants
            // it, and the default action drops it). So look every CHILD_LOOK all the same.
            match self.relay.next(Some(CHILD_LOOK)) {
                Some(Received::Child) => {
                    self.drained = false;
                    self.reap()?;
                }
                Some(sig) => self.on_signal(sig),
                None => self.reap()?,
            }
        }
    }

    /// Whether processes the command started still run in its group (after
    /// [`GroupChild::wait`]: the command itself has exited).
    ///
    /// # Errors
    ///
    /// [`Error::Io`] if reaping the group's ended processes fails.
    ///
    /// # Examples
    ///
    /// ```
    /// let lock = interlock::Lock::new()?;
    /// let guard = lock.lock()?;
    /// let sh = ["-c", "sleep 60 & echo $! > /dev/null"];
    /// let mut child = guard.spawn_group(std::process::Command::new("sh").args(sh))?;
    /// assert!(child.wait()?.success());
    /// assert!(child.group_running()?, "sleep 60 runs on in the group");
    /// child.group().kill()?;
    /// child.wait_group()?;
    /// assert!(!child.group_running()?);
    /// # Ok::<(), interlock::Error>(())
    /// ```
    pub fn group_running(&mut self) -> Result<bool, Error> {
        if self.gone {
            return Ok(false);
        }
        if !self.drained {
            self.reap()?;
        }
        if self.status.is_none() {
            return Ok(true);
        }
        if self.probe() == Probe::Running {
            return Ok(true);
        }
        self.finish();
        Ok(false)
    }

    /// Waits until no process of the command's group runs any more — the command (as
    /// [`GroupChild::wait`]) and everything it started that stayed in its group — passing on
    /// signals meanwhile; then the lock's record stops naming the group and the terminal, if
    /// the group had it, comes back to us. Call it before releasing the lock: what the command
    /// left running is then never beside the next holder.
    ///
    /// What left the group (a daemon that called `setsid`, a job that a shell with job control
    /// put in a group of its own) is not waited for.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] if waiting fails.
    ///
    /// # Examples
    ///
    /// ```
    /// let lock = interlock::Lock::new()?;
    /// let guard = lock.lock()?;
    /// let sh = ["-c", "(sleep 0.1; echo done) &"];
    /// let mut child = guard.spawn_group(std::process::Command::new("sh").args(sh))?;
    /// child.wait_group()?; // returns once the background job has printed `done`
    /// assert_eq!(guard.leftover_group(), None);
    /// # Ok::<(), interlock::Error>(())
    /// ```
    pub fn wait_group(&mut self) -> Result<(), Error> {
        self.wait()?;
        let mut pause = Duration::from_millis(1);
        while !self.gone {
            self.reap()?;
            if self.probe() != Probe::Running {
                self.finish();
                break;
            }
            // Members whose parents are alive are not ours to reap: look again in a while,
            // sooner if a signal comes.
            if let Some(sig) = self.relay.next(Some(pause)) {
                self.on_signal(sig);
            }
            pause = (pause * 2).min(POLL_MAX);
        }
        Ok(())
    }

    /// Reaps the children of ours in the group that ended (the command, and orphans of its
    /// processes that the kernel gave us) and, with a terminal, follows the command's stops.
    fn reap(&mut self) -> Result<(), Error> {
        let jobs = self.tty.is_some();
        loop {
            let (pid, how) = match sys::reap_group(self.pid, jobs) {
                Ok(Some(reaped)) => reaped,
                Ok(None) => return Ok(()),
                // No child of ours is left in the group: fine once the command is reaped;
                // before, something else reaped it and its status is lost.
                Err(e) if self.status.is_some() && e.raw_os_error() == Some(libc_echild()) => {
                    // Until an orphan of the group's is given to us (a SIGCHLD tells).
                    self.drained = true;
                    return Ok(());
                }
                Err(e) => return Err(Error::io("wait for", self.group(), e)),
            };
            match how {
                Reaped::Ended(raw) if pid == self.pid => {
                    self.status = Some(ExitStatus::from_raw(raw));
                }
                Reaped::Stopped if pid == self.pid => self.suspend(),
                _ => {}
            }
        }
    }

    fn probe(&self) -> Probe {
        sys::probe_group(self.pid, self.identity)
    }

    fn on_signal(&mut self, sig: Received) {
        if sig == Received::Child {
            self.drained = false;
        }
        match sig {
            Received::Relayed(sig) => {
                // The group may be gone already (ESRCH): nothing left to tell.
                let _ = sys::signal_group(self.pid, sig);
            }
            Received::Continued => self.resume(),
            Received::Child | Received::Other => {}
        }
    }

    /// The command stopped: take the terminal back if it has it, and stop as it did, so that
    /// the shell that started us sees its job stop. (Continued, we find `SIGCONT` pending.)
    fn suspend(&mut self) {
        if let Some(tty) = &self.tty {
            if sys::foreground(tty.as_ref()) == Some(self.pid) {
                sys::set_foreground(tty.as_ref(), sys::own_group());
            }
        }
        sys::stop_self();
    }

    /// We were continued: give the group the terminal if we have it, and continue it.
    fn resume(&mut self) {
        if self.gone {
            return;
        }
        if let Some(tty) = &self.tty {
            if sys::foreground(tty.as_ref()) == Some(sys::own_group()) {
                sys::set_foreground(tty.as_ref(), self.pid);
            }
        }
        let _ = sys::continue_group(self.pid);
    }

    /// The group is gone: the record stops naming it, the terminal comes back.
    fn finish(&mut self) {
        self.gone = true;
        self.at.get().clear_group(self.token);
        if let Some(tty) = &self.tty {
            if sys::foreground(tty.as_ref()) == Some(self.pid) {
                sys::set_foreground(tty.as_ref(), sys::own_group());
            }
        }
    }
}

impl Drop for GroupChild {
    fn drop(&mut self) {
        // Dropped without `wait_group`: the record keeps naming a group that still runs (the
        // next holder waits for it); one that is gone is forgotten as `wait_group` would.
        if !self.gone && self.status.is_some() && self.probe() != Probe::Running {
            self.finish();
        }
    }
}

/// `{pgid, token, running}`: `running` as of serialization ([`ProcessGroup::state`]), null
/// when it cannot be told here (another pid namespace). The leader's identity and the
/// namespace tag, which only serve that check, are not shown.
#[cfg(feature = "serde")]
impl serde::Serialize for ProcessGroup {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let running = match self.state() {
            GroupState::Running => Some(true),
            GroupState::Gone => Some(false),
            GroupState::Unknown => None,
        };
        let mut g = s.serialize_struct("ProcessGroup", 3)?;
        g.serialize_field("pgid", &self.pgid)?;
        g.serialize_field("token", &self.token)?;
        g.serialize_field("running", &running)?;
        g.end()
    }
}
