//! Layer 3: the shared-memory segment — our own versioned header, one lock record, and (for a
//! shared [`Value`](crate::Value)) the value's bytes.
//!
//! ```text
//! offset  size  field
//!      0     8  magic            b"INTRLOCK"
//!      8     4  format version   FORMAT_VERSION (a newer one is refused)
//!     12     4  header length    HEADER_LEN
//!     16     8  segment length   record end + payload rounded up to 64 (the file is at least this long)
//!     24     4  kind             1 = Lock, 2 = RLock, 3 = Value
//!     28     4  record offset    RECORD_OFFSET
//!     32     4  record length    RECORD_LEN
//!     36     4  flags            0 (reserved; a set bit is refused)
//!     40     8  created at       Unix time in ns
//!     48     4  creator pid
//!     52     4  value size       bytes of a Value's type (0 for Lock and RLock; at most MAX_VALUE)
//!     56     8  reserved, zero
//!     64   128  lock record      see [`Record`]
//!    192     …  payload          a Value's selector word, then two slots of the value size
//!                                rounded up to 8 bytes; accessed only as atomics, under the lock
//! ```
//!
//! All integers are native-endian: a segment is shared between processes of one machine, never
//! across machines. Nothing here depends on libc's types, so a musl-static and a glibc program
//! share a lock. The header is read with `pread` and validated before the file is mapped; the
//! mapping is only ever accessed through atomics (and the owner-only node area).
//!
//! # Safety
//!
//! `unsafe` here maps and unmaps the segment and turns the mapping into a `&Record`. A record is
//! all atomics plus an `UnsafeCell` node area, so shared references to it are sound even while
//! other processes write it; the mapping stays alive as long as the `Segment` (and is leaked, not
//! unmapped, if a thread of this process still holds the lock when the `Segment` is dropped,
//! because the kernel's robust list may point into it).

#![allow(unsafe_code)]

use std::cell::UnsafeCell;
use std::fmt;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::ptr::NonNull;

use rustix::fs::{fstat, ftruncate};
use rustix::io::{pread, pwrite};
use rustix::mm::{mmap, munmap, MapFlags, ProtFlags};

use crate::sync::{AtomicU32, AtomicU64, Ordering};
use crate::sys::{self, Me};
use crate::types::{Error, Kind, ProcessGroup, SegmentFault};
use crate::word::{self, Acquired, Blocked, OWNER_TID, TID_MASK, UNREPORTED};

/// `b"INTRLOCK"`: the first eight bytes of every segment.
pub(crate) const MAGIC: [u8; 8] = *b"INTRLOCK";
/// The format this build writes and the newest it reads.
pub(crate) const FORMAT_VERSION: u32 = 1;
/// Bytes of header before the record.
pub(crate) const HEADER_LEN: usize = 64;
/// Where the record starts (cache-line aligned).
pub(crate) const RECORD_OFFSET: usize = 64;
/// Bytes of one lock record.
pub(crate) const RECORD_LEN: usize = 128;
/// Bytes of a segment without payload (a Lock or RLock).
pub(crate) const SEGMENT_LEN: usize = RECORD_OFFSET + RECORD_LEN;
/// Where a Value's payload starts.
pub(crate) const PAYLOAD_OFFSET: usize = SEGMENT_LEN;
/// The largest value a segment may carry.
pub(crate) const MAX_VALUE: usize = 1 << 20;
/// The most locks one table may hold (128 MiB of records).
pub(crate) const MAX_TABLE: usize = 1 << 20;
/// Bytes of one wait-registry slot.
pub(crate) const WAIT_SLOT_LEN: usize = 64;
/// The most slots a wait registry may have.
pub(crate) const MAX_WAIT_SLOTS: usize = 1 << 16;

/// 8-byte words of one slot for a value of `value_size` bytes.
const fn slot_words(value_size: usize) -> usize {
    value_size.div_ceil(8)
}

/// Payload bytes for a value of `value_size` bytes: the selector word and two slots (none for
/// a lock).
const fn payload_len(value_size: usize) -> usize {
    if value_size == 0 {
        0
    } else {
        8 * (1 + 2 * slot_words(value_size))
    }
}

/// The `payload` that [`Segment::initialize`] takes for a LockTable of `n` locks.
pub(crate) fn table_payload(n: u32) -> [u8; 4] {
    n.to_ne_bytes()
}

/// The length of a segment carrying a value of `value_size` bytes (0: a lock).
pub(crate) const fn segment_len(value_size: usize) -> usize {
    SEGMENT_LEN + payload_len(value_size).div_ceil(64) * 64
}

impl Kind {
    fn code(self) -> u32 {
        match self {
            Kind::Lock => 1,
            Kind::RLock => 2,
            Kind::Value => 3,
            Kind::FairLock => 4,
            Kind::LockTable => 5,
            Kind::WaitRegistry => 6,
        }
    }
    fn from_code(code: u32) -> Option<Kind> {
        match code {
            1 => Some(Kind::Lock),
            2 => Some(Kind::RLock),
            3 => Some(Kind::Value),
            4 => Some(Kind::FairLock),
            5 => Some(Kind::LockTable),
            6 => Some(Kind::WaitRegistry),
            _ => None,
        }
    }
}

/// The decoded header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Header {
    pub(crate) kind: Kind,
    pub(crate) created_at_ns: u64,
    pub(crate) creator_pid: u32,
    /// Bytes of a Value's type; the number of locks of a LockTable; 0 for other locks.
    pub(crate) value_size: u32,
}

impl Header {
    /// Bytes of the whole segment.
    pub(crate) fn segment_len(&self) -> usize {
        match self.kind {
            Kind::LockTable => RECORD_OFFSET + self.value_size as usize * RECORD_LEN,
            Kind::WaitRegistry => PAYLOAD_OFFSET + self.value_size as usize * WAIT_SLOT_LEN,
            _ => segment_len(self.value_size as usize),
        }
    }

    /// How many lock records the segment holds.
    pub(crate) fn records(&self) -> usize {
        match self.kind {
            Kind::LockTable => self.value_size as usize,
            _ => 1,
        }
    }
}

