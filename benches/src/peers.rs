//! The competitors: one small trait, one implementation per lock.
//!
//! | name                 | what                                                          | robust |
//! |----------------------|---------------------------------------------------------------|--------|
//! | `futex`              | bare futex mutex (std's algorithm, shared futex): lower bound  | no     |
//! | `pthread`            | glibc `pthread_mutex_t`, `PTHREAD_PROCESS_SHARED`              | no     |
//! | `pthread-robust`     | the same with `PTHREAD_MUTEX_ROBUST`                           | yes    |
//! | `sem`                | POSIX semaphore, `sem_init(pshared = 1)`: CPython's Lock        | no     |
//! | `flock`              | std's `File::lock` (`flock(2)`), one open file description each | yes    |
//! | `ofd`                | `fcntl(F_OFD_SETLKW)` on a file, likewise                      | yes    |
//! | `interlock`          | `interlock::Lock::new()`                                      | yes    |
//! | `interlock-fair`     | `interlock::Lock::new_fair()`: FIFO hand-off to sleepers      | yes    |
//! | `interlock-liveness` | `interlock::Lock::open_path(path, 0o666)`, other-writable file | yes    |
//!
//! And the semaphores of N permits ([`SemCompetitor`], the `sem-*` workloads):
//!
//! | name            | what                                                  | robust |
//! |-----------------|-------------------------------------------------------|--------|
//! | `posix-sem`     | `sem_init(pshared = 1, value = N)`: CPython's Semaphore | no     |
//! | `interlock-sem` | `interlock::Semaphore::new(N)`                        | yes    |

#![allow(unsafe_code)]

use std::cell::UnsafeCell;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

use rustix::io::Errno;

use crate::futex::FutexMutex;
use crate::robust_futex::{RobustFutexMutex, Thread};
use interlock_testkit::{Shared, ShmSafe};

/// A lock under test, shared by forked processes: parking_lot's benchmark `Mutex` trait, for
/// processes.
///
/// The harness calls [`Competitor::create`] once in the parent, forks, calls
/// [`Competitor::attach`] once in each child, then [`Competitor::lock`] in a loop.
pub trait Competitor: Sized {
    /// The row name in the tables.
    const NAME: &'static str;
    /// Whether a waiter gets the lock when its holder is SIGKILLed (the recovery workload runs
    /// only these).
    const ROBUST: bool;

    /// Creates the lock in memory (or a file) that processes forked afterwards share.
    ///
    /// # Errors
    ///
    /// Whatever creating it failed with.
    fn create() -> io::Result<Self>;

    /// Per-process set-up, after `fork`. File locks open their own file description here:
    /// `flock` and OFD locks belong to the open file description, which `fork` would share.
    ///
    /// # Errors
    ///
    /// Whatever the set-up failed with.
    fn attach(&mut self) -> io::Result<()> {
        Ok(())
    }

    /// Runs `f` holding the lock, then releases it.
    fn lock<R>(&self, f: impl FnOnce() -> R) -> R;

    /// How many acquisitions were told that the previous owner died, for locks that tell.
    fn deaths_reported(&self) -> Option<u64> {
        None
    }
}

// ---------------------------------------------------------------------------------------------

// SAFETY: zero is `UNLOCKED`, and the state is an atomic.
unsafe impl ShmSafe for FutexMutex {}

/// `futex`: the bare futex mutex in shared memory.
#[derive(Debug)]
pub struct Futex(Shared<FutexMutex>);

impl Competitor for Futex {
    const NAME: &'static str = "futex";
    const ROBUST: bool = false;
    fn create() -> io::Result<Self> {
        Shared::new().map(Futex)
    }
    #[inline]
    fn lock<R>(&self, f: impl FnOnce() -> R) -> R {
        self.0.lock();
        let r = f();
        self.0.unlock();
        r
    }
}

// ---------------------------------------------------------------------------------------------

