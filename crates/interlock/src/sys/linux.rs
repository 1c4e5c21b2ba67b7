//! Linux: futex wait/wake (always shared, never `FUTEX_PRIVATE_FLAG`), thread identity, and the
//! kernel's per-thread robust futex list.
//!
//! # Safety
//!
//! `unsafe` here does three things the OS demands and nothing else:
//! - `get_robust_list`, which rustix deliberately does not wrap (libc owns that per-thread
//!   state; see rustix's `not_implemented.rs`), and `tgkill(pid, tid, 0)`;
//! - raw, unaligned stores into the *node area* of a lock record and into the thread's robust list
//!   head, because the kernel (at thread death) and libc (when it links its own robust mutexes)
//!   read and write those bytes as plain pointers;
//! - `pthread_atfork` and `CommandExt::pre_exec`, whose callbacks run in a just-forked child.
//!
//! ## Coexisting with libc's robust list
//!
//! The kernel keeps one robust-list head pointer per thread, and glibc registers its own for every
//! thread it creates. We do not replace it: we link our nodes into *libc's* list, following the
//! protocol glibc and musl share (checked against both sources):
//!
//! - the list is circular through the head; each entry is the address of a pointer-sized `next`
//!   field, and the futex word sits at `entry + head.futex_offset`;
//! - the pointer-sized field just before an entry (`entry - 8`) is its `prev`, pointing at the
//!   predecessor's `next` field (or at `head.list`); we never write the slot before the head
//!   (glibc's `robust_prev`: glibc itself keeps it, and never reads it);
//! - `list_op_pending` names the entry being taken or released, so a death in between is handled.
//!
//! Because `futex_offset` is libc's (glibc: -32, musl: -28 on 64-bit; we link only on 64-bit
//! glibc, see `robust_head`, but the format leaves room for both), each record reserves a
//! node area `[word + 16, word + 40)` where either entry and its `prev` fit; only the word's
//! owner touches it.
//! We link only on 64-bit glibc (see `robust_head`); elsewhere holders are UNREPORTED.

#![allow(unsafe_code)]
// The platform layer is where raw system calls belong (clippy.toml forbids them elsewhere).
#![allow(clippy::disallowed_methods)]

use std::cell::Cell;
use std::ffi::c_void;
use std::num::NonZeroU32;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::process::Command;
use std::ptr;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use rustix::io::Errno;
use rustix::thread::futex;
use rustix::time::{clock_gettime, ClockId, Timespec};

use super::WaitOutcome;
use crate::sync::{compiler_fence, AtomicU32, Ordering};

/// First byte of a record's node area, counted from the futex word.
pub(crate) const NODE_AREA_START: usize = 16;
/// One past the last byte of a record's node area, counted from the futex word.
pub(crate) const NODE_AREA_END: usize = 40;
const PTR: usize = std::mem::size_of::<usize>();
/// `FUTEX_BITSET_MATCH_ANY`.
const MATCH_ANY: NonZeroU32 = NonZeroU32::MAX;

/// An absolute `CLOCK_MONOTONIC` time, the clock `FUTEX_WAIT_BITSET` measures by default.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Deadline(Timespec);

/// The deadline `d` from now, saturating far in the future.
pub(crate) fn deadline_after(d: Duration) -> Deadline {
    let now = clock_gettime(ClockId::Monotonic);
    let nanos = now.tv_nsec as u64 + u64::from(d.subsec_nanos());
    let secs = (now.tv_sec as u64)
        .saturating_add(d.as_secs())
        .saturating_add(nanos / 1_000_000_000)
        .min(i64::MAX as u64);
    Deadline(Timespec {
        tv_sec: secs as i64,
        tv_nsec: (nanos % 1_000_000_000) as _,
    })
}

/// `syscall(SYS_futex, word, FUTEX_WAIT_BITSET, expected, deadline, NULL, FUTEX_BITSET_MATCH_ANY)`
///
/// Sleeps while `*word == expected`, until woken or the absolute `deadline`. Shared (no
/// `FUTEX_PRIVATE_FLAG`): the word lives in memory other processes map.
///
/// # References
/// - [`futex(2)`](https://man7.org/linux/man-pages/man2/futex.2.html)
pub(crate) fn wait(word: &AtomicU32, expected: u32, deadline: Option<&Deadline>) -> WaitOutcome {
    match futex::wait_bitset(
        word,
        futex::Flags::empty(),
        expected,
        deadline.map(|d| &d.0),
        MATCH_ANY,
    ) {
        Err(Errno::TIMEDOUT) => WaitOutcome::TimedOut,
        Err(Errno::AGAIN | Errno::INTR) => WaitOutcome::Changed,
        // Other errors cannot happen for a valid word; the caller re-checks either way.
        _ => WaitOutcome::Woken,
    }
}

/// `syscall(SYS_futex, word, FUTEX_WAKE, 1)`, shared.
///
/// # References
/// - [`futex(2)`](https://man7.org/linux/man-pages/man2/futex.2.html)
pub(crate) fn wake_one(word: &AtomicU32) -> bool {
    // A wake can only fail for a bad address, which a `&AtomicU32` is not.
    futex::wake(word, futex::Flags::empty(), 1).is_ok_and(|woken| woken > 0)
}