impl Header {
    /// The 64 header bytes for this header.
    pub(crate) fn encode(&self) -> [u8; HEADER_LEN] {
        let mut b = [0u8; HEADER_LEN];
        b[0..8].copy_from_slice(&MAGIC);
        b[8..12].copy_from_slice(&FORMAT_VERSION.to_ne_bytes());
        b[12..16].copy_from_slice(&(HEADER_LEN as u32).to_ne_bytes());
        b[16..24].copy_from_slice(&(self.segment_len() as u64).to_ne_bytes());
        b[24..28].copy_from_slice(&self.kind.code().to_ne_bytes());
        b[28..32].copy_from_slice(&(RECORD_OFFSET as u32).to_ne_bytes());
        b[32..36].copy_from_slice(&(RECORD_LEN as u32).to_ne_bytes());
        b[40..48].copy_from_slice(&self.created_at_ns.to_ne_bytes());
        b[48..52].copy_from_slice(&self.creator_pid.to_ne_bytes());
        b[52..56].copy_from_slice(&self.value_size.to_ne_bytes());
        b
    }

    /// Validates and decodes a header. `file_len` is the length of the file it came from.
    /// Any byte string gives either a header or a [`SegmentFault`], never a panic.
    pub(crate) fn decode(bytes: &[u8], file_len: u64) -> Result<Header, SegmentFault> {
        if bytes.len() < 8 || file_len < 8 {
            return Err(SegmentFault::Truncated {
                len: file_len.min(bytes.len() as u64),
                needed: SEGMENT_LEN as u64,
            });
        }
        if bytes[0..8] != MAGIC {
            let mut found = [0u8; 8];
            found.copy_from_slice(&bytes[0..8]);
            return Err(SegmentFault::Foreign { found });
        }
        if bytes.len() < HEADER_LEN || file_len < HEADER_LEN as u64 {
            return Err(SegmentFault::Truncated {
                len: file_len.min(bytes.len() as u64),
                needed: SEGMENT_LEN as u64,
            });
        }
        let u32_at = |at: usize| u32::from_ne_bytes(bytes[at..at + 4].try_into().unwrap());
        let u64_at = |at: usize| u64::from_ne_bytes(bytes[at..at + 8].try_into().unwrap());
        let version = u32_at(8);
        if version > FORMAT_VERSION {
            return Err(SegmentFault::NewerFormat {
                found: version,
                supported: FORMAT_VERSION,
            });
        }
        if version == 0 {
            return Err(SegmentFault::Corrupt("format version 0"));
        }
        if u32_at(12) as usize != HEADER_LEN {
            return Err(SegmentFault::Corrupt("header length is not 64"));
        }
        let kind = Kind::from_code(u32_at(24)).ok_or(SegmentFault::Corrupt("unknown lock kind"))?;
        let value_size = u32_at(52);
        match kind {
            Kind::Lock | Kind::RLock | Kind::FairLock if value_size != 0 => {
                return Err(SegmentFault::Corrupt("a lock carries a value"))
            }
            Kind::Value if value_size == 0 || value_size as usize > MAX_VALUE => {
                return Err(SegmentFault::Corrupt("a value's size is 0 or over 1 MiB"))
            }
            Kind::WaitRegistry if value_size == 0 || value_size as usize > MAX_WAIT_SLOTS => {
                return Err(SegmentFault::Corrupt(
                    "a wait registry's size is 0 or over 2^16 slots",
                ))
            }
            Kind::LockTable if value_size == 0 || value_size as usize > MAX_TABLE => {
                return Err(SegmentFault::Corrupt(
                    "a lock table's size is 0 or over 2^20 locks",
                ))
            }
            _ => {}
        }
        let shape = Header {
            kind,
            created_at_ns: 0,
            creator_pid: 0,
            value_size,
        };
        let recorded_len = u64_at(16);
        if recorded_len != shape.segment_len() as u64 {
            return Err(SegmentFault::Corrupt(
                "segment length does not match format 1",
            ));
        }
        if file_len < recorded_len {
            return Err(SegmentFault::Truncated {
                len: file_len,
                needed: recorded_len,
            });
        }
        if u32_at(28) as usize != RECORD_OFFSET || u32_at(32) as usize != RECORD_LEN {
            return Err(SegmentFault::Corrupt(
                "record placement does not match format 1",
            ));
        }
        if u32_at(36) != 0 {
            return Err(SegmentFault::Corrupt("unknown flags set"));
        }
        if bytes[56..64].iter().any(|&b| b != 0) {
            return Err(SegmentFault::Corrupt("reserved header bytes are not zero"));
        }
        Ok(Header {
            kind,
            created_at_ns: u64_at(40),
            creator_pid: u32_at(48),
            value_size,
        })
    }
}

