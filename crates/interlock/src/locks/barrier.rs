//! Layer 4: [`Barrier`], Python's `multiprocessing.Barrier` across processes — a futex word
//! (`word/barrier.rs`: arrived, generation, broken) and, in the segment's payload, who arrived
//! (a slot per party, two generations' worth) and why it broke, so that waiters find a dead
//! party and break the barrier instead of waiting for ever.
//!
//! Payload (8-byte atomics, `Segment::barrier_words`):
//!
//! | word | what |
//! |------|------|
//! | 0    | why it broke: `generation << 40 \| code << 32 \| dead pid` (code 1 died, 2 timeout, 3 abort); for the generation it names only |
//! | 1    | the last reset: `1 << 32 \| the generation it started` (0: none) |
//! | 2..8 | reserved, zero |
//! | 8..  | `2 × parties` member slots of 4 words: a tag (`pid << 32 \| generation + 1`: the last generation the member arrived in, or is arriving in; `pid << 32 \| CLAIMING` while a process claims the slot; 0: empty), the member's `Ids` (pid as tid), its process identity, zero |
//!
//! A process that arrives finds its own slot, or claims one (empty, or a dead member's that is
//! no party of the last two generations), and writes the generation there *before* the
//! arrival's exchange: a party killed just after it is already known. The slot is the
//! member's own, so an arrival that guessed a place and lost it writes over nobody (parties
//! used to record themselves at their arrival index, where a stale guess could replace the
//! party that took the place, which then went unreported if it died: the random-kill test
//! caught it about once in 500–900 kills under load). While a generation waits, its waiters
//! check every few milliseconds that the members tagged with it or the generation before
//! still run; the first to find one dead records its pid and breaks the barrier. A party that
//! dies before its first arrival (or the first after a reset) is known to nobody and cannot be
//! found: wait with a timeout if that can happen. So is one of more than `2 × parties`
//! processes arriving at one barrier, when every slot belongs to a live member or a party of
//! the last two generations: it arrives unrecorded.

use std::borrow::Cow;
use std::fmt;
use std::time::{Duration, Instant};

use crate::locks::primitive::Open;
use crate::locks::raw::Raw;
use crate::shm::{Segment, BARRIER_HEAD_LEN, BARRIER_SLOT_LEN, MAX_PARTIES};
use crate::sync::{AtomicU32, AtomicU64, Ordering};
use crate::sys::{self, futex::deadline_after, Ids, Liveness};
use crate::types::{BarrierBreak, BarrierStatus, Error, Kind};
use crate::word::barrier::{self as word, Arrival, Wake};

/// How often a waiter checks that the parties it waits with still run: the bound on how long
/// a party's death goes unnoticed (decision 0022 measures it).
const CHECK_EVERY: Duration = Duration::from_millis(10);

/// Words before the slots.
const HEAD_WORDS: usize = BARRIER_HEAD_LEN / 8;
/// Words of a slot.
const SLOT_WORDS: usize = BARRIER_SLOT_LEN / 8;

const DIED: u64 = 1;
const TIMEOUT: u64 = 2;
const ABORT: u64 = 3;