/// Wall-clock time in nanoseconds since the Unix epoch, from the vDSO's coarse clock (resolution
/// of a scheduler tick, cost of a few loads): good enough for "held since".
#[inline]
pub(crate) fn now_coarse_ns() -> u64 {
    let t = clock_gettime(ClockId::RealtimeCoarse);
    (t.tv_sec as u64)
        .wrapping_mul(1_000_000_000)
        .wrapping_add(t.tv_nsec as u64)
}

/// `CLOCK_MONOTONIC` in nanoseconds (vDSO).
pub(crate) fn monotonic_ns() -> u64 {
    let t = clock_gettime(ClockId::Monotonic);
    (t.tv_sec as u64)
        .wrapping_mul(1_000_000_000)
        .wrapping_add(t.tv_nsec as u64)
}

/// The kernel's `struct robust_list_head`.
#[repr(C)]
struct RobustListHead {
    list: *mut c_void,
    futex_offset: isize,
    list_op_pending: *mut c_void,
}

/// Who the calling thread is, and where its robust list lives.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Me {
    /// Kernel thread id (`gettid`), as the robust-futex word stores it.
    pub(crate) tid: u32,
    /// Process id (`getpid`).
    pub(crate) pid: u32,
    /// The process's boot-unique identity ([`process_identity`]; never 0): with the pid, what
    /// PID reuse cannot fake, and what tells this process from one in another pid namespace
    /// whose threads have the same numbers.
    pub(crate) start_time: u64,
    /// pid, tid and a tag of the pid namespace they are numbered in, as a lock record stores its
    /// holder (one store; see [`Ids`]).
    pub(crate) ids: u64,
    /// The thread's robust list head, or null when none could be used.
    head: *mut RobustListHead,
}

/// The most words one thread links on its robust list. The kernel walks at most 2048 entries
/// of a dead thread's list (`ROBUST_LIST_LIMIT`), and glibc's own robust mutexes share the
/// list: holds past this limit are taken UNREPORTED, so that waiters check on their holder
/// themselves (decision 0012, the 2048-entry rule).
pub(crate) const LINK_LIMIT: u32 = 1024;

/// The bytes before a node's `prev` (`word + 16 .. word + 24`, free on 64-bit glibc) hold its
/// depth on the list — 1 + the depth of the entry it was linked in front of — tagged so that
/// a glibc mutex's bytes there (its `__kind` and `__spins`) never read as one. No count to
/// keep per thread, nothing to undo at release: a node's depth is fixed when it is linked,
/// and counts entries unlinked out of order since (so it errs high, never low), except that
/// it restarts from 1 above a glibc robust mutex. A node linked on an empty list (depth 1)
/// writes no depth: whatever its slot holds reads as at least 1 (an untagged value as 1, a
/// tagged one left by an earlier hold as that, which errs high), so the lone lock of the
/// common case pays one load and one compare.
const DEPTH_TAG: u64 = 0x1A7E_0C4B << 32;
const DEPTH_AT: usize = 2 * PTR;

/// A holder's `(pid, tid, namespace tag)` packed in 64 bits, as `Record::owner_ids` keeps them:
/// pid and tid in bits 0..22 and 32..54 (both below `PID_MAX_LIMIT`, 2^22), and 20 bits of the
/// pid namespace's inode number in bits 22..32 and 54..64, so that a liveness checker knows
/// whether the numbers mean the same process in its own namespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Ids {
    pub(crate) pid: u32,
    pub(crate) tid: u32,
    /// 0 when the namespace could not be read (no `/proc`).
    pub(crate) ns: u32,
}

const ID_BITS: u32 = 22;
const ID_MASK: u32 = (1 << ID_BITS) - 1;
const NS_HALF: u32 = 32 - ID_BITS;
const NS_MASK: u32 = (1 << (2 * NS_HALF)) - 1;

impl Ids {
    /// The packed form.
    pub(crate) fn pack(self) -> u64 {
        let ns = self.ns & NS_MASK;
        let lo = (self.pid & ID_MASK) | (ns & ((1 << NS_HALF) - 1)) << ID_BITS;
        let hi = (self.tid & ID_MASK) | (ns >> NS_HALF) << ID_BITS;
        u64::from(lo) | u64::from(hi) << 32
    }

    /// Unpacks [`Ids::pack`].
    pub(crate) fn unpack(packed: u64) -> Ids {
        let (lo, hi) = (packed as u32, (packed >> 32) as u32);
        Ids {
            pid: lo & ID_MASK,
            tid: hi & ID_MASK,
            ns: (lo >> ID_BITS) | (hi >> ID_BITS) << NS_HALF,
        }
    }
}

/// The calling process's pid namespace tag (20 bits of its inode number; 0 if unknown).
pub(crate) fn pid_namespace_tag() -> u32 {
    rustix::fs::stat("/proc/self/ns/pid").map_or(0, |st| st.st_ino as u32 & NS_MASK)
}