// SAFETY: all-zero bytes are a free, unlinked `RobustFutexMutex`; every field is an atomic (or
// padding).
unsafe impl ShmSafe for RobustFutexMutex {}

/// `futex-robust`: the bare futex made robust with the kernel's robust list and nothing else —
/// the floor for any robust lock (see [`crate::robust_futex`]).
#[derive(Debug)]
pub struct FutexRobust {
    mutex: Shared<RobustFutexMutex>,
    me: Thread,
}

impl Competitor for FutexRobust {
    const NAME: &'static str = "futex-robust";
    const ROBUST: bool = true;
    fn create() -> io::Result<Self> {
        Ok(FutexRobust {
            mutex: Shared::new()?,
            me: Thread::default(),
        })
    }
    fn attach(&mut self) -> io::Result<()> {
        self.me.attach()
    }
    #[inline]
    fn lock<R>(&self, f: impl FnOnce() -> R) -> R {
        self.mutex.lock(&self.me);
        let r = f();
        self.mutex.unlock(&self.me);
        r
    }
    fn deaths_reported(&self) -> Option<u64> {
        Some(self.mutex.deaths())
    }
}

// ---------------------------------------------------------------------------------------------

/// A glibc mutex and a count of `EOWNERDEAD` returns, in shared memory.
#[repr(C)]
struct PthreadCell {
    mutex: UnsafeCell<libc::pthread_mutex_t>,
    deaths: AtomicU64,
}

// SAFETY: all-zero bytes are a valid (if uninitialised) `pthread_mutex_t` value, which
// `PthreadMutex::create` initialises before any use; the mutex is only touched through the
// `UnsafeCell` (by glibc, with atomics), the count is an atomic.
unsafe impl ShmSafe for PthreadCell {}

/// A process-shared glibc mutex, robust or not.
#[derive(Debug)]
pub struct PthreadMutex<const ROBUST: bool>(Shared<PthreadCell>);

/// `pthread`: `PTHREAD_PROCESS_SHARED`.
pub type Pthread = PthreadMutex<false>;
/// `pthread-robust`: `PTHREAD_PROCESS_SHARED` + `PTHREAD_MUTEX_ROBUST`.
pub type PthreadRobust = PthreadMutex<true>;

fn check(what: &str, rc: libc::c_int) -> io::Result<()> {
    if rc == 0 {
        Ok(())
    } else {
        let e = io::Error::from_raw_os_error(rc);
        Err(io::Error::new(e.kind(), format!("{what}: {e}")))
    }
}

impl<const ROBUST: bool> PthreadMutex<ROBUST> {
    fn mutex(&self) -> *mut libc::pthread_mutex_t {
        self.0.mutex.get()
    }

    /// Creates the mutex in fresh shared memory.
    ///
    /// # Errors
    ///
    /// The failing `pthread_*` call and its error.
    pub fn new() -> io::Result<Self> {
        let cell = Shared::<PthreadCell>::new()?;
        let mut attr = std::mem::MaybeUninit::<libc::pthread_mutexattr_t>::uninit();
        // SAFETY: `attr` is writable storage for an attribute object, which init fills in.
        check("pthread_mutexattr_init", unsafe {
            libc::pthread_mutexattr_init(attr.as_mut_ptr())
        })?;
        // SAFETY: `attr` was initialised just above.
        check("pthread_mutexattr_setpshared", unsafe {
            libc::pthread_mutexattr_setpshared(attr.as_mut_ptr(), libc::PTHREAD_PROCESS_SHARED)
        })?;
        if ROBUST {
            // SAFETY: `attr` is initialised.
            check("pthread_mutexattr_setrobust", unsafe {
                libc::pthread_mutexattr_setrobust(attr.as_mut_ptr(), libc::PTHREAD_MUTEX_ROBUST)
            })?;
        }
        // SAFETY: the mutex storage is in our live shared mapping, properly aligned (page
        // aligned, first field), not yet in use by anyone; `attr` is initialised.
        let rc = unsafe { libc::pthread_mutex_init(cell.mutex.get(), attr.as_ptr()) };
        // SAFETY: `attr` is initialised and no longer needed (init copied what it needs).
        unsafe { libc::pthread_mutexattr_destroy(attr.as_mut_ptr()) };
        check("pthread_mutex_init", rc)?;
        Ok(PthreadMutex(cell))
    }