/// A point n processes (or threads) wait at until all n have arrived — Python's
/// `multiprocessing.Barrier` (and `threading.Barrier`), std's `Barrier`, in shared memory and
/// crash-safe.
///
/// Each [`wait`](Barrier::wait) blocks until `parties` waits have arrived; then all return,
/// one of them told it is the leader, and the barrier is ready for the next round (a new
/// *generation*).
///
/// # Owner death
///
/// A party that dies (is SIGKILLed) while others wait *breaks* the barrier: they get
/// [`Error::BrokenBarrier`] with [`BarrierBreak::PartyDied`] and the dead pid, within about
/// 10 ms of the death, instead of waiting for ever — Python's `Barrier` would hang. So does a
/// party of the previous generation that dies before arriving in this one. The barrier stays
/// broken (every `wait` fails at once) until [`reset`](Barrier::reset). Parties are processes:
/// a death is a process's, and a party that exits normally while the others still wait for it
/// is reported the same way.
///
/// A process stops being a party when it drops its handle: a process that ends without
/// dropping it — killed, or leaving through `_exit` as a forked child does — while the others
/// wait for it in the next generation is a dead party. A party that dies before it ever
/// arrived cannot be found (nobody knew of it): give the first wait a timeout if that can
/// happen ([`wait_timeout`](Barrier::wait_timeout)). Each process arriving keeps a slot of its
/// own, of `2 × parties`: beyond that many processes arriving (each slot held by a live process
/// or a party of the last two generations), an arrival goes unrecorded, and so unfound.
///
/// # Differences from `multiprocessing.Barrier`
///
/// - `wait()` returns a [`BarrierWaitResult`]: its [`index`](BarrierWaitResult::index) is
///   Python's return value (0 for the first to arrive, `parties - 1` for the last), and
///   [`is_leader`](BarrierWaitResult::is_leader) std's (the last to arrive, who trips it).
/// - No `action` callable: run it where `is_leader()` is true.
/// - `BrokenBarrierError` is [`Error::BrokenBarrier`], which says why (a death, a timeout, an
///   abort, a reset) and names a dead party.
/// - Python's `n_waiting`, `broken` and `parties` are in [`status`](Barrier::status).
///
/// # Examples
///
/// The parent creates it, children use it:
///
/// ```
/// let barrier = interlock::Barrier::new(3)?;
/// let children: Vec<_> = (0..2)
///     .map(|_| match unsafe { libc::fork() } {
///         0 => {
///             let ok = barrier.wait().is_ok();
///             unsafe { libc::_exit(if ok { 0 } else { 1 }) }
///         }
///         pid => pid,
///     })
///     .collect();
/// barrier.wait()?; // the third party: all three pass together
/// for pid in children {
///     let mut status = 0;
///     unsafe { libc::waitpid(pid, &mut status, 0) };
///     assert_eq!(status, 0);
/// }
/// # Ok::<(), interlock::Error>(())
/// ```
pub struct Barrier {
    raw: Raw,
    parties: u32,
    /// The member slot this process recorded itself in last (`usize::MAX`: none yet), looked
    /// at first, so that an arrival does not scan the `2 × parties` slots; checked every time
    /// (a forked child inherits its parent's).
    my_slot: std::sync::atomic::AtomicUsize,
}

/// What a [`Barrier::wait`] that passed tells its party: its place in the arrival order, and
/// whether it was the leader (the last to arrive, who let everyone through).
///
/// # Examples
///
/// ```
/// let barrier = interlock::Barrier::new(1)?;
/// let passed = barrier.wait()?;
/// assert!(passed.is_leader());
/// assert_eq!(passed.index(), 0);
/// # Ok::<(), interlock::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BarrierWaitResult {
    index: u32,
    leader: bool,
}

impl BarrierWaitResult {
    /// Whether this party was the last to arrive (exactly one party of each generation is).
    pub fn is_leader(&self) -> bool {
        self.leader
    }

    /// This party's place in the arrival order, 0 to `parties - 1`: Python's `wait()` result.
    pub fn index(&self) -> u32 {
        self.index
    }
}

impl Barrier {
    /// The most parties a barrier may have.
    pub const MAX_PARTIES: usize = MAX_PARTIES;

    fn word(&self) -> &AtomicU32 {
        &self.raw.record().word
    }

    fn payload(&self) -> &[AtomicU64] {
        self.raw.segment().barrier_words()
    }

    /// How many parties each generation waits for.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(interlock::Barrier::new(4)?.parties(), 4);
    /// # Ok::<(), interlock::Error>(())
    /// ```
    pub fn parties(&self) -> u32 {
        self.parties
    }

    /// Waits until all the parties have arrived (this one included), then returns with this
    /// party's place in the arrival order.
    ///
    /// # Errors
    ///
    /// [`Error::BrokenBarrier`] when the barrier is broken or breaks while this party waits: a
    /// party died (named), another party's wait timed out, it was aborted, or reset while this
    /// party waited.
    ///
    /// # Examples
    ///
    /// ```
    /// let barrier = interlock::Barrier::new(2)?;
    /// std::thread::scope(|s| {
    ///     let other = s.spawn(|| barrier.wait().unwrap());
    ///     let mine = barrier.wait().unwrap();
    ///     assert!(mine.is_leader() != other.join().unwrap().is_leader());
    /// });
    /// # Ok::<(), interlock::Error>(())
    /// ```
    pub fn wait(&self) -> Result<BarrierWaitResult, Error> {
        self.wait_until(None)
    }