/// The calling thread's cached identity, in one thread-local: a loop that locks keeps one
/// thread-local address in a register instead of one per field (the compiler hoists each
/// address out of the loop; four of them were spilled to the stack and reloaded every turn).
struct Cached {
    /// `NOBODY` while not known yet (a new thread, or a forked child).
    tid: Cell<u32>,
    pid: Cell<u32>,
    start_time: Cell<u64>,
    ids: Cell<u64>,
    /// Null while `tid` is `NOBODY` (and on threads without a usable list).
    head: Cell<*mut RobustListHead>,
}

thread_local! {
    static CACHED: Cached = const {
        Cached {
            tid: Cell::new(NOBODY),
            pid: Cell::new(0),
            start_time: Cell::new(0),
            ids: Cell::new(0),
            head: Cell::new(ptr::null_mut()),
        }
    };
}

/// The calling thread's identity: a few thread-local loads after the first call.
///
/// A forked child must not keep its parent's thread id: an `atfork` handler clears the cache in
/// the child. (A child made by a raw `clone`/`fork` syscall that bypasses libc keeps a stale
/// cache; std and libc never do that.)
#[inline(always)]
pub(crate) fn me() -> Me {
    if CACHED.with(|c| c.tid.get()) == NOBODY {
        init_me();
    }
    cached()
}

/// The tid of a thread whose identity is not known yet: outside `OWNER_TID`, so no lock word
/// ever names it (`word & (OWNER_TID | anything) == NOBODY` never holds).
pub(crate) const NOBODY: u32 = u32::MAX;

/// [`me`] without the "known yet" test, for the uncontended paths, which stay leaf code: a
/// thread not known yet gets `NOBODY` as its tid, which matches no word, and a null head (so
/// `robust()` is false). Only for code that compares the tid with a word, or tests `robust()`,
/// before trusting anything else in it.
#[inline(always)]
pub(crate) fn me_or_nobody() -> Me {
    cached()
}

/// The cells as they are: each field one load where it is used (a caller that needs only the
/// tid loads only the tid).
#[inline(always)]
fn cached() -> Me {
    CACHED.with(|c| Me {
        tid: c.tid.get(),
        pid: c.pid.get(),
        start_time: c.start_time.get(),
        ids: c.ids.get(),
        head: c.head.get(),
    })
}

#[cold]
#[inline(never)]
fn init_me() {
    // Not a `Once`: a child forked while another thread is inside a `Once` inherits it as
    // "running" by a thread it does not have, and would wait on it for ever. A flag that is set
    // only after registering can at worst register twice, which is harmless: the handler only
    // clears a thread-local.
    static ATFORK_REGISTERED: AtomicBool = AtomicBool::new(false);
    if !ATFORK_REGISTERED.load(Ordering::Acquire) {
        // SAFETY: `forget_identity_in_child` is an `extern "C" fn()` that stays valid for the
        // life of the process and only writes a thread-local Cell (no allocation, no locks:
        // fine in a just-forked, single-threaded child).
        let rc = unsafe { libc::pthread_atfork(None, None, Some(forget_identity_in_child)) };
        assert_eq!(rc, 0, "pthread_atfork failed: {rc}");
        ATFORK_REGISTERED.store(true, Ordering::Release);
    }
    let tid = rustix::thread::gettid().as_raw_nonzero().get() as u32;
    let pid = rustix::process::getpid().as_raw_nonzero().get() as u32;
    let head = robust_head();
    let start_time = process_identity(pid).unwrap_or_else(opaque_identity);
    let ids = Ids {
        pid,
        tid,
        ns: pid_namespace_tag(),
    };
    CACHED.with(|c| {
        c.pid.set(pid);
        c.start_time.set(start_time);
        c.ids.set(ids.pack());
        c.tid.set(tid);
        // The head last: a non-null head says the tid is known (the uncontended lock tests only
        // the head), also to a signal handler that locks while this runs.
        compiler_fence(Ordering::SeqCst);
        c.head.set(head);
    });
}

extern "C" fn forget_identity_in_child() {
    CACHED.with(|c| {
        c.tid.set(NOBODY);
        // Until `init_me` runs again: a non-null head implies a known tid, so the uncontended
        // lock tests only the head (`Me::robust`).
        c.head.set(ptr::null_mut());
    });
}

/// Where a word's list entry is: `word + NODE_OFFSET`, as the `futex_offset` of -32 that 64-bit
/// glibc registers implies (`__lock` at 0 and `__list.__next` at 32 in its mutex). A constant,
/// so that the fast paths compute node addresses without loading anything; a head that says
/// otherwise is not used.
const NODE_OFFSET: usize = 32;
const _: () =
    assert!(NODE_OFFSET >= NODE_AREA_START + DEPTH_AT && NODE_OFFSET + PTR <= NODE_AREA_END);