/// One lock's shared state: 128 bytes, two cache lines, laid out for hand-offs between
/// processes.
///
/// - The word shares its line only with fields that slow paths and observers touch, so the line
///   that waiters spin on changes hands twice per hand-off (the owner's swap, the next owner's
///   compare-exchange) and no more.
/// - The owner-only data — the robust-list node (which must sit 16..40 bytes after the word,
///   where libc's `futex_offset` puts it) and the holder record — is the other line: the new
///   owner takes it over once, and nobody spins on it.
///
/// Every field another process may write is an atomic; the node area is an `UnsafeCell`
/// touched only by the current owner (and by libc and the kernel on its behalf).
#[repr(C, align(64))]
pub(crate) struct Record {
    // ---- line 0: the word, and what only slow paths and observers touch ----
    /// Threads currently sleeping in the contended path.
    pub(crate) waiters: AtomicU32,
    /// How many times an acquirer found the previous owner dead.
    pub(crate) owner_deaths: AtomicU32,
    /// Non-zero while poisoned: 1 = a panic unwound through a guard, 2 = an owner died.
    pub(crate) poisoned: AtomicU32,
    _pad0: AtomicU32,
    /// When acquisition `stamp_token` happened (Unix ns, coarse clock).
    pub(crate) acquired_at_ns: AtomicU64,
    /// Which acquisition `acquired_at_ns` belongs to: the current hold has a time only if this
    /// equals `acquisitions` (acquisitions record none unless their handle asks to).
    pub(crate) stamp_token: AtomicU64,
    /// The process group a hold runs its command in (`LockGuard::spawn_group`), as
    /// `sys::Ids` packed with the group id as pid and tid: what the next holder waits for if
    /// this one dies. Meaningful only while `group_token` is not 0.
    pub(crate) group_ids: AtomicU64,
    /// The process identity (`sys::process_identity`) of the group's leader, so that a
    /// group id reused after the group has gone is not taken for it; 0 while not known.
    pub(crate) group_identity: AtomicU64,
    /// The robust futex word; see `word.rs` for its states.
    pub(crate) word: AtomicU32,
    _reserved1: AtomicU32,
    /// The hold (fencing token) whose group `group_ids` names; 0: no group recorded. Written
    /// last (Release) and cleared first: a reader that finds it unchanged around its reads of
    /// `group_ids` and `group_identity` read one group's fields (a seqlock, as `owner_token`).
    pub(crate) group_token: AtomicU64,
    // ---- line 1: owner-only ----
    /// Bytes word+16..word+40: where the owner's robust-list entry goes (`word - futex_offset`:
    /// glibc's `prev`/`next` at +24..+40, with the node's tagged depth on the list at +16..+24
    /// (decision 0012); musl's entry would be at +20..+36).
    pub(crate) node: UnsafeCell<[u8; 24]>,
    /// The owner's pid, tid and pid-namespace tag, packed by `sys::Ids`, written in one store
    /// (`sys::Me::ids`): a liveness checker that finds a different tid in the word knows the
    /// record still describes the previous holder. Read with [`Record::owner_ids`].
    pub(crate) owner_ids: AtomicU64,
    /// The owner process's boot-unique identity (`sys::process_identity`): pid-reuse-proof.
    pub(crate) owner_identity: AtomicU64,
    /// Acquisitions so far; the current holder's fencing token.
    pub(crate) acquisitions: AtomicU64,
    /// The acquisition (token) that `owner_ids` and `owner_identity` describe,
    /// written after them (Release): a liveness checker that finds it equal to `acquisitions`
    /// knows the identity it read belongs to the current holder, not a previous one.
    pub(crate) owner_token: AtomicU64,
    /// RLock recursion depth (owner-only; meaningful while held).
    pub(crate) depth: AtomicU32,
    _pad1: AtomicU32,
}

const _: () = assert!(std::mem::size_of::<Record>() == RECORD_LEN);
const WORD_AT: usize = std::mem::offset_of!(Record, word);
const _: () = assert!(WORD_AT == 48);
const _: () = assert!(std::mem::offset_of!(Record, node) == WORD_AT + sys::NODE_AREA_START);
const _: () = assert!(std::mem::offset_of!(Record, owner_ids) == WORD_AT + sys::NODE_AREA_END);
const _: () = assert!(
    std::mem::offset_of!(Record, node) == 64,
    "owner-only data starts line 1"
);
const _: () = assert!(
    std::mem::offset_of!(Record, group_ids) == 32
        && std::mem::offset_of!(Record, group_token) == 56,
    "the process group fields take the bytes format 1 reserved (zero: no group)"
);

/// A process group as a lock record names it ([`Record::group`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct GroupRecord {
    /// The group id, with the tag of the pid namespace it is numbered in.
    pub(crate) ids: sys::Ids,
    /// The leader's process identity (0: not known).
    pub(crate) identity: u64,
    /// The hold that started it.
    pub(crate) token: u64,
}

impl GroupRecord {
    /// The group as the public [`ProcessGroup`] shows it.
    pub(crate) fn process_group(self) -> ProcessGroup {
        ProcessGroup {
            pgid: self.ids.pid,
            token: self.token,
            identity: self.identity,
            ns: self.ids.ns,
        }
    }
}

impl Record {
    /// Names process group `pgid` (numbered in pid namespace `ns`) as hold `token`'s: the write
    /// side of the group seqlock (see `group_token`). Only the holder writes it (or, for it,
    /// the child it is spawning, between fork and exec): an atomic store each, nothing else,
    /// so that it is safe in a just-forked child.
    pub(crate) fn set_group(&self, pgid: u32, ns: u32, token: u64) {
        self.group_token.store(0, Ordering::Relaxed);
        std::sync::atomic::fence(Ordering::Release);
        let ids = sys::Ids {
            pid: pgid,
            tid: pgid,
            ns,
        };
        self.group_ids.store(ids.pack(), Ordering::Relaxed);
        self.group_identity.store(0, Ordering::Relaxed);
        self.group_token.store(token, Ordering::Release);
    }

    /// Records the identity of the leader of hold `token`'s group, if the record still names
    /// that hold's group.
    pub(crate) fn set_group_identity(&self, token: u64, identity: u64) {
        if self.group_token.load(Ordering::Relaxed) == token {
            self.group_identity.store(identity, Ordering::Relaxed);
        }
    }

    /// Forgets hold `token`'s group (it is gone), unless the record names another's by now.
    pub(crate) fn clear_group(&self, token: u64) {
        let _ = self
            .group_token
            .compare_exchange(token, 0, Ordering::Relaxed, Ordering::Relaxed);
    }

    /// The process group the record names, if any: a seqlock read (the token, the fields, the
    /// token again), so that fields of two holds' groups are never mixed.
    pub(crate) fn group(&self) -> Option<GroupRecord> {
        let token = self.group_token.load(Ordering::Acquire);
        if token == 0 {
            return None;
        }
        let ids = sys::Ids::unpack(self.group_ids.load(Ordering::Relaxed));
        let identity = self.group_identity.load(Ordering::Relaxed);
        std::sync::atomic::fence(Ordering::Acquire);
        (self.group_token.load(Ordering::Relaxed) == token && ids.pid != 0).then_some(GroupRecord {
            ids,
            identity,
            token,
        })
    }

