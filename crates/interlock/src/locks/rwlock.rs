//! Layer 4: a reader-writer lock whose every hold — a reader's or the writer's — is given back
//! when its holder dies, with the next writer told.
//!
//! One segment: record 0 is the writer's robust lock record, records 1..=R the reader slots,
//! each a robust lock word too (decision 0025). A reader takes the slot of the CPU it runs on
//! (`Raw::lock_fast`: one compare-exchange, linked on the thread's robust list), then looks at
//! the writer word (`word::rwlock::reader_gate`): free, and the read is granted. A writer takes
//! the writer word like a `Lock`, then waits for every reader slot below the high-water mark
//! to be free. A reader that finds the writer word held gives its slot back and sleeps on the
//! writer word: a waiting writer stops new readers (writer preference). An rwlock created with
//! `RwPolicy::PreferReaders` (the header's flag) lets new readers in while its writer drains,
//! and shuts them out only once the writer has published that it entered (`ENTERED`, in the
//! writer record's `mark`). The kernel frees a dead reader's slot, or a dead writer's word, and
//! wakes a sleeper on it; the next writer (or the next reader, after a dead writer) is told.

use std::borrow::Cow;
use std::fmt;
use std::time::{Duration, Instant};

use crate::locks::guard::Hold;
use crate::locks::lock::{Lock, LockGuard};
use crate::locks::primitive::Open;
use crate::locks::raw::{Acquisition, Raw, Wait};
use crate::locks::semaphore::wait_for_slot;
use crate::shm::{table_payload, Record, FLAG_PREFER_READERS, MAX_READERS};
use crate::sync::Ordering;
use crate::sys;
use crate::types::{Error, Holder, Kind, RwLockStatus, RwPolicy};
use crate::word::rwlock::{self as protocol, Gate};

/// The longest a reader sleeps on the writer word, or a writer on a reader's slot, before it
/// looks again: the bound on how late it notices a wake-up taken by a sleeper that was killed,
/// or the death of a holder the kernel does not report.
const SLICE: Duration = Duration::from_millis(50);

/// Reader slots when [`Options::readers`](crate::Options::readers) is not given.
pub(crate) const DEFAULT_READERS: usize = 64;

/// A reader-writer lock shared between processes (and their threads): many readers at once, or
/// one writer. A reader or a writer that dies holding it — SIGKILL included — gives its hold
/// back, and the next writer is told ([`RwLockWriteGuard::previous_owner_died`]); so is the
/// next reader after a dead writer.
///
/// Writers are preferred by default: a writer that waits for the readers to leave keeps new
/// readers out, so a stream of readers never starves it. An rwlock created with
/// [`RwPolicy::PreferReaders`] (`RwLock::options().policy(..)`) lets new readers in while a
/// writer waits, and keeps them out only while it writes: more reads get through when
/// processes outnumber CPUs, and a stream of readers may starve a writer for ever.
///
/// Share it like a lock: anonymous and inherited by `fork` ([`RwLock::new`]), handed to a
/// spawned program ([`RwLock::pass_to`] / [`RwLock::from_env`]), met by name
/// ([`RwLock::open`]) or at a path ([`RwLock::open_path`]); from the shell,
/// `interlock run --shared NAME -- cmd` holds it for reading and `interlock run NAME -- cmd`
/// for writing.
///
/// # Examples
///
/// ```
/// use interlock::RwLock;
///
/// let rw = RwLock::new()?;
/// {
///     let a = rw.read()?;
///     let b = rw.read()?; // many readers at once (while no writer waits)
///     let writer = std::thread::scope(|s| s.spawn(|| rw.try_write().map(|w| w.is_some())).join().unwrap());
///     assert!(!writer?, "no writer while they read");
/// }
/// let w = rw.write()?;
/// assert!(!w.previous_owner_died());
/// # Ok::<(), interlock::Error>(())
/// ```
///
/// # Owner death
///
/// ```no_run
/// # let rw = interlock::RwLock::new()?;
/// let w = rw.write()?;
/// if w.previous_owner_died() {
///     // A writer died mid-write, or a reader died holding its slot: check what the lock
///     // protects (a writer's death also poisons the lock), then:
///     w.clear_poison();
/// }
/// # Ok::<(), interlock::Error>(())
/// ```
///
/// # Deadlocks refused
///
/// A thread that holds a read and asks for the write (or holds the write and asks for a read,
/// or the write again) gets [`Error::WouldDeadlock`] instead of a hang. A second read on a
/// thread that holds one is granted while no writer waits; with a writer waiting it would wait
/// for that writer, which waits for the first read: that is [`Error::WouldDeadlock`] too.
///
/// # Limits
///
/// Each reader takes a slot of its own (`Options::readers`, 64 by default, at most 128); when
/// every slot is held, further readers wait for one as for a semaphore's permit. Upgrading a
/// read to a write is not offered (two upgraders would wait for each other); downgrading is
/// ([`RwLockWriteGuard::downgrade`]).
pub struct RwLock {
    /// Record 0: the writer's lock.
    writer: Lock,
    /// Records 1..=R: the reader slots.
    slots: Vec<Lock>,
    /// The segment's policy (its header's flag, fixed at creation): new readers come in while
    /// a writer drains, and only an entered writer keeps them out.
    prefer_readers: bool,
}