/// Finds the calling thread's robust list head, as libc registered it; null when we must not
/// link words on it.
///
/// We link only where the list protocol is the one `enqueue`/`dequeue` follow: 64-bit glibc
/// (doubly linked, `prev` at `entry - 8`). 32-bit glibc keeps a singly linked list (our
/// dequeue would drop its entries), and musl registers its head lazily — replacing any head
/// registered before — and unlinks on thread exit in user space with a private wake. There, and
/// on a thread without a head, holders are UNREPORTED: waiters check on them instead.
fn robust_head() -> *mut RobustListHead {
    if !cfg!(all(target_env = "gnu", target_pointer_width = "64")) {
        return ptr::null_mut();
    }
    let mut head: *mut RobustListHead = ptr::null_mut();
    let mut len: libc::size_t = 0;
    // SAFETY: get_robust_list(0, …) reads the calling thread's head pointer into the two
    // out-parameters, which are valid, writable locals of the right types.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_get_robust_list,
            0,
            &mut head as *mut *mut RobustListHead,
            &mut len as *mut libc::size_t,
        )
    };
    if rc != 0 || head.is_null() {
        return ptr::null_mut();
    }
    let offset_field = head
        .cast::<u8>()
        .wrapping_add(std::mem::offset_of!(RobustListHead, futex_offset));
    // SAFETY: a non-null head returned by the kernel for this thread was registered by libc and
    // stays valid for the thread's life; we only read its aligned offset field.
    let offset = unsafe { offset_field.cast::<isize>().read() };
    if offset == -(NODE_OFFSET as isize) {
        head
    } else {
        ptr::null_mut()
    }
}

impl Me {
    /// Whether this thread has a robust list we use (words it linked are on it).
    #[inline]
    pub(crate) fn robust(&self) -> bool {
        !self.head.is_null()
    }

    /// Whether a word this thread takes now may go on its robust list, so that the kernel
    /// reports its death: the thread has a list and is not in the middle of a list operation — which only a signal handler that locks
    /// can find (`list_op_pending` is set for exactly the span of each operation), and which it
    /// must not interleave with. A word that may not be linked is taken UNREPORTED.
    #[inline(always)]
    pub(crate) fn may_link(&self) -> bool {
        !self.head.is_null() && self.nothing_pending()
    }

    /// The depth of the first entry of the thread's list (0 when the list is empty or the first
    /// entry is not one of our nodes; see [`DEPTH_TAG`]).
    ///
    /// # Safety
    ///
    /// `head` is non-null.
    #[inline(always)]
    unsafe fn depth_of_first(&self) -> u32 {
        let list = self.head_field(LIST);
        // SAFETY: `list` is the registered head's aligned first field (the caller's contract).
        let first = (unsafe { load(list) } as usize & !1) as *mut u8;
        if first == list {
            return 0;
        }
        // SAFETY: `first` is an entry on this thread's list: one of our node areas (whose
        // depth slot sits 16 bytes before the entry) or a glibc robust mutex the thread holds
        // (whose `__kind`/`__spins` sit there), either mapped while linked; we only read.
        let v = unsafe { load(first.wrapping_sub(DEPTH_AT)) } as u64;
        if v & !0xffff_ffff == DEPTH_TAG {
            (v as u32).max(1)
        } else {
            // A node at depth 1 (whose depth is never written) or a glibc mutex.
            1
        }
    }

    /// Whether `list_op_pending` is clear (call only with a non-null head).
    #[inline(always)]
    fn nothing_pending(&self) -> bool {
        // SAFETY: `head` is the calling thread's registered head (non-null: the caller checked),
        // valid for the thread's life; `list_op_pending` is an aligned pointer field of it.
        unsafe { load_aligned(self.head_field(PENDING)) }.is_null()
    }

    #[inline]
    fn node(&self, word: *const AtomicU32) -> *mut u8 {
        word.cast::<u8>().cast_mut().wrapping_add(NODE_OFFSET)
    }

    #[inline]
    fn head_field(&self, offset: usize) -> *mut u8 {
        self.head.cast::<u8>().wrapping_add(offset)
    }

    /// Names `word` as the robust operation under way (`head.list_op_pending = entry`), so that
    /// if the thread dies before `enqueue`/after `dequeue` the kernel still checks it.
    ///
    /// # Safety
    ///
    /// `word` must point to a live futex word followed by a node area
    /// (`[word + NODE_AREA_START, word + NODE_AREA_END)`) that only the word's owner touches,
    /// mapped until [`Me::clear_pending`]. Must be called on the thread `self` describes.
    #[inline]
    pub(crate) unsafe fn set_pending(&self, word: *const AtomicU32) {
        if self.head.is_null() {
            return;
        }
        // SAFETY: `head` is this thread's registered head (caller: same thread), valid for the
        // thread's life; `list_op_pending` is an aligned pointer field of it.
        unsafe { store_aligned(self.head_field(PENDING), self.node(word)) };
        // The store must precede the word operation that follows in program order; the kernel
        // reads it from this thread's context, so a compiler fence is all the ordering needed.
        compiler_fence(Ordering::SeqCst);
    }

    /// Clears `list_op_pending`.
    #[inline]
    pub(crate) fn clear_pending(&self) {
        if self.head.is_null() {
            return;
        }
        compiler_fence(Ordering::SeqCst);
        // SAFETY: `head` is the calling thread's registered head: `Me` is only obtained from
        // the thread-local of the thread it describes and is !Send (raw pointer field).
        unsafe { store_aligned(self.head_field(PENDING), ptr::null_mut()) };
    }