    /// The word's address, derived from the whole record so that it may be offset into the
    /// node area (a pointer made from `&self.word` is only good for the word's 4 bytes).
    #[inline(always)]
    fn word_ptr(&self) -> *const AtomicU32 {
        (self as *const Record)
            .cast::<u8>()
            .wrapping_add(WORD_AT)
            .cast()
    }

    /// The owner bits the calling thread stores in this word: its tid, plus `UNREPORTED` when
    /// the word will not be on its robust list (`link` false: a segment others can write; or a
    /// thread without a usable robust list).
    #[inline(always)]
    pub(crate) fn owner_bits(me: &Me, link: bool) -> u32 {
        if link && me.may_link() {
            me.tid
        } else {
            me.tid | UNREPORTED
        }
    }

    /// Fast path: takes a free word in one compare-exchange, with the kernel's robust list kept
    /// right — the word is named in `list_op_pending` before it can become ours and linked on the
    /// thread's list once it is, so a death at any instant in between is still seen.
    #[inline(always)]
    pub(crate) fn try_acquire_fast(&self, me: &Me, link: bool) -> Took {
        // The two cases apart, each straight-line (`owner_bits` would pick the bits first and
        // then branch on them again).
        if link && me.may_link() {
            self.try_acquire_linked(me)
        } else if word::try_lock_fast(&self.word, me.tid | UNREPORTED) {
            Took::Unreported
        } else {
            Took::No
        }
    }

    /// [`Record::try_acquire_fast`] for a trusted segment and a thread that may link
    /// (`me.may_link()`, checked by the caller): the word is linked on the list once taken —
    /// unless the thread already has [`sys::LINK_LIMIT`] words there, when it keeps the word
    /// UNREPORTED instead.
    #[inline(always)]
    pub(crate) fn try_acquire_linked(&self, me: &Me) -> Took {
        // SAFETY: `self.word` is followed by this record's node area, which only the word's
        // owner touches; the record stays mapped while `&self` lives, and `me` is the calling
        // thread (it is !Send and only made by `sys::me()`).
        unsafe { me.set_pending(self.word_ptr()) };
        if !word::try_lock_fast(&self.word, me.tid) {
            me.clear_pending();
            return Took::No;
        }
        // SAFETY: as for `set_pending`; the word is ours now (the exchange from UNLOCKED
        // succeeded), so it was not ours, hence not linked, before.
        if unsafe { me.enqueue(self.word_ptr()) } {
            Took::Linked
        } else {
            self.keep_unreported(me);
            Took::Unreported
        }
    }

    /// The word, ours and named in `list_op_pending` but not linked (the thread's list is at
    /// its limit), becomes UNREPORTED: a death from here on is for waiters to find, and until
    /// the flag is set the kernel still finds the word through `list_op_pending`.
    #[cold]
    fn keep_unreported(&self, me: &Me) {
        self.word.fetch_or(UNREPORTED, Ordering::Relaxed);
        me.clear_pending();
    }

    /// Slow path: `slow` waits for the word (given it and the owner bits); whatever it returns,
    /// the word is linked only if it really is ours afterwards.
    #[cold]
    #[inline(never)]
    pub(crate) fn acquire_contended(
        &self,
        me: &Me,
        link: bool,
        slow: impl FnOnce(&AtomicU32, u32, Option<&dyn Fn(bool)>) -> Result<Acquired, Blocked>,
    ) -> Result<Acquired, Blocked> {
        if self.held_by(me) {
            return Err(Blocked::WouldDeadlock);
        }
        let bits = Record::owner_bits(me, link);
        let linked = bits & UNREPORTED == 0;
        // `list_op_pending` names the word only around the attempts to take it (the word layer
        // arms it just before each exchange that could make the word ours, and disarms it before
        // sleeping): a thread killed while it sleeps must not leave the kernel a pending word,
        // which it would mark "owner died" if the word's holder had this thread's number in
        // another pid namespace.
        let arm = |on: bool| {
            if on {
                // SAFETY: as in `try_acquire_fast`.
                unsafe { me.set_pending(self.word_ptr()) };
            } else {
                me.clear_pending();
            }
        };
        let got = slow(&self.word, bits, if linked { Some(&arm) } else { None });
        if got.is_ok() {
            assert_eq!(
                self.word.load(Ordering::Relaxed) & TID_MASK,
                bits,
                "interlock bug: the slow path reported success without taking the word"
            );
            if linked {
                // SAFETY: as in `try_acquire_fast`; the word is ours (just checked) and was not
                // before (checked on entry), so it is not linked yet.
                if !unsafe { me.enqueue(self.word_ptr()) } {
                    self.keep_unreported(me);
                }
            }
        } else if linked {
            me.clear_pending();
        }
        got
    }

    /// Whether the calling thread owns the word: its thread id is in the word and its process
    /// recorded itself as the holder. The tid alone is not enough — a thread of another pid
    /// namespace can have the same number (decision 0011) — and a holder clears its identity
    /// before it releases, so a record left by an earlier hold of ours never vouches for a
    /// word that a same-numbered thread elsewhere has just taken.
    #[inline(always)]
    pub(crate) fn held_by(&self, me: &Me) -> bool {
        self.word.load(Ordering::Relaxed) & OWNER_TID == me.tid
            && self.owner_identity.load(Ordering::Relaxed) == me.start_time
    }

    /// The recorded owner's pid, tid and namespace tag.
    pub(crate) fn owner_ids(&self) -> sys::Ids {
        sys::Ids::unpack(self.owner_ids.load(Ordering::Relaxed))
    }

    /// The word's owner bits (`word & TID_MASK`) if the calling thread owns it (as
    /// [`Record::held_by`] decides).
    #[inline(always)]
    pub(crate) fn owner_bits_if_held(&self, me: &Me) -> Option<u32> {
        let owner = self.word.load(Ordering::Relaxed) & TID_MASK;
        (owner & OWNER_TID == me.tid
            && self.owner_identity.load(Ordering::Relaxed) == me.start_time)
            .then_some(owner)
    }

    /// Forgets the holder's identity, just before the holder releases the word (see
    /// [`Record::held_by`]). The word's Release orders it before the next owner's record.
    #[inline(always)]
    fn forget_owner(&self) {
        self.owner_identity.store(0, Ordering::Relaxed);
    }

