//! Layer 4: many locks in one segment — one 128-byte record each, for users who lock many
//! things (a lock per row, per file, per shard) and cannot spend a file and a page on each.

use std::fmt;
use std::ops::Index;
use std::path::Path;
use std::process::Command;

use crate::handles::inherit;
use crate::locks::lock::Lock;
use crate::locks::raw::Raw;
use crate::shm::{table_payload, MAX_TABLE};
use crate::types::{Error, Kind};

/// A fixed number of [`Lock`]s sharing one segment: a 64-byte header, then one 128-byte record
/// per lock. Each element is a full `Lock` — guards, timeouts, owner-death recovery, poison,
/// status — at 128 bytes of shared memory instead of a file and a page.
///
/// Share it like a lock: anonymous and inherited by `fork` ([`LockTable::new`]), handed to a
/// spawned program ([`LockTable::pass_to`] / [`LockTable::from_env`]), or met by name
/// ([`LockTable::open`]).
///
/// # Examples
///
/// ```
/// // A lock per account, 10,000 accounts, one shared segment of 1.25 MiB.
/// let accounts = interlock::LockTable::new(10_000)?;
/// let guard = accounts[42].lock()?;
/// assert!(accounts[43].try_lock()?.is_some(), "other locks are independent");
/// drop(guard);
/// # Ok::<(), interlock::Error>(())
/// ```
pub struct LockTable {
    locks: Vec<Lock>,
}

fn check_len(what: &str, n: usize) -> Result<u32, Error> {
    if n == 0 || n > MAX_TABLE {
        return Err(Error::TableSize {
            what: what.to_owned(),
            reason: format!("a lock table holds 1 to {MAX_TABLE} locks, not {n}"),
        });
    }
    Ok(n as u32)
}

impl LockTable {
    fn from_raw(raw: Raw, expected: Option<usize>) -> Result<LockTable, Error> {
        let found = raw.segment().header().records();
        if let Some(n) = expected.filter(|&n| n != found) {
            return Err(Error::TableSize {
                what: raw.label(),
                reason: format!("it exists with {found} locks, not {n}"),
            });
        }
        Ok(LockTable {
            locks: raw
                .table_elements()
                .into_iter()
                .map(|raw| Lock { raw })
                .collect(),
        })
    }

    /// An anonymous table of `n` locks, for this process and its children.
    ///
    /// # Errors
    ///
    /// [`Error::TableSize`] unless `1 <= n <= 2^20`; [`Error::Io`] if the memory cannot be
    /// created or mapped.
    ///
    /// # Examples
    ///
    /// ```
    /// let t = interlock::LockTable::new(4)?;
    /// assert_eq!(t.len(), 4);
    /// # Ok::<(), interlock::Error>(())
    /// ```
    pub fn new(n: usize) -> Result<LockTable, Error> {
        let n = check_len("a lock table", n)?;
        LockTable::from_raw(Raw::anonymous(Kind::LockTable, &table_payload(n))?, None)
    }

    /// Opens the table called `name` in this user's namespace, creating it with `n` locks if
    /// it does not exist.
    ///
    /// # Errors
    ///
    /// As [`Lock::open`]; [`Error::TableSize`] if `n` is out of range or the table exists with
    /// another size; [`Error::KindMismatch`] if `name` is not a table.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// let shards = interlock::LockTable::open("shards", 64)?;
    /// let _g = shards[7].lock()?;
    /// # Ok::<(), interlock::Error>(())
    /// ```
    pub fn open(name: &str, n: usize) -> Result<LockTable, Error> {
        let n32 = check_len(name, n)?;
        LockTable::from_raw(
            Raw::named(name, Kind::LockTable, &table_payload(n32))?,
            Some(n),
        )
    }