    /// Links the word (which this thread now owns) at the front of the thread's robust list,
    /// recording its depth in its node, then clears `list_op_pending`. False, linking nothing
    /// and leaving `list_op_pending` set, when the list already holds [`LINK_LIMIT`] of our
    /// words: the caller then marks the word UNREPORTED (which no dying thread's number
    /// matches) and clears `list_op_pending` itself. The limit is checked here, after the word
    /// became ours, where the lone lock of the common case finds an empty list with the load
    /// it needs anyway.
    ///
    /// # Safety
    ///
    /// As [`Me::set_pending`]; additionally the calling thread owns `word` and the word is not
    /// already linked.
    #[inline]
    #[must_use]
    pub(crate) unsafe fn enqueue(&self, word: *const AtomicU32) -> bool {
        if self.head.is_null() {
            return false;
        }
        let node = self.node(word);
        let list = self.head_field(LIST);
        // Every access below touches either this thread's head (valid for its life) or the
        // pointer-sized slots at `entry` / `entry - 8` of entries on this thread's list (ours:
        // in node areas only their owner touches; libc's: in its own mutexes), which only this
        // thread edits. Unaligned, because musl's entry sits at word + 28.
        // SAFETY: see above; `list` is the head's aligned first field.
        let first = unsafe { load(list) };
        let first_entry = (first as usize & !1) as *mut u8;
        let mut depth = 1;
        if first_entry != list {
            // SAFETY: the head is non-null (checked above).
            depth += unsafe { self.depth_of_first() };
            if depth > LINK_LIMIT {
                return false;
            }
        }
        // SAFETY: see above; `node` is in the word's node area.
        unsafe { store(node, first) };
        // SAFETY: see above; `node - 8` is in the node area too (checked at registration).
        unsafe { store(node.wrapping_sub(PTR), list.cast()) };
        if first_entry != list {
            // SAFETY: see above; `first_entry` is on this thread's list.
            unsafe { store(first_entry.wrapping_sub(PTR), node.cast()) };
            // The depth, only in front of another entry: a node alone on the list has depth 1,
            // which is what an unwritten depth slot reads as (see `DEPTH_TAG`); the lone lock
            // of the common case writes nothing more.
            // SAFETY: see above; `node - 16` is the node area's first slot (checked below).
            unsafe {
                store(
                    node.wrapping_sub(DEPTH_AT),
                    (DEPTH_TAG | u64::from(depth)) as *mut c_void,
                )
            };
        }
        // The entry's own links are written before the head points at it (glibc: an
        // `asm("" ::: "memory")` at the same place).
        compiler_fence(Ordering::SeqCst);
        // SAFETY: see above.
        unsafe { store(list, node.cast()) };
        self.clear_pending();
        true
    }

    /// Unlinks the word from the thread's robust list and leaves it named in `list_op_pending`
    /// until [`Me::clear_pending`], which the caller calls after releasing the word.
    ///
    /// # Safety
    ///
    /// As [`Me::set_pending`]; additionally the word was linked by [`Me::enqueue`] on this
    /// thread and not unlinked since (so this thread has a list: `enqueue` links nothing
    /// without one).
    #[inline]
    pub(crate) unsafe fn dequeue(&self, word: *const AtomicU32) -> Pending {
        debug_assert!(!self.head.is_null(), "dequeue without a robust list");
        if !self.nothing_pending() {
            // A list operation of this thread is under way: we are in a signal handler that
            // interrupted it, releasing a word that was linked outside the handler. Unlinking
            // now would corrupt the list (and with it, memory); keeping the word would wedge
            // its waiters. Neither is acceptable (see `Lock`'s "Signal handlers" section).
            interleaved_list_operation();
        }
        // SAFETY: the caller's contract, and `list_op_pending` is clear (just checked).
        unsafe { self.dequeue_idle(word) }
    }

    /// [`Me::dequeue`] for a caller that has just seen `list_op_pending` clear
    /// ([`Me::may_link`]): the uncontended release, which leaves every unusual case, this one
    /// included, to its full path, and so has no call in it that would keep it from being
    /// inlined.
    ///
    /// # Safety
    ///
    /// As [`Me::dequeue`]; additionally `list_op_pending` is null (no list operation of this
    /// thread is under way).
    #[inline(always)]
    pub(crate) unsafe fn dequeue_idle(&self, word: *const AtomicU32) -> Pending {
        // SAFETY: `head` is this thread's registered head (non-null: the word was linked on
        // it), `list_op_pending` an aligned pointer field of it.
        unsafe { store_aligned(self.head_field(PENDING), self.node(word)) };
        compiler_fence(Ordering::SeqCst);
        let node = self.node(word);
        let list = self.head_field(LIST);
        // The node is linked on this thread's list, so its `prev` points at the predecessor's
        // `next` field (or `head.list`) and its `next` at the successor's entry (or `head.list`);
        // only this thread edits them.
        // SAFETY: see above.
        let prev = unsafe { load(node.wrapping_sub(PTR)) };
        // SAFETY: see above.
        let next = unsafe { load(node) };
        // SAFETY: see above: `prev` is a `next` field on this thread's list.
        unsafe { store(prev.cast(), next) };
        let next_entry = (next as usize & !1) as *mut u8;
        if next_entry != list {
            // SAFETY: see above: `next_entry` is an entry on this thread's list.
            unsafe { store(next_entry.wrapping_sub(PTR), prev) };
        }
        // No fence here: the release of the word that follows is a Release operation, which
        // keeps these stores before it.
        Pending { head: self.head }
    }
}

