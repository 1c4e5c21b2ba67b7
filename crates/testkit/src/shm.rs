//! Memory shared with forked children: `MAP_SHARED | MAP_ANONYMOUS` mappings made before `fork`,
//! so that parent and children see the same bytes. A typed [`Shared<T>`](Shared) (a control
//! block) or `u64` counter slots ([`SharedMem`]).

use std::fmt;
use std::ops::Deref;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

/// A fresh zeroed anonymous shared mapping of `len` bytes.
fn map_shared(len: usize) -> std::io::Result<NonNull<u8>> {
    // SAFETY: a fresh anonymous shared mapping with no address hint; it aliases nothing.
    let ptr = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_SHARED | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    if ptr == libc::MAP_FAILED {
        return Err(std::io::Error::last_os_error());
    }
    Ok(NonNull::new(ptr.cast()).expect("mmap returned null without an error"))
}

/// Types that may live in a [`Shared`] mapping and be read through `&T` while other processes
/// write them.
///
/// # Safety
///
/// Implementors promise that all-zero bytes are a valid value of the type (the mapping starts
/// zeroed and is never initialised otherwise), that every byte another process may write while
/// a `&T` exists is inside an atomic or an `UnsafeCell` (so a shared reference to it is sound),
/// and that the type has no drop glue that matters (`Shared` never drops `T`).
pub unsafe trait ShmSafe {}

// SAFETY: all-zero atomics are valid (0), and atomics are shared-mutation safe.
unsafe impl ShmSafe for AtomicU32 {}
// SAFETY: as for AtomicU32.
unsafe impl ShmSafe for AtomicU64 {}
// SAFETY: an array of ShmSafe elements is ShmSafe element by element.
unsafe impl<T: ShmSafe, const N: usize> ShmSafe for [T; N] {}

/// A zero-initialised `T` in its own anonymous shared mapping, inherited by forked children.
///
/// The mapping is unmapped on drop; a forked child that ends in `_exit` never drops its copy.
pub struct Shared<T: ShmSafe> {
    ptr: NonNull<T>,
}

impl<T: ShmSafe> Shared<T> {
    /// Maps a fresh zeroed `T` shared with every process forked after this call.
    ///
    /// # Errors
    ///
    /// The `mmap` error.
    ///
    /// # Panics
    ///
    /// When `T` needs more than page alignment.
    pub fn new() -> std::io::Result<Shared<T>> {
        assert!(
            std::mem::align_of::<T>() <= 4096,
            "mmap gives page alignment only"
        );
        // The kernel zero-fills the mapping, which `ShmSafe` says is a valid `T`.
        Ok(Shared {
            ptr: map_shared(Self::len())?.cast(),
        })
    }

    fn len() -> usize {
        std::mem::size_of::<T>().max(1)
    }

    /// The address of the shared `T`, for C functions that take a pointer.
    pub fn as_ptr(&self) -> *mut T {
        self.ptr.as_ptr()
    }
}

impl<T: ShmSafe> Deref for Shared<T> {
    type Target = T;
    #[inline]
    fn deref(&self) -> &T {
        // SAFETY: the mapping is live and page-aligned while `self` is; `ShmSafe` makes a shared
        // reference sound while other processes write the memory.
        unsafe { self.ptr.as_ref() }
    }
}

impl<T: ShmSafe> Drop for Shared<T> {
    fn drop(&mut self) {
        // SAFETY: `ptr` is the start of our own mapping of `len()` bytes; no reference into it
        // outlives `self` (they borrow it).
        unsafe { libc::munmap(self.ptr.as_ptr().cast(), Self::len()) };
    }
}

impl<T: ShmSafe> fmt::Debug for Shared<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Shared<{}>({:p})", std::any::type_name::<T>(), self.ptr)
    }
}

/// `len` zeroed `u64` slots in shared memory: a forked child's writes are the parent's. Slots
/// are atomics so that even a broken lock gives lost updates, not UB.
#[derive(Debug)]
pub struct SharedMem {
    base: NonNull<AtomicU64>,
    len: usize,
}

/// Shared between threads (of the parent, and of forked children) on purpose: it only hands out
/// `&AtomicU64`.
// SAFETY: the mapping is plain shared memory reached only through `&AtomicU64`, which is Sync;
// nothing in it is tied to the creating thread.
unsafe impl Sync for SharedMem {}
// SAFETY: as for Sync; the mapping belongs to the process, not to a thread.
unsafe impl Send for SharedMem {}

impl SharedMem {
    /// `len` slots (at least one), all 0.
    ///
    /// # Panics
    ///
    /// When `mmap` fails.
    pub fn new(len: usize) -> SharedMem {
        let len = len.max(1);
        SharedMem {
            base: map_shared(len * std::mem::size_of::<u64>())
                .unwrap_or_else(|e| panic!("mmap: {e}"))
                .cast(),
            len,
        }
    }

    /// Slot `i`.
    ///
    /// # Panics
    ///
    /// When `i` is out of range.
    pub fn slot(&self, i: usize) -> &AtomicU64 {
        assert!(i < self.len, "slot {i} of {}", self.len);
        let slot = self.base.as_ptr().wrapping_add(i);
        // SAFETY: `base` is a live, page-aligned mapping of `len` zero-initialised u64s, valid
        // as AtomicU64 for the life of `self`, and `i < len`, so `slot` is in it.
        unsafe { &*slot }
    }
}

impl Drop for SharedMem {
    fn drop(&mut self) {
        // SAFETY: our own mapping of exactly this size; no `&AtomicU64` outlives `self`.
        unsafe {
            libc::munmap(
                self.base.as_ptr().cast(),
                self.len * std::mem::size_of::<u64>(),
            )
        };
    }
}

/// One non-atomic increment: a load, then a store. Two holders in the section at once lose an
/// update; every 64th call yields between the two to widen that window.
pub fn bump(counter: &AtomicU64, i: u64) {
    let seen = counter.load(Ordering::Relaxed);
    if i % 64 == 0 {
        std::thread::yield_now();
    }
    counter.store(seen + 1, Ordering::Relaxed);
}
