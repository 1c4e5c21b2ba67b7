//! The connection to a cluster, its one lease and the lease's keep-alive.

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use etcd_client::{Client, ConnectOptions, GetOptions, Txn};
use tokio::runtime::{Handle, Runtime};
use tokio::sync::watch;
use tokio::task::AbortHandle;

use crate::Error;

/// The oldest server this crate is tested against (Debian bookworm's `etcd-server`).
pub(crate) const OLDEST_SERVER: &str = "3.4.0";

/// How a client connects: endpoints, lease TTL, key prefix, time limits.
///
/// ```
/// use std::time::Duration;
/// use interlock_etcd::EtcdOptions;
///
/// let options = EtcdOptions::new(["127.0.0.1:2379"])
///     .ttl(Duration::from_secs(5))
///     .prefix("myapp/locks/");
/// assert_eq!(options.get_ttl(), Duration::from_secs(5));
/// ```
#[derive(Debug, Clone)]
pub struct EtcdOptions {
    endpoints: Vec<String>,
    ttl: Duration,
    prefix: String,
    connect_timeout: Duration,
    request_timeout: Duration,
}

impl EtcdOptions {
    /// Options for these endpoints (`host:port` or `http://host:port`), with the defaults: a
    /// 10 s lease, the prefix `interlock/`, 5 s to connect and 5 s per request.
    pub fn new<S: AsRef<str>>(endpoints: impl IntoIterator<Item = S>) -> EtcdOptions {
        EtcdOptions {
            endpoints: endpoints
                .into_iter()
                .map(|e| e.as_ref().trim().to_owned())
                .filter(|e| !e.is_empty())
                .collect(),
            ttl: Duration::from_secs(10),
            prefix: "interlock/".to_owned(),
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(5),
        }
    }

    /// Options from a comma-separated list of endpoints, as `INTERLOCK_ETCD_ENDPOINTS` and the
    /// CLI's `--etcd` take them.
    ///
    /// ```
    /// let options = interlock_etcd::EtcdOptions::parse("127.0.0.1:2379, 127.0.0.1:22379");
    /// assert_eq!(options.endpoints().len(), 2);
    /// ```
    pub fn parse(endpoints: &str) -> EtcdOptions {
        EtcdOptions::new(endpoints.split(','))
    }

    /// The lease's time to live: how long after a client stops (killed, paused, cut off) its
    /// holds end. Whole seconds, at least 1 (the server may round it up: etcd's minimum is
    /// about 1.5 × its election timeout).
    pub fn ttl(mut self, ttl: Duration) -> EtcdOptions {
        self.ttl = ttl;
        self
    }

    /// The key prefix every lock of this client lives under (default `interlock/`).
    pub fn prefix(mut self, prefix: impl Into<String>) -> EtcdOptions {
        self.prefix = prefix.into();
        self
    }

    /// How long connecting (the first lease grant) may take before
    /// [`Error::Unreachable`].
    pub fn connect_timeout(mut self, timeout: Duration) -> EtcdOptions {
        self.connect_timeout = timeout;
        self
    }

    /// How long one request may take before [`Error::Unavailable`] (waiting for a lock is
    /// not one request: its limit is the caller's).
    pub fn request_timeout(mut self, timeout: Duration) -> EtcdOptions {
        self.request_timeout = timeout;
        self
    }

    /// The endpoints.
    pub fn endpoints(&self) -> &[String] {
        &self.endpoints
    }

    /// The lease TTL asked for.
    pub fn get_ttl(&self) -> Duration {
        self.ttl
    }

    /// The key prefix.
    pub fn get_prefix(&self) -> &str {
        &self.prefix
    }

    pub(crate) fn request_timeout_value(&self) -> Duration {
        self.request_timeout
    }

    fn check(&self) -> Result<(), Error> {
        if self.endpoints.is_empty() {
            return Err(Error::InvalidConfig("no endpoints".into()));
        }
        if self.ttl < Duration::from_secs(1) {
            return Err(Error::InvalidConfig(format!(
                "the lease TTL {:?} is under the 1 s etcd counts in",
                self.ttl
            )));
        }
        if self.prefix.bytes().any(|b| b == 0) {
            return Err(Error::InvalidConfig("the key prefix contains NUL".into()));
        }
        Ok(())
    }
}

