//! `EtcdRLock`: a recursive etcd lock, its depth counted on the client.

use std::marker::PhantomData;
use std::sync::{Arc, Mutex};
use std::thread::ThreadId;
use std::time::Duration;

use crate::{Error, EtcdClient, EtcdGuard, EtcdLock};

/// A recursive lock over etcd: the thread that holds it may take it again, and it is released
/// when the outermost guard drops — Python's `multiprocessing.RLock`, as [`interlock::RLock`]
/// is on one machine.
///
/// The depth is counted here, on the client: etcd's 3.4 lock service treats the same lease
/// locking again as a no-op, so that a nested unlock would release the outer hold. The queue
/// key is taken once, by the outermost hold; every nested guard shares its token.
///
/// ```no_run
/// use interlock_etcd::{EtcdClient, EtcdOptions, EtcdRLock};
///
/// let client = EtcdClient::connect(EtcdOptions::parse("127.0.0.1:2379"))?;
/// let rlock = EtcdRLock::new(&client, "layers")?;
/// let outer = rlock.lock()?;
/// let inner = rlock.lock()?; // the same thread: depth 2, no second key
/// assert_eq!((inner.depth(), inner.token()), (2, outer.token()));
/// drop(inner);
/// drop(outer); // released here
/// # Ok::<(), interlock_etcd::Error>(())
/// ```
#[derive(Debug)]
pub struct EtcdRLock {
    lock: EtcdLock,
    state: Arc<Mutex<Option<Held>>>,
}

#[derive(Debug)]
struct Held {
    thread: ThreadId,
    depth: u32,
    guard: EtcdGuard,
}

/// One level of an [`EtcdRLock`] hold. `!Send`: the depth belongs to the thread. See
/// [`EtcdRLock`] for an example.
#[must_use = "if unused the RLock level ends at once"]
#[clippy::has_significant_drop]
#[derive(Debug)]
pub struct EtcdRLockGuard<'a> {
    rlock: &'a EtcdRLock,
    depth: u32,
    token: u64,
    previous_owner_died: bool,
    _not_send: PhantomData<*const ()>,
}

impl EtcdRLock {
    /// The recursive lock `name` (see [`EtcdLock::new`]).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidName`].
    pub fn new(client: &EtcdClient, name: &str) -> Result<EtcdRLock, Error> {
        Ok(EtcdRLock {
            lock: EtcdLock::new(client, name)?,
            state: Arc::new(Mutex::new(None)),
        })
    }

    /// Takes the lock, or one more level of it if this thread holds it.
    ///
    /// # Errors
    ///
    /// As [`EtcdLock::lock`].
    pub fn lock(&self) -> Result<EtcdRLockGuard<'_>, Error> {
        self.take(|lock| lock.lock().map(Some))
            .map(|g| g.expect("waited"))
    }

    /// As [`lock`](Self::lock), `None` at once if another client or thread holds it.
    ///
    /// # Errors
    ///
    /// As [`EtcdLock::try_lock`].
    pub fn try_lock(&self) -> Result<Option<EtcdRLockGuard<'_>>, Error> {
        self.take(EtcdLock::try_lock)
    }

    /// As [`lock`](Self::lock), waiting at most `timeout`.
    ///
    /// # Errors
    ///
    /// As [`EtcdLock::lock_timeout`].
    pub fn lock_timeout(&self, timeout: Duration) -> Result<EtcdRLockGuard<'_>, Error> {
        self.take(|lock| lock.lock_timeout(timeout).map(Some))
            .map(|g| g.expect("waited"))
    }

    fn take(
        &self,
        acquire: impl FnOnce(&EtcdLock) -> Result<Option<EtcdGuard>, Error>,
    ) -> Result<Option<EtcdRLockGuard<'_>>, Error> {
        let me = std::thread::current().id();
        {
            let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(held) = state.as_mut().filter(|h| h.thread == me) {
                held.depth += 1;
                return Ok(Some(self.guard(held)));
            }
        }
        let Some(guard) = acquire(&self.lock)? else {
            return Ok(None);
        };
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let held = state.insert(Held {
            thread: me,
            depth: 1,
            guard,
        });
        Ok(Some(self.guard(held)))
    }

    fn guard(&self, held: &Held) -> EtcdRLockGuard<'_> {
        EtcdRLockGuard {
            rlock: self,
            depth: held.depth,
            token: held.guard.token(),
            previous_owner_died: held.guard.previous_owner_died(),
            _not_send: PhantomData,
        }
    }
}

impl EtcdRLockGuard<'_> {
    /// How deep this thread's hold is with this level (1 for the outermost).
    pub fn depth(&self) -> u32 {
        self.depth
    }

    /// The outermost hold's fencing token (see [`EtcdGuard::token`]).
    pub fn token(&self) -> u64 {
        self.token
    }

    /// Whether the holder before the outermost hold lost its lease while holding.
    pub fn previous_owner_died(&self) -> bool {
        self.previous_owner_died
    }

    /// Whether the hold's lease is lost (see [`EtcdGuard::lease_lost`]).
    pub fn lease_lost(&self) -> bool {
        let state = self.rlock.state.lock().unwrap_or_else(|e| e.into_inner());
        state.as_ref().is_none_or(|h| h.guard.lease_lost())
    }
}

impl Drop for EtcdRLockGuard<'_> {
    fn drop(&mut self) {
        let mut state = self.rlock.state.lock().unwrap_or_else(|e| e.into_inner());
        let last = match state.as_mut() {
            Some(held) => {
                held.depth -= 1;
                held.depth == 0
            }
            None => false,
        };
        if last {
            let held = state.take();
            drop(state);
            // The outermost level: the release (a request to etcd) outside the state's mutex.
            drop(held);
        }
    }
}