    /// `pthread_mutex_lock`, making the mutex consistent again after `EOWNERDEAD`.
    #[inline]
    pub fn raw_lock(&self) {
        // SAFETY: the mutex was initialised by `new` and lives in a mapping that outlives `self`;
        // glibc synchronises concurrent callers itself.
        let rc = unsafe { libc::pthread_mutex_lock(self.mutex()) };
        if rc == libc::EOWNERDEAD {
            self.recover();
        } else if rc != 0 {
            panic!("pthread_mutex_lock: {}", io::Error::from_raw_os_error(rc));
        }
    }

    #[cold]
    fn recover(&self) {
        self.0.deaths.fetch_add(1, Ordering::Relaxed);
        // SAFETY: we hold the mutex (EOWNERDEAD hands it over), which `consistent` requires.
        let rc = unsafe { libc::pthread_mutex_consistent(self.mutex()) };
        assert_eq!(rc, 0, "pthread_mutex_consistent");
    }

    /// `pthread_mutex_unlock`.
    #[inline]
    pub fn raw_unlock(&self) {
        // SAFETY: initialised mutex as in `raw_lock`; the caller holds it (the trait's `lock`
        // pairs the calls on one thread).
        let rc = unsafe { libc::pthread_mutex_unlock(self.mutex()) };
        debug_assert_eq!(rc, 0, "pthread_mutex_unlock");
    }
}

impl<const ROBUST: bool> Drop for PthreadMutex<ROBUST> {
    fn drop(&mut self) {
        // SAFETY: the mutex was initialised; destroying it while unlocked is allowed and an error
        // (EBUSY, say) changes nothing before the memory is unmapped.
        let _ = unsafe { libc::pthread_mutex_destroy(self.mutex()) };
    }
}

impl<const ROBUST: bool> Competitor for PthreadMutex<ROBUST> {
    const NAME: &'static str = if ROBUST { "pthread-robust" } else { "pthread" };
    const ROBUST: bool = ROBUST;
    fn create() -> io::Result<Self> {
        Self::new()
    }
    #[inline]
    fn lock<R>(&self, f: impl FnOnce() -> R) -> R {
        self.raw_lock();
        let r = f();
        self.raw_unlock();
        r
    }
    fn deaths_reported(&self) -> Option<u64> {
        ROBUST.then(|| self.0.deaths.load(Ordering::Relaxed))
    }
}

// ---------------------------------------------------------------------------------------------

/// A POSIX semaphore in shared memory.
#[repr(C)]
struct SemCell(UnsafeCell<libc::sem_t>);

// SAFETY: all-zero bytes are a valid `sem_t` value, initialised by `Sem::create` before use;
// glibc touches it only atomically, through the `UnsafeCell`.
unsafe impl ShmSafe for SemCell {}

/// `sem`: `sem_init(pshared = 1, value = 1)`, what CPython's `multiprocessing.Lock` is.
#[derive(Debug)]
pub struct Sem(Shared<SemCell>);

impl Competitor for Sem {
    const NAME: &'static str = "sem";
    const ROBUST: bool = false;
    fn create() -> io::Result<Self> {
        let cell = Shared::<SemCell>::new()?;
        // SAFETY: the semaphore storage is in our live shared mapping, aligned, unused so far.
        if unsafe { libc::sem_init(cell.0.get(), 1, 1) } != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(Sem(cell))
    }
    #[inline]
    fn lock<R>(&self, f: impl FnOnce() -> R) -> R {
        // SAFETY: initialised in `create`, mapped while `self` lives.
        while unsafe { libc::sem_wait(self.0 .0.get()) } != 0 {
            let e = io::Error::last_os_error();
            assert_eq!(e.raw_os_error(), Some(libc::EINTR), "sem_wait: {e}");
        }
        let r = f();
        // SAFETY: as above.
        let rc = unsafe { libc::sem_post(self.0 .0.get()) };
        debug_assert_eq!(rc, 0, "sem_post");
        r
    }
}

