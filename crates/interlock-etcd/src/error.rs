//! The one error type of the crate.

use std::time::Duration;

/// What went wrong talking to etcd, or with a lock over it.
///
/// Variants say what was wrong and carry the evidence, as the local crate's
/// [`interlock::Error`] does; the local backend's errors come through [`Error::Local`] (from
/// [`AnyLock`](crate::AnyLock)).
///
/// ```
/// use interlock_etcd::Error;
///
/// let err = Error::InvalidName { name: "a/b".into(), reason: "it contains '/'".into() };
/// assert!(err.to_string().contains("invalid lock name"));
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// No endpoint answered within the connect timeout (refused, unresolvable, or silent).
    #[error("cannot reach etcd at {endpoints:?} (tried for up to {:.2}s): {detail}", .timeout.as_secs_f64())]
    Unreachable {
        /// The endpoints as configured.
        endpoints: Vec<String>,
        /// How long the client tried.
        timeout: Duration,
        /// The last failure seen.
        detail: String,
    },
    /// The cluster did not answer a request in time (no quorum, no leader, a partition).
    #[error("etcd did not answer {what} within {:.2}s (is a majority of the cluster up?){}", .timeout.as_secs_f64(), detail_suffix(.detail))]
    Unavailable {
        /// The request.
        what: &'static str,
        /// The request's time limit.
        timeout: Duration,
        /// What the server or transport said, if anything.
        detail: Option<String>,
    },
    /// A timed acquisition gave up.
    #[error("timed out after {:.2}s waiting for the etcd lock {name}{}", .waited.as_secs_f64(), holder_suffix(*.holder))]
    Timeout {
        /// The lock's name.
        name: String,
        /// How long the caller waited.
        waited: Duration,
        /// The fencing token of the hold that was in the way, if one was.
        holder: Option<u64>,
    },
    /// The name is not a valid lock name (the local crate's rules: `[A-Za-z0-9._-]`, at most
    /// 200 bytes, no leading dot), or the key prefix is unusable.
    #[error("invalid lock name {name:?}: {reason}")]
    InvalidName {
        /// The name as given.
        name: String,
        /// Which rule it broke.
        reason: String,
    },
    /// The client's lease expired (or was revoked) on the server: every key it held is gone,
    /// so a hold under it is no longer exclusive. A waiter whose lease lapsed while it waited
    /// gets this too, never the lock.
    #[error("the etcd lease {lease:#x} was lost (expired or revoked): holds under it ended")]
    LeaseLost {
        /// The lease's id.
        lease: i64,
    },
    /// The server speaks an older protocol than this crate needs.
    #[error(
        "etcd server version {found} is older than {required}, the oldest this crate supports"
    )]
    ServerTooOld {
        /// The version the server reported.
        found: String,
        /// The oldest version supported.
        required: &'static str,
    },
    /// Re-locking a non-recursive lock on the thread that holds it would wait forever.
    #[error("the etcd lock {name} is already held by this thread: re-locking it would deadlock")]
    WouldDeadlock {
        /// The lock's name.
        name: String,
    },
    /// A setting is out of range (no endpoints, a TTL under a second, a prefix with '/' inside
    /// a component, ...).
    #[error("invalid etcd client setting: {0}")]
    InvalidConfig(String),
    /// Any other failure of a request, with the client's own error.
    #[error("etcd {what} failed: {source}")]
    Etcd {
        /// The request.
        what: &'static str,
        /// The client library's error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The local backend's error (through [`AnyLock`](crate::AnyLock)).
    #[error(transparent)]
    Local(#[from] interlock::Error),
}

fn holder_suffix(holder: Option<u64>) -> String {
    match holder {
        Some(token) => format!(" (held by the hold with token {token})"),
        None => String::new(),
    }
}

fn detail_suffix(detail: &Option<String>) -> String {
    match detail {
        Some(d) => format!(": {d}"),
        None => String::new(),
    }
}

impl Error {
    pub(crate) fn etcd(what: &'static str, source: etcd_client::Error) -> Error {
        if let etcd_client::Error::GRpcStatus(status) = &source {
            // Cancelled: the connection closed under the request (a client paused past its
            // HTTP/2 keep-alive finds it so when it runs again) or the server dropped it with a
            // leader change; like the others, worth another attempt (every request is safe to
            // repeat).
            if matches!(
                status.code(),
                tonic::Code::Unavailable | tonic::Code::DeadlineExceeded | tonic::Code::Cancelled
            ) {
                return Error::Unavailable {
                    what,
                    timeout: Duration::ZERO,
                    detail: Some(status.message().to_owned()),
                };
            }
            if status.message().contains("requested lease not found") {
                return Error::LeaseLost { lease: 0 };
            }
        }
        Error::Etcd {
            what,
            source: Box::new(source),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Found by the chaos run (issue 18): an etcd client SIGSTOPped for 3 s lost its lease, and
    /// the grant of the next one failed at once with "operation was canceled … connection
    /// closed" — a raw `Error::Etcd` out of `lock_timeout`, never retried.
    #[test]
    fn a_request_cancelled_under_a_closed_connection_is_retried_as_unavailable() {
        let e = Error::etcd(
            "lease grant",
            etcd_client::Error::GRpcStatus(tonic::Status::cancelled("operation was canceled")),
        );
        assert!(
            matches!(
                e,
                Error::Unavailable {
                    what: "lease grant",
                    ..
                }
            ),
            "{e}"
        );
    }
}