/// A connection to an etcd cluster and the one lease every hold of this client lives under,
/// kept alive in the background.
///
/// Cloning is cheap (one `Arc`); clones share the connection and the lease. When the lease is
/// lost (the client was paused or cut off past its TTL), the next acquisition grants a new
/// one; holds under the old one report [`EtcdGuard::lease_lost`](crate::EtcdGuard::lease_lost).
/// Dropping the last clone revokes the lease, which ends every hold at once on the server.
///
/// [`connect`](Self::connect) makes a client with a runtime of its own (one worker thread
/// that runs the keep-alive while the program does other things): for the blocking API.
/// [`connect_async`](Self::connect_async) runs on the caller's tokio runtime.
///
/// ```no_run
/// use interlock_etcd::{EtcdClient, EtcdLock, EtcdOptions};
///
/// let client = EtcdClient::connect(EtcdOptions::parse("127.0.0.1:2379"))?;
/// let lock = EtcdLock::new(&client, "nightly-backup")?;
/// let guard = lock.lock()?;
/// println!("token {}", guard.token());
/// # Ok::<(), interlock_etcd::Error>(())
/// ```
#[derive(Clone)]
pub struct EtcdClient {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    /// The client's own runtime ([`EtcdClient::connect`]); `None` on the caller's.
    runtime: Mutex<Option<Runtime>>,
    pub(crate) handle: Handle,
    pub(crate) etcd: Client,
    pub(crate) options: EtcdOptions,
    session: tokio::sync::Mutex<Arc<Session>>,
    /// Per lock name: the mutex that serialises this client's own acquisitions of it (the key
    /// is per lease, so one client queues once per name), and the thread holding it through
    /// the blocking API (to refuse a re-lock on that thread instead of hanging).
    locals: Mutex<HashMap<String, Arc<Local>>>,
}

/// One name's local state within a client.
#[derive(Debug, Default)]
pub(crate) struct Local {
    pub(crate) mutex: Arc<tokio::sync::Mutex<()>>,
    pub(crate) thread: Mutex<Option<std::thread::ThreadId>>,
}

impl std::fmt::Debug for EtcdClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let lease = self
            .inner
            .session
            .try_lock()
            .map(|s| format!("{:#x}", s.id))
            .unwrap_or_else(|_| "<renewing>".into());
        f.debug_struct("EtcdClient")
            .field("endpoints", &self.inner.options.endpoints)
            .field("prefix", &self.inner.options.prefix)
            .field("lease", &lease)
            .finish_non_exhaustive()
    }
}

impl EtcdClient {
    /// Connects with a runtime of the client's own (for the blocking API): checks the
    /// server's version and grants the lease.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidConfig`]; [`Error::Unreachable`] when no endpoint answers within the
    /// connect timeout; [`Error::ServerTooOld`].
    ///
    /// # Panics
    ///
    /// Inside an async context (use [`connect_async`](Self::connect_async) there).
    pub fn connect(options: EtcdOptions) -> Result<EtcdClient, Error> {
        options.check()?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("interlock-etcd")
            .enable_all()
            .build()
            .map_err(|e| Error::Etcd {
                what: "runtime start",
                source: Box::new(e),
            })?;
        let handle = runtime.handle().clone();
        // The runtime joins the client after `block_on`: on an error it is dropped here, off
        // the runtime (dropping a runtime inside one panics).
        let client = handle.block_on(Self::start(options, handle.clone()))?;
        *client
            .inner
            .runtime
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = Some(runtime);
        Ok(client)
    }

    /// Connects on the caller's tokio runtime (which must have its time and I/O drivers, and
    /// keep running while holds last: the keep-alive runs there).
    ///
    /// # Errors
    ///
    /// As [`connect`](Self::connect).
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime.
    pub async fn connect_async(options: EtcdOptions) -> Result<EtcdClient, Error> {
        options.check()?;
        Self::start(options, Handle::current()).await
    }

    async fn start(options: EtcdOptions, handle: Handle) -> Result<EtcdClient, Error> {
        let timeout = options.connect_timeout;
        let unreachable = |detail: String| Error::Unreachable {
            endpoints: options.endpoints.clone(),
            timeout,
            detail,
        };
        let connect = ConnectOptions::new()
            .with_connect_timeout(timeout)
            .with_keep_alive(Duration::from_secs(1), Duration::from_secs(2))
            .with_require_leader(true);
        let etcd =
            match tokio::time::timeout(timeout, Client::connect(&options.endpoints, Some(connect)))
                .await
            {
                Ok(Ok(etcd)) => etcd,
                Ok(Err(e)) => return Err(unreachable(e.to_string())),
                Err(_) => return Err(unreachable("no answer".into())),
            };
        // The version check is also the first request: connection failures show here.
        let mut maintenance = etcd.maintenance_client();
        let status = match tokio::time::timeout(timeout, maintenance.status()).await {
            Ok(Ok(status)) => status,
            Ok(Err(e)) => return Err(unreachable(e.to_string())),
            Err(_) => return Err(unreachable("no answer".into())),
        };
        check_version(status.version())?;
        let session = Session::grant(&etcd, &options, &handle).await?;
        Ok(EtcdClient {
            inner: Arc::new(Inner {
                runtime: Mutex::new(None),
                handle,
                etcd,
                options,
                session: tokio::sync::Mutex::new(Arc::new(session)),
                locals: Mutex::new(HashMap::new()),
            }),
        })
    }