    /// As [`wait`](Barrier::wait), for at most `timeout`; a timeout breaks the barrier for every
    /// party (Python's semantics), this one included.
    ///
    /// # Errors
    ///
    /// As [`wait`](Barrier::wait); the timeout is [`Error::BrokenBarrier`] with
    /// [`BarrierBreak::Timeout`].
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use interlock::{BarrierBreak, Error};
    ///
    /// let barrier = interlock::Barrier::new(2)?;
    /// let err = barrier.wait_timeout(Duration::from_millis(10)).unwrap_err();
    /// assert!(matches!(err, Error::BrokenBarrier { why: BarrierBreak::Timeout, .. }));
    /// assert!(barrier.status().broken.is_some());
    /// # Ok::<(), interlock::Error>(())
    /// ```
    pub fn wait_timeout(&self, timeout: Duration) -> Result<BarrierWaitResult, Error> {
        self.wait_until(Some(
            Instant::now()
                .checked_add(timeout)
                .unwrap_or_else(far_future),
        ))
    }

    fn wait_until(&self, deadline: Option<Instant>) -> Result<BarrierWaitResult, Error> {
        let me = sys::me();
        // Recorded in this process's own slot before the arrival's exchange (a party killed
        // just after it is known); a failed exchange records the next guess over our own.
        let mut slot = Some(self.my_slot.load(Ordering::Relaxed)).filter(|&i| i != usize::MAX);
        let arrival = word::arrive(self.word(), self.parties, |_, generation| {
            slot = self.record(&me, slot, generation);
        });
        if let Some(i) = slot {
            self.my_slot.store(i, Ordering::Relaxed);
        }
        let (index, generation) = match arrival {
            Arrival::Broken => return Err(self.broken_error()),
            Arrival::Leader { index, .. } => {
                return Ok(BarrierWaitResult {
                    index,
                    leader: true,
                });
            }
            Arrival::Waiting { index, generation } => (index, generation),
        };
        loop {
            let now = Instant::now();
            let slice = match deadline {
                Some(d) => d.saturating_duration_since(now).min(CHECK_EVERY),
                None => CHECK_EVERY,
            };
            match word::wait(self.word(), generation, Some(&deadline_after(slice))) {
                Wake::Moved => {
                    let reset = self.payload()[1].load(Ordering::Acquire);
                    return if reset == 1 << 32 | u64::from(word::following(generation)) {
                        Err(self.error(BarrierBreak::Reset, None))
                    } else {
                        Ok(BarrierWaitResult {
                            index,
                            leader: false,
                        })
                    };
                }
                Wake::Broken => return Err(self.broken_error()),
                Wake::TimedOut => {
                    let broke = if deadline.is_some_and(|d| Instant::now() >= d) {
                        self.break_generation(generation, TIMEOUT, 0)
                    } else if let Some(pid) = self.dead_party(&me, generation) {
                        self.break_generation(generation, DIED, pid)
                    } else {
                        continue;
                    };
                    if broke {
                        return Err(self.broken_error());
                    }
                    // The generation moved on (the last party tripped it just as our timeout
                    // or check fired) or another party broke it first: the next look says
                    // which, instead of an `Abort` nobody did while the others pass (a race
                    // found by reading during issue 18's chaos work; decision 0029).
                }
            }
        }
    }

    /// Breaks the barrier: every party waiting now, and every `wait` until a
    /// [`reset`](Barrier::reset), gets [`Error::BrokenBarrier`] with [`BarrierBreak::Abort`] —
    /// Python's `abort()`. Breaking a broken barrier changes nothing.
    ///
    /// # Examples
    ///
    /// ```
    /// let barrier = interlock::Barrier::new(2)?;
    /// barrier.abort();
    /// assert!(barrier.wait().is_err());
    /// # Ok::<(), interlock::Error>(())
    /// ```
    pub fn abort(&self) {
        loop {
            let state = word::State::of(self.word().load(Ordering::Relaxed));
            if state.broken || self.break_generation(state.generation, ABORT, 0) {
                return;
            }
        }
    }