/// `list_op_pending` names a word this thread has just unlinked: [`Pending::clear`] it once the
/// word is released. Made only by [`Me::dequeue`], so it always holds a real list head (and
/// clearing needs no null check).
#[must_use = "list_op_pending stays set until cleared"]
pub(crate) struct Pending {
    head: *mut RobustListHead,
}

impl Pending {
    /// Leaves `list_op_pending` set: the word is not released yet, and the caller clears it
    /// (with [`Me::clear_pending`]) once it is.
    #[inline(always)]
    pub(crate) fn keep(self) {}

    /// Clears `list_op_pending`, after the word was released.
    #[inline(always)]
    pub(crate) fn clear(self) {
        // The release must precede this in program order (a Release operation does not keep
        // later stores after it).
        compiler_fence(Ordering::SeqCst);
        // SAFETY: `head` is the registered, non-null head of the thread that made this
        // `Pending` (it is !Send, a raw pointer field), valid for the thread's life.
        unsafe {
            store_aligned(
                self.head.cast::<u8>().wrapping_add(PENDING),
                ptr::null_mut(),
            )
        };
    }
}

const LIST: usize = std::mem::offset_of!(RobustListHead, list);
const PENDING: usize = std::mem::offset_of!(RobustListHead, list_op_pending);

/// Reads a pointer-sized slot of a robust list.
///
/// # Safety
///
/// `at` is valid for a pointer-sized read (alignment not required).
#[inline]
unsafe fn load(at: *mut u8) -> *mut c_void {
    // SAFETY: the caller's contract.
    unsafe { at.cast::<*mut c_void>().read_unaligned() }
}

/// Writes a pointer-sized slot of a robust list.
///
/// # Safety
///
/// `at` is valid for a pointer-sized write (alignment not required) that no other thread
/// accesses concurrently.
#[inline]
unsafe fn store(at: *mut u8, value: *mut c_void) {
    // SAFETY: the caller's contract.
    unsafe { at.cast::<*mut c_void>().write_unaligned(value) }
}

/// A volatile read of an aligned pointer field of the thread's head.
///
/// # Safety
///
/// `at` is valid and aligned for a pointer-sized read.
#[inline(always)]
unsafe fn load_aligned(at: *mut u8) -> *mut c_void {
    // SAFETY: the caller's contract.
    unsafe { at.cast::<*mut c_void>().read_volatile() }
}

/// Aborts the process: a signal handler released a linked lock in the middle of a robust-list
/// operation of the thread it interrupted. Writes one line with `write(2)` (async-signal-safe).
#[cold]
#[inline(never)]
fn interleaved_list_operation() -> ! {
    let msg = b"interlock: a signal handler released a lock taken outside it while the \
thread it interrupted was taking or releasing another; aborting before the robust list is \
corrupted\n";
    let _ = rustix::io::write(rustix::stdio::stderr(), msg);
    std::process::abort()
}

/// A volatile write of an aligned pointer field of the thread's head.
///
/// # Safety
///
/// `at` is valid and aligned for a pointer-sized write that no other thread accesses.
#[inline]
unsafe fn store_aligned(at: *mut u8, value: *mut u8) {
    // SAFETY: the caller's contract.
    unsafe { at.cast::<*mut c_void>().write_volatile(value.cast()) }
}

/// `PIDFS_MAGIC`: the file system of pidfds since Linux 6.9, where each process's pidfd inode
/// number is unique for the life of the system.
const PIDFS_MAGIC: u64 = 0x5049_4446;
/// Marks an identity that is a pidfs inode number (start times never reach bit 63).
const PIDFS_IDENTITY: u64 = 1 << 63;
/// Marks an identity that is random (neither pidfs nor `/proc` could give one): it still tells
/// this process from any other, but a liveness checker cannot verify it.
const OPAQUE_IDENTITY: u64 = 1 << 62;

/// A random identity for a process whose real one cannot be read ([`OPAQUE_IDENTITY`]).
fn opaque_identity() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u32(std::process::id());
    (h.finish() & !(PIDFS_IDENTITY | OPAQUE_IDENTITY)) | OPAQUE_IDENTITY | 1
}

/// A boot-unique identity for process `pid`: its pidfs inode number, tagged with bit 63, where
/// the kernel has pidfs (Linux 6.9+); else its start time in clock ticks since boot, which two
/// processes that reuse a pid within one tick (10 ms) share. The tag tells a checker which of
/// the two a recorded identity is, so both sides always compare like with like.
pub(crate) fn process_identity(pid: u32) -> Option<u64> {
    pidfs_inode(pid)
        .map(|ino| ino | PIDFS_IDENTITY)
        .or_else(|| process_start_time(pid))
}

fn pidfs_inode(pid: u32) -> Option<u64> {
    let pid = rustix::process::Pid::from_raw(i32::try_from(pid).ok()?)?;
    let fd = rustix::process::pidfd_open(pid, rustix::process::PidfdFlags::empty()).ok()?;
    let fs = rustix::fs::fstatfs(&fd).ok()?;
    if fs.f_type as u64 != PIDFS_MAGIC {
        return None;
    }
    Some(rustix::fs::fstat(&fd).ok()?.st_ino)
}

