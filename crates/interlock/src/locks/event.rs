//! Layer 4: [`Event`], Python's `multiprocessing.Event` across processes — a flag in a
//! segment's word (`word/event.rs`) that processes set, clear and wait for.

use std::fmt;
use std::time::Duration;

use crate::locks::primitive::Open;
use crate::locks::raw::Raw;
use crate::shm::Record;
use crate::sync::Ordering;
use crate::sys::futex::deadline_after;
use crate::types::{Error, EventStatus, Kind};
use crate::word::event;

/// A flag that processes (and threads) set, clear and wait for: Python's
/// `multiprocessing.Event`, in shared memory.
///
/// [`set`](Event::set) raises the flag and wakes every waiter; [`clear`](Event::clear) lowers
/// it; [`wait`](Event::wait) returns once it is raised (at once if it is). Share it like a
/// lock: anonymous and inherited by `fork` ([`Event::new`]), handed to a spawned program
/// ([`Event::pass_to`] / [`Event::from_env`]), met by name ([`Event::open`]) or at a path
/// ([`Event::open_path`]).
///
/// # Owner death
///
/// An event has no holder, so a process that dies leaves nothing to recover: a setter that
/// dies before `set` simply never sets it (wait with a timeout if that can happen), and a
/// waiter SIGKILLed in its sleep leaves at most a "somebody may sleep" bit in the word, which
/// costs the next `set` one needless wake-up and is cleared by it. Nothing counts waiters in
/// shared memory, so nothing grows with the deaths.
///
/// # Differences from `multiprocessing.Event`
///
/// - [`wait`](Event::wait) waits for ever; [`wait_timeout`](Event::wait_timeout) is Python's
///   `wait(timeout)` and returns the same thing: `true` if the event was set.
/// - As in Python, a waiter that a `set` woke returns `true` even if a `clear` came before it
///   ran (a "pulse", `set(); clear()`, wakes the waiters it finds): the word counts sets.
/// - It works between unrelated processes (by name or path), not only a parent's children.
///
/// # Examples
///
/// The parent creates it, children use it:
///
/// ```
/// use std::time::Duration;
///
/// let ready = interlock::Event::new()?;
/// let child = unsafe { libc::fork() };
/// if child == 0 {
///     // Child: wait for the parent's signal (inherited through fork).
///     let ok = ready.wait_timeout(Duration::from_secs(10));
///     unsafe { libc::_exit(if ok { 0 } else { 1 }) };
/// }
/// ready.set();
/// let mut status = 0;
/// unsafe { libc::waitpid(child, &mut status, 0) };
/// assert_eq!(status, 0);
/// # Ok::<(), interlock::Error>(())
/// ```
pub struct Event {
    raw: Raw,
}

impl Event {
    /// The word.
    fn word(&self) -> &crate::sync::AtomicU32 {
        &self.raw.record().word
    }

    /// Sets the flag and wakes every process and thread waiting for it. Setting a set flag
    /// changes nothing.
    ///
    /// What this process wrote before `set` is visible to every waiter after its `wait`
    /// returns (a release; `wait` and `is_set` acquire).
    ///
    /// # Examples
    ///
    /// ```
    /// let event = interlock::Event::new()?;
    /// event.set();
    /// assert!(event.is_set());
    /// # Ok::<(), interlock::Error>(())
    /// ```
    pub fn set(&self) {
        event::set(self.word());
    }

    /// Clears the flag: later [`wait`](Event::wait)s block until the next [`set`](Event::set).
    ///
    /// # Examples
    ///
    /// ```
    /// let event = interlock::Event::new()?;
    /// event.set();
    /// event.clear();
    /// assert!(!event.is_set());
    /// # Ok::<(), interlock::Error>(())
    /// ```
    pub fn clear(&self) {
        event::clear(self.word());
    }

    /// Whether the flag is set.
    ///
    /// # Examples
    ///
    /// ```
    /// let event = interlock::Event::new()?;
    /// assert!(!event.is_set());
    /// # Ok::<(), interlock::Error>(())
    /// ```
    pub fn is_set(&self) -> bool {
        event::is_set(self.word())
    }

    /// Blocks until the flag is set (returns at once if it is), or until a [`set`](Event::set)
    /// that happened while this call waited, even if cleared again since.
    ///
    /// # Examples
    ///
    /// ```
    /// let event = interlock::Event::new()?;
    /// std::thread::scope(|s| {
    ///     s.spawn(|| event.set());
    ///     event.wait();
    /// });
    /// # Ok::<(), interlock::Error>(())
    /// ```
    pub fn wait(&self) {
        while !event::wait(self.word(), None) {}
    }

    /// As [`wait`](Event::wait), for at most `timeout`: whether the event was set (false: the
    /// timeout passed first) — Python's `Event.wait(timeout)`.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let event = interlock::Event::new()?;
    /// assert!(!event.wait_timeout(Duration::from_millis(10)));
    /// event.set();
    /// assert!(event.wait_timeout(Duration::ZERO));
    /// # Ok::<(), interlock::Error>(())
    /// ```
    pub fn wait_timeout(&self, timeout: Duration) -> bool {
        event::wait(self.word(), Some(&deadline_after(timeout)))
    }

    /// The event's state — set or not, how many sets so far, whether somebody may be waiting —
    /// read without changing it.
    ///
    /// # Examples
    ///
    /// ```
    /// let event = interlock::Event::new()?;
    /// assert!(!event.status().set);
    /// # Ok::<(), interlock::Error>(())
    /// ```
    pub fn status(&self) -> EventStatus {
        read(self.raw.record())
    }
}

/// An event's state from its record's word.
pub(crate) fn read(rec: &Record) -> EventStatus {
    let v = rec.word.load(Ordering::Acquire);
    EventStatus {
        set: v & event::SET != 0,
        sets: event::sets(v),
        waiters: v & event::WAITERS != 0,
    }
}

impl fmt::Debug for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Event")
            .field("event", &self.raw.handle_label())
            .field("set", &self.is_set())
            .finish()
    }
}

impl Open for Event {
    type Config = ();

    fn kind(_: &()) -> Kind {
        Kind::Event
    }

    fn from_raw(raw: Raw, _: &()) -> Result<Event, Error> {
        Ok(Event { raw })
    }

    fn raw(&self) -> &Raw {
        &self.raw
    }
}
