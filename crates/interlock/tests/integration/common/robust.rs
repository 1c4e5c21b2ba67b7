//! The calling thread's robust list as the kernel sees it (`get_robust_list`): what tests
//! check the library's linking against.

/// glibc's `struct robust_list_head`, as the kernel returns it.
#[repr(C)]
pub(crate) struct Head {
    pub(crate) list: *mut u8,
    pub(crate) futex_offset: isize,
    pub(crate) pending: *mut u8,
}

/// The calling thread's registered robust list head (null if it has none). A raw system call in
/// a test: it checks the library against the kernel's own view, and neither rustix nor libc
/// wraps the robust-list calls.
#[allow(clippy::disallowed_methods)]
pub(crate) fn robust_head() -> *mut Head {
    let mut head: *mut Head = std::ptr::null_mut();
    let mut len: libc::size_t = 0;
    // SAFETY: get_robust_list(0, …) writes the calling thread's head and its size into two
    // valid, writable locals of the right types.
    let rc = unsafe { libc::syscall(libc::SYS_get_robust_list, 0, &mut head, &mut len) };
    assert_eq!(
        rc,
        0,
        "get_robust_list: {}",
        std::io::Error::last_os_error()
    );
    head
}

/// Whether the calling thread's robust list is empty (its head points at itself).
pub(crate) fn list_is_empty() -> bool {
    let h = robust_head();
    // SAFETY: glibc registered `h` for this thread and keeps it valid for the thread's life;
    // only this thread edits it, and we only read.
    unsafe { (*h).list == h.cast() }
}

/// Whether the calling thread's `list_op_pending` is clear.
pub(crate) fn nothing_pending() -> bool {
    // SAFETY: as in `list_is_empty`.
    unsafe { (*robust_head()).pending.is_null() }
}

/// How many entries the calling thread's robust list has (bounded, in case it is corrupt).
pub(crate) fn list_len() -> usize {
    let h = robust_head();
    // Every entry is the address of a `next` pointer; the list is circular through the head.
    // SAFETY: glibc registered `h` for this thread and keeps it valid for the thread's life;
    // only this thread edits the list, and we only read it.
    let mut e = unsafe { (*h).list };
    let mut n = 0;
    while e != h.cast() && n < 100_000 {
        n += 1;
        // SAFETY: as above: `e` is an entry of this thread's list (a live node area or one of
        // glibc's mutexes), whose first pointer-sized field is `next`.
        e = unsafe { *(e.cast::<*mut u8>()) };
    }
    n
}