    /// The options the client was made with.
    pub fn options(&self) -> &EtcdOptions {
        &self.inner.options
    }

    /// The id of the client's current lease (a new one after a loss).
    pub fn lease_id(&self) -> i64 {
        self.block_or_current(async { self.inner.session.lock().await.id })
    }

    /// The current lease, or a new one if it was lost.
    pub(crate) async fn session(&self) -> Result<Arc<Session>, Error> {
        let mut current = self.inner.session.lock().await;
        if current.is_lost() {
            let fresh =
                Session::grant(&self.inner.etcd, &self.inner.options, &self.inner.handle).await?;
            *current = Arc::new(fresh);
        }
        Ok(Arc::clone(&current))
    }

    pub(crate) fn local(&self, name: &str) -> Arc<Local> {
        let mut locals = self.inner.locals.lock().unwrap_or_else(|e| e.into_inner());
        Arc::clone(locals.entry(name.to_owned()).or_default())
    }

    /// Runs `fut` to completion on the client's runtime, from blocking code: for a blocking
    /// program that wants one of the async calls (say, to wait for a child process or
    /// [`EtcdGuard::lease_lost_wait`](crate::EtcdGuard::lease_lost_wait), whichever comes
    /// first).
    ///
    /// # Panics
    ///
    /// Inside an async context; for a client made by [`connect_async`](Self::connect_async)
    /// whose runtime is a current-thread one.
    ///
    /// ```no_run
    /// use interlock_etcd::{EtcdClient, EtcdLock, EtcdOptions};
    ///
    /// let client = EtcdClient::connect(EtcdOptions::parse("127.0.0.1:2379"))?;
    /// let guard = EtcdLock::new(&client, "job")?.lock()?;
    /// let lost = client.block_on(async {
    ///     tokio::time::timeout(std::time::Duration::from_secs(1), guard.lease_lost_wait()).await
    /// });
    /// assert!(lost.is_err(), "the lease lives");
    /// # Ok::<(), interlock_etcd::Error>(())
    /// ```
    pub fn block_on<F: Future>(&self, fut: F) -> F::Output {
        self.inner.handle.block_on(fut)
    }

    /// As [`block_on`](Self::block_on) off a runtime; in one, on a helper thread.
    fn block_or_current<F: Future + Send>(&self, fut: F) -> F::Output
    where
        F::Output: Send,
    {
        if Handle::try_current().is_ok() {
            std::thread::scope(|s| s.spawn(|| self.block_on(fut)).join())
                .expect("the helper thread does not panic")
        } else {
            self.block_on(fut)
        }
    }

    /// A clone of the etcd client (cheap: it shares the channel).
    pub(crate) fn etcd(&self) -> Client {
        self.inner.etcd.clone()
    }

    /// One request, made by `attempt` on a clone of the etcd client, retried while the
    /// cluster does not answer, within the request timeout: a write in flight when the leader
    /// dies is never answered (etcd drops the proposal), and a new attempt goes to the new
    /// leader. Every request this crate retries is safe to repeat (a create-if-absent, a read,
    /// a delete or write guarded by a create revision). After the request timeout:
    /// [`Error::Unavailable`].
    pub(crate) async fn request<T, F, Fut>(
        &self,
        what: &'static str,
        attempt: F,
    ) -> Result<T, Error>
    where
        F: FnMut(Client) -> Fut,
        Fut: Future<Output = Result<T, etcd_client::Error>>,
    {
        retrying(
            what,
            self.inner.options.request_timeout,
            &self.inner.etcd,
            attempt,
        )
        .await
    }
}