impl RwLock {
    fn from_raw(raw: Raw, config: &RwLockConfig) -> Result<RwLock, Error> {
        let header = raw.segment().header();
        let found = header.records() - 1;
        if let Some(n) = config.readers.filter(|&n| n != found) {
            return Err(Error::RwLockReaders {
                what: raw.handle_label(),
                reason: format!("it exists with {found} reader slots, not {n}"),
            });
        }
        let prefer_readers = header.prefers_readers();
        let policy = if prefer_readers {
            RwPolicy::PreferReaders
        } else {
            RwPolicy::PreferWriters
        };
        if let Some(wanted) = config.policy.filter(|&p| p != policy) {
            return Err(Error::RwLockPolicy {
                what: raw.handle_label(),
                reason: format!("it exists {policy}, not {wanted}"),
            });
        }
        let mut all = raw
            .table_elements_of(Kind::RwLock)
            .into_iter()
            .map(|raw| Lock { raw });
        let writer = all.next().expect("an rwlock has a writer's record");
        Ok(RwLock {
            writer,
            slots: all.collect(),
            prefer_readers,
        })
    }

    #[inline(always)]
    fn rec(&self) -> &Record {
        self.writer.raw.record()
    }

    /// How many reader slots the lock has: readers beyond them wait for one.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(interlock::RwLock::options().readers(8).create()?.reader_slots(), 8);
    /// # Ok::<(), interlock::Error>(())
    /// ```
    pub fn reader_slots(&self) -> usize {
        self.slots.len()
    }

    /// The policy the rwlock was created with ([`RwPolicy`]).
    ///
    /// # Examples
    ///
    /// ```
    /// use interlock::{RwLock, RwPolicy};
    ///
    /// let rw = RwLock::options().policy(RwPolicy::PreferReaders).create()?;
    /// assert_eq!(rw.policy(), RwPolicy::PreferReaders);
    /// # Ok::<(), interlock::Error>(())
    /// ```
    pub fn policy(&self) -> RwPolicy {
        if self.prefer_readers {
            RwPolicy::PreferReaders
        } else {
            RwPolicy::PreferWriters
        }
    }