    /// Releases the word if the calling thread owns it, unlinking it from the thread's robust
    /// list first when it was linked. Returns false (and changes nothing) if it does not own it.
    #[inline(always)]
    pub(crate) fn release(&self, me: &Me, link: bool, fair: bool) -> bool {
        let Some(owner) = self.owner_bits_if_held(me) else {
            return false;
        };
        // SAFETY: `owner` was read from the word just now and names the calling thread.
        unsafe { self.release_owned(me, owner, link, fair) };
        true
    }

    /// The uncontended release of a hold, as leaf code (no call in it): `Refused`, changing
    /// nothing, unless the calling thread's list is known, `hold` is the current acquisition
    /// number (a guard passes its token with its flag bits, so a flagged hold takes the full
    /// path), this process recorded itself for it and has not released since, and the hold
    /// was recorded as linked. The caller then takes its full path, which says what was wrong.
    /// `Raced` when a sleeper announced itself: the caller completes the release with
    /// [`Record::finish_raced_release`]. `reentrant` (an RLock): a depth above 1 is
    /// decremented instead.
    ///
    /// It decides from the record's owner line alone, never from the word: under contention
    /// other processes keep reading the word, and a look at it before the exchange that
    /// releases it would fetch its cache line twice, once to read and once to own (decision
    /// 0019). The owner line tells as much:
    /// - `acquisitions == hold`: nobody took the word since this hold began;
    /// - `owner_identity` is this process's: nobody released it since, since every release
    ///   forgets the identity first (and every later acquisition, which would write the
    ///   identity again, changes `acquisitions` first, before its Release store of the
    ///   identity, which our Acquire load pairs with). Guards are `!Send`, so the thread
    ///   releasing is the one that took it;
    /// - `owner_token != hold`: the hold was recorded by `Raw::record_holder_linked`, which
    ///   leaves `owner_token` older than the hold, for a word linked on this thread's list;
    ///   holds the kernel will not report record their token there (`Raw::record_holder`).
    #[inline(always)]
    pub(crate) fn release_hold_fast(&self, hold: u64, link: bool, reentrant: bool) -> FastRelease {
        // A thread not known yet, or a forked child (whose thread-local is a copy of its
        // parent's, list head aside), has no list head; a signal handler that interrupted a
        // list operation of its thread finds `list_op_pending` set: both fail `may_link`.
        let me = sys::me_or_nobody();
        if !link
            || !me.may_link()
            || self.owner_identity.load(Ordering::Acquire) != me.start_time
            || self.acquisitions.load(Ordering::Relaxed) != hold
            || self.owner_token.load(Ordering::Relaxed) == hold
        {
            return FastRelease::Refused;
        }
        if reentrant {
            // An RLock: only the outermost level releases the word.
            let depth = self.depth.load(Ordering::Relaxed);
            if depth > 1 {
                self.depth.store(depth - 1, Ordering::Relaxed);
                return FastRelease::Done;
            }
        }
        self.forget_owner();
        // SAFETY: the word is this thread's and was linked by it (the owner line says so, see
        // above: taken by this thread for this hold, recorded as linked, not released since);
        // node area and mapping as in `try_acquire_fast`; `list_op_pending` is clear
        // (`may_link`, above).
        let pending = unsafe { me.dequeue_idle(self.word_ptr()) };
        // The word is `tid`, or `tid | WAITERS` if a sleeper announced itself: one exchange
        // in the first case; in the second, `finish_raced_release` out of line, through the
        // caller's one cold call (each call in a guard's drop counts against its inlining).
        if word::try_unlock_seen(&self.word, me.tid) {
            pending.clear();
            FastRelease::Done
        } else {
            pending.keep();
            FastRelease::Raced
        }
    }

    /// Completes a [`Record::release_hold_fast`] that returned [`FastRelease::Raced`]: the
    /// word, still ours with `WAITERS`, is released (waking a sleeper, or handing it over on
    /// a fair lock), then `list_op_pending` cleared.
    #[cold]
    #[inline(never)]
    pub(crate) fn finish_raced_release(&self, fair: bool) {
        word::unlock_raced(&self.word, fair);
        sys::me_or_nobody().clear_pending();
    }

    /// Releases the word, unlinking it from the thread's robust list first when it was linked.
    ///
    /// # Safety
    ///
    /// The calling thread (`me`) owns the word, and `owner` is its owner bits
    /// (`word & TID_MASK`) as read after it took it.
    #[inline(always)]
    unsafe fn release_owned(&self, me: &Me, owner: u32, link: bool, fair: bool) {
        // We wrote `owner` ourselves when we took the word; only a segment we trust (`link`) is
        // believed about it, so memory others can write never steers our list edits.
        let linked = link && owner & UNREPORTED == 0 && me.robust();
        self.forget_owner();
        // SAFETY: the word is ours (the caller's contract) and, being free of UNREPORTED in a
        // trusted segment, was linked by `try_acquire_fast`/`acquire_contended` on this
        // thread; node area and mapping as there.
        let pending = linked.then(|| unsafe { me.dequeue(self.word_ptr()) });
        if fair {
            word::unlock_fair(&self.word);
        } else {
            word::unlock(&self.word);
        }
        if let Some(pending) = pending {
            pending.clear();
        }
    }

    /// Releases the word if the calling thread owns it and `token` is the current acquisition
    /// (a guard's hold, not a later one); `before` runs between that check and the release and
    /// may keep the word by returning false. Returns false, running nothing, for a hold that is
    /// not current.
    #[inline(always)]
    pub(crate) fn release_hold(
        &self,
        me: &Me,
        token: u64,
        link: bool,
        fair: bool,
        before: impl FnOnce() -> bool,
    ) -> bool {
        if self.owner_bits_if_held(me).is_none()
            || self.acquisitions.load(Ordering::Relaxed) != token
        {
            return false;
        }
        // `release` looks at the word once more: `before` is the caller's code.
        !before() || self.release(me, link, fair)
    }
}