/// [`EtcdClient::request`]'s loop, for the client and for the lease grant before the client
/// exists: attempts of at most a quarter of `total` (and at least half a second) until one is
/// answered, an error other than "unavailable" comes, or `total` has passed.
async fn retrying<T, F, Fut>(
    what: &'static str,
    total: Duration,
    etcd: &Client,
    mut attempt: F,
) -> Result<T, Error>
where
    F: FnMut(Client) -> Fut,
    Fut: Future<Output = Result<T, etcd_client::Error>>,
{
    // A healthy cluster answers in milliseconds; an election takes about a second.
    let each = (total / 4).max(Duration::from_millis(500)).min(total);
    let deadline = Instant::now() + total;
    let mut detail = None;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(Error::Unavailable {
                what,
                timeout: total,
                detail,
            });
        }
        match tokio::time::timeout(each.min(left), attempt(etcd.clone())).await {
            Ok(Ok(v)) => return Ok(v),
            Ok(Err(e)) => match Error::etcd(what, e) {
                Error::Unavailable { detail: d, .. } => {
                    detail = d;
                    tokio::time::sleep(Duration::from_millis(50).min(left)).await;
                }
                other => return Err(other),
            },
            Err(_) => detail = Some(format!("no answer within {:?}", each.min(left))),
        }
    }
}

impl EtcdClient {
    /// A txn through [`request`](Self::request).
    pub(crate) async fn txn(
        &self,
        what: &'static str,
        txn: &Txn,
    ) -> Result<etcd_client::TxnResponse, Error> {
        self.request(what, |mut c| {
            let txn = txn.clone();
            async move { c.txn(txn).await }
        })
        .await
    }

    /// A range read through [`request`](Self::request).
    pub(crate) async fn get(
        &self,
        what: &'static str,
        key: &[u8],
        options: Option<GetOptions>,
    ) -> Result<etcd_client::GetResponse, Error> {
        self.request(what, |mut c| {
            let (key, options) = (key.to_vec(), options.clone());
            async move { c.get(key, options).await }
        })
        .await
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        let runtime = self
            .runtime
            .get_mut()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        let id = self.session.get_mut().id;
        let mut lease = self.etcd.lease_client();
        let revoke = async move {
            let _ = tokio::time::timeout(Duration::from_secs(1), lease.revoke(id)).await;
        };
        match runtime {
            // Off a runtime: revoke now, so that the holds end at once rather than after the
            // TTL; then stop the runtime's thread.
            Some(runtime) if Handle::try_current().is_err() => {
                runtime.block_on(revoke);
                runtime.shutdown_background();
            }
            // A runtime cannot be waited for inside another: the lease lapses after its TTL.
            Some(runtime) => runtime.shutdown_background(),
            None => {
                self.handle.spawn(revoke);
            }
        }
    }
}

fn check_version(found: &str) -> Result<(), Error> {
    let parse = |v: &str| -> Option<(u32, u32)> {
        let mut parts = v.split('.');
        Some((parts.next()?.parse().ok()?, parts.next()?.parse().ok()?))
    };
    match (parse(found), parse(OLDEST_SERVER)) {
        (Some(have), Some(need)) if have >= need => Ok(()),
        _ => Err(Error::ServerTooOld {
            found: found.to_owned(),
            required: OLDEST_SERVER,
        }),
    }
}

/// One lease, and what the client knows of its life.
pub(crate) struct Session {
    pub(crate) id: i64,
    pub(crate) ttl: Duration,
    state: Arc<LeaseState>,
    tasks: Vec<AbortHandle>,
}

/// The lease's life as the client sees it: lost once the server says so, or once the
/// deadline passed (the last acknowledged keep-alive's send time + the TTL: the server's
/// expiry is no earlier, so the client never thinks a lease alive that the server dropped).
pub(crate) struct LeaseState {
    base: Instant,
    /// Nanoseconds after `base`.
    deadline: AtomicU64,
    lost: AtomicBool,
    tx: watch::Sender<bool>,
}

impl LeaseState {
    fn deadline(&self) -> Instant {
        self.base + Duration::from_nanos(self.deadline.load(Ordering::Acquire))
    }

    fn extend(&self, until: Instant) {
        let nanos = until.saturating_duration_since(self.base).as_nanos() as u64;
        self.deadline.fetch_max(nanos, Ordering::AcqRel);
    }

    fn lose(&self) {
        if !self.lost.swap(true, Ordering::AcqRel) {
            self.tx.send_replace(true);
        }
    }

    pub(crate) fn is_lost(&self) -> bool {
        if self.lost.load(Ordering::Acquire) {
            return true;
        }
        // The clock, not the keep-alive task: after a SIGSTOP the process sees the lapse at
        // once, before the task has run.
        if Instant::now() >= self.deadline() {
            self.lose();
            return true;
        }
        false
    }
}