impl Drop for Sem {
    fn drop(&mut self) {
        // SAFETY: initialised in `create`; nobody in this process waits on it any more.
        let _ = unsafe { libc::sem_destroy(self.0 .0.get()) };
    }
}

// ---------------------------------------------------------------------------------------------

/// A lock file in a private temporary directory, and this process's own open file description.
#[derive(Debug)]
pub struct LockFile {
    _dir: tempfile::TempDir,
    path: PathBuf,
    file: Option<File>,
}

impl LockFile {
    fn create() -> io::Result<LockFile> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("bench.lock");
        File::create(&path)?;
        Ok(LockFile {
            _dir: dir,
            path,
            file: None,
        })
    }

    /// Opens a new file description: after fork, each process needs its own.
    fn attach(&mut self) -> io::Result<()> {
        self.file = Some(OpenOptions::new().read(true).write(true).open(&self.path)?);
        Ok(())
    }

    fn file(&self) -> &File {
        self.file
            .as_ref()
            .expect("Competitor::attach was not called in this process")
    }
}

fn retry_eintr(mut op: impl FnMut() -> Result<(), Errno>, what: &str) {
    loop {
        match op() {
            Ok(()) => return,
            Err(Errno::INTR) => continue,
            Err(e) => panic!("{what}: {e}"),
        }
    }
}

/// `flock`: std's `File::lock` / `File::unlock` — `flock(fd, LOCK_EX)` / `LOCK_UN` on Linux,
/// as a Rust user would write it (fd-lock, fs4 and flock(1) make the same calls).
#[derive(Debug)]
pub struct Flock(LockFile);

impl Competitor for Flock {
    const NAME: &'static str = "flock";
    const ROBUST: bool = true;
    fn create() -> io::Result<Self> {
        LockFile::create().map(Flock)
    }
    fn attach(&mut self) -> io::Result<()> {
        self.0.attach()
    }
    #[inline]
    fn lock<R>(&self, f: impl FnOnce() -> R) -> R {
        let file = self.0.file();
        file.lock().expect("File::lock");
        let r = f();
        file.unlock().expect("File::unlock");
        r
    }
}

/// `ofd`: open-file-description locks, `fcntl(fd, F_OFD_SETLKW)` on the whole file.
#[derive(Debug)]
pub struct Ofd(LockFile);

impl Ofd {
    fn fcntl(&self, cmd: libc::c_int, kind: libc::c_int) -> Result<(), Errno> {
        // SAFETY: `libc::flock` is a plain C struct for which all-zero is valid (whole file from
        // offset 0, pid 0 as F_OFD_* requires).
        let mut fl: libc::flock = unsafe { std::mem::zeroed() };
        fl.l_type = kind as libc::c_short;
        fl.l_whence = libc::SEEK_SET as libc::c_short;
        // SAFETY: the descriptor is open for the life of `self.0`, and `fl` is a valid, live
        // `struct flock` for the F_OFD_* commands, which only read (SETLK/SETLKW) it.
        if unsafe { libc::fcntl(self.0.file().as_raw_fd(), cmd, &mut fl) } == 0 {
            Ok(())
        } else {
            Err(Errno::from_io_error(&io::Error::last_os_error()).unwrap_or(Errno::IO))
        }
    }
}