    /// Returns the barrier to its first state — nobody waiting, not broken, nobody known —
    /// ready for use again (Python's `reset()`). Parties waiting now get
    /// [`Error::BrokenBarrier`] with [`BarrierBreak::Reset`].
    ///
    /// # Examples
    ///
    /// ```
    /// let barrier = interlock::Barrier::new(1)?;
    /// barrier.abort();
    /// barrier.reset();
    /// assert!(barrier.wait()?.is_leader());
    /// # Ok::<(), interlock::Error>(())
    /// ```
    pub fn reset(&self) {
        let payload = self.payload();
        // Every member forgotten (each claims a slot again at its next arrival); a claim under
        // way is left to finish.
        for slot in payload[HEAD_WORDS..].chunks(SLOT_WORDS) {
            let tag = slot[0].load(Ordering::Relaxed);
            if tag_generation(tag).is_some() {
                let _ = slot[0].compare_exchange(tag, 0, Ordering::Relaxed, Ordering::Relaxed);
            }
        }
        word::reset(self.word(), |generation| {
            // Release: a waiter that finds its generation moved and reads this sees the reset.
            payload[1].store(1 << 32 | u64::from(generation), Ordering::Release);
        });
    }

    /// The barrier's state — parties, how many wait, the generation, broken and why, who waits
    /// — read without changing it.
    ///
    /// # Examples
    ///
    /// ```
    /// let barrier = interlock::Barrier::new(2)?;
    /// barrier.abort();
    /// assert_eq!(barrier.status().broken, Some(interlock::BarrierBreak::Abort));
    /// # Ok::<(), interlock::Error>(())
    /// ```
    pub fn status(&self) -> BarrierStatus {
        read(self.raw.segment())
    }

    /// Records that the calling process arrives in `generation`, in its own slot (`slot`, the
    /// one it used last in this wait, is looked at first): found by its tag, ids and identity,
    /// or claimed. Returns the slot, or `None` if every slot belongs to a live member or to a
    /// party of the last two generations (the arrival goes unrecorded).
    fn record(&self, me: &sys::Me, slot: Option<usize>, generation: u32) -> Option<usize> {
        let payload = self.payload();
        let slots = 2 * self.parties as usize;
        let ids = Ids {
            pid: me.pid,
            tid: me.pid,
            ns: Ids::unpack(me.ids).ns,
        }
        .pack();
        let new = tag(me.pid, generation);
        let mine = |s: &[AtomicU64], t: u64| {
            t >> 32 == u64::from(me.pid)
                && tag_generation(t).is_some()
                && s[1].load(Ordering::Relaxed) == ids
                && s[2].load(Ordering::Relaxed) == me.start_time
        };
        // Our own slot: only we write a live member's tag (a reset clears it, and then the
        // exchange fails and we claim again).
        for i in slot.filter(|&i| i < slots).into_iter().chain(0..slots) {
            let s = &payload[slot_at(i)..][..SLOT_WORDS];
            let t = s[0].load(Ordering::Acquire);
            if mine(s, t) {
                if t == new
                    || s[0]
                        .compare_exchange(t, new, Ordering::Release, Ordering::Relaxed)
                        .is_ok()
                {
                    return Some(i);
                }
                break;
            }
        }
        let current = word::State::of(self.word().load(Ordering::Acquire)).generation;
        let claiming = u64::from(me.pid) << 32 | CLAIMING;
        for i in 0..slots {
            let s = &payload[slot_at(i)..][..SLOT_WORDS];
            let t = s[0].load(Ordering::Acquire);
            let free = t == 0
                || match tag_generation(t) {
                    // A dead member that is no party of this generation or the one before:
                    // nobody waits for it.
                    Some(g) => {
                        g != current
                            && word::following(g) != current
                            && read_member(s, g).is_some_and(|(who, identity)| {
                                sys::holder_liveness(me, who, identity) == Liveness::Dead
                            })
                    }
                    // A claim whose claimer no longer runs (killed between its two exchanges).
                    None => !sys::thread_exists((t >> 32) as u32, (t >> 32) as u32),
                };
            if !free
                || s[0]
                    .compare_exchange(t, claiming, Ordering::Acquire, Ordering::Relaxed)
                    .is_err()
            {
                continue;
            }
            s[1].store(ids, Ordering::Relaxed);
            s[2].store(me.start_time, Ordering::Relaxed);
            // Release: a reader that sees the tag sees the ids and identity.
            if s[0]
                .compare_exchange(claiming, new, Ordering::Release, Ordering::Relaxed)
                .is_ok()
            {
                return Some(i);
            }
            // Taken from us (a reset, or a look that took our claim for a dead one's): another.
        }
        None
    }

