//! Linux: who the calling thread is — its kernel thread id, its process's pid and boot-unique
//! identity, its pid namespace — cached in one thread-local and forgotten in forked children
//! (`pthread_atfork`).
//!
//! # Safety
//!
//! `unsafe` here registers the `pthread_atfork` handler, whose callback runs in a just-forked
//! child (it only writes a thread-local `Cell`), and asks libc which CPU the thread runs on
//! (`sched_getcpu`, no memory of ours).

#![allow(unsafe_code)]

use std::cell::Cell;
use std::ptr;
use std::sync::atomic::AtomicBool;

use super::liveness::{opaque_identity, process_identity};
use super::robust_list::{robust_head, RobustListHead};
use crate::sync::{compiler_fence, Ordering};

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
    pub(super) head: *mut RobustListHead,
}

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

/// The CPU the calling thread runs on now (a hint: it may move the next instant), for spreading
/// an [`RwLock`](crate::RwLock)'s readers over its slots so that readers on different CPUs
/// touch different cache lines. glibc reads it from the thread's `rseq` area (a few ns); 0 when
/// the system cannot tell.
#[inline(always)]
pub(crate) fn current_cpu() -> u32 {
    // SAFETY: `sched_getcpu` takes nothing and touches no memory of ours.
    let cpu = unsafe { libc::sched_getcpu() };
    u32::try_from(cpu).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn another_thread_has_another_identity() {
        let mine = me().tid;
        let theirs = std::thread::spawn(|| me().tid).join().unwrap();
        assert_ne!(mine, theirs);
    }
}
