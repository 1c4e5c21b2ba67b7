//! Anonymous shared memory: a `MAP_SHARED | MAP_ANONYMOUS` mapping made before `fork`, so parent
//! and children see the same bytes.

#![allow(unsafe_code)]

use std::fmt;
use std::io;
use std::ops::Deref;
use std::ptr::NonNull;

use rustix::mm::{mmap_anonymous, munmap, MapFlags, ProtFlags};

/// Types that may live in a [`Shared`] mapping and be read through `&T` while other processes
/// write them.
///
/// # Safety
///
/// Implementors promise that all-zero bytes are a valid value of the type (the mapping starts
/// zeroed and is never initialised otherwise), and that every byte another process may write
/// while a `&T` exists is inside an atomic or an `UnsafeCell` (so a shared reference to it is
/// sound), and that the type has no drop glue that matters (`Shared` never drops `T`).
pub unsafe trait ShmSafe {}

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
    pub fn new() -> io::Result<Shared<T>> {
        assert!(
            std::mem::align_of::<T>() <= 4096,
            "mmap gives page alignment only"
        );
        // SAFETY: a new anonymous mapping without an address hint cannot overlap any existing
        // memory; its length is `T`'s size (at least 1), and it is zero-filled by the kernel,
        // which `ShmSafe` says is a valid `T`.
        let ptr = unsafe {
            mmap_anonymous(
                std::ptr::null_mut(),
                Self::len(),
                ProtFlags::READ | ProtFlags::WRITE,
                MapFlags::SHARED,
            )
        }?;
        let ptr = NonNull::new(ptr.cast::<T>()).expect("mmap returned null without an error");
        Ok(Shared { ptr })
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
        let _ = unsafe { munmap(self.ptr.as_ptr().cast(), Self::len()) };
    }
}

impl<T: ShmSafe> fmt::Debug for Shared<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Shared<{}>({:p})", std::any::type_name::<T>(), self.ptr)
    }
}

// SAFETY: all-zero atomics are valid (0), and atomics are shared-mutation safe.
unsafe impl ShmSafe for std::sync::atomic::AtomicU32 {}
// SAFETY: as for AtomicU32.
unsafe impl ShmSafe for std::sync::atomic::AtomicU64 {}
// SAFETY: an array of ShmSafe elements is ShmSafe element by element.
unsafe impl<T: ShmSafe, const N: usize> ShmSafe for [T; N] {}
