//! `serde::Serialize` for the status types whose JSON is not their fields as they are (feature
//! `serde`): the shape of `interlock status --json`, defined here once — except
//! [`ProcessGroup`](super::ProcessGroup)'s, which reports its state and so sits beside
//! `ProcessGroup::state` (`handles/command.rs`). Field names are stable; new fields may be added.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::ser::{Serialize, SerializeStruct, Serializer};

use super::{Holder, Kind};

/// `"Lock"`, `"RLock"`, `"FairLock"`, … as `Display` writes it.
impl Serialize for Kind {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// `{pid, tid, command, since_unix_ms, held_for_ms, token, alive, process_group}`: times in
/// milliseconds, `since_unix_ms` and `held_for_ms` null when the holder records no time,
/// `held_for_ms` as of serialization; `process_group` null when the hold runs no command as a
/// group.
impl Serialize for Holder {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let since_ms = self
            .since
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map(|d| d.as_millis() as u64);
        let held_for_ms = self.since.map(|t| {
            SystemTime::now()
                .duration_since(t)
                .map(|d| d.as_millis() as u64)
                .unwrap_or(0)
        });
        let mut h = s.serialize_struct("Holder", 8)?;
        h.serialize_field("pid", &self.pid)?;
        h.serialize_field("tid", &self.tid)?;
        h.serialize_field("command", &self.command)?;
        h.serialize_field("since_unix_ms", &since_ms)?;
        h.serialize_field("held_for_ms", &held_for_ms)?;
        h.serialize_field("token", &self.token)?;
        h.serialize_field("alive", &self.alive)?;
        h.serialize_field("process_group", &self.process_group)?;
        h.end()
    }
}

/// A duration as whole milliseconds.
pub(crate) fn millis<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(d.as_millis() as u64)
}
