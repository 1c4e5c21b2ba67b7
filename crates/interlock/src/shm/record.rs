//! A lock record: the word and what its holder records, laid out for hand-offs between
//! processes, and the protocol that takes and releases it with the kernel's robust list kept
//! right (`Record::{try_acquire_fast, try_acquire_linked, acquire_contended, release,
//! release_hold_fast}`: the only callers of the robust list's unsafe operations).
//!
//! # Safety
//!
//! `unsafe` here hands the word's node area to the robust-list operations of `sys` (whose
//! contracts each call site states) and declares a `Record` `Sync`: it is all atomics plus the
//! node area, which only the word's owner touches.

#![allow(unsafe_code)]

use std::cell::UnsafeCell;

use super::header::RECORD_LEN;
use crate::sync::{AtomicU32, AtomicU64, Ordering};
use crate::sys::{self, Me};
use crate::types::ProcessGroup;
use crate::word::{self, Acquired, Blocked, State};

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
    /// A [`Semaphore`](crate::Semaphore)'s record 0 only: threads asleep waiting for any of
    /// its permits (`locks/semaphore.rs`); a release that finds it non-zero wakes one. Zero
    /// (padding before format 1's semaphores) in every other record.
    pub(crate) sleepers: AtomicU32,
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
    /// An [`RwLock`](crate::RwLock)'s writer record only: the reader slots' high-water mark
    /// (how many slots, from the first, a reader has ever taken), raised by a reader before
    /// it takes a slot above it, so that a writer looks at those slots alone. Zero (reserved
    /// in format 1) in every other record.
    pub(crate) mark: AtomicU32,
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
    /// An [`RwLock`](crate::RwLock)'s writer record only: reader deaths the next writer has
    /// not been told yet (a reader that took a dead reader's slot counts it here). Zero
    /// (padding in format 1) in every other record.
    pub(crate) tally: AtomicU32,
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
        word::owner_bits(me.tid, link && me.may_link())
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
        } else if word::try_lock_fast(&self.word, word::owner_bits(me.tid, false)) {
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
        word::mark_unreported(&self.word);
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
        let linked = word::is_reported(bits);
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
                State::load(&self.word, Ordering::Relaxed).owner_bits(),
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
        State::load(&self.word, Ordering::Relaxed).owner_tid() == me.tid
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
        let state = State::load(&self.word, Ordering::Relaxed);
        (state.owner_tid() == me.tid
            && self.owner_identity.load(Ordering::Relaxed) == me.start_time)
            .then_some(state.owner_bits())
    }

    /// An RLock's first level, in a hold just taken.
    #[inline(always)]
    pub(crate) fn enter_first_level(&self) {
        word::rlock::enter_first_level(&self.depth);
    }

    /// One more level of an RLock hold of the calling thread's: the new depth, or `Err` with
    /// the depth as it stays when one more would pass `u32::MAX - 1`.
    #[inline(always)]
    pub(crate) fn enter_inner_level(&self) -> Result<u32, u32> {
        word::rlock::enter_inner_level(&self.depth)
    }

    /// The RLock rule at a release by its holder, written once: an inner level ends alone
    /// (true: the depth is one less), and only the outermost level's end releases the word
    /// (false, changing nothing: the caller releases).
    #[inline(always)]
    pub(crate) fn leave_inner_level(&self) -> bool {
        word::rlock::leave_inner_level(&self.depth)
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
        if reentrant && self.leave_inner_level() {
            return FastRelease::Done;
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

    /// [`Record::finish_raced_release`] of a lock that is not fair, saying whether the release
    /// woke a sleeper.
    #[cold]
    #[inline(never)]
    pub(crate) fn finish_raced_release_woke(&self) -> bool {
        let woke = word::unlock_woke(&self.word);
        sys::me_or_nobody().clear_pending();
        woke
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
        let linked = link && word::is_reported(owner) && me.robust();
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