    /// Takes a read, waiting for as long as a writer holds or waits for the lock.
    ///
    /// # Errors
    ///
    /// [`Error::WouldDeadlock`] if this thread holds the write, or holds a read while a writer
    /// waits.
    ///
    /// # Examples
    ///
    /// ```
    /// let rw = interlock::RwLock::new()?;
    /// let r = rw.read()?;
    /// assert!(!r.previous_owner_died());
    /// # Ok::<(), interlock::Error>(())
    /// ```
    #[inline(always)]
    pub fn read(&self) -> Result<RwLockReadGuard<'_>, Error> {
        match self.read_fast() {
            Some(g) => Ok(g),
            None => self
                .read_slow(None)
                .map(|g| g.expect("an untimed read ends with a read")),
        }
    }

    /// Takes a read if no writer holds or waits for the lock now; `Ok(None)` otherwise.
    ///
    /// # Errors
    ///
    /// [`Error::WouldDeadlock`] as for [`RwLock::read`].
    ///
    /// # Examples
    ///
    /// ```
    /// let rw = interlock::RwLock::new()?;
    /// let w = rw.write()?;
    /// let other = std::thread::scope(|s| s.spawn(|| rw.try_read().map(|r| r.is_some())).join().unwrap());
    /// assert!(!other?);
    /// # drop(w);
    /// # Ok::<(), interlock::Error>(())
    /// ```
    pub fn try_read(&self) -> Result<Option<RwLockReadGuard<'_>>, Error> {
        match self.read_fast() {
            Some(g) => Ok(Some(g)),
            None => self.read_slow(Some(Instant::now())),
        }
    }

    /// Waits at most `timeout` for a read.
    ///
    /// # Errors
    ///
    /// [`Error::Timeout`] naming the writer when time runs out; [`Error::WouldDeadlock`] as
    /// for [`RwLock::read`].
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let rw = interlock::RwLock::new()?;
    /// let _w = rw.write()?;
    /// std::thread::scope(|s| {
    ///     s.spawn(|| {
    ///         let err = rw.read_timeout(Duration::from_millis(10)).unwrap_err();
    ///         assert!(matches!(err, interlock::Error::Timeout { .. }));
    ///     });
    /// });
    /// # Ok::<(), interlock::Error>(())
    /// ```
    pub fn read_timeout(&self, timeout: Duration) -> Result<RwLockReadGuard<'_>, Error> {
        let started = Instant::now();
        match self.try_read_for(timeout)? {
            Some(g) => Ok(g),
            None => Err(self.timeout(started)),
        }
    }

    /// Like [`RwLock::read_timeout`], but a timeout is `Ok(None)` instead of an error.
    ///
    /// # Errors
    ///
    /// [`Error::WouldDeadlock`] as for [`RwLock::read`].
    ///
    /// # Examples
    ///
    /// ```
    /// let rw = interlock::RwLock::new()?;
    /// assert!(rw.try_read_for(std::time::Duration::from_millis(5))?.is_some());
    /// # Ok::<(), interlock::Error>(())
    /// ```
    pub fn try_read_for(&self, timeout: Duration) -> Result<Option<RwLockReadGuard<'_>>, Error> {
        match self.read_fast() {
            Some(g) => Ok(Some(g)),
            // A timeout too far to represent is no timeout.
            None => self.read_slow(Instant::now().checked_add(timeout)),
        }
    }

    /// Takes the write, waiting for the writer before it and then for every reader to leave
    /// (new readers wait from the moment this writer holds the lock).
    ///
    /// # Errors
    ///
    /// [`Error::WouldDeadlock`] if this thread holds the write already, or a read.
    ///
    /// # Examples
    ///
    /// ```
    /// let rw = interlock::RwLock::new()?;
    /// let w = rw.write()?;
    /// assert!(matches!(rw.read(), Err(interlock::Error::WouldDeadlock { .. })));
    /// # drop(w);
    /// # Ok::<(), interlock::Error>(())
    /// ```
    #[inline(always)]
    pub fn write(&self) -> Result<RwLockWriteGuard<'_>, Error> {
        if let Some(token) = self.writer.raw.lock_fast() {
            let rec = self.rec();
            // Reader preference: the writer enters (and re-checks) even when no reader ever
            // read, since one may come now; with a mark of 0 there is nothing to re-check.
            let mark = if self.prefer_readers {
                protocol::writer_enter(&rec.mark)
            } else {
                protocol::writer_mark(&rec.mark)
            };
            if mark == 0 && rec.tally.load(Ordering::Relaxed) == 0 {
                return Ok(self.write_guard(Acquisition {
                    token,
                    owner_died: false,
                }));
            }
            if self.prefer_readers {
                // Readers come in while this writer drains; it enters again once they left.
                protocol::writer_leave(&rec.mark, &rec.sleepers);
            }
            return self
                .drain(
                    Acquisition {
                        token,
                        owner_died: false,
                    },
                    None,
                )
                .map(|g| g.expect("an untimed write ends with the write"));
        }
        self.write_slow(Wait::Forever)
            .map(|g| g.expect("an untimed write ends with the write"))
    }

    /// Takes the write if nobody holds the lock now; `Ok(None)` otherwise.
    ///
    /// # Errors
    ///
    /// [`Error::WouldDeadlock`] as for [`RwLock::write`].
    ///
    /// # Examples
    ///
    /// ```
    /// let rw = interlock::RwLock::new()?;
    /// let r = rw.read()?;
    /// let other = std::thread::scope(|s| s.spawn(|| rw.try_write().map(|w| w.is_some())).join().unwrap());
    /// assert!(!other?, "a reader is inside");
    /// drop(r);
    /// assert!(rw.try_write()?.is_some());
    /// # Ok::<(), interlock::Error>(())
    /// ```
    pub fn try_write(&self) -> Result<Option<RwLockWriteGuard<'_>>, Error> {
        self.write_slow(Wait::Never)
    }

    /// Waits at most `timeout` for the write.
    ///
    /// # Errors
    ///
    /// [`Error::Timeout`] naming a holder when time runs out; [`Error::WouldDeadlock`] as for
    /// [`RwLock::write`].
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let rw = interlock::RwLock::new()?;
    /// let _r = rw.read()?;
    /// std::thread::scope(|s| {
    ///     s.spawn(|| {
    ///         let err = rw.write_timeout(Duration::from_millis(10)).unwrap_err();
    ///         assert!(matches!(err, interlock::Error::Timeout { holder: Some(_), .. }));
    ///     });
    /// });
    /// # Ok::<(), interlock::Error>(())
    /// ```
    pub fn write_timeout(&self, timeout: Duration) -> Result<RwLockWriteGuard<'_>, Error> {
        let started = Instant::now();
        match self.try_write_for(timeout)? {
            Some(g) => Ok(g),
            None => Err(self.timeout(started)),
        }
    }

    /// Like [`RwLock::write_timeout`], but a timeout is `Ok(None)` instead of an error.
    ///
    /// # Errors
    ///
    /// [`Error::WouldDeadlock`] as for [`RwLock::write`].
    ///
    /// # Examples
    ///
    /// ```
    /// let rw = interlock::RwLock::new()?;
    /// assert!(rw.try_write_for(std::time::Duration::from_millis(5))?.is_some());
    /// # Ok::<(), interlock::Error>(())
    /// ```
    pub fn try_write_for(&self, timeout: Duration) -> Result<Option<RwLockWriteGuard<'_>>, Error> {
        self.write_slow(Wait::For(timeout))
    }

    /// Ends a read of the calling thread whose guard was forgotten (`std::mem::forget`): the
    /// explicit release of a binding that reads in one call and releases in another (Python's
    /// `acquire_read()`/`release_read()`). A thread holding several reads gives back one.
    ///
    /// # Errors
    ///
    /// [`Error::NotOwner`] when the calling thread holds no read of this lock.
    ///
    /// # Examples
    ///
    /// ```
    /// let rw = interlock::RwLock::new()?;
    /// std::mem::forget(rw.read()?);
    /// rw.release_read()?;
    /// assert!(matches!(rw.release_read(), Err(interlock::Error::NotOwner { .. })));
    /// # Ok::<(), interlock::Error>(())
    /// ```
    pub fn release_read(&self) -> Result<(), Error> {
        let me = sys::me();
        match self.slots.iter().find(|s| s.raw.held_by(&me)) {
            Some(slot) => slot.raw.release(&me, None),
            None => Err(Error::NotOwner {
                lock: self.writer.raw.handle_label(),
                holder: None,
            }),
        }
    }

    /// Ends the calling thread's write whose guard was forgotten: as dropping the guard does
    /// (sleeping readers woken). See [`release_read`](RwLock::release_read).
    ///
    /// # Errors
    ///
    /// [`Error::NotOwner`] (naming the writer, if any) when the calling thread does not hold
    /// the write.
    ///
    /// # Examples
    ///
    /// ```
    /// let rw = interlock::RwLock::new()?;
    /// std::mem::forget(rw.write()?);
    /// rw.release_write()?;
    /// assert!(rw.try_read()?.is_some());
    /// # Ok::<(), interlock::Error>(())
    /// ```
    pub fn release_write(&self) -> Result<(), Error> {
        let me = sys::me();
        if self.prefer_readers && self.writer.raw.held_by(&me) {
            protocol::writer_leave(&self.rec().mark, &self.rec().sleepers);
        }
        self.writer.raw.release(&me, None)?;
        let rec = self.rec();
        protocol::wake_readers(&rec.word, &rec.sleepers);
        Ok(())
    }

    /// A snapshot of the lock: the writer (if any), every reader holding a slot, sleepers,
    /// writes, deaths, poison. Read without taking anything.
    ///
    /// # Examples
    ///
    /// ```
    /// let rw = interlock::RwLock::options().readers(4).create()?;
    /// drop(rw.write()?);
    /// let status = rw.status();
    /// assert_eq!((status.reader_slots, status.writes), (4, 1));
    /// assert!(status.readers.is_empty() && status.writer.is_none());
    /// # Ok::<(), interlock::Error>(())
    /// ```
    pub fn status(&self) -> RwLockStatus {
        crate::locks::status::rwlock(self.writer.raw.segment()).1
    }

    /// Whether the lock is poisoned: a writer died holding it, or a panic unwound through a
    /// write guard, since the mark was last cleared (readers never poison it).
    ///
    /// # Examples
    ///
    /// ```
    /// let rw = interlock::RwLock::new()?;
    /// let _ = std::panic::catch_unwind(|| {
    ///     let _w = rw.write().unwrap();
    ///     panic!("half written");
    /// });
    /// assert!(rw.is_poisoned());
    /// rw.clear_poison();
    /// assert!(!rw.is_poisoned());
    /// # Ok::<(), interlock::Error>(())
    /// ```
    pub fn is_poisoned(&self) -> bool {
        self.writer.raw.is_poisoned()
    }

    /// Clears the poison mark, for every process, once what the lock protects has been
    /// checked or repaired.
    ///
    /// # Examples
    ///
    /// ```
    /// let rw = interlock::RwLock::new()?;
    /// rw.clear_poison();
    /// assert!(!rw.is_poisoned());
    /// # Ok::<(), interlock::Error>(())
    /// ```
    pub fn clear_poison(&self) {
        self.writer.raw.clear_poison()
    }

    /// Whether holds taken through this handle record when they began
    /// ([`Holder::since`](crate::Holder::since) in [`RwLock::status`]). Off by default.
    ///
    /// # Examples
    ///
    /// ```
    /// let rw = interlock::RwLock::new()?;
    /// rw.set_timestamps(true);
    /// let _r = rw.read()?;
    /// assert!(rw.status().readers[0].holder.since.is_some());
    /// # Ok::<(), interlock::Error>(())
    /// ```
    pub fn set_timestamps(&self, enabled: bool) {
        self.writer.raw.set_timestamps(enabled);
        for slot in &self.slots {
            slot.raw.set_timestamps(enabled);
        }
    }

    #[cold]
    fn timeout(&self, started: Instant) -> Error {
        let holder = self
            .writer
            .raw
            .holder()
            .or_else(|| self.slots.iter().find_map(|s| s.raw.holder()));
        Error::Timeout {
            lock: self.writer.raw.handle_label(),
            waited: started.elapsed(),
            holder,
        }
    }

    // ---- readers ----

    /// The slot a reader on this CPU tries first: readers on different CPUs touch different
    /// cache lines. A division only on machines with more CPUs than slots.
    #[inline(always)]
    fn home_slot(&self) -> usize {
        let cpu = sys::current_cpu() as usize;
        let n = self.slots.len();
        if cpu < n {
            cpu
        } else {
            cpu % n
        }
    }

    /// The home slot, taken with one compare-exchange if it is free (its mark raised first).
    #[inline(always)]
    fn home_slot_guard(&self) -> Option<LockGuard<'_>> {
        let i = self.home_slot();
        protocol::cover_slot(&self.rec().mark, i as u32);
        let slot = &self.slots[i];
        let token = slot.raw.lock_fast()?;
        Some(LockGuard {
            hold: Hold::new(
                &slot.raw,
                Acquisition {
                    token,
                    owner_died: false,
                },
            ),
        })
    }

    /// The uncontended read: the home slot's compare-exchange, the fence, one look at the
    /// writer word. `None`, holding nothing, whenever anything else is needed.
    #[inline(always)]
    fn read_fast(&self) -> Option<RwLockReadGuard<'_>> {
        let guard = self.home_slot_guard()?;
        if self.gate() == Gate::Open {
            Some(RwLockReadGuard { guard, lock: self })
        } else {
            drop(guard);
            None
        }
    }

    /// A reader's look at the writer, holding its slot: under reader preference a writer that
    /// has not entered does not keep it out.
    #[inline(always)]
    fn gate(&self) -> Gate {
        let rec = self.rec();
        // `reader_gate_prefer_readers`, with the policy looked at only when a writer holds
        // the word: the uncontended read is the writer-preferring one.
        match protocol::reader_gate(&rec.word) {
            Gate::Closed if self.prefer_readers && !protocol::entered_acquire(&rec.mark) => {
                Gate::Open
            }
            gate => gate,
        }
    }

    /// Takes a reader slot: the first free one from slot 0 (raising the mark over each before
    /// it is tried), a look and one compare-exchange each; if none was free, a full look at
    /// each held slot (a holder the kernel does not report may be found dead), and last at the
    /// slots whose reader died — taking one replaces the record of the process group its dead
    /// reader left running, which the next writer should see; if none, the semaphore's wait
    /// for any slot, until `end`. A slot whose last holder died counts that death for the next
    /// writer.
    fn take_slot(&self, end: Option<Instant>) -> Result<Option<LockGuard<'_>>, Error> {
        let me = sys::me();
        let mark = &self.rec().mark;
        let mut got = None;
        for (i, slot) in self.slots.iter().enumerate() {
            if protocol::slot(&slot.raw.record().word) != protocol::Slot::Free {
                continue;
            }
            protocol::cover_slot(mark, i as u32);
            // The full fast path (not `lock_fast`): a handle that stamps its holds, or a file
            // others may write, takes a free slot here too.
            if let Some(acq) = slot.raw.try_acquire_fast(&me) {
                got = Some((i, acq));
                break;
            }
        }
        'looks: for dead in [false, true] {
            if got.is_some() {
                break;
            }
            for (i, slot) in self.slots.iter().enumerate() {
                let state = protocol::slot(&slot.raw.record().word);
                if (state == protocol::Slot::Dead) != dead {
                    continue;
                }
                protocol::cover_slot(mark, i as u32);
                match slot.raw.acquire(&me, Wait::Never) {
                    Ok(Some(acq)) => {
                        got = Some((i, acq));
                        break 'looks;
                    }
                    Ok(None) | Err(Error::WouldDeadlock { .. }) => {}
                    Err(e) => return Err(e),
                }
            }
        }
        let (i, acq) = match got {
            Some(got) => got,
            // Every slot is covered by the mark by now.
            None => match wait_for_slot(&self.slots, end)? {
                Some(got) => got,
                None => return Ok(None),
            },
        };
        if acq.owner_died {
            // A reader died holding this slot: the next writer is told, not this reader.
            self.slots[i].raw.clear_poison();
            self.rec().tally.fetch_add(1, Ordering::Relaxed);
        }
        Ok(Some(LockGuard {
            hold: Hold::new(
                &self.slots[i].raw,
                Acquisition {
                    token: acq.token,
                    owner_died: false,
                },
            ),
        }))
    }

    /// Whether the calling thread holds a reader slot, or the writer word, of this lock: a
    /// reader that would wait for a writer then waits for itself.
    fn holds_any(&self, me: &sys::Me) -> bool {
        self.writer.raw.held_by(me) || self.slots.iter().any(|s| s.raw.held_by(me))
    }

    /// The read's contended path: a slot, then the writer word — claimed if its last writer
    /// died (to be told), slept on if a writer holds it; until `end` (`None`: never).
    #[cold]
    #[inline(never)]
    fn read_slow(&self, end: Option<Instant>) -> Result<Option<RwLockReadGuard<'_>>, Error> {
        let me = sys::me();
        let rec = self.rec();
        loop {
            let guard = match self.home_slot_guard() {
                Some(guard) => guard,
                None => match self.take_slot(end)? {
                    Some(guard) => guard,
                    None => return Ok(None),
                },
            };
            match self.gate() {
                Gate::Open => return Ok(Some(RwLockReadGuard { guard, lock: self })),
                Gate::WriterDied => match self.writer.raw.acquire(&me, Wait::Never) {
                    Ok(Some(acq)) => {
                        // The writer word is ours for an instant, with our slot held: no
                        // writer can come in between. Told, and given back at once (the
                        // guard's drop clears a dead reader-preferring writer's `ENTERED`).
                        let told = acq.owner_died;
                        let w = self.write_guard(acq);
                        drop(w);
                        let guard = if told { relabel(guard, true) } else { guard };
                        return Ok(Some(RwLockReadGuard { guard, lock: self }));
                    }
                    Ok(None) => drop(guard),
                    Err(e) => return Err(e),
                },
                Gate::Closed => {
                    drop(guard);
                    // A writer holds the word: if this thread holds a read (or the write), the
                    // writer waits for it and it would wait for the writer. Under reader
                    // preference a writer is kept out only while it has entered, which it
                    // cannot while this thread reads (it withdraws): only the write counts.
                    let deadlock = if self.prefer_readers {
                        self.writer.raw.held_by(&me)
                    } else {
                        self.holds_any(&me)
                    };
                    if deadlock {
                        return Err(Error::WouldDeadlock {
                            lock: self.writer.raw.handle_label(),
                        });
                    }
                    if end.is_none_or(|end| Instant::now() < end)
                        && protocol::reader_spin_until_free(&rec.word)
                    {
                        continue;
                    }
                }
            }
            let now = Instant::now();
            if end.is_some_and(|end| now >= end) {
                return Ok(None);
            }
            let wake = end.map_or(now + SLICE, |end| end.min(now + SLICE));
            let deadline = sys::futex::deadline_after(wake.saturating_duration_since(now));
            if self.prefer_readers {
                protocol::reader_sleep_while_entered(
                    &rec.word,
                    &rec.mark,
                    &rec.sleepers,
                    &deadline,
                );
            } else {
                protocol::reader_sleep(&rec.word, &rec.sleepers, &deadline);
            }
        }
    }

    // ---- the writer ----

    #[inline(always)]
    fn write_guard(&self, acq: Acquisition) -> RwLockWriteGuard<'_> {
        RwLockWriteGuard {
            hold: Hold::new(&self.writer.raw, acq),
            lock: self,
        }
    }

    /// The write's contended path: the writer word like a `Lock`'s (`wait`), then the readers.
    #[cold]
    #[inline(never)]
    fn write_slow(&self, wait: Wait) -> Result<Option<RwLockWriteGuard<'_>>, Error> {
        let started = Instant::now();
        let me = sys::me();
        let Some(acq) = (match self.writer.raw.acquire(&me, wait) {
            Err(Error::Timeout { .. }) => return Ok(None),
            other => other?,
        }) else {
            return Ok(None);
        };
        let end = match wait {
            Wait::Forever => None,
            Wait::Never => Some(started),
            Wait::For(d) => started.checked_add(d),
        };
        self.drain(acq, end)
    }

    /// With the writer word held (`acq`): waits until every reader slot below the mark is
    /// free, clearing (and being told of) slots whose reader died; until `end`, when it gives
    /// the word back. A slot held by this very thread is `WouldDeadlock`. Under reader
    /// preference, once every slot was seen free it enters (`ENTERED`) and looks at them all
    /// again: one held, and it withdraws, wakes the readers that slept meanwhile, and drains
    /// again.
    #[cold]
    #[inline(never)]
    fn drain(
        &self,
        acq: Acquisition,
        end: Option<Instant>,
    ) -> Result<Option<RwLockWriteGuard<'_>>, Error> {
        let me = sys::me();
        let rec = self.rec();
        // Deaths this write is told of: a writer's (the word's), readers' (the tally, dead
        // slots taken here). A write that gives up hands them on to the next writer.
        let mut untold = u32::from(acq.owner_died);
        let mut guard = self.write_guard(acq);
        if self.prefer_readers && protocol::entered(&rec.mark) {
            // Only the word's holder sets it: a writer died entered. Readers come in again
            // while this writer drains.
            protocol::writer_leave(&rec.mark, &rec.sleepers);
        }
        let mut mark = (protocol::writer_mark(&rec.mark) as usize).min(self.slots.len());
        if rec.tally.load(Ordering::Relaxed) != 0 {
            untold = untold.saturating_add(rec.tally.swap(0, Ordering::Relaxed));
        }
        let give_up = |untold: u32| {
            if untold != 0 {
                rec.tally.fetch_add(untold, Ordering::Relaxed);
            }
        };
        loop {
            for slot in &self.slots[..mark] {
                loop {
                    if protocol::slot(&slot.raw.record().word) == protocol::Slot::Free {
                        break;
                    }
                    // Held, or free after its reader died: one look that also takes a slot whose
                    // holder died (the kernel's mark, or a holder it does not report found dead).
                    match slot.raw.acquire(&me, Wait::Never) {
                        Ok(Some(got)) => {
                            if got.owner_died {
                                untold = untold.saturating_add(1);
                                slot.raw.clear_poison();
                            }
                            drop(LockGuard {
                                hold: Hold::new(&slot.raw, got),
                            });
                            break;
                        }
                        Ok(None) => {}
                        // This thread reads: it would wait for itself.
                        Err(Error::WouldDeadlock { .. }) => {
                            give_up(untold);
                            return Err(Error::WouldDeadlock {
                                lock: self.writer.raw.handle_label(),
                            });
                        }
                        Err(e) => {
                            give_up(untold);
                            return Err(e);
                        }
                    }
                    if end.is_none_or(|end| Instant::now() < end)
                        && protocol::spin_until_free(&slot.raw.record().word)
                    {
                        continue;
                    }
                    let now = Instant::now();
                    if end.is_some_and(|end| now >= end) {
                        give_up(untold);
                        return Ok(None);
                    }
                    let wake = end.map_or(now + SLICE, |end| end.min(now + SLICE));
                    let deadline = sys::futex::deadline_after(wake.saturating_duration_since(now));
                    protocol::writer_wait_for_slot(&slot.raw.record().word, &deadline);
                }
            }
            if !self.prefer_readers {
                break;
            }
            mark = (protocol::writer_enter(&rec.mark) as usize).min(self.slots.len());
            if self.slots[..mark]
                .iter()
                .all(|s| protocol::slot(&s.raw.record().word) == protocol::Slot::Free)
            {
                break;
            }
            // A reader came in before this writer entered: it reads, and the writer drains again.
            protocol::writer_leave(&rec.mark, &rec.sleepers);
        }
        let told = untold != 0;
        if told && !guard.hold.owner_died() {
            guard = guard.told();
        }
        Ok(Some(guard))
    }
}

