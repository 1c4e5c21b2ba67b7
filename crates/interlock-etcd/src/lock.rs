//! `EtcdLock` and its guard: the lock algorithm of etcd's `concurrency` package, client-side.
//!
//! Keys, under the client's prefix `P` (default `interlock/`) and the lock's name `N`:
//!
//! - `P N /w/ LEASE` (LEASE in 16 hex digits): one per waiting or holding client, attached to
//!   the client's lease, value = who (`pid=… host=…`). Its create revision is its place in
//!   the queue and, once it holds, the fencing token. One key per client and name: the
//!   client's own acquisitions of a name are serialised locally first.
//! - `P N /o`: the owner record, no lease (it outlives holders): `held token=T …` written by
//!   the holder when it takes the lock (without `token=` when written in the txn that created
//!   the key: the record's `mod_revision` is then the token), `released token=T …` by its
//!   release. A new holder that finds `held` with another token knows its predecessor never
//!   released: its key went with its lease, i.e. it was killed, paused or cut off past its
//!   TTL (owner death).
//!
//! Acquire: (1) one txn: if no key is queued at all (the queue's prefix compares as version
//! 0), it creates the key and takes over the owner record at once — the uncontended lock is
//! this one request, its token the txn's revision; else it creates the key if absent
//! (`create_revision == 0`, in a nested txn), or reads it (a leftover of this lease, whose
//! place is kept), and reads the head of the queue; (2) while a key with a lower create
//! revision exists, watch the nearest one until it is deleted (a watch from the present, then
//! one read of the key: not polling, and no watch from a past revision, which etcd 3.4 serves
//! late); (3) a txn guarded by the own key's create revision reads the owner record and
//! writes `held`: if the key is gone (the lease lapsed while waiting) that txn fails and the
//! caller gets [`Error::LeaseLost`], never the lock. Release: a txn guarded by the key's create
//! revision deletes it and writes `released`; a stale guard's release changes nothing.
//!
//! Every request is retried while the cluster does not answer, within the request timeout
//! (etcd drops a proposal in flight when its leader dies); each is safe to repeat: a retried
//! create finds its key, a retried confirm finds its own record (and may then miss a death
//! report), a retried release finds its own `released` record. An acquisition that ends
//! without a guard withdraws its key, recording a release if its take-over had been applied.

use std::sync::Arc;
use std::time::{Duration, Instant};

use etcd_client::{
    Compare, CompareOp, GetOptions, KeyValue, PutOptions, SortOrder, SortTarget, Txn, TxnOp,
    TxnOpResponse, WatchFilterType, WatchOptions,
};
use tokio::sync::{watch, OwnedMutexGuard};

use crate::client::{EtcdClient, Local, Session};
use crate::record::{self, OwnerRecord};
use crate::Error;

/// A named lock over etcd: the same guard contract as [`interlock::Lock`] — `lock`,
/// `try_lock`, `lock_timeout`, a fencing token, "the previous owner died" — across machines.
///
/// Each method has a blocking form (for a client made with [`EtcdClient::connect`]) and an
/// async one (`…_async`, cancel-safe: a dropped future withdraws its key). Within one client,
/// acquisitions of one name are serialised locally before they queue in etcd (the queue key
/// is per lease), so threads and tasks of one process exclude each other too.
///
/// # Owner death
///
/// A holder whose lease lapses (killed, paused or cut off for longer than the TTL) loses the
/// lock to the next waiter, which is told: [`EtcdGuard::previous_owner_died`]. The old holder
/// learns it from [`EtcdGuard::lease_lost`] — but only when it asks, or through
/// [`EtcdGuard::lease_lost_signal`]: code that writes elsewhere must fence its writes with
/// [`EtcdGuard::token`] (see the `fenced_store` example), since a paused process cannot know
/// it was paused until it runs again.
///
/// ```no_run
/// use std::time::Duration;
/// use interlock_etcd::{EtcdClient, EtcdLock, EtcdOptions};
///
/// let client = EtcdClient::connect(EtcdOptions::parse("127.0.0.1:2379"))?;
/// let lock = EtcdLock::new(&client, "deploy")?;
/// let guard = lock.lock_timeout(Duration::from_secs(30))?;
/// if guard.previous_owner_died() {
///     // check what the last deploy left
/// }
/// // ... write, carrying guard.token() to the store ...
/// guard.unlock()?;
/// # Ok::<(), interlock_etcd::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct EtcdLock {
    client: EtcdClient,
    name: String,
    local: Arc<Local>,
}