impl Session {
    async fn grant(
        etcd: &Client,
        options: &EtcdOptions,
        handle: &Handle,
    ) -> Result<Session, Error> {
        let ttl_secs = options.ttl.as_secs().max(1) as i64;
        let sent = Instant::now();
        let granted = retrying(
            "lease grant",
            options.request_timeout,
            etcd,
            |mut c| async move { c.lease_grant(ttl_secs, None).await },
        )
        .await?;
        let ttl = Duration::from_secs(granted.ttl().max(1) as u64);
        let (tx, _) = watch::channel(false);
        let state = Arc::new(LeaseState {
            base: sent,
            deadline: AtomicU64::new(ttl.as_nanos() as u64),
            lost: AtomicBool::new(false),
            tx,
        });
        let id = granted.id();
        let keeper = handle.spawn(keep_alive(etcd.clone(), id, ttl, Arc::clone(&state)));
        let watchdog = handle.spawn(watchdog(Arc::clone(&state)));
        Ok(Session {
            id,
            ttl,
            state,
            tasks: vec![keeper.abort_handle(), watchdog.abort_handle()],
        })
    }

    pub(crate) fn is_lost(&self) -> bool {
        self.state.is_lost()
    }

    pub(crate) fn subscribe(&self) -> watch::Receiver<bool> {
        let rx = self.state.tx.subscribe();
        // A loss that only the clock knows of yet is published first.
        self.state.is_lost();
        rx
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// Renews the lease every third of its TTL over one keep-alive stream (reopened when it
/// breaks), moving the deadline on with each answer; ends when the server says the lease is
/// gone or the deadline passed.
async fn keep_alive(etcd: Client, id: i64, ttl: Duration, state: Arc<LeaseState>) {
    let period = ttl / 3;
    let mut lease = etcd.lease_client();
    'reopen: while !state.is_lost() {
        let sent = Instant::now();
        let opened = tokio::time::timeout(period, lease.keep_alive(id)).await;
        let (mut keeper, mut stream) = match opened {
            Ok(Ok(pair)) => pair,
            Ok(Err(etcd_client::Error::LeaseKeepAliveError(_))) => {
                // "lease not found": the server dropped it.
                state.lose();
                return;
            }
            _ => {
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        // Opening sent one request and read its answer, which the TTL counts from.
        state.extend(sent + ttl);
        loop {
            tokio::time::sleep(period).await;
            let sent = Instant::now();
            if keeper.keep_alive().await.is_err() {
                continue 'reopen;
            }
            match tokio::time::timeout(period, stream.message()).await {
                Ok(Ok(Some(answer))) if answer.ttl() > 0 => {
                    state.extend(sent + Duration::from_secs(answer.ttl() as u64));
                }
                Ok(Ok(Some(_))) => {
                    state.lose();
                    return;
                }
                _ => continue 'reopen,
            }
            if state.is_lost() {
                return;
            }
        }
    }
}

/// Declares the lease lost the moment its deadline passes without a renewal, so that
/// subscribers hear of it at once.
async fn watchdog(state: Arc<LeaseState>) {
    loop {
        let deadline = state.deadline();
        tokio::time::sleep_until(deadline.into()).await;
        if state.is_lost() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn servers_older_than_3_4_are_refused_by_version() {
        assert!(check_version("3.4.23").is_ok());
        assert!(check_version("3.5.0").is_ok());
        assert!(check_version("4.0.0").is_ok());
        for old in ["3.3.27", "3.2.0", "2.3.8", "garbage", ""] {
            match check_version(old) {
                Err(Error::ServerTooOld { found, required }) => {
                    assert_eq!((found.as_str(), required), (old, OLDEST_SERVER));
                }
                other => panic!("{old}: {other:?}"),
            }
        }
    }

    #[test]
    fn options_check_their_settings() {
        assert!(EtcdOptions::parse("a:1").check().is_ok());
        assert!(matches!(
            EtcdOptions::parse(" , ").check(),
            Err(Error::InvalidConfig(_))
        ));
        assert!(matches!(
            EtcdOptions::parse("a:1")
                .ttl(Duration::from_millis(999))
                .check(),
            Err(Error::InvalidConfig(_))
        ));
        assert!(matches!(
            EtcdOptions::parse("a:1").prefix("a\0b").check(),
            Err(Error::InvalidConfig(_))
        ));
    }
}
