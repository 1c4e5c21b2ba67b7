//! Linux: the kernel's per-thread robust futex list — joining libc's list, linking a lock
//! record's node on it and unlinking it, `list_op_pending` around each operation.
//!
//! # Safety
//!
//! `unsafe` here does what the robust-list protocol demands and nothing else:
//! - `get_robust_list`, which rustix deliberately does not wrap (libc owns that per-thread
//!   state; see rustix's `not_implemented.rs`);
//! - raw, unaligned stores into the *node area* of a lock record and into the thread's robust list
//!   head, because the kernel (at thread death) and libc (when it links its own robust mutexes)
//!   read and write those bytes as plain pointers.
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

use std::ffi::c_void;
use std::ptr;

use super::thread::Me;
use crate::sync::{compiler_fence, AtomicU32, Ordering};

/// First byte of a record's node area, counted from the futex word.
pub(crate) const NODE_AREA_START: usize = 16;
/// One past the last byte of a record's node area, counted from the futex word.
pub(crate) const NODE_AREA_END: usize = 40;
const PTR: usize = std::mem::size_of::<usize>();

/// The kernel's `struct robust_list_head`.
#[repr(C)]
pub(super) struct RobustListHead {
    list: *mut c_void,
    futex_offset: isize,
    list_op_pending: *mut c_void,
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
pub(super) fn robust_head() -> *mut RobustListHead {
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
    /// reports its death: the thread has a list and is not in the middle of a list operation —
    /// which only a signal handler that locks can find (`list_op_pending` is set for exactly the
    /// span of each operation), and which it must not interleave with. A word that may not be
    /// linked is taken UNREPORTED.
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sys::me;

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
}