// SAFETY: a Record lives in shared memory and is shared between threads by design: every field
// is an atomic except `node`, which only the thread that owns `word` accesses (a protocol
// enforced by `Me::enqueue`/`dequeue`'s contracts).
unsafe impl Sync for Record {}

/// How [`Record::release_hold_fast`] went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FastRelease {
    /// Released (or, for an RLock, one level of it).
    Done,
    /// Nothing changed: the full path decides (and says what was wrong).
    Refused,
    /// The hold's word is unlinked and its owner forgotten, but a sleeper announced itself
    /// before the exchange: the word is still ours (with `WAITERS`) and `list_op_pending`
    /// names it; [`Record::finish_raced_release`] completes the release.
    Raced,
}

/// How [`Record::try_acquire_linked`] or [`Record::try_acquire_fast`] went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Took {
    /// The word was not free.
    No,
    /// Taken and linked on the thread's robust list.
    Linked,
    /// Taken UNREPORTED: the segment is one others can write, the thread has no usable list,
    /// or its list is at its limit.
    Unreported,
}

/// One record of a segment, resolved once (the fast path reads it without going through the
/// `Arc`), with the segment kept alive for as long as the record is reachable.
pub(crate) struct RecordRef {
    seg: std::sync::Arc<Segment>,
    /// The record's first byte (a byte pointer, like the segment's own `base`, so that a lock
    /// stays `UnwindSafe`: what a panic leaves behind is the poison flag's business).
    rec: NonNull<u8>,
    index: usize,
}

// SAFETY: `rec` points into the mapping that `seg` (Send + Sync) owns; only `&Record` is handed
// out through it, and Record is Sync.
unsafe impl Send for RecordRef {}
// SAFETY: as for Send.
unsafe impl Sync for RecordRef {}

impl Clone for RecordRef {
    fn clone(&self) -> RecordRef {
        RecordRef {
            seg: std::sync::Arc::clone(&self.seg),
            rec: self.rec,
            index: self.index,
        }
    }
}

impl RecordRef {
    /// Makes each child that `cmd` spawns name itself in this record, between fork and exec,
    /// as the leader of hold `token`'s process group ([`Record::set_group`]; `ns`: the pid
    /// namespace tag to record with it): the record names the group before the child runs a
    /// single instruction of the program, so a holder killed at any instant leaves nothing
    /// unnamed. The child must lead its own group by then (`CommandExt::process_group(0)`,
    /// which std applies before `pre_exec` hooks).
    pub(crate) fn name_group_at_spawn(&self, cmd: &mut std::process::Command, token: u64, ns: u32) {
        use std::os::unix::process::CommandExt;
        let at = self.clone();
        let hook = move || {
            let pid = rustix::process::getpid().as_raw_nonzero().get() as u32;
            at.get().set_group(pid, ns, token);
            Ok(())
        };
        // SAFETY: the hook makes one system call (getpid) and stores to atomics in the
        // mapping, which the `Arc<Segment>` it owns keeps mapped in the child; it allocates
        // nothing and takes no locks, as `pre_exec` requires of code between fork and exec.
        unsafe { cmd.pre_exec(hook) };
    }

    /// Record `index` of `seg` (panics if out of range, like [`Segment::record_at`]).
    pub(crate) fn new(seg: std::sync::Arc<Segment>, index: usize) -> RecordRef {
        let rec = NonNull::from(seg.record_at(index)).cast::<u8>();
        RecordRef { seg, rec, index }
    }

    /// The record.
    #[inline(always)]
    pub(crate) fn get(&self) -> &Record {
        // SAFETY: `rec` came from `seg.record_at(index)`, a reference into the segment's
        // mapping, which stays mapped (and never moves) while the `Arc<Segment>` we hold
        // lives; the borrow returned cannot outlive `self`.
        unsafe { self.rec.cast::<Record>().as_ref() }
    }

    pub(crate) fn segment(&self) -> &std::sync::Arc<Segment> {
        &self.seg
    }

    pub(crate) fn index(&self) -> usize {
        self.index
    }
}

/// A mapped segment: the mapping, and either its descriptor (memfds, inherited segments) or,
/// for a lock file, the path and identity to reopen it by when a child needs a descriptor. A
/// process may hold thousands of named locks: they must not cost a descriptor each (the usual
/// soft limit is 1024).
pub(crate) struct Segment {
    /// Device and inode of the file or memfd: the lock's identity across processes.
    dev: u64,
    ino: u64,
    fd: Option<OwnedFd>,
    /// Set when `fd` was closed: the file's path, device and inode.
    file: Option<(std::path::PathBuf, u64, u64)>,
    base: NonNull<u8>,
    header: Header,
}

// SAFETY: the mapping is process-wide memory reached only through atomics (see `Record`), and
// `fd` is an owned descriptor; nothing is tied to the creating thread.
unsafe impl Send for Segment {}
// SAFETY: as for Send; `&Segment` only hands out `&Record`, which is Sync.
unsafe impl Sync for Segment {}

