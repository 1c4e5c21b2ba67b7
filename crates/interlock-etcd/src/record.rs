//! The keys of a lock and the owner record's text.

use std::time::{SystemTime, UNIX_EPOCH};

/// The prefix of a lock's queue keys.
pub(crate) fn waiters(lock_prefix: &str) -> String {
    format!("{lock_prefix}w/")
}

/// The queue key of `lease` for a lock.
pub(crate) fn waiter_key(lock_prefix: &str, lease: i64) -> Vec<u8> {
    format!("{lock_prefix}w/{lease:016x}").into_bytes()
}

/// The key of a lock's owner record.
pub(crate) fn owner_key(lock_prefix: &str) -> Vec<u8> {
    format!("{lock_prefix}o").into_bytes()
}

/// This process, as a queue key's value and in the owner record: `pid=… host=…`.
pub(crate) fn who() -> String {
    format!("pid={} host={}", std::process::id(), hostname())
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().replace(char::is_whitespace, "_"))
        .unwrap_or_else(|_| "?".into())
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// What a lock's owner record says: who took it last, and whether that hold was released.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct OwnerRecord {
    /// `held` (taken, not released yet — or never: the holder's lease lapsed) or `released`.
    pub(crate) released: bool,
    pub(crate) token: u64,
    pub(crate) lease: i64,
    pub(crate) pid: Option<u32>,
    pub(crate) host: Option<String>,
    /// Milliseconds since the epoch of the take or the release.
    pub(crate) at_ms: u64,
}

impl OwnerRecord {
    /// A hold's record. Token 0: written in the txn that created the hold's key, whose
    /// revision is the token; it is left out of the text and read back as the record's
    /// `mod_revision` (see [`parse`](Self::parse)).
    pub(crate) fn held(token: u64, lease: i64) -> OwnerRecord {
        OwnerRecord {
            released: false,
            token,
            lease,
            pid: Some(std::process::id()),
            host: Some(hostname()),
            at_ms: now_ms(),
        }
    }

    pub(crate) fn released(token: u64, lease: i64) -> OwnerRecord {
        OwnerRecord {
            released: true,
            ..OwnerRecord::held(token, lease)
        }
    }

    /// Whether a new hold with token `mine` follows a holder that never released.
    pub(crate) fn died_before(&self, mine: u64) -> bool {
        !self.released && self.token != mine
    }

    pub(crate) fn encode(&self) -> String {
        let token = if self.token == 0 {
            String::new()
        } else {
            format!(" token={}", self.token)
        };
        format!(
            "{}{token} lease={:x} pid={} host={} at_ms={}",
            if self.released { "released" } else { "held" },
            self.lease,
            self.pid.map_or("?".into(), |p| p.to_string()),
            self.host.as_deref().unwrap_or("?"),
            self.at_ms
        )
    }

    /// The record in `bytes`, last written at revision `mod_revision` (the token when the text
    /// names none).
    pub(crate) fn parse(bytes: &[u8], mod_revision: i64) -> Option<OwnerRecord> {
        let text = std::str::from_utf8(bytes).ok()?;
        let mut words = text.split_whitespace();
        let released = match words.next()? {
            "held" => false,
            "released" => true,
            _ => return None,
        };
        let mut record = OwnerRecord {
            released,
            token: mod_revision.max(0) as u64,
            lease: 0,
            pid: None,
            host: None,
            at_ms: 0,
        };
        for word in words {
            let (k, v) = word.split_once('=')?;
            match k {
                "token" => record.token = v.parse().ok()?,
                "lease" => record.lease = u64::from_str_radix(v, 16).ok()? as i64,
                "pid" => record.pid = v.parse().ok(),
                "host" => record.host = (v != "?").then(|| v.to_owned()),
                "at_ms" => record.at_ms = v.parse().ok()?,
                _ => {}
            }
        }
        (record.token != 0).then_some(record)
    }
}

/// `pid=… host=…` from a queue key's value.
pub(crate) fn parse_who(bytes: &[u8]) -> (Option<u32>, Option<String>) {
    let text = std::str::from_utf8(bytes).unwrap_or("");
    let mut pid = None;
    let mut host = None;
    for word in text.split_whitespace() {
        match word.split_once('=') {
            Some(("pid", v)) => pid = v.parse().ok(),
            Some(("host", v)) => host = Some(v.to_owned()),
            _ => {}
        }
    }
    (pid, host)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owner_records_round_trip() {
        let held = OwnerRecord::held(42, 0x1234);
        assert_eq!(
            OwnerRecord::parse(held.encode().as_bytes(), 50),
            Some(held.clone())
        );
        let released = OwnerRecord::released(42, 0x1234);
        assert_eq!(
            OwnerRecord::parse(released.encode().as_bytes(), 50),
            Some(released.clone())
        );
        assert!(held.died_before(43));
        assert!(
            !held.died_before(42),
            "a retried confirm finds its own record"
        );
        assert!(!released.died_before(43));
        assert_eq!(OwnerRecord::parse(b"garbage", 50), None);
        // Written with the key, in one txn: the token is the record's revision.
        let implicit = OwnerRecord::held(0, 0x1234);
        assert!(!implicit.encode().contains("token="));
        let read = OwnerRecord::parse(implicit.encode().as_bytes(), 77).unwrap();
        assert_eq!((read.token, read.released), (77, false));
    }

    #[test]
    fn queue_keys_carry_the_lease() {
        let key = waiter_key("interlock/name/", 0x7f00_0000_0000_0001);
        assert_eq!(
            std::str::from_utf8(&key).unwrap(),
            "interlock/name/w/7f00000000000001"
        );
    }
}