/// `guard` re-made with its hold flagged "previous owner died" (or not): the same hold.
fn relabel(guard: LockGuard<'_>, owner_died: bool) -> LockGuard<'_> {
    let raw = guard.hold.raw;
    let token = guard.hold.token();
    std::mem::forget(guard);
    LockGuard {
        hold: Hold::new(raw, Acquisition { token, owner_died }),
    }
}

/// A read of an [`RwLock`]: given back when dropped, and by the kernel if its holder dies.
///
/// `!Send`: the reader slot's word records the taking thread.
///
/// # Examples
///
/// ```
/// let rw = interlock::RwLock::new()?;
/// let r = rw.read()?;
/// assert!(!r.previous_owner_died() && !r.is_poisoned());
/// # Ok::<(), interlock::Error>(())
/// ```
#[must_use = "if unused the read is given back at once"]
#[clippy::has_significant_drop]
pub struct RwLockReadGuard<'a> {
    guard: LockGuard<'a>,
    lock: &'a RwLock,
}

impl RwLockReadGuard<'_> {
    /// The read's slot as the lock guard it is, and the writer's record: for what layer 5 adds
    /// to guards (a command run as a process group the slot's record names).
    pub(crate) fn parts(&self) -> (&LockGuard<'_>, &Raw) {
        (&self.guard, &self.lock.writer.raw)
    }

    /// Whether the last writer died holding the lock (this reader was the first to come after
    /// it): what it wrote may be half done.
    ///
    /// # Examples
    ///
    /// ```
    /// let rw = interlock::RwLock::new()?;
    /// assert!(!rw.read()?.previous_owner_died());
    /// # Ok::<(), interlock::Error>(())
    /// ```
    pub fn previous_owner_died(&self) -> bool {
        self.guard.previous_owner_died()
    }

    /// Whether the lock is poisoned ([`RwLock::is_poisoned`]).
    ///
    /// # Examples
    ///
    /// ```
    /// let rw = interlock::RwLock::new()?;
    /// assert!(!rw.read()?.is_poisoned());
    /// # Ok::<(), interlock::Error>(())
    /// ```
    pub fn is_poisoned(&self) -> bool {
        self.lock.is_poisoned()
    }

    /// Which reader slot this read holds (as [`RwLock::status`] numbers them).
    ///
    /// # Examples
    ///
    /// ```
    /// let rw = interlock::RwLock::new()?;
    /// let r = rw.read()?;
    /// assert_eq!(rw.status().readers[0].slot, r.slot() as u32);
    /// # Ok::<(), interlock::Error>(())
    /// ```
    pub fn slot(&self) -> usize {
        self.lock
            .slots
            .iter()
            .position(|s| std::ptr::eq(&s.raw, self.guard.hold.raw))
            .expect("a read holds one of its lock's slots")
    }

    /// Gives the read back, reporting what dropping it would not.
    ///
    /// # Errors
    ///
    /// [`Error::NotOwner`] if this is a forked child's copy of the guard.
    ///
    /// # Examples
    ///
    /// ```
    /// let rw = interlock::RwLock::new()?;
    /// rw.read()?.unlock()?;
    /// # Ok::<(), interlock::Error>(())
    /// ```
    pub fn unlock(self) -> Result<(), Error> {
        self.guard.unlock()
    }
}