    /// Opens the table file at `path`, creating it with `n` locks and exactly `mode` if it
    /// does not exist (see [`Lock::open_path`]).
    ///
    /// # Errors
    ///
    /// As [`LockTable::open`].
    ///
    /// # Examples
    ///
    /// ```
    /// let dir = tempfile::tempdir().unwrap();
    /// let t = interlock::LockTable::open_path(dir.path().join("rows.locks"), 0o600, 100)?;
    /// assert_eq!(t.len(), 100);
    /// # Ok::<(), interlock::Error>(())
    /// ```
    pub fn open_path(path: impl AsRef<Path>, mode: u32, n: usize) -> Result<LockTable, Error> {
        let path = path.as_ref();
        let n32 = check_len(&path.display().to_string(), n)?;
        LockTable::from_raw(
            Raw::at_path(path, mode, Kind::LockTable, &table_payload(n32))?,
            Some(n),
        )
    }

    /// Adopts a table handed over by a parent's [`LockTable::pass_to`].
    ///
    /// # Errors
    ///
    /// As [`Lock::from_env`].
    ///
    /// # Examples
    ///
    /// ```no_run
    /// let t = interlock::LockTable::from_env("MY_TABLE")?;
    /// # Ok::<(), interlock::Error>(())
    /// ```
    pub fn from_env(var: &str) -> Result<LockTable, Error> {
        LockTable::from_raw(inherit::adopt(var, Kind::LockTable)?, None)
    }

    /// Hands the table to the program `cmd` will run, through environment variable `var`
    /// (see [`Lock::pass_to`]).
    ///
    /// # Errors
    ///
    /// As [`Lock::pass_to`].
    ///
    /// # Examples
    ///
    /// ```
    /// let t = interlock::LockTable::new(8)?;
    /// let mut cmd = std::process::Command::new("true");
    /// t.pass_to(&mut cmd, "MY_TABLE")?;
    /// # Ok::<(), interlock::Error>(())
    /// ```
    pub fn pass_to(&self, cmd: &mut Command, var: &str) -> Result<(), Error> {
        inherit::pass(&self.locks[0].raw, cmd, var)
    }

    /// How many locks the table holds.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(interlock::LockTable::new(3)?.len(), 3);
    /// # Ok::<(), interlock::Error>(())
    /// ```
    pub fn len(&self) -> usize {
        self.locks.len()
    }

    /// Always false: a table holds at least one lock.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(!interlock::LockTable::new(1)?.is_empty());
    /// # Ok::<(), interlock::Error>(())
    /// ```
    pub fn is_empty(&self) -> bool {
        self.locks.is_empty()
    }

    /// Lock `i`, if `i < len()`.
    ///
    /// # Examples
    ///
    /// ```
    /// let t = interlock::LockTable::new(2)?;
    /// assert!(t.get(1).is_some() && t.get(2).is_none());
    /// # Ok::<(), interlock::Error>(())
    /// ```
    pub fn get(&self, i: usize) -> Option<&Lock> {
        self.locks.get(i)
    }

    /// The locks in order.
    ///
    /// # Examples
    ///
    /// ```
    /// let t = interlock::LockTable::new(3)?;
    /// assert!(t.iter().all(|l| l.status().holder.is_none()));
    /// # Ok::<(), interlock::Error>(())
    /// ```
    pub fn iter(&self) -> std::slice::Iter<'_, Lock> {
        self.locks.iter()
    }
}

impl Index<usize> for LockTable {
    type Output = Lock;

    /// Lock `i`.
    ///
    /// # Panics
    ///
    /// If `i >= len()`.
    fn index(&self, i: usize) -> &Lock {
        &self.locks[i]
    }
}

impl<'a> IntoIterator for &'a LockTable {
    type Item = &'a Lock;
    type IntoIter = std::slice::Iter<'a, Lock>;

    fn into_iter(self) -> Self::IntoIter {
        self.locks.iter()
    }
}

impl fmt::Debug for LockTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LockTable")
            .field("label", &self.locks[0].raw.label())
            .field("len", &self.locks.len())
            .finish_non_exhaustive()
    }
}