/// Reads field 22 (`starttime`) of `/proc/PID/stat`.
pub(crate) fn process_start_time(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may contain spaces or ')'.
    let after = &stat[stat.rfind(')')? + 1..];
    after.split_whitespace().nth(19)?.parse().ok()
}

/// What a liveness check could establish about a holder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Liveness {
    /// Running.
    Alive,
    /// Provably gone: no such process, another process under its pid, or the thread exited.
    Dead,
    /// No proof either way (no identity recorded, `/proc` hidden or out of descriptors, …):
    /// a waiter keeps waiting rather than break mutual exclusion on a guess.
    Unknown,
}

/// Checks thread `tid` of process `pid`, whose identity ([`process_identity`]) was recorded as
/// `identity`. Only positive evidence makes a holder dead: ESRCH from `pidfd_open`, a different
/// identity under the pid, a missing task directory of a process whose `/proc` entry we can
/// read, or a zombie/dead task state. Any other failure is `Unknown`.
pub(crate) fn thread_liveness(pid: u32, tid: u32, identity: u64) -> Liveness {
    let Some(p) = i32::try_from(pid)
        .ok()
        .and_then(rustix::process::Pid::from_raw)
    else {
        return Liveness::Unknown;
    };
    if identity == 0 || identity & OPAQUE_IDENTITY != 0 {
        return Liveness::Unknown;
    }
    // Does any process have this pid? pidfd_open needs no /proc and no permission.
    let pidfd = match rustix::process::pidfd_open(p, rustix::process::PidfdFlags::empty()) {
        Ok(fd) => fd,
        Err(Errno::SRCH) => return Liveness::Dead,
        Err(_) => return Liveness::Unknown,
    };
    // Is it the same process?
    let now = if identity & PIDFS_IDENTITY != 0 {
        let pidfs = rustix::fs::fstatfs(&pidfd).map(|fs| fs.f_type as u64 == PIDFS_MAGIC);
        match (pidfs, rustix::fs::fstat(&pidfd)) {
            (Ok(true), Ok(st)) => Some(st.st_ino | PIDFS_IDENTITY),
            _ => return Liveness::Unknown,
        }
    } else {
        process_start_time(pid)
    };
    match now {
        Some(id) if id == identity => {}
        Some(_) => return Liveness::Dead,
        None => return Liveness::Unknown,
    }
    // Is the holding thread still running?
    match std::fs::read_to_string(format!("/proc/{pid}/task/{tid}/stat")) {
        Ok(stat) => {
            // Field 3, after the parenthesised command name: Z (zombie) and X (dead) are gone.
            match stat
                .rfind(')')
                .and_then(|i| stat[i + 1..].split_whitespace().next())
            {
                Some("Z" | "X") => Liveness::Dead,
                Some(_) => Liveness::Alive,
                None => Liveness::Unknown,
            }
        }
        // The task directory is missing although the process's own entry is visible to us:
        // the thread has exited. (With /proc hidden from us, both are missing: no proof.)
        Err(e)
            if e.kind() == std::io::ErrorKind::NotFound
                && std::path::Path::new(&format!("/proc/{pid}/stat")).exists() =>
        {
            Liveness::Dead
        }
        Err(_) => Liveness::Unknown,
    }
}

/// [`thread_liveness`] of a lock holder recorded as `ids`: `Unknown` unless it was numbered in
/// the checker's own pid namespace (its pid and tid mean another process here otherwise), as
/// far as the namespace tags tell (both unknown counts as the same).
pub(crate) fn holder_liveness(me: &Me, ids: Ids, identity: u64) -> Liveness {
    if ids.ns != Ids::unpack(me.ids).ns {
        return Liveness::Unknown;
    }
    thread_liveness(ids.pid, ids.tid, identity)
}

/// Whether thread `tid` of process `pid` (numbers of the caller's pid namespace) exists at
/// all: false only on proof — no such process (ESRCH), or its task directory missing while
/// the process's own `/proc` entry is visible. No identity: a reused pid counts as existing.
pub(crate) fn thread_exists(pid: u32, tid: u32) -> bool {
    let Some(p) = i32::try_from(pid)
        .ok()
        .and_then(rustix::process::Pid::from_raw)
    else {
        return true;
    };
    match rustix::process::pidfd_open(p, rustix::process::PidfdFlags::empty()) {
        Err(Errno::SRCH) => return false,
        Err(_) => return true,
        Ok(_) => {}
    }
    let task = std::path::PathBuf::from(format!("/proc/{pid}/task/{tid}"));
    task.exists() || !std::path::Path::new(&format!("/proc/{pid}/stat")).exists()
}

/// `syscall(SYS_tgkill, getpid(), tid, 0)`: whether `tid` is a live thread of the calling
/// process (signal 0 only checks). Needs no `/proc`.
pub(crate) fn is_own_thread(tid: u32) -> bool {
    let pid = rustix::process::getpid().as_raw_nonzero().get();
    // SAFETY: tgkill with signal 0 sends nothing; it only reports whether the thread exists in
    // our thread group. All arguments are plain integers.
    let rc = unsafe { libc::syscall(libc::SYS_tgkill, pid, tid as libc::c_int, 0) };
    rc == 0
}