    /// A member tagged with `generation` or the one before (other than this process) that
    /// provably no longer runs: its pid.
    fn dead_party(&self, me: &sys::Me, generation: u32) -> Option<u32> {
        let payload = self.payload();
        let mut seen = Vec::new();
        for i in 0..2 * self.parties as usize {
            let s = &payload[slot_at(i)..][..SLOT_WORDS];
            let Some(g) = tag_generation(s[0].load(Ordering::Acquire)) else {
                continue;
            };
            if g != generation && word::following(g) != generation {
                continue;
            }
            let Some((ids, identity)) = read_member(s, g) else {
                continue;
            };
            if ids.pid == me.pid || seen.contains(&ids.pid) {
                continue;
            }
            seen.push(ids.pid);
            if sys::holder_liveness(me, ids, identity) == Liveness::Dead {
                return Some(ids.pid);
            }
        }
        None
    }

    /// Records why (for `generation` only) and breaks it, if it is still in `generation` and
    /// not broken: whether this call broke it.
    fn break_generation(&self, generation: u32, code: u64, pid: u32) -> bool {
        let why = &self.payload()[0];
        let mine = u64::from(generation) << 40 | code << 32 | u64::from(pid);
        let mut seen = why.load(Ordering::Relaxed);
        loop {
            if seen >> 40 == u64::from(generation) && seen >> 32 & 0xff != 0 {
                break; // somebody recorded why this generation breaks first
            }
            match why.compare_exchange(seen, mine, Ordering::Relaxed, Ordering::Relaxed) {
                Ok(_) => break,
                Err(now) => seen = now,
            }
        }
        word::break_generation(self.word(), Some(generation))
    }

    fn broken_error(&self) -> Error {
        let (why, dead_pid) = broken_why(self.raw.segment()).unwrap_or((BarrierBreak::Abort, None));
        self.error(why, dead_pid)
    }

    fn error(&self, why: BarrierBreak, dead_pid: Option<u32>) -> Error {
        Error::BrokenBarrier {
            what: self.raw.handle_label(),
            why,
            dead_pid,
        }
    }
}

fn far_future() -> Instant {
    Instant::now() + Duration::from_secs(100 * 365 * 24 * 3600)
}

/// The first word of member slot `i`.
fn slot_at(i: usize) -> usize {
    HEAD_WORDS + i * SLOT_WORDS
}

/// A tag's low half while a process claims the slot (its pid in the high half).
const CLAIMING: u64 = 1 << 31;

/// The tag of a member `pid` that arrives in `generation`.
fn tag(pid: u32, generation: u32) -> u64 {
    u64::from(pid) << 32 | (u64::from(generation) + 1)
}

/// The generation a member's tag names; `None` for an empty slot or a claim under way.
fn tag_generation(tag: u64) -> Option<u32> {
    let low = tag as u32;
    (low != 0 && u64::from(low) & CLAIMING == 0).then(|| low - 1)
}

/// The member in `slot` while its tag names `generation`: its ids and identity (read between
/// two looks at the tag, which only a claim changes together with them).
fn read_member(slot: &[AtomicU64], generation: u32) -> Option<(Ids, u64)> {
    let tag = slot[0].load(Ordering::Acquire);
    if tag_generation(tag) != Some(generation) {
        return None;
    }
    let ids = Ids::unpack(slot[1].load(Ordering::Relaxed));
    let identity = slot[2].load(Ordering::Relaxed);
    std::sync::atomic::fence(Ordering::Acquire);
    (slot[0].load(Ordering::Relaxed) >> 32 == tag >> 32 && u64::from(ids.pid) == tag >> 32)
        .then_some((ids, identity))
}

