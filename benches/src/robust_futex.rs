//! The floor for a robust lock: the bare futex mutex of [`crate::futex`] made robust the way the
//! kernel offers, and nothing else — the owner's thread id in the word, and the word linked on
//! the calling thread's robust list (glibc's list head, found with `get_robust_list`) while it
//! is held, with `list_op_pending` set around each exchange that could take or release it. The
//! kernel then marks a dead holder's word `FUTEX_OWNER_DIED` and wakes a waiter.
//!
//! What every robust mutex must do on its uncontended path, inline: glibc's robust mutex does
//! the same through a call into libc and its mutex-kind dispatch, interlock adds its holder
//! record and fencing token. The `mp` harness runs it beside the bare futex, so that the price
//! of robustness itself (the stores to the list around the two exchanges) is measured in the
//! same run as the locks that pay it.

use std::cell::Cell;
use std::io;
use std::ptr;
use std::sync::atomic::{compiler_fence, AtomicU32, AtomicU64, AtomicUsize, Ordering};

use rustix::thread::futex;

/// The owner's thread id (the kernel's `FUTEX_TID_MASK`).
const TID_MASK: u32 = 0x3fff_ffff;
/// Somebody may sleep: unlock must wake (the kernel's `FUTEX_WAITERS`).
const WAITERS: u32 = 0x8000_0000;
/// Set by the kernel when the holder died (`FUTEX_OWNER_DIED`).
const OWNER_DIED: u32 = 0x4000_0000;

/// The list entry sits this far after the word: glibc's layout (`__lock` at 0, `__list.__next`
/// at 32 in an x86-64 / aarch64 `pthread_mutex_t`), so that glibc's `futex_offset` (-32), which
/// the kernel applies to every entry of the thread's list, finds our words too.
const ENTRY_AT: usize = 32;
/// The `prev` slot, before the entry (glibc's `__list.__prev`).
const PREV_AT: usize = 24;

/// The lock in shared memory: the word, glibc-shaped list slots, and a count of deaths seen.
#[derive(Debug, Default)]
#[repr(C, align(64))]
pub struct RobustFutexMutex {
    word: AtomicU32,
    _pad: [u32; 5],
    /// glibc's `__list.__prev`: the address of the previous entry's `next` slot.
    prev: AtomicUsize,
    /// glibc's `__list.__next`: the list entry, pointing at the next entry (or the head).
    next: AtomicUsize,
    /// Acquisitions that found `OWNER_DIED`.
    deaths: AtomicU64,
}

/// The calling thread's `struct robust_list_head` (registered by glibc): `list`,
/// `futex_offset`, `list_op_pending`.
#[repr(C)]
struct Head {
    list: AtomicUsize,
    futex_offset: isize,
    list_op_pending: AtomicUsize,
}

/// The calling thread's id and list head, found once per process (after each fork).
#[derive(Debug)]
pub struct Thread {
    tid: Cell<u32>,
    head: Cell<*const Head>,
}

impl Default for Thread {
    fn default() -> Self {
        Thread {
            tid: Cell::new(0),
            head: Cell::new(ptr::null()),
        }
    }
}

impl Thread {
    /// Looks up the calling thread's id and glibc's robust list head.
    ///
    /// # Errors
    ///
    /// `get_robust_list` failed, or the head's `futex_offset` is not glibc's -32, which the
    /// lock's layout assumes.
    pub fn attach(&self) -> io::Result<()> {
        let mut head: *mut Head = ptr::null_mut();
        let mut len: libc::size_t = 0;
        // rustix has no get_robust_list; interlock's own call is private to its `sys` layer.
        // SAFETY: get_robust_list(0, …) writes the calling thread's head pointer and its size
        // into the two out-parameters, which point at live locals.
        #[allow(clippy::disallowed_methods)]
        let rc = unsafe {
            libc::syscall(
                libc::SYS_get_robust_list,
                0,
                &mut head as *mut *mut Head,
                &mut len as *mut libc::size_t,
            )
        };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
        if head.is_null() || len != std::mem::size_of::<Head>() {
            return Err(io::Error::other(
                "no robust list registered for this thread",
            ));
        }
        // SAFETY: the kernel returned the head libc registered for this thread, valid for the
        // thread's life; `futex_offset` is written once, at registration.
        let offset = unsafe { (*head).futex_offset };
        if offset != -(ENTRY_AT as isize) {
            return Err(io::Error::other(format!(
                "the robust list's futex_offset is {offset}, not glibc's -{ENTRY_AT}"
            )));
        }
        self.head.set(head);
        self.tid
            .set(rustix::thread::gettid().as_raw_nonzero().get() as u32);
        Ok(())
    }

    fn head(&self) -> &Head {
        if self.head.get().is_null() {
            self.attach().expect("Thread::attach");
        }
        let head = self.head.get();
        // SAFETY: non-null heads come from `attach`: this thread's registered head, which
        // lives as long as the thread (`Thread` is !Send: it stays on that thread).
        unsafe { &*head }
    }
}

impl RobustFutexMutex {
    fn entry(&self) -> usize {
        &self.next as *const AtomicUsize as usize
    }

    /// Takes the mutex for `me`: one compare-exchange when free, with `list_op_pending` set
    /// around it and the word linked at the front of the thread's list once it is ours.
    #[inline]
    pub fn lock(&self, me: &Thread) {
        let head = me.head();
        head.list_op_pending.store(self.entry(), Ordering::Relaxed);
        compiler_fence(Ordering::SeqCst);
        if self
            .word
            .compare_exchange(0, me.tid.get(), Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            self.lock_contended(me);
        }
        self.enqueue(head);
    }