impl Segment {
    /// Writes a fresh header, zeroed records and (for a Value) the initial `value` into `fd`
    /// (which must be new and empty). `value` is empty for locks; for a LockTable it is the
    /// number of locks as 4 native-endian bytes ([`table_payload`]).
    pub(crate) fn initialize(fd: &OwnedFd, kind: Kind, value: &[u8]) -> std::io::Result<()> {
        let value_size = match kind {
            Kind::LockTable | Kind::WaitRegistry => {
                u32::from_ne_bytes(value.try_into().map_err(|_| {
                    std::io::Error::new(std::io::ErrorKind::InvalidInput, "a table's size")
                })?)
            }
            // Never write (and so never publish) a header `decode` refuses: a Value of no
            // bytes or of more than MAX_VALUE would block its name for good. `Value` refuses
            // such types before creating anything; this is the backstop.
            Kind::Value if value.is_empty() || value.len() > MAX_VALUE => {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidInput,
                    format!("a value of {} bytes (1 to {MAX_VALUE})", value.len()),
                ));
            }
            _ => value.len() as u32,
        };
        let header = Header {
            kind,
            created_at_ns: sys::now_coarse_ns(),
            creator_pid: std::process::id(),
            value_size,
        };
        ftruncate(fd, header.segment_len() as u64)?;
        if kind == Kind::Value {
            // Selector 0 (slot A current), slot A = the value, slot B zero.
            let mut payload = vec![0u8; payload_len(value.len())];
            payload[8..8 + value.len()].copy_from_slice(value);
            let payload = payload.as_slice();
            let written = pwrite(fd, payload, PAYLOAD_OFFSET as u64)?;
            if written != payload.len() {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::WriteZero,
                    "short write of the initial value",
                ));
            }
        }
        let bytes = header.encode();
        let written = pwrite(fd, &bytes, 0)?;
        if written != bytes.len() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::WriteZero,
                "short write of the segment header",
            ));
        }
        Ok(())
    }

    /// Validates the header in `fd` and maps the segment. `what` names it in errors.
    pub(crate) fn map(fd: OwnedFd, what: &str) -> Result<Segment, Error> {
        let st = fstat(&fd).map_err(|e| Error::io("fstat", what, e))?;
        let mut bytes = [0u8; HEADER_LEN];
        let n = pread(&fd, &mut bytes, 0).map_err(|e| Error::io("read header of", what, e))?;
        let header =
            Header::decode(&bytes[..n], st.st_size as u64).map_err(|fault| Error::BadSegment {
                what: what.to_owned(),
                fault,
            })?;
        // SAFETY: we map a fresh region (no address hint) of the segment's length, of a file at
        // least that long (checked by `decode` against fstat), shared so other processes see
        // our atomics. The pointer is only used through `record()`/`payload()` while `self`
        // lives.
        let ptr = unsafe {
            mmap(
                std::ptr::null_mut(),
                header.segment_len(),
                ProtFlags::READ | ProtFlags::WRITE,
                MapFlags::SHARED,
                &fd,
                0,
            )
        }
        .map_err(|e| Error::io("mmap", what, e))?;
        let base = NonNull::new(ptr.cast::<u8>()).expect("mmap returned null without error");
        Ok(Segment {
            dev: st.st_dev,
            ino: st.st_ino,
            fd: Some(fd),
            file: None,
            base,
            header,
        })
    }

    /// Closes the descriptor of a lock file mapped from `path`; [`Segment::descriptor`]
    /// reopens it by path (and checks it is still the same file) when one is needed.
    pub(crate) fn close_fd(mut self, path: &std::path::Path) -> Result<Segment, Error> {
        if let Some(fd) = self.fd.take() {
            let st = fstat(&fd).map_err(|e| Error::io("fstat", path.display(), e))?;
            // Absolute, so that a later change of directory does not change what it names.
            let path = std::path::absolute(path).unwrap_or_else(|_| path.to_owned());
            self.file = Some((path, st.st_dev, st.st_ino));
        }
        Ok(self)
    }

    /// Device and inode: which file (or memfd) this is, the same in every process.
    pub(crate) fn identity(&self) -> (u64, u64) {
        (self.dev, self.ino)
    }

    /// A wait registry's slots as 8-byte atomics (`WAIT_SLOT_LEN / 8` words a slot).
    pub(crate) fn registry_words(&self) -> &[AtomicU64] {
        assert_eq!(self.header.kind, Kind::WaitRegistry, "not a wait registry");
        self.payload_words(self.header.value_size as usize * WAIT_SLOT_LEN / 8)
    }

    /// The first `words` 8-byte words after the records (a Value's payload, a wait registry's
    /// slots) as atomics, since other processes write them. Panics if the segment is shorter.
    fn payload_words(&self, words: usize) -> &[AtomicU64] {
        assert!(
            PAYLOAD_OFFSET + 8 * words <= self.header.segment_len(),
            "{words} payload words past the end of a {:?} segment",
            self.header.kind
        );
        // SAFETY: `base + PAYLOAD_OFFSET .. + 8 * words` lies inside our live mapping of
        // `segment_len()` bytes (checked above); PAYLOAD_OFFSET is a multiple of 64 and mmap
        // returns page-aligned memory, so the words are 8-aligned; AtomicU64 is valid for any
        // bit pattern, and shared references to atomics in memory others write are sound.
        unsafe {
            std::slice::from_raw_parts(
                self.base
                    .as_ptr()
                    .wrapping_add(PAYLOAD_OFFSET)
                    .cast::<AtomicU64>(),
                words,
            )
        }
    }

    /// The segment's descriptor while it is open (not after [`Segment::close_fd`]).
    pub(crate) fn fd(&self) -> Option<BorrowedFd<'_>> {
        self.fd.as_ref().map(AsFd::as_fd)
    }

    /// A new descriptor of the segment, for a child: a duplicate, or the lock file reopened by
    /// path — refused if the path now names another file (removed and recreated, say).
    pub(crate) fn descriptor(&self) -> std::io::Result<OwnedFd> {
        if let Some(fd) = &self.fd {
            return fd.try_clone();
        }
        let (path, dev, ino) = self
            .file
            .as_ref()
            .expect("a segment has a descriptor or a path");
        let fd = rustix::fs::open(
            path,
            rustix::fs::OFlags::RDWR
                | rustix::fs::OFlags::CLOEXEC
                | rustix::fs::OFlags::NOFOLLOW
                | rustix::fs::OFlags::NONBLOCK,
            rustix::fs::Mode::empty(),
        )?;
        let st = fstat(&fd)?;
        if st.st_dev != *dev || st.st_ino != *ino {
            return Err(std::io::Error::other(
                "the lock file was removed or replaced since this process opened it",
            ));
        }
        Ok(fd)
    }

    /// Record `i` of a LockTable (record 0 of any other segment).
    ///
    /// # Panics
    ///
    /// If `i` is not below [`Header::records`].
    #[inline]
    pub(crate) fn record_at(&self, i: usize) -> &Record {
        assert!(
            i < self.header.records(),
            "record {i} of {}",
            self.header.records()
        );
        // SAFETY: as in `record`; record `i` lies inside the mapping (`segment_len` covers
        // `records()` records after RECORD_OFFSET) and is 64-byte aligned (RECORD_LEN is 128).
        unsafe {
            &*self
                .base
                .as_ptr()
                .wrapping_add(RECORD_OFFSET + i * RECORD_LEN)
                .cast::<Record>()
        }
    }

    /// The lock record.
    #[inline]
    pub(crate) fn record(&self) -> &Record {
        // SAFETY: `base + RECORD_OFFSET` is inside a live mapping of at least SEGMENT_LEN bytes, 64-byte
        // aligned (mmap returns page-aligned memory), and Record is valid for any bit pattern
        // (atomics and bytes), so a shared reference for the life of `self` is sound.
        unsafe {
            &*self
                .base
                .as_ptr()
                .wrapping_add(RECORD_OFFSET)
                .cast::<Record>()
        }
    }

    pub(crate) fn header(&self) -> &Header {
        &self.header
    }

    /// A Value's payload as atomics — the selector word and the two slots — since other
    /// processes write it (under the lock, but a reference must be sound whatever they do).
    pub(crate) fn value_words(&self) -> (&AtomicU64, &[AtomicU64], &[AtomicU64]) {
        let n = slot_words(self.header.value_size as usize);
        let words = payload_len(self.header.value_size as usize) / 8;
        assert!(words > 0, "value_words of a segment without a value");
        let all = self.payload_words(words);
        (&all[0], &all[1..1 + n], &all[1 + n..1 + 2 * n])
    }
}