/// How long an acquisition may wait.
#[derive(Debug, Clone, Copy)]
enum Wait {
    /// Not at all: `try_lock`.
    No,
    Forever,
    Until(Instant),
}

impl EtcdLock {
    /// The lock `name` of this client's prefix (nothing is written until it is taken).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidName`]: the local crate's rules (`[A-Za-z0-9._-]`, at most 200 bytes,
    /// no leading dot), so that a name means the same on both backends.
    pub fn new(client: &EtcdClient, name: &str) -> Result<EtcdLock, Error> {
        validate_name(name)?;
        Ok(EtcdLock {
            client: client.clone(),
            name: name.to_owned(),
            local: client.local(name),
        })
    }

    /// The lock's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The client it belongs to.
    pub fn client(&self) -> &EtcdClient {
        &self.client
    }

    /// Waits for the lock, without limit.
    ///
    /// # Errors
    ///
    /// [`Error::WouldDeadlock`] if this thread holds it already; [`Error::LeaseLost`] if the
    /// client's lease lapsed while waiting; [`Error::Unavailable`] and others when etcd fails.
    ///
    /// # Panics
    ///
    /// Inside an async context (use [`lock_async`](Self::lock_async)).
    #[track_caller]
    pub fn lock(&self) -> Result<EtcdGuard, Error> {
        self.blocking(Wait::Forever).map(|g| g.expect("waited"))
    }

    /// Takes the lock if nobody holds or waits for it, else `None` at once.
    ///
    /// # Errors
    ///
    /// As [`lock`](Self::lock).
    ///
    /// # Panics
    ///
    /// Inside an async context.
    #[track_caller]
    pub fn try_lock(&self) -> Result<Option<EtcdGuard>, Error> {
        self.blocking(Wait::No)
    }

    /// Waits at most `timeout`.
    ///
    /// # Errors
    ///
    /// [`Error::Timeout`] (naming the holder's token) when it runs out; else as
    /// [`lock`](Self::lock).
    ///
    /// # Panics
    ///
    /// Inside an async context.
    #[track_caller]
    pub fn lock_timeout(&self, timeout: Duration) -> Result<EtcdGuard, Error> {
        self.blocking(Wait::Until(Instant::now() + timeout))
            .map(|g| g.expect("waited"))
    }