impl fmt::Debug for RwLockReadGuard<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RwLockReadGuard")
            .field("slot", &self.slot())
            .field("previous_owner_died", &self.previous_owner_died())
            .finish()
    }
}

/// The write of an [`RwLock`]: given back when dropped (waking every reader kept out), and by
/// the kernel if its holder dies.
///
/// `!Send`: the writer word records the taking thread.
///
/// # Examples
///
/// ```
/// let rw = interlock::RwLock::new()?;
/// let w = rw.write()?;
/// let token = w.token();
/// drop(w);
/// assert!(rw.write()?.token() > token);
/// # Ok::<(), interlock::Error>(())
/// ```
#[must_use = "if unused the write is given back at once"]
#[clippy::has_significant_drop]
pub struct RwLockWriteGuard<'a> {
    hold: Hold<'a>,
    lock: &'a RwLock,
}

impl<'a> RwLockWriteGuard<'a> {
    /// The writer's record and this hold's token, and the reader slots' records: for what
    /// layer 5 adds to guards.
    pub(crate) fn parts(&self) -> (&Raw, u64, impl Iterator<Item = &Raw>) {
        (
            self.hold.raw,
            self.hold.token(),
            self.lock.slots.iter().map(|s| &s.raw),
        )
    }

    /// Under reader preference, before the writer word is released: clears `ENTERED` — if
    /// this thread holds the word (a forked child's copy of the guard must not let readers in
    /// beside its parent's write).
    #[inline(always)]
    fn leave(&self) {
        if self.lock.prefer_readers && self.hold.raw.held_by(&sys::me()) {
            protocol::writer_leave(&self.lock.rec().mark, &self.lock.rec().sleepers);
        }
    }