    /// glibc's `ENQUEUE_MUTEX`: the word goes to the front of the list, then
    /// `list_op_pending` is cleared.
    #[inline]
    fn enqueue(&self, head: &Head) {
        let first = head.list.load(Ordering::Relaxed);
        // The first entry's `prev` slot (for the head itself: glibc's `robust_prev`, which
        // sits just before the head for this purpose).
        // SAFETY: `first` is the head or an entry on this thread's list (ours, or a glibc
        // mutex this thread holds), each with a pointer-sized `prev` slot 8 bytes before it,
        // edited only by this thread.
        unsafe { slot((first & !1) - 8) }.store(self.entry(), Ordering::Relaxed);
        self.next.store(first, Ordering::Relaxed);
        self.prev
            .store(head as *const Head as usize, Ordering::Relaxed);
        compiler_fence(Ordering::SeqCst);
        head.list.store(self.entry(), Ordering::Relaxed);
        compiler_fence(Ordering::SeqCst);
        head.list_op_pending.store(0, Ordering::Relaxed);
    }

    #[cold]
    fn lock_contended(&self, me: &Thread) {
        let tid = me.tid.get();
        let mut state = self.spin();
        loop {
            if state & TID_MASK == 0 {
                // Free, or its holder died. Taken as WAITERS: others may sleep.
                match self.word.compare_exchange(
                    state,
                    tid | WAITERS,
                    Ordering::Acquire,
                    Ordering::Relaxed,
                ) {
                    Ok(_) => {
                        if state & OWNER_DIED != 0 {
                            self.deaths.fetch_add(1, Ordering::Relaxed);
                        }
                        return;
                    }
                    Err(s) => {
                        state = s;
                        continue;
                    }
                }
            }
            if state & WAITERS == 0 {
                if let Err(s) = self.word.compare_exchange(
                    state,
                    state | WAITERS,
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                ) {
                    state = s;
                    continue;
                }
            }
            // EAGAIN (the word changed) and EINTR just mean "look again".
            let _ = futex::wait(&self.word, futex::Flags::empty(), state | WAITERS, None);
            state = self.spin();
        }
    }

    fn spin(&self) -> u32 {
        let mut spin = 100;
        loop {
            let state = self.word.load(Ordering::Relaxed);
            if state & TID_MASK == 0 || state & WAITERS != 0 || spin == 0 {
                return state;
            }
            std::hint::spin_loop();
            spin -= 1;
        }
    }

    /// Releases the mutex: `list_op_pending` set, the word unlinked (glibc's `DEQUEUE_MUTEX`),
    /// one compare-exchange (a swap and a wake when somebody may sleep), `list_op_pending`
    /// cleared.
    #[inline]
    pub fn unlock(&self, me: &Thread) {
        let head = me.head();
        head.list_op_pending.store(self.entry(), Ordering::Relaxed);
        compiler_fence(Ordering::SeqCst);
        let next = self.next.load(Ordering::Relaxed);
        let prev = self.prev.load(Ordering::Relaxed);
        // SAFETY: `next` is the entry (or the head) this thread linked ours before, with a
        // pointer-sized `prev` slot 8 bytes before it; only this thread edits it.
        unsafe { slot((next & !1) - 8) }.store(prev, Ordering::Relaxed);
        // SAFETY: `prev` is the `next` slot (or the head's `list`) this thread pointed at ours.
        unsafe { slot(prev & !1) }.store(next, Ordering::Relaxed);
        compiler_fence(Ordering::SeqCst);
        if self
            .word
            .compare_exchange(me.tid.get(), 0, Ordering::Release, Ordering::Relaxed)
            .is_err()
        {
            self.wake();
        }
        compiler_fence(Ordering::SeqCst);
        head.list_op_pending.store(0, Ordering::Relaxed);
    }

    #[cold]
    fn wake(&self) {
        if self.word.swap(0, Ordering::Release) & WAITERS != 0 {
            let _ = futex::wake(&self.word, futex::Flags::empty(), 1);
        }
    }

    /// Acquisitions that found the previous holder dead.
    pub fn deaths(&self) -> u64 {
        self.deaths.load(Ordering::Relaxed)
    }
}

/// The pointer-sized list slot at `addr`.
///
/// # Safety
///
/// `addr` is an aligned, live slot of this thread's robust list (a head field, or a list
/// slot of a lock linked on it), which only this thread edits.
unsafe fn slot<'a>(addr: usize) -> &'a AtomicUsize {
    // SAFETY: the caller's contract.
    unsafe { &*(addr as *const AtomicUsize) }
}

const _: () = {
    assert!(std::mem::offset_of!(RobustFutexMutex, next) == ENTRY_AT);
    assert!(std::mem::offset_of!(RobustFutexMutex, prev) == PREV_AT);
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn excludes_between_threads_and_keeps_the_list_whole() {
        let m = RobustFutexMutex::default();
        let n = AtomicU64::new(0);
        std::thread::scope(|s| {
            for _ in 0..4 {
                s.spawn(|| {
                    let me = Thread::default();
                    me.attach().unwrap();
                    let empty = me.head().list.load(Ordering::Relaxed);
                    for _ in 0..10_000 {
                        m.lock(&me);
                        let v = n.load(Ordering::Relaxed);
                        n.store(v + 1, Ordering::Relaxed);
                        m.unlock(&me);
                    }
                    assert_eq!(me.head().list.load(Ordering::Relaxed), empty);
                    assert_eq!(me.head().list_op_pending.load(Ordering::Relaxed), 0);
                });
            }
        });
        assert_eq!(n.load(Ordering::Relaxed), 40_000);
    }
}