    /// Waits at most `timeout`; `None` when it runs out.
    ///
    /// # Errors
    ///
    /// As [`lock`](Self::lock).
    ///
    /// # Panics
    ///
    /// Inside an async context.
    pub fn try_lock_for(&self, timeout: Duration) -> Result<Option<EtcdGuard>, Error> {
        match self.lock_timeout(timeout) {
            Ok(guard) => Ok(Some(guard)),
            Err(Error::Timeout { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// [`lock`](Self::lock), async. Cancel-safe: dropping the future withdraws this client's
    /// key from the queue.
    ///
    /// ```no_run
    /// # async fn f() -> Result<(), interlock_etcd::Error> {
    /// use interlock_etcd::{EtcdClient, EtcdLock, EtcdOptions};
    ///
    /// let client = EtcdClient::connect_async(EtcdOptions::parse("127.0.0.1:2379")).await?;
    /// let lock = EtcdLock::new(&client, "jobs")?;
    /// tokio::select! {
    ///     guard = lock.lock_async() => { let guard = guard?; /* ... */ guard.unlock_async().await?; }
    ///     _ = tokio::time::sleep(std::time::Duration::from_secs(5)) => {} // the key is withdrawn
    /// }
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// As [`lock`](Self::lock), without `WouldDeadlock` (tasks have no thread to tell).
    pub async fn lock_async(&self) -> Result<EtcdGuard, Error> {
        self.acquire(Wait::Forever)
            .await
            .map(|g| g.expect("waited"))
    }

    /// [`try_lock`](Self::try_lock), async.
    ///
    /// # Errors
    ///
    /// As [`lock_async`](Self::lock_async).
    pub async fn try_lock_async(&self) -> Result<Option<EtcdGuard>, Error> {
        self.acquire(Wait::No).await
    }

    /// [`lock_timeout`](Self::lock_timeout), async.
    ///
    /// # Errors
    ///
    /// As [`lock_timeout`](Self::lock_timeout).
    pub async fn lock_timeout_async(&self, timeout: Duration) -> Result<EtcdGuard, Error> {
        self.acquire(Wait::Until(Instant::now() + timeout))
            .await
            .map(|g| g.expect("waited"))
    }

    fn blocking(&self, wait: Wait) -> Result<Option<EtcdGuard>, Error> {
        let me = std::thread::current().id();
        if *self.local.thread.lock().unwrap_or_else(|e| e.into_inner()) == Some(me) {
            return Err(Error::WouldDeadlock {
                name: self.name.clone(),
            });
        }
        let guard = self.client.block_on(self.acquire(wait))?;
        if let Some(guard) = &guard {
            *self.local.thread.lock().unwrap_or_else(|e| e.into_inner()) = Some(me);
            guard.held_by_thread(true);
        }
        Ok(guard)
    }

    fn key_prefix(&self) -> String {
        format!("{}{}/", self.client.options().get_prefix(), self.name)
    }

    async fn acquire(&self, wait: Wait) -> Result<Option<EtcdGuard>, Error> {
        let start = Instant::now();
        // This client's turn for the name first (the queue key is per lease).
        let local = match wait {
            Wait::No => match Arc::clone(&self.local.mutex).try_lock_owned() {
                Ok(local) => local,
                Err(_) => return Ok(None),
            },
            Wait::Forever => Arc::clone(&self.local.mutex).lock_owned().await,
            Wait::Until(deadline) => {
                match tokio::time::timeout_at(
                    deadline.into(),
                    Arc::clone(&self.local.mutex).lock_owned(),
                )
                .await
                {
                    Ok(local) => local,
                    Err(_) => return Err(self.timeout(start, None)),
                }
            }
        };
        let session = match wait {
            Wait::Until(deadline) => {
                match tokio::time::timeout_at(deadline.into(), self.client.session()).await {
                    Ok(session) => session?,
                    Err(_) => return Err(self.timeout(start, None)),
                }
            }
            _ => self.client.session().await?,
        };
        let mut entry = Entry {
            client: self.client.clone(),
            key: record::waiter_key(&self.key_prefix(), session.id),
            owner_key: record::owner_key(&self.key_prefix()),
            session,
            rev: None,
            local: Some(local),
        };
        let result = match wait {
            Wait::Until(deadline) => {
                match tokio::time::timeout_at(deadline.into(), self.queue(&mut entry, false)).await
                {
                    Ok(result) => result,
                    Err(_) => {
                        let holder = self.first_token(&entry).await;
                        Err(self.timeout(start, holder))
                    }
                }
            }
            Wait::No => self.queue(&mut entry, true).await,
            Wait::Forever => self.queue(&mut entry, false).await,
        };
        match result {
            Ok(Some(previous)) => Ok(Some(entry.into_guard(self, previous))),
            Ok(None) => {
                entry.withdraw().await;
                Ok(None)
            }
            Err(e) => {
                entry.withdraw().await;
                Err(e)
            }
        }
    }

    fn timeout(&self, start: Instant, holder: Option<u64>) -> Error {
        Error::Timeout {
            name: self.name.clone(),
            waited: start.elapsed(),
            holder,
        }
    }

    /// The token of the first key in the queue (the holder), for a timeout's message.
    async fn first_token(&self, entry: &Entry) -> Option<u64> {
        let mut kv = self.client.etcd().kv_client();
        let get = kv.get(
            record::waiters(&self.key_prefix()),
            Some(
                GetOptions::new()
                    .with_prefix()
                    .with_sort(SortTarget::Create, SortOrder::Ascend)
                    .with_limit(1)
                    .with_keys_only(),
            ),
        );
        let answer = tokio::time::timeout(Duration::from_millis(500), get).await;
        let first = answer.ok()?.ok()?.kvs().first()?.create_revision();
        (Some(first) != entry.rev).then_some(first as u64)
    }

    /// Steps (1)–(3). `Ok(None)`: `try_only` and someone is ahead. `Ok(Some(previous))`: held,
    /// with the owner record found.
    async fn queue(
        &self,
        entry: &mut Entry,
        try_only: bool,
    ) -> Result<Option<Option<OwnerRecord>>, Error> {
        let prefix = self.key_prefix();
        let waiters = record::waiters(&prefix);
        let lease = entry.session.id;

        // (1) Enqueue, and read the head of the queue in the same txn (its operations apply
        // in order: the read sees the key just created): if the head is this key, nobody is
        // ahead and step (2) costs no request.
        let head = TxnOp::get(
            waiters.clone(),
            Some(
                GetOptions::new()
                    .with_prefix()
                    .with_sort(SortTarget::Create, SortOrder::Ascend)
                    .with_limit(1)
                    .with_keys_only(),
            ),
        );
        let owner = entry.owner_key.clone();
        let put_key = TxnOp::put(
            entry.key.clone(),
            record::who(),
            Some(PutOptions::new().with_lease(lease)),
        );
        // Nobody queued (no key under the queue's prefix: an empty range compares as version
        // 0): create the key and take over the owner record at once — one request, the token
        // being this txn's revision (the record leaves it out and is read back by its
        // `mod_revision`). Else enqueue: create the key if absent (a nested txn), else read it.
        let enqueue = Txn::new()
            .when([Compare::create_revision(
                entry.key.clone(),
                CompareOp::Equal,
                0,
            )])
            .and_then([put_key.clone()])
            .or_else([TxnOp::get(entry.key.clone(), None)]);
        let create = Txn::new()
            .when([Compare::version(waiters.clone(), CompareOp::Equal, 0).with_prefix()])
            .and_then([
                put_key,
                TxnOp::get(owner.clone(), None),
                TxnOp::put(owner.clone(), OwnerRecord::held(0, lease).encode(), None),
            ])
            .or_else([TxnOp::txn(enqueue), head]);
        let answer = self.client.txn("enqueue", &create).await?;
        let ops = answer.op_responses();
        let revision = answer.header().map(|h| h.revision()).unwrap_or_default();
        if answer.succeeded() {
            entry.rev = Some(revision);
            let previous = match ops.get(1) {
                Some(TxnOpResponse::Get(get)) => get
                    .kvs()
                    .first()
                    .and_then(|kv| OwnerRecord::parse(kv.value(), kv.mod_revision())),
                _ => None,
            };
            return Ok(Some(previous));
        }
        let rev = match ops.first() {
            Some(TxnOpResponse::Txn(inner)) if inner.succeeded() => revision,
            // A key of this lease left by a withdrawal that failed: ours, keep its place.
            Some(TxnOpResponse::Txn(inner)) => match inner.op_responses().first() {
                Some(TxnOpResponse::Get(get)) => get
                    .kvs()
                    .first()
                    .map(KeyValue::create_revision)
                    .unwrap_or_default(),
                _ => 0,
            },
            _ => 0,
        };
        if rev == 0 {
            return Err(Error::LeaseLost { lease });
        }
        entry.rev = Some(rev);
        let first = match ops.get(1) {
            Some(TxnOpResponse::Get(get)) => get.kvs().first().map(KeyValue::create_revision),
            _ => None,
        };

        // (2) Wait for each key ahead to go, nearest first.
        while first != Some(rev) {
            let ahead = self
                .client
                .get(
                    "queue read",
                    waiters.as_bytes(),
                    Some(
                        GetOptions::new()
                            .with_prefix()
                            .with_max_create_revision(rev - 1)
                            .with_sort(SortTarget::Create, SortOrder::Descend)
                            .with_limit(1)
                            .with_keys_only(),
                    ),
                )
                .await?;
            let Some(nearest) = ahead.kvs().first() else {
                break;
            };
            if try_only {
                return Ok(None);
            }
            if entry.session.is_lost() {
                return Err(Error::LeaseLost { lease });
            }
            self.wait_deleted(
                nearest.key().to_vec(),
                nearest.create_revision(),
                &entry.session,
            )
            .await?;
        }

        // (3) Confirm the own key still exists, read the owner record and take it over, in
        // one txn (its operations apply in order: the read sees the predecessor's record).
        let held = OwnerRecord::held(rev as u64, lease);
        let confirm = Txn::new()
            .when([Compare::create_revision(
                entry.key.clone(),
                CompareOp::Equal,
                rev,
            )])
            .and_then([
                TxnOp::get(owner.clone(), None),
                TxnOp::put(owner, held.encode(), None),
            ]);
        let answer = self.client.txn("confirm", &confirm).await?;
        if !answer.succeeded() {
            return Err(Error::LeaseLost { lease });
        }
        let previous = match answer.op_responses().first() {
            Some(TxnOpResponse::Get(get)) => get
                .kvs()
                .first()
                .and_then(|kv| OwnerRecord::parse(kv.value(), kv.mod_revision())),
            _ => None,
        };
        Ok(Some(previous))
    }

    /// Waits until `key` (created at revision `created`) is deleted, or the watch breaks (the
    /// caller looks again). Ends with [`Error::LeaseLost`] if this client's lease lapses
    /// meanwhile.
    ///
    /// The watch starts at the present, and the key is read once it is in place: a deletion
    /// before the watch shows in that read, one after it in the watch. (A watch from a past
    /// revision — `concurrency`'s way — is an "unsynced" watcher in etcd 3.4, caught up by a
    /// loop that runs every 100 ms: under contention, when other writes land between the read
    /// and the watch, every hand-over waited for it.)
    async fn wait_deleted(
        &self,
        key: Vec<u8>,
        created: i64,
        session: &Session,
    ) -> Result<(), Error> {
        let lost_error = || Error::LeaseLost { lease: session.id };
        let mut lost = session.subscribe();
        let options = WatchOptions::new().with_filters([WatchFilterType::NoPut]);
        let stream = tokio::select! {
            s = self.client.request("watch", |mut c| {
                let (key, options) = (key.clone(), options.clone());
                async move { c.watch(key, Some(options)).await }
            }) => s?,
            _ = lost.wait_for(|l| *l) => return Err(lost_error()),
        };
        let (_sender, mut events) = stream.split();
        let mut in_place = false;
        loop {
            tokio::select! {
                message = events.message() => match message {
                    Ok(Some(answer)) => {
                        if answer.canceled() || !answer.events().is_empty() {
                            // Deleted (the only events asked for), or the watch ended
                            // (compaction): look again either way.
                            return Ok(());
                        }
                        if answer.created() && !in_place {
                            in_place = true;
                            let now = self.client.get("queue read", &key, None).await?;
                            let same = now.kvs().first().map(KeyValue::create_revision);
                            if same != Some(created) {
                                return Ok(());
                            }
                        }
                    }
                    // The stream broke (a member went away): look again, after a pause
                    // that keeps a dead cluster from being hammered.
                    Ok(None) | Err(_) => {
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        return Ok(());
                    }
                },
                _ = lost.wait_for(|l| *l) => return Err(lost_error()),
            }
        }
    }
}

/// A queue entry being made: withdrawn when dropped before it became a guard (a cancelled
/// future, an error, a timeout).
struct Entry {
    client: EtcdClient,
    session: Arc<Session>,
    key: Vec<u8>,
    owner_key: Vec<u8>,
    /// The key's create revision, once known.
    rev: Option<i64>,
    /// This client's turn for the name, held until the key is gone.
    local: Option<OwnedMutexGuard<()>>,
}

impl Entry {
    fn into_guard(mut self, lock: &EtcdLock, previous: Option<OwnerRecord>) -> EtcdGuard {
        let rev = self.rev.expect("queued");
        let local = self.local.take().expect("not withdrawn");
        let died = previous.as_ref().is_some_and(|p| p.died_before(rev as u64));
        EtcdGuard {
            hold: Some(Hold {
                client: self.client.clone(),
                session: Arc::clone(&self.session),
                key: std::mem::take(&mut self.key),
                owner_key: std::mem::take(&mut self.owner_key),
                rev,
                _local: local,
                local_state: Arc::clone(&lock.local),
                thread_bound: std::sync::atomic::AtomicBool::new(false),
            }),
            name: lock.name.clone(),
            previous_owner_died: died,
            previous: previous.map(|p| p.token),
        }
    }

    /// Deletes the key now (guarded by its create revision when known); if that fails, keeps
    /// trying in the background (see [`withdraw_until_gone`]).
    async fn withdraw(&mut self) {
        let Some(local) = self.local.take() else {
            return;
        };
        let withdrawal = self.withdrawal();
        if !withdrawal.run(FIRST_WITHDRAWAL).await {
            self.client
                .inner
                .handle
                .spawn(withdraw_until_gone(withdrawal, local));
        }
    }

    fn withdrawal(&mut self) -> Withdrawal {
        Withdrawal {
            client: self.client.clone(),
            key: std::mem::take(&mut self.key),
            owner_key: std::mem::take(&mut self.owner_key),
            rev: self.rev,
            session: Arc::clone(&self.session),
        }
    }
}

/// How long the first attempt to withdraw a key may take before the caller gets its answer
/// (a timeout, an error) and the attempts go on in the background.
const FIRST_WITHDRAWAL: Duration = Duration::from_secs(1);

impl Drop for Entry {
    fn drop(&mut self) {
        // A cancelled acquisition: withdraw in the background, keeping this client's turn
        // for the name until the key is gone (so that the next acquisition's create does not
        // meet it).
        if let Some(local) = self.local.take() {
            let withdrawal = self.withdrawal();
            self.client
                .inner
                .handle
                .spawn(withdraw_until_gone(withdrawal, local));
        }
    }
}

/// Retries a withdrawal until the key is gone or its lease is: a key left in the queue under a
/// live lease would reach the head and hold the lock for nobody. This client's turn for the
/// name (`local`) is held until then.
async fn withdraw_until_gone(withdrawal: Withdrawal, local: OwnedMutexGuard<()>) {
    let timeout = withdrawal.client.options().request_timeout_value();
    while !withdrawal.session.is_lost() && !withdrawal.run(timeout).await {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    drop(local);
}

/// A queue key to delete, for an acquisition that ends without a guard.
struct Withdrawal {
    client: EtcdClient,
    key: Vec<u8>,
    owner_key: Vec<u8>,
    rev: Option<i64>,
    session: Arc<Session>,
}

impl Withdrawal {
    /// Deletes the key (if its create revision is still the one known); false if etcd did not
    /// answer within `timeout`.
    ///
    /// An acquisition cancelled after its confirm was applied, but before the answer came,
    /// held the lock for an instant and left `held` in the owner record: the same txn then
    /// records a release, so that the next holder is not told of a death that was none. The
    /// record is this hold's if it was written with the key (its `mod_revision` is the key's
    /// create revision) or names the key's revision as its token (`held token=REV `, matched
    /// as a range of values).
    async fn run(&self, timeout: Duration) -> bool {
        let key = self.key.clone();
        let txn = match self.rev {
            Some(rev) => {
                let released = OwnerRecord::released(rev as u64, self.session.id).encode();
                let put = || TxnOp::put(self.owner_key.clone(), released.clone(), None);
                let by_text = Txn::new()
                    .when([
                        Compare::value(
                            self.owner_key.clone(),
                            CompareOp::Greater,
                            format!("held token={rev} "),
                        ),
                        Compare::value(
                            self.owner_key.clone(),
                            CompareOp::Less,
                            format!("held token={rev}!"),
                        ),
                    ])
                    .and_then([put()]);
                let own_record = Txn::new()
                    .when([Compare::mod_revision(
                        self.owner_key.clone(),
                        CompareOp::Equal,
                        rev,
                    )])
                    .and_then([put()])
                    .or_else([TxnOp::txn(by_text)]);
                Txn::new()
                    .when([Compare::create_revision(key.clone(), CompareOp::Equal, rev)])
                    .and_then([TxnOp::delete(key, None), TxnOp::txn(own_record)])
            }
            // Unknown revision: the create may or may not have happened; the key is this
            // lease's and this client's turn for the name is held, so nobody else uses it.
            None => Txn::new().and_then([TxnOp::delete(key, None)]),
        };
        let mut kv = self.client.etcd().kv_client();
        matches!(tokio::time::timeout(timeout, kv.txn(txn)).await, Ok(Ok(_)))
    }
}

/// An acquisition of an [`EtcdLock`]: released (its key deleted, a clean release recorded)
/// when dropped or by [`unlock`](Self::unlock).
///
/// Unlike the local guards it is `Send`: the hold belongs to the client's lease, not to a
/// thread.
///
/// ```no_run
/// # let client = interlock_etcd::EtcdClient::connect(interlock_etcd::EtcdOptions::parse("127.0.0.1:2379"))?;
/// let guard = interlock_etcd::EtcdLock::new(&client, "report")?.lock()?;
/// for chunk in ["a", "b", "c"] {
///     if guard.lease_lost() {
///         // Another client may hold the lock now: stop, the store would refuse us anyway.
///         break;
///     }
///     // store.write(guard.token(), chunk)?;
/// #   let _ = chunk;
/// }
/// guard.unlock()?; // Err(LeaseLost) if the hold had already ended
/// # Ok::<(), interlock_etcd::Error>(())
/// ```
#[must_use = "if unused the lock is released at once"]
#[clippy::has_significant_drop]
pub struct EtcdGuard {
    hold: Option<Hold>,
    name: String,
    previous_owner_died: bool,
    previous: Option<u64>,
}

struct Hold {
    client: EtcdClient,
    session: Arc<Session>,
    key: Vec<u8>,
    owner_key: Vec<u8>,
    rev: i64,
    _local: OwnedMutexGuard<()>,
    local_state: Arc<Local>,
    thread_bound: std::sync::atomic::AtomicBool,
}

impl EtcdGuard {
    /// The fencing token of this hold: its key's create revision, an etcd revision, so
    /// strictly greater than every earlier hold's of any lock on the cluster. Hand it to
    /// whatever the lock protects, and have that refuse older tokens.
    pub fn token(&self) -> u64 {
        self.hold().rev as u64
    }

    /// Whether the previous holder never released: its lease lapsed while it held the lock
    /// (killed, paused, cut off). What it protected may be half-done.
    pub fn previous_owner_died(&self) -> bool {
        self.previous_owner_died
    }

    /// The token of the hold before this one, if the lock was ever held before.
    pub fn previous_token(&self) -> Option<u64> {
        self.previous
    }

    /// The lock's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The id of the lease the hold lives under.
    pub fn lease_id(&self) -> i64 {
        self.hold().session.id
    }

    /// Whether the lease this hold lives under is lost: the server expired it, or the client
    /// has not had a renewal acknowledged for a whole TTL (counted from when it was sent, so
    /// the client says "lost" no later than the server drops the key). Once true, another
    /// client may hold the lock; writes fenced by [`token`](Self::token) are refused by a store
    /// that saw a newer one.
    pub fn lease_lost(&self) -> bool {
        self.hold().session.is_lost()
    }

    /// A channel that turns `true` the moment the lease is lost (for `select!`, or
    /// `signal.wait_for(|lost| *lost).await`).
    ///
    /// ```no_run
    /// # async fn f(guard: interlock_etcd::EtcdGuard) {
    /// let mut lost = guard.lease_lost_signal();
    /// tokio::select! {
    ///     _ = lost.wait_for(|lost| *lost) => eprintln!("lease lost: stop writing"),
    ///     _ = tokio::time::sleep(std::time::Duration::from_secs(60)) => {}
    /// }
    /// # }
    /// ```
    pub fn lease_lost_signal(&self) -> watch::Receiver<bool> {
        self.hold().session.subscribe()
    }

    /// Waits until the lease is lost.
    pub async fn lease_lost_wait(&self) {
        let mut rx = self.lease_lost_signal();
        let _ = rx.wait_for(|lost| *lost).await;
    }

    /// The lease's TTL as granted.
    pub fn ttl(&self) -> Duration {
        self.hold().session.ttl
    }

    /// Releases the lock, saying whether the release was clean.
    ///
    /// # Errors
    ///
    /// [`Error::LeaseLost`] when the hold had already ended on the server (its lease lapsed:
    /// the next holder is told its predecessor died); others when etcd fails (the key then
    /// goes with the lease).
    ///
    /// # Panics
    ///
    /// Inside an async context (use [`unlock_async`](Self::unlock_async)).
    pub fn unlock(mut self) -> Result<(), Error> {
        let hold = self.hold.take().expect("held");
        let client = hold.client.clone();
        client.block_on(hold.release())
    }

    /// [`unlock`](Self::unlock), async.
    ///
    /// # Errors
    ///
    /// As [`unlock`](Self::unlock).
    pub async fn unlock_async(mut self) -> Result<(), Error> {
        let hold = self.hold.take().expect("held");
        hold.release().await
    }

    fn hold(&self) -> &Hold {
        self.hold.as_ref().expect("held until dropped")
    }

    pub(crate) fn held_by_thread(&self, bound: bool) {
        self.hold()
            .thread_bound
            .store(bound, std::sync::atomic::Ordering::Relaxed);
    }
}

impl Hold {
    async fn release(self) -> Result<(), Error> {
        if self.thread_bound.load(std::sync::atomic::Ordering::Relaxed) {
            *self
                .local_state
                .thread
                .lock()
                .unwrap_or_else(|e| e.into_inner()) = None;
        }
        let released = OwnerRecord::released(self.rev as u64, self.session.id);
        let txn = Txn::new()
            .when([Compare::create_revision(
                self.key.clone(),
                CompareOp::Equal,
                self.rev,
            )])
            .and_then([
                TxnOp::delete(self.key.clone(), None),
                TxnOp::put(self.owner_key.clone(), released.encode(), None),
            ]);
        let answer = self.client.txn("release", &txn).await?;
        if answer.succeeded() || self.released_by_an_earlier_attempt().await {
            Ok(())
        } else {
            Err(Error::LeaseLost {
                lease: self.session.id,
            })
        }
        // `_local` drops here: the next acquisition of this client may begin.
    }

    /// Whether the owner record says this hold was released: a retried release whose first
    /// attempt was applied but not answered finds its key gone and its own record.
    async fn released_by_an_earlier_attempt(&self) -> bool {
        let Ok(answer) = self
            .client
            .get("release check", &self.owner_key, None)
            .await
        else {
            return false;
        };
        answer
            .kvs()
            .first()
            .and_then(|kv| OwnerRecord::parse(kv.value(), kv.mod_revision()))
            .is_some_and(|r| r.released && r.token == self.rev as u64)
    }
}

impl Drop for EtcdGuard {
    fn drop(&mut self) {
        let Some(hold) = self.hold.take() else {
            return;
        };
        let handle = hold.client.inner.handle.clone();
        if tokio::runtime::Handle::try_current().is_ok() {
            // In async code: release in the background (this client's next acquisition of the
            // name waits for it).
            handle.spawn(async move {
                let _ = hold.release().await;
            });
        } else {
            let _ = handle.block_on(hold.release());
        }
    }
}

impl std::fmt::Debug for EtcdGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut d = f.debug_struct("EtcdGuard");
        d.field("name", &self.name);
        if let Some(hold) = &self.hold {
            d.field("token", &hold.rev)
                .field("lease", &format_args!("{:#x}", hold.session.id))
                .field("lease_lost", &hold.session.is_lost());
        }
        d.field("previous_owner_died", &self.previous_owner_died)
            .finish()
    }
}

/// The local crate's name rules, as this crate's error.
pub(crate) fn validate_name(name: &str) -> Result<(), Error> {
    interlock::namespace::validate_name(name).map_err(|e| match e {
        interlock::Error::InvalidName { name, reason } => Error::InvalidName {
            name,
            reason: reason.to_owned(),
        },
        other => Error::Local(other),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::EtcdOptions;

    /// An acquisition whose last txn (the one-request path, or the confirm) was applied but
    /// whose answer never came is withdrawn: the owner record must then say "released", or the
    /// next holder would be told of a death that was none.
    #[test]
    fn a_withdrawal_after_an_applied_take_over_records_a_release() {
        let cluster = interlock_testkit::EtcdCluster::start(1);
        let options = EtcdOptions::parse(&cluster.endpoints()).ttl(Duration::from_secs(2));
        let a = EtcdClient::connect(options.clone()).unwrap();
        let b = EtcdClient::connect(options).unwrap();
        let (la, lb) = (
            EtcdLock::new(&a, "w").unwrap(),
            EtcdLock::new(&b, "w").unwrap(),
        );
        let entry = |lock: &EtcdLock, session: Arc<Session>, local| {
            let prefix = lock.key_prefix();
            Entry {
                client: lock.client.clone(),
                key: record::waiter_key(&prefix, session.id),
                owner_key: record::owner_key(&prefix),
                session,
                rev: None,
                local: Some(local),
            }
        };
        let last = |client: &EtcdClient| crate::status(client, "w").unwrap().last;
        // The one-request path: the record written with the key.
        let rev = a.block_on(async {
            let local = Arc::clone(&la.local.mutex).lock_owned().await;
            let mut taken = entry(&la, a.session().await.unwrap(), local);
            assert!(la.queue(&mut taken, false).await.unwrap().is_some());
            let rev = taken.rev.unwrap();
            taken.withdraw().await;
            rev
        });
        assert_eq!(last(&a), Some((rev as u64, true)));
        // The confirm: queued behind another client's hold.
        let held = lb.lock().unwrap();
        let rev = a.block_on(async {
            let local = Arc::clone(&la.local.mutex).lock_owned().await;
            let mut taken = entry(&la, a.session().await.unwrap(), local);
            let (got, ()) = tokio::join!(la.queue(&mut taken, false), async {
                while crate::status_async(&a, "w").await.unwrap().waiters == 0 {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                held.unlock_async().await.unwrap();
            });
            assert!(got.unwrap().is_some());
            let rev = taken.rev.unwrap();
            taken.withdraw().await;
            rev
        });
        assert_eq!(last(&a), Some((rev as u64, true)));
        let next = lb.lock().unwrap();
        assert!(!next.previous_owner_died());
    }
}