/// Arranges for `fd` to survive `exec` in children spawned by `cmd` (clears `FD_CLOEXEC` in
/// the child between fork and exec, so the parent's copy and concurrent spawns are unaffected).
pub(crate) fn inherit_fd_on_exec(cmd: &mut Command, owned: OwnedFd) {
    // The hook owns the descriptor, so it stays open (under this number) as long as `cmd` can
    // spawn.
    let hook = move || {
        let fd = owned.as_raw_fd();
        // SAFETY: `fd` is a plain integer; fcntl on an integer is sound even if it were not open
        // (EBADF is reported, not UB). It runs in the child, where it is async-signal-safe.
        let flags = unsafe { libc::fcntl(fd, libc::F_GETFD) };
        if flags < 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: as above.
        if unsafe { libc::fcntl(fd, libc::F_SETFD, flags & !libc::FD_CLOEXEC) } < 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(())
    };
    // SAFETY: the hook only calls fcntl, which is async-signal-safe, allocates nothing and takes
    // no locks, as `pre_exec` requires of code running between fork and exec.
    unsafe { cmd.pre_exec(hook) };
}

/// Makes each program `cmd` spawns get `SIGKILL` when the thread that spawned it ends
/// (`prctl(PR_SET_PDEATHSIG, SIGKILL)` in the child, then a check that the parent has not
/// already gone).
pub(crate) fn kill_on_parent_death(cmd: &mut Command) {
    let parent = rustix::process::getpid();
    let hook = move || {
        rustix::process::set_parent_process_death_signal(Some(rustix::process::Signal::KILL))?;
        // Had the parent died before the prctl, no signal would ever come: refuse to run.
        if rustix::process::getppid() != Some(parent) {
            return Err(std::io::Error::other(
                "the parent exited before the child started",
            ));
        }
        Ok(())
    };
    // SAFETY: the hook makes two system calls (prctl, getppid) and allocates only on the error
    // path just before the child exits; it takes no locks, as `pre_exec` requires.
    unsafe { cmd.pre_exec(hook) };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_matches_the_kernel() {
        let me = me();
        assert_eq!(
            me.tid,
            rustix::thread::gettid().as_raw_nonzero().get() as u32
        );
        assert_eq!(me.pid, std::process::id());
        assert!(me.start_time > 0);
        assert!(
            me.robust(),
            "glibc registers a robust list head for every thread"
        );
        let offset_field = me
            .head
            .cast::<u8>()
            .wrapping_add(std::mem::offset_of!(RobustListHead, futex_offset));
        // SAFETY: the calling thread's registered head, valid for its life; an aligned field.
        let offset = unsafe { offset_field.cast::<isize>().read() };
        assert_eq!(
            offset,
            -(NODE_OFFSET as isize),
            "glibc x86_64/aarch64 futex_offset is -32"
        );
    }

    #[test]
    fn another_thread_has_another_identity() {
        let mine = me().tid;
        let theirs = std::thread::spawn(|| me().tid).join().unwrap();
        assert_ne!(mine, theirs);
    }

    #[test]
    fn identity_is_a_pidfs_inode_on_this_kernel() {
        let id = process_identity(std::process::id()).unwrap();
        assert_ne!(id & PIDFS_IDENTITY, 0, "this kernel has pidfs (Linux 6.9+)");
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let theirs = process_identity(child.id());
        child.wait().unwrap();
        assert!(
            theirs.is_some_and(|t| t != id && t & PIDFS_IDENTITY != 0),
            "{theirs:?}"
        );
    }

    #[test]
    fn identity_tells_a_live_thread_from_a_reused_pid() {
        let me = me();
        assert_eq!(
            thread_liveness(me.pid, me.tid, me.start_time),
            Liveness::Alive
        );
        assert_eq!(
            thread_liveness(me.pid, me.tid, me.start_time + 1),
            Liveness::Dead
        );
        assert_eq!(
            thread_liveness(me.pid, me.tid, 0),
            Liveness::Unknown,
            "no identity, no verdict"
        );
        assert!(is_own_thread(me.tid));
        let gone = std::thread::spawn(me_tid).join().unwrap();
        assert!(!is_own_thread(gone));
        assert_eq!(thread_liveness(me.pid, gone, me.start_time), Liveness::Dead);
    }

    fn me_tid() -> u32 {
        me().tid
    }

    #[test]
    fn deadline_is_in_the_future() {
        // Between the clock read before and the one after, whatever the scheduler did between.
        let ns = |t: Timespec| t.tv_sec as i128 * 1_000_000_000 + t.tv_nsec as i128;
        let before = ns(clock_gettime(ClockId::Monotonic));
        let d = ns(deadline_after(Duration::from_millis(1500)).0);
        let after = ns(clock_gettime(ClockId::Monotonic));
        assert!(
            (before + 1_500_000_000..=after + 1_500_000_000).contains(&d),
            "{before} {d} {after}"
        );
        let far = deadline_after(Duration::MAX);
        assert_eq!(far.0.tv_sec, i64::MAX);
    }
}
