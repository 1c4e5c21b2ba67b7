//! One calling code for both backends, chosen at run time.

use std::time::Duration;

use crate::{Error, EtcdClient, EtcdGuard, EtcdLock};

/// A lock on this machine ([`interlock::Lock`]) or on an etcd cluster ([`EtcdLock`]), behind
/// one set of calls: a program picks the backend at run time (a flag, an environment
/// variable) and the rest of its code does not change.
///
/// ```
/// use interlock_etcd::{AnyLock, EtcdClient, EtcdOptions};
///
/// // e.g. from INTERLOCK_ETCD_ENDPOINTS; here: none, so the local backend.
/// let endpoints: Option<&str> = None;
/// let client = endpoints
///     .map(|e| EtcdClient::connect(EtcdOptions::parse(e)))
///     .transpose()?;
/// let name = format!("doc-any-{}", std::process::id());
/// let lock = AnyLock::open(client.as_ref(), &name)?;
/// let guard = lock.lock()?;
/// assert!(guard.token() > 0);
/// assert!(!guard.previous_owner_died());
/// assert!(!guard.lease_lost());
/// drop(guard);
/// # interlock::namespace::remove(&name)?;
/// # Ok::<(), interlock_etcd::Error>(())
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum AnyLock {
    /// A named lock of this user's namespace on this machine.
    Local(interlock::Lock),
    /// A lock on an etcd cluster.
    Etcd(EtcdLock),
}

/// A hold of an [`AnyLock`]: `token`, `previous_owner_died`, `lease_lost` and `unlock` on
/// either backend.
///
/// ```
/// # let name = format!("doc-anyguard-{}", std::process::id());
/// let lock = interlock_etcd::AnyLock::open(None, &name)?;
/// let guard = lock.try_lock()?.expect("nobody else uses this name");
/// let token = guard.token();
/// guard.unlock()?;
/// assert!(lock.lock()?.token() > token);
/// # interlock::namespace::remove(&name)?;
/// # Ok::<(), interlock_etcd::Error>(())
/// ```
#[derive(Debug)]
#[must_use = "if unused the lock is released at once"]
#[clippy::has_significant_drop]
#[non_exhaustive]
pub enum AnyGuard<'a> {
    /// A local hold (`!Send`: it belongs to its thread).
    Local(interlock::LockGuard<'a>),
    /// An etcd hold.
    Etcd(EtcdGuard),
}

impl AnyLock {
    /// The lock `name`: on the cluster if `client` is given, else in this user's namespace.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidName`] (the same rules on both backends), or the local backend's
    /// errors as [`Error::Local`].
    pub fn open(client: Option<&EtcdClient>, name: &str) -> Result<AnyLock, Error> {
        match client {
            Some(client) => EtcdLock::new(client, name).map(AnyLock::Etcd),
            None => {
                crate::lock::validate_name(name)?;
                Ok(AnyLock::Local(interlock::Lock::open(name)?))
            }
        }
    }

    /// Waits for the lock without limit.
    ///
    /// # Errors
    ///
    /// The backend's.
    pub fn lock(&self) -> Result<AnyGuard<'_>, Error> {
        Ok(match self {
            AnyLock::Local(lock) => AnyGuard::Local(lock.lock()?),
            AnyLock::Etcd(lock) => AnyGuard::Etcd(lock.lock()?),
        })
    }

    /// Takes the lock if it is free, else `None`.
    ///
    /// # Errors
    ///
    /// The backend's.
    pub fn try_lock(&self) -> Result<Option<AnyGuard<'_>>, Error> {
        Ok(match self {
            AnyLock::Local(lock) => lock.try_lock()?.map(AnyGuard::Local),
            AnyLock::Etcd(lock) => lock.try_lock()?.map(AnyGuard::Etcd),
        })
    }

    /// Waits at most `timeout`.
    ///
    /// # Errors
    ///
    /// A timeout (the local [`interlock::Error::Timeout`] inside [`Error::Local`], or
    /// [`Error::Timeout`]); the backend's others.
    pub fn lock_timeout(&self, timeout: Duration) -> Result<AnyGuard<'_>, Error> {
        Ok(match self {
            AnyLock::Local(lock) => AnyGuard::Local(lock.lock_timeout(timeout)?),
            AnyLock::Etcd(lock) => AnyGuard::Etcd(lock.lock_timeout(timeout)?),
        })
    }
}

impl AnyGuard<'_> {
    /// The fencing token: strictly increasing per acquisition (per lock locally; across the
    /// cluster on etcd).
    pub fn token(&self) -> u64 {
        match self {
            AnyGuard::Local(g) => g.token(),
            AnyGuard::Etcd(g) => g.token(),
        }
    }

    /// Whether the previous holder died holding the lock (locally: the process died; on
    /// etcd: its lease lapsed).
    pub fn previous_owner_died(&self) -> bool {
        match self {
            AnyGuard::Local(g) => g.previous_owner_died(),
            AnyGuard::Etcd(g) => g.previous_owner_died(),
        }
    }

    /// Whether the hold may have ended behind the holder's back: the etcd lease lapsed.
    /// Always false locally (a local hold ends only with its holder).
    pub fn lease_lost(&self) -> bool {
        match self {
            AnyGuard::Local(_) => false,
            AnyGuard::Etcd(g) => g.lease_lost(),
        }
    }

    /// Releases the lock.
    ///
    /// # Errors
    ///
    /// The backend's ([`Error::LeaseLost`] if an etcd hold had already ended).
    pub fn unlock(self) -> Result<(), Error> {
        match self {
            AnyGuard::Local(g) => Ok(g.unlock()?),
            AnyGuard::Etcd(g) => g.unlock(),
        }
    }
}