/// Why the barrier in `seg` is broken and who died, if it is broken and it was recorded.
fn broken_why(seg: &Segment) -> Option<(BarrierBreak, Option<u32>)> {
    let state = word::State::of(seg.record().word.load(Ordering::Acquire));
    if !state.broken {
        return None;
    }
    let why = seg.barrier_words()[0].load(Ordering::Relaxed);
    if why >> 40 != u64::from(state.generation) {
        return Some((BarrierBreak::Abort, None));
    }
    let pid = why as u32;
    Some(match why >> 32 & 0xff {
        DIED => (BarrierBreak::PartyDied, Some(pid)),
        TIMEOUT => (BarrierBreak::Timeout, None),
        _ => (BarrierBreak::Abort, None),
    })
}

/// A barrier's state from its segment.
pub(crate) fn read(seg: &Segment) -> BarrierStatus {
    let parties = seg.header().parties() as u32;
    let state = word::State::of(seg.record().word.load(Ordering::Acquire));
    let payload = seg.barrier_words();
    let broken = broken_why(seg);
    let waiting = (0..2 * parties as usize)
        .filter_map(|i| read_member(&payload[slot_at(i)..], state.generation))
        .map(|(ids, _)| ids.pid)
        .take(state.arrived as usize)
        .collect();
    BarrierStatus {
        parties,
        arrived: state.arrived,
        generation: state.generation,
        broken: broken.map(|b| b.0),
        dead_pid: broken.and_then(|b| b.1),
        waiting,
    }
}

/// Leaving: this process is no longer a party, so the next generation does not wait for it
/// (nor take its end for a death) — as when `interlock barrier wait` exits after passing.
impl Drop for Barrier {
    fn drop(&mut self) {
        let me = sys::me();
        let payload = self.payload();
        for slot in payload[HEAD_WORDS..].chunks(SLOT_WORDS) {
            let tag = slot[0].load(Ordering::Acquire);
            if tag_generation(tag).is_some()
                && tag >> 32 == u64::from(me.pid)
                && Ids::unpack(slot[1].load(Ordering::Relaxed)).pid == me.pid
                && slot[2].load(Ordering::Relaxed) == me.start_time
            {
                let _ = slot[0].compare_exchange(tag, 0, Ordering::Relaxed, Ordering::Relaxed);
            }
        }
    }
}

impl fmt::Debug for Barrier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Barrier")
            .field("barrier", &self.raw.handle_label())
            .field("status", &self.status())
            .finish()
    }
}

/// A [`Barrier`]'s own setting: its parties ([`Options::parties`](crate::Options::parties)).
#[derive(Debug, Clone, Copy, Default)]
pub struct BarrierConfig {
    pub(crate) parties: Option<u32>,
}

impl BarrierConfig {
    /// `parties`, checked: 1 to [`MAX_PARTIES`].
    fn checked(self, what: &str) -> Result<Option<u32>, Error> {
        match self.parties {
            Some(n) if n == 0 || n as usize > MAX_PARTIES => Err(Error::BarrierParties {
                what: what.to_owned(),
                parties: n as usize,
                reason: format!("a barrier has 1 to {MAX_PARTIES} parties, not {n}"),
            }),
            n => Ok(n),
        }
    }
}

impl Open for Barrier {
    type Config = BarrierConfig;

    fn kind(_: &BarrierConfig) -> Kind {
        Kind::Barrier
    }

    fn payload<'a>(config: &'a BarrierConfig, what: &str) -> Result<Cow<'a, [u8]>, Error> {
        match config.checked(what)? {
            Some(n) => Ok(Cow::Owned(n.to_ne_bytes().to_vec())),
            None => Err(Error::BarrierParties {
                what: what.to_owned(),
                parties: 0,
                reason: "a barrier needs its number of parties (Options::parties)".to_owned(),
            }),
        }
    }

    fn check(config: &BarrierConfig) -> Result<(), Error> {
        config.checked("a barrier").map(drop)
    }

    fn from_raw(raw: Raw, config: &BarrierConfig) -> Result<Barrier, Error> {
        let found = raw.segment().header().parties() as u32;
        if let Some(n) = config.parties.filter(|&n| n != found) {
            return Err(Error::BarrierParties {
                what: raw.handle_label(),
                parties: n as usize,
                reason: format!("it exists with {found} parties, not {n}"),
            });
        }
        Ok(Barrier {
            raw,
            parties: found,
            my_slot: std::sync::atomic::AtomicUsize::new(usize::MAX),
        })
    }

    fn raw(&self) -> &Raw {
        &self.raw
    }
}
