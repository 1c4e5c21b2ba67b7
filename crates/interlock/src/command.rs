//! Layer 5: running a program while holding a lock.

use std::process::Command;

/// Arranges for every program `cmd` spawns to be killed (`SIGKILL`) when the thread that spawns
/// it ends — for any reason, `SIGKILL` included.
///
/// This is what makes "run COMMAND while holding a lock" safe: the lock is held by the
/// spawning process, so when that process dies the kernel releases the lock, and the command,
/// which would otherwise run on unprotected, dies with it. The next holder never overlaps an
/// orphan.
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
