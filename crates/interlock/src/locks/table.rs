//! Layer 4: many locks in one segment — one 128-byte record each, for users who lock many
//! things (a lock per row, per file, per shard) and cannot spend a file and a page on each.

use std::borrow::Cow;
use std::fmt;
use std::ops::Index;

use crate::locks::lock::Lock;
use crate::locks::primitive::Open;
use crate::locks::raw::Raw;
use crate::shm::{table_payload, MAX_TABLE};
use crate::types::{Error, Kind};

/// A fixed number of [`Lock`]s sharing one segment: a 64-byte header, then one 128-byte record
/// per lock. Each element is a full `Lock` — guards, timeouts, owner-death recovery, poison,
/// status — at 128 bytes of shared memory instead of a file and a page.
///
/// Share it like a lock: anonymous and inherited by `fork` ([`LockTable::new`]), handed to a
/// spawned program ([`LockTable::pass_to`] / [`LockTable::from_env`]), or met by name
/// ([`LockTable::open`]) — shortcuts of [`LockTable::options`] with its
/// [`len`](crate::Options::len).
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

impl LockTable {
    /// The table in `raw`'s segment, which must hold `expected` locks when that is given.
    pub(crate) fn from_raw(raw: Raw, expected: Option<usize>) -> Result<LockTable, Error> {
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

/// The settings of a [`LockTable`] beyond the common ones: its length
/// ([`Options::len`](crate::Options::len)).
#[derive(Debug, Clone, Copy, Default)]
pub struct TableConfig {
    pub(crate) len: Option<usize>,
}

/// What the builder needs to know of a `LockTable`: its length, checked before anything is
/// created, and checked against a table that exists.
impl Open for LockTable {
    type Config = TableConfig;

    fn kind(_: &TableConfig) -> Kind {
        Kind::LockTable
    }

    fn payload<'a>(config: &'a TableConfig, what: &str) -> Result<Cow<'a, [u8]>, Error> {
        let fault = |reason: String| Error::TableSize {
            what: what.to_owned(),
            reason,
        };
        match config.len {
            None => Err(fault(format!(
                "a lock table's length is not given (Options::len: 1 to {MAX_TABLE} locks)"
            ))),
            Some(n) if n == 0 || n > MAX_TABLE => Err(fault(format!(
                "a lock table holds 1 to {MAX_TABLE} locks, not {n}"
            ))),
            Some(n) => Ok(Cow::Owned(table_payload(n as u32).to_vec())),
        }
    }

    fn from_raw(raw: Raw, config: &TableConfig) -> Result<LockTable, Error> {
        LockTable::from_raw(raw, config.len)
    }

    fn raw(&self) -> &Raw {
        &self.locks[0].raw
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