    /// The same hold, flagged "previous owner died" (a reader died holding its slot).
    fn told(self) -> RwLockWriteGuard<'a> {
        let (raw, token, lock) = (self.hold.raw, self.hold.token(), self.lock);
        std::mem::forget(self);
        RwLockWriteGuard {
            hold: Hold::new(
                raw,
                Acquisition {
                    token,
                    owner_died: true,
                },
            ),
            lock,
        }
    }

    /// Whether a writer died holding the lock, or a reader died holding its slot, since the
    /// last writer: what the lock protects may be half written (a writer's death also
    /// poisons the lock).
    ///
    /// # Examples
    ///
    /// ```
    /// let rw = interlock::RwLock::new()?;
    /// assert!(!rw.write()?.previous_owner_died());
    /// # Ok::<(), interlock::Error>(())
    /// ```
    pub fn previous_owner_died(&self) -> bool {
        self.hold.owner_died()
    }

    /// The fencing token of this write: strictly greater than every earlier write's, in every
    /// process.
    ///
    /// # Examples
    ///
    /// ```
    /// let rw = interlock::RwLock::new()?;
    /// let a = rw.write()?.token();
    /// assert!(rw.write()?.token() > a);
    /// # Ok::<(), interlock::Error>(())
    /// ```
    pub fn token(&self) -> u64 {
        self.hold.token()
    }

    /// Whether the lock is poisoned ([`RwLock::is_poisoned`]).
    ///
    /// # Examples
    ///
    /// ```
    /// let rw = interlock::RwLock::new()?;
    /// assert!(!rw.write()?.is_poisoned());
    /// # Ok::<(), interlock::Error>(())
    /// ```
    pub fn is_poisoned(&self) -> bool {
        self.hold.is_poisoned()
    }

    /// Clears the poison mark ([`RwLock::clear_poison`]).
    ///
    /// # Examples
    ///
    /// ```
    /// let rw = interlock::RwLock::new()?;
    /// let w = rw.write()?;
    /// w.clear_poison();
    /// assert!(!w.is_poisoned());
    /// # Ok::<(), interlock::Error>(())
    /// ```
    pub fn clear_poison(&self) {
        self.lock.clear_poison()
    }

    /// Turns the write into a read, atomically: the read is taken before the write is given
    /// back, so no writer gets in between, and readers kept out come in with it.
    ///
    /// # Errors
    ///
    /// [`Error::NotOwner`] if this is a forked child's copy of the guard (nothing is taken).
    ///
    /// # Examples
    ///
    /// ```
    /// let rw = interlock::RwLock::new()?;
    /// let w = rw.write()?;
    /// let r = w.downgrade()?;
    /// std::thread::scope(|s| {
    ///     s.spawn(|| {
    ///         assert!(rw.try_write().unwrap().is_none(), "still read");
    ///         assert!(rw.try_read().unwrap().is_some(), "others read too");
    ///     });
    /// });
    /// # drop(r);
    /// # Ok::<(), interlock::Error>(())
    /// ```
    pub fn downgrade(self) -> Result<RwLockReadGuard<'a>, Error> {
        let lock = self.lock;
        if !lock.writer.raw.held_by(&sys::me()) {
            return Err(lock.writer.raw.not_owner());
        }
        let guard = match lock.take_slot(None)? {
            Some(g) => g,
            None => unreachable!("an untimed wait for a slot ends with one"),
        };
        drop(self);
        Ok(RwLockReadGuard { guard, lock })
    }

    /// Gives the write back, reporting what dropping it would not.
    ///
    /// # Errors
    ///
    /// [`Error::NotOwner`] if this is a forked child's copy of the guard.
    ///
    /// # Examples
    ///
    /// ```
    /// let rw = interlock::RwLock::new()?;
    /// rw.write()?.unlock()?;
    /// # Ok::<(), interlock::Error>(())
    /// ```
    pub fn unlock(self) -> Result<(), Error> {
        self.leave();
        let result = self.hold.end(false);
        let rec = self.lock.rec();
        std::mem::forget(self);
        protocol::wake_readers(&rec.word, &rec.sleepers);
        result
    }
}

