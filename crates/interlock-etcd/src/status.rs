//! Who holds a lock, who waits, and which locks exist: read from the keys alone.

use std::time::Duration;

use etcd_client::{GetOptions, SortOrder, SortTarget};

use crate::lock::validate_name;
use crate::record::{self, OwnerRecord};
use crate::{Error, EtcdClient};

/// A lock's state on the cluster, as [`status`] reads it.
///
/// ```no_run
/// # let client = interlock_etcd::EtcdClient::connect(interlock_etcd::EtcdOptions::parse("127.0.0.1:2379"))?;
/// let status = interlock_etcd::status(&client, "deploy")?;
/// match (&status.holder, status.last) {
///     (Some(holder), _) => println!("held, token {}", holder.token),
///     (None, Some((token, false))) => println!("free; the hold {token} ended with its lease"),
///     (None, _) => println!("free"),
/// }
/// # Ok::<(), interlock_etcd::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct EtcdStatus {
    /// The lock's name.
    pub name: String,
    /// The current hold, if any.
    pub holder: Option<EtcdHolder>,
    /// Clients queued behind the holder.
    pub waiters: usize,
    /// The last hold's token and whether it ended in a release (`Some(true)`), is still on or
    /// ended by its lease lapsing (`Some(false)`), or the lock was never taken (`None`).
    pub last: Option<(u64, bool)>,
}

/// Who holds an etcd lock (see [`EtcdStatus`] for an example).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct EtcdHolder {
    /// The hold's fencing token.
    pub token: u64,
    /// The holder's lease.
    pub lease: i64,
    /// The holding process's pid (on its host).
    pub pid: Option<u32>,
    /// The holder's host name.
    pub host: Option<String>,
    /// How long it has held the lock, if it recorded when it took it (by the wall clocks of
    /// two machines: approximate).
    pub held_for: Option<Duration>,
}

/// The state of the lock `name` under `client`'s prefix: one read (a txn of two ranges).
///
/// # Errors
///
/// [`Error::InvalidName`]; [`Error::Unavailable`] and others when etcd fails.
///
/// ```no_run
/// use interlock_etcd::{EtcdClient, EtcdOptions};
///
/// let client = EtcdClient::connect(EtcdOptions::parse("127.0.0.1:2379"))?;
/// let status = interlock_etcd::status(&client, "deploy")?;
/// if let Some(holder) = &status.holder {
///     println!("held by pid {:?} on {:?}, token {}", holder.pid, holder.host, holder.token);
/// }
/// # Ok::<(), interlock_etcd::Error>(())
/// ```
pub fn status(client: &EtcdClient, name: &str) -> Result<EtcdStatus, Error> {
    client.block_on(status_async(client, name))
}

/// [`status`], async.
///
/// # Errors
///
/// As [`status`].
pub async fn status_async(client: &EtcdClient, name: &str) -> Result<EtcdStatus, Error> {
    validate_name(name)?;
    let prefix = format!("{}{name}/", client.options().get_prefix());
    let queue = client
        .get(
            "status",
            record::waiters(&prefix).as_bytes(),
            Some(
                GetOptions::new()
                    .with_prefix()
                    .with_sort(SortTarget::Create, SortOrder::Ascend),
            ),
        )
        .await?;
    let owner = client
        .get("status", &record::owner_key(&prefix), None)
        .await?;
    let record = owner
        .kvs()
        .first()
        .and_then(|kv| OwnerRecord::parse(kv.value(), kv.mod_revision()));
    let holder = queue.kvs().first().map(|first| {
        let token = first.create_revision() as u64;
        let (pid, host) = record::parse_who(first.value());
        let held_for = record
            .as_ref()
            .filter(|r| r.token == token && !r.released)
            .and_then(|r| {
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .ok()?
                    .as_millis() as u64;
                Some(Duration::from_millis(now.saturating_sub(r.at_ms)))
            });
        EtcdHolder {
            token,
            lease: first.lease(),
            pid,
            host,
            held_for,
        }
    });
    Ok(EtcdStatus {
        name: name.to_owned(),
        waiters: queue.kvs().len().saturating_sub(1),
        holder,
        last: record.map(|r| (r.token, r.released)),
    })
}

/// The names of the locks under `client`'s prefix that were ever taken (each leaves an owner
/// record) or are queued for now, sorted.
///
/// # Errors
///
/// [`Error::Unavailable`] and others when etcd fails.
///
/// ```no_run
/// use interlock_etcd::{EtcdClient, EtcdOptions};
///
/// let client = EtcdClient::connect(EtcdOptions::parse("127.0.0.1:2379"))?;
/// for name in interlock_etcd::list(&client)? {
///     let status = interlock_etcd::status(&client, &name)?;
///     println!("{name}: {} waiting", status.waiters);
/// }
/// # Ok::<(), interlock_etcd::Error>(())
/// ```
pub fn list(client: &EtcdClient) -> Result<Vec<String>, Error> {
    client.block_on(list_async(client))
}

/// [`list`], async.
///
/// # Errors
///
/// As [`list`].
pub async fn list_async(client: &EtcdClient) -> Result<Vec<String>, Error> {
    let prefix = client.options().get_prefix().to_owned();
    let keys = client
        .get(
            "list",
            prefix.as_bytes(),
            Some(GetOptions::new().with_prefix().with_keys_only()),
        )
        .await?;
    let mut names: Vec<String> = keys
        .kvs()
        .iter()
        .filter_map(|kv| {
            let rest = kv.key().strip_prefix(prefix.as_bytes())?;
            let rest = std::str::from_utf8(rest).ok()?;
            let (name, tail) = rest.split_once('/')?;
            (tail == "o" || tail.starts_with("w/")).then(|| name.to_owned())
        })
        .filter(|name| validate_name(name).is_ok())
        .collect();
    names.sort();
    names.dedup();
    Ok(names)
}