impl Drop for Segment {
    fn drop(&mut self) {
        // A thread of ours that still owns the word (a leaked guard) has it on its robust list:
        // the kernel will walk that entry when the thread dies, and libc may write next to it.
        // Unmapping would leave the list pointing at nothing (or at whatever is mapped next), so
        // the mapping is kept: a deliberate leak of one page, only after a leaked guard.
        for i in 0..self.header.records() {
            let owner = self.record_at(i).word.load(Ordering::Relaxed) & OWNER_TID;
            if owner != 0 && sys::is_own_thread(owner) {
                return;
            }
        }
        // SAFETY: `base` is the start of our own mapping of the segment's length; no `&Record`
        // or payload slice outlives `self` (they borrow it), and no robust list of this process
        // points into it (checked above).
        let _ = unsafe { munmap(self.base.as_ptr().cast(), self.header.segment_len()) };
    }
}

impl fmt::Debug for Segment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Segment")
            .field("fd", &self.fd.as_ref().map(AsRawFd::as_raw_fd))
            .field("file", &self.file.as_ref().map(|(p, _, _)| p))
            .field("kind", &self.header.kind)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Header {
        Header {
            kind: Kind::RLock,
            created_at_ns: 1_700_000_000_000_000_000,
            creator_pid: 4242,
            value_size: 0,
        }
    }

    #[test]
    fn header_round_trips() {
        let h = sample();
        assert_eq!(Header::decode(&h.encode(), SEGMENT_LEN as u64), Ok(h));
    }

    #[test]
    fn foreign_magic_is_named() {
        let mut b = sample().encode();
        b[0..8].copy_from_slice(b"\x7fELF\x02\x01\x01\x00");
        assert!(matches!(
            Header::decode(&b, SEGMENT_LEN as u64),
            Err(SegmentFault::Foreign { found }) if &found[1..4] == b"ELF"
        ));
    }

    #[test]
    fn newer_version_is_refused_with_both_versions() {
        let mut b = sample().encode();
        b[8..12].copy_from_slice(&7u32.to_ne_bytes());
        assert_eq!(
            Header::decode(&b, SEGMENT_LEN as u64),
            Err(SegmentFault::NewerFormat {
                found: 7,
                supported: FORMAT_VERSION
            })
        );
    }

    #[test]
    fn short_files_are_truncated_not_garbage() {
        let b = sample().encode();
        assert!(matches!(
            Header::decode(&b[..4], 4),
            Err(SegmentFault::Truncated { .. })
        ));
        assert!(matches!(
            Header::decode(&b[..30], 30),
            Err(SegmentFault::Truncated { .. })
        ));
        assert_eq!(
            Header::decode(&b, 100),
            Err(SegmentFault::Truncated {
                len: 100,
                needed: SEGMENT_LEN as u64
            })
        );
    }

    /// Fuzz-style property, deterministic: any bytes and any file length give a header or an
    /// error, never a panic; whatever decodes re-encodes to the same 64 bytes.
    #[test]
    fn arbitrary_bytes_decode_or_fail_cleanly() {
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let valid = sample().encode();
        let mut decoded = 0;
        for round in 0..200_000 {
            let mut b = [0u8; HEADER_LEN];
            if round % 2 == 0 {
                // Mutations of a valid header reach the deeper checks.
                b = valid;
                for _ in 0..1 + next() % 3 {
                    let i = (next() % HEADER_LEN as u64) as usize;
                    b[i] = next() as u8;
                }
            } else {
                b.iter_mut().for_each(|byte| *byte = next() as u8);
            }
            let len = (next() % HEADER_LEN as u64) as usize + 1;
            let file_len = next() % 512;
            if let Ok(h) = Header::decode(
                &b[..len.max(if round % 3 == 0 { HEADER_LEN } else { 0 })],
                file_len,
            ) {
                decoded += 1;
                assert_eq!(Header::decode(&h.encode(), SEGMENT_LEN as u64), Ok(h));
                assert_eq!(
                    &h.encode()[..40],
                    &b[..40],
                    "decode accepted bytes encode would not write"
                );
            }
        }
        assert!(
            decoded > 0,
            "the mutations never produced a valid header: the property is vacuous"
        );
    }

    #[test]
    fn every_corruption_is_an_error() {
        for (at, value) in [
            (12usize, 65u32),
            (16, 4096),
            (24, 9),
            (28, 8),
            (32, 64),
            (36, 1),
            (52, 1),
        ] {
            let mut b = sample().encode();
            b[at..at + 4].copy_from_slice(&value.to_ne_bytes());
            assert!(
                matches!(Header::decode(&b, 4096), Err(SegmentFault::Corrupt(_))),
                "byte {at} = {value} accepted"
            );
        }
    }
}