impl Drop for RwLockWriteGuard<'_> {
    #[inline(always)]
    fn drop(&mut self) {
        let rec = self.lock.rec();
        self.leave();
        self.hold
            .drop_hold_then(|| protocol::wake_readers(&rec.word, &rec.sleepers));
    }
}

impl fmt::Debug for RwLockWriteGuard<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RwLockWriteGuard")
            .field("token", &self.token())
            .field("previous_owner_died", &self.previous_owner_died())
            .finish()
    }
}

impl fmt::Debug for RwLock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let status = self.status();
        f.debug_struct("RwLock")
            .field("label", &self.writer.raw.handle_label())
            .field("writer", &status.writer.as_ref().map(|h: &Holder| h.pid))
            .field("readers", &status.readers.len())
            .field("poisoned", &status.poisoned)
            .finish_non_exhaustive()
    }
}

/// The settings of an [`RwLock`] beyond the common ones: its reader slots
/// ([`Options::readers`](crate::Options::readers)).
#[derive(Debug, Clone, Copy, Default)]
pub struct RwLockConfig {
    pub(crate) readers: Option<usize>,
    pub(crate) policy: Option<RwPolicy>,
}

/// The reader slots `n`, checked: 1 to [`MAX_READERS`].
fn check_readers(n: usize, what: &str) -> Result<(), Error> {
    if n == 0 || n > MAX_READERS {
        return Err(Error::RwLockReaders {
            what: what.to_owned(),
            reason: format!("an rwlock has 1 to {MAX_READERS} reader slots, not {n}"),
        });
    }
    Ok(())
}

/// What the builder needs to know of an `RwLock`: its reader slots, checked before anything is
/// created, and checked against an rwlock that exists when they were given.
impl Open for RwLock {
    type Config = RwLockConfig;

    fn kind(_: &RwLockConfig) -> Kind {
        Kind::RwLock
    }

    fn payload<'a>(config: &'a RwLockConfig, what: &str) -> Result<Cow<'a, [u8]>, Error> {
        let n = config.readers.unwrap_or(DEFAULT_READERS);
        check_readers(n, &what.replacen("lock", "rwlock", 1))?;
        let mut payload = table_payload(n as u32).to_vec();
        if config.policy == Some(RwPolicy::PreferReaders) {
            payload.extend_from_slice(&FLAG_PREFER_READERS.to_ne_bytes());
        }
        Ok(Cow::Owned(payload))
    }

    fn check(config: &RwLockConfig) -> Result<(), Error> {
        match config.readers {
            Some(n) => check_readers(n, "inherited rwlock"),
            None => Ok(()),
        }
    }

    fn from_raw(raw: Raw, config: &RwLockConfig) -> Result<RwLock, Error> {
        RwLock::from_raw(raw, config)
    }

    fn raw(&self) -> &Raw {
        &self.writer.raw
    }
}
