//! The storage side of fencing: a store that remembers the newest token it accepted and
//! refuses a write carrying an older one (Kleppmann, "How to do distributed locking", 2016).
//! Here a directory on one machine stands in for the storage service: one file holds
//! `TOKEN VALUE`, replaced atomically, checked and written under a local interlock lock.

use std::path::{Path, PathBuf};

/// A write the store refused: its token is older than one it has accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Rejected {
    /// The write's token.
    pub(crate) token: u64,
    /// The newest token the store has accepted.
    pub(crate) newest: u64,
}

/// A value with the token of the write that put it there.
#[derive(Debug)]
pub(crate) struct FencedStore {
    file: PathBuf,
    lock: interlock::Lock,
}

impl FencedStore {
    /// The store in `dir` (created empty if need be).
    pub(crate) fn open(dir: &Path) -> Result<FencedStore, Box<dyn std::error::Error>> {
        std::fs::create_dir_all(dir)?;
        Ok(FencedStore {
            file: dir.join("value"),
            lock: interlock::Lock::open_path(dir.join("store.lock"), 0o600)?,
        })
    }

    /// The newest token accepted and its value, if any write was.
    pub(crate) fn read(&self) -> Option<(u64, String)> {
        let text = std::fs::read_to_string(&self.file).ok()?;
        let (token, value) = text.split_once(' ')?;
        Some((token.parse().ok()?, value.to_owned()))
    }

    /// Writes `value` if `token` is no older than every token accepted so far.
    pub(crate) fn write(&self, token: u64, value: &str) -> Result<(), Rejected> {
        let _guard = self.lock.lock().expect("the store's own lock");
        if let Some((newest, _)) = self.read() {
            if token < newest {
                return Err(Rejected { token, newest });
            }
        }
        let tmp = self.file.with_extension("tmp");
        std::fs::write(&tmp, format!("{token} {value}")).expect("write the store");
        std::fs::rename(&tmp, &self.file).expect("replace the store");
        Ok(())
    }
}