impl Competitor for Ofd {
    const NAME: &'static str = "ofd";
    const ROBUST: bool = true;
    fn create() -> io::Result<Self> {
        LockFile::create().map(Ofd)
    }
    fn attach(&mut self) -> io::Result<()> {
        self.0.attach()
    }
    #[inline]
    fn lock<R>(&self, f: impl FnOnce() -> R) -> R {
        retry_eintr(
            || self.fcntl(libc::F_OFD_SETLKW, libc::F_WRLCK),
            "fcntl(F_OFD_SETLKW, F_WRLCK)",
        );
        let r = f();
        retry_eintr(
            || self.fcntl(libc::F_OFD_SETLK, libc::F_UNLCK),
            "fcntl(F_OFD_SETLK, F_UNLCK)",
        );
        r
    }
}

// ---------------------------------------------------------------------------------------------

/// interlock's own lock, a sealed memfd created before fork: `Lock::new_fair()` when `FAIR`,
/// else `Lock::new()`.
#[derive(Debug)]
pub struct InterlockLock<const FAIR: bool>(interlock::Lock);

/// `interlock`: `interlock::Lock::new()`.
pub type Interlock = InterlockLock<false>;

/// `interlock-fair`: `interlock::Lock::new_fair()`, releases hand over to a sleeper.
pub type InterlockFair = InterlockLock<true>;

#[inline]
fn lock_interlock<R>(lock: &interlock::Lock, f: impl FnOnce() -> R) -> R {
    let guard = lock.lock().expect("interlock::Lock::lock");
    let r = f();
    drop(guard);
    r
}

impl<const FAIR: bool> Competitor for InterlockLock<FAIR> {
    const NAME: &'static str = if FAIR { "interlock-fair" } else { "interlock" };
    const ROBUST: bool = true;
    fn create() -> io::Result<Self> {
        let lock = if FAIR {
            interlock::Lock::new_fair()
        } else {
            interlock::Lock::new()
        };
        lock.map(InterlockLock).map_err(io::Error::other)
    }
    #[inline]
    fn lock<R>(&self, f: impl FnOnce() -> R) -> R {
        lock_interlock(&self.0, f)
    }
    fn deaths_reported(&self) -> Option<u64> {
        Some(u64::from(self.0.status().owner_deaths))
    }
}

/// `interlock-liveness`: a lock file other users may write (`chmod 0666`), opened with
/// `Lock::open_path`. interlock then keeps it off the kernel's robust list and waiters check
/// the holder's liveness every ~50 ms instead.
#[derive(Debug)]
pub struct InterlockLiveness {
    lock: interlock::Lock,
    _dir: tempfile::TempDir,
}

impl Competitor for InterlockLiveness {
    const NAME: &'static str = "interlock-liveness";
    const ROBUST: bool = true;
    fn create() -> io::Result<Self> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("shared.lock");
        drop(interlock::Lock::open_path(&path, 0o666).map_err(io::Error::other)?);
        // Whatever the umask left, make it writable by everybody, as a shared lock file is.
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o666))?;
        let lock = interlock::Lock::open_path(&path, 0o666).map_err(io::Error::other)?;
        Ok(InterlockLiveness { lock, _dir: dir })
    }
    #[inline]
    fn lock<R>(&self, f: impl FnOnce() -> R) -> R {
        lock_interlock(&self.lock, f)
    }
    fn deaths_reported(&self) -> Option<u64> {
        Some(u64::from(self.lock.status().owner_deaths))
    }
}

// ---------------------------------------------------------------------------------------------
// Semaphores of N permits (the `sem-*` workloads of `mp`).

/// A semaphore of N permits under test, shared by forked processes: created in the parent,
/// attached in each child, then [`SemCompetitor::acquire`] in a loop.
pub trait SemCompetitor: Sized {
    /// The row name in the tables.
    const NAME: &'static str;
    /// Whether a permit comes back when its holder is SIGKILLed (the recovery workload runs
    /// only these).
    const ROBUST: bool;

    /// Creates a semaphore of `permits` in memory that processes forked afterwards share.
    ///
    /// # Errors
    ///
    /// Whatever creating it failed with.
    fn create(permits: usize) -> io::Result<Self>;

    /// Runs `f` holding a permit, then gives it back; `f` is told whether the permit's previous
    /// holder died holding it (always `false` for semaphores that cannot tell).
    fn acquire<R>(&self, f: impl FnOnce(bool) -> R) -> R;
}

/// `posix-sem`: `sem_init(pshared = 1, value = N)`, `sem_wait` / `sem_post` — what CPython's
/// `multiprocessing.Semaphore(N)` is.
#[derive(Debug)]
pub struct PosixSem(Shared<SemCell>);

impl SemCompetitor for PosixSem {
    const NAME: &'static str = "posix-sem";
    const ROBUST: bool = false;
    fn create(permits: usize) -> io::Result<Self> {
        let cell = Shared::<SemCell>::new()?;
        let value = libc::c_uint::try_from(permits).map_err(io::Error::other)?;
        // SAFETY: the semaphore storage is in our live shared mapping, aligned, unused so far.
        if unsafe { libc::sem_init(cell.0.get(), 1, value) } != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(PosixSem(cell))
    }
    #[inline]
    fn acquire<R>(&self, f: impl FnOnce(bool) -> R) -> R {
        // SAFETY: initialised in `create`, mapped while `self` lives.
        while unsafe { libc::sem_wait(self.0 .0.get()) } != 0 {
            let e = io::Error::last_os_error();
            assert_eq!(e.raw_os_error(), Some(libc::EINTR), "sem_wait: {e}");
        }
        let r = f(false);
        // SAFETY: as above.
        let rc = unsafe { libc::sem_post(self.0 .0.get()) };
        debug_assert_eq!(rc, 0, "sem_post");
        r
    }
}

impl Drop for PosixSem {
    fn drop(&mut self) {
        // SAFETY: initialised in `create`; nobody in this process waits on it any more.
        let _ = unsafe { libc::sem_destroy(self.0 .0.get()) };
    }
}

/// `interlock-sem`: `interlock::Semaphore::new(N)`, a sealed memfd created before fork.
#[derive(Debug)]
pub struct InterlockSem(interlock::Semaphore);

impl SemCompetitor for InterlockSem {
    const NAME: &'static str = "interlock-sem";
    const ROBUST: bool = true;
    fn create(permits: usize) -> io::Result<Self> {
        interlock::Semaphore::new(permits)
            .map(InterlockSem)
            .map_err(io::Error::other)
    }
    #[inline]
    fn acquire<R>(&self, f: impl FnOnce(bool) -> R) -> R {
        let permit = self.0.acquire().expect("interlock::Semaphore::acquire");
        let r = f(permit.previous_owner_died());
        drop(permit);
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn locks_and_unlocks<C: Competitor>() {
        let mut c = C::create().unwrap();
        c.attach().unwrap();
        assert_eq!(c.lock(|| 7), 7);
        assert_eq!(c.lock(|| 8), 8);
    }

    #[test]
    fn every_competitor_locks_and_unlocks() {
        locks_and_unlocks::<Futex>();
        locks_and_unlocks::<FutexRobust>();
        locks_and_unlocks::<Pthread>();
        locks_and_unlocks::<PthreadRobust>();
        locks_and_unlocks::<Sem>();
        locks_and_unlocks::<Flock>();
        locks_and_unlocks::<Ofd>();
        locks_and_unlocks::<Interlock>();
        locks_and_unlocks::<InterlockLiveness>();
    }

    fn takes_and_gives_back<S: SemCompetitor>() {
        let s = S::create(2).unwrap();
        assert!(s.acquire(|died| s.acquire(|_| !died)));
        assert_eq!(s.acquire(|_| 9), 9);
    }

    #[test]
    fn every_semaphore_takes_and_gives_back_permits() {
        takes_and_gives_back::<PosixSem>();
        takes_and_gives_back::<InterlockSem>();
    }
}
