//! User names, for messages that name a file's owner.
//!
//! # Safety
//!
//! `getpwuid_r` is the one call here: libc's reentrant user-database lookup (NSS: files, LDAP,
//! systemd's dynamic users), which rustix does not wrap. It writes into buffers we own and
//! returns pointers into them; we read one NUL-terminated string before the buffers go away.

#![allow(unsafe_code)]

use std::ffi::CStr;
use std::mem::MaybeUninit;

/// The largest buffer offered to `getpwuid_r` before giving up (entries are rarely > 1 KiB).
const MAX_BUF: usize = 1 << 20;

/// `getpwuid_r(uid, …)`: the user name of `uid`, if the user database has one.
///
/// # References
///
/// - getpwuid_r(3)
pub(crate) fn user_name(uid: u32) -> Option<String> {
    let mut buf = vec![0u8; 1024];
    loop {
        let mut entry = MaybeUninit::<libc::passwd>::uninit();
        let mut found: *mut libc::passwd = std::ptr::null_mut();
        // SAFETY: `entry` and `buf` are writable and live across the call, `buf.len()` is the
        // buffer's real length, and `found` is a valid place for the result pointer.
        let rc = unsafe {
            libc::getpwuid_r(
                uid,
                entry.as_mut_ptr(),
                buf.as_mut_ptr().cast(),
                buf.len(),
                &mut found,
            )
        };
        if rc == libc::ERANGE && buf.len() < MAX_BUF {
            buf.resize(buf.len() * 2, 0);
            continue;
        }
        if rc != 0 || found.is_null() {
            return None;
        }
        // SAFETY: on success `found` points at `entry`, which getpwuid_r initialised.
        let name_ptr = unsafe { (*found).pw_name };
        if name_ptr.is_null() {
            return None;
        }
        // SAFETY: `pw_name` points at a NUL-terminated string in `buf`, alive until we return.
        let name = unsafe { CStr::from_ptr(name_ptr) };
        return Some(name.to_string_lossy().into_owned());
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn root_is_named_and_an_unused_uid_is_not() {
        assert_eq!(super::user_name(0).as_deref(), Some("root"));
        assert_eq!(super::user_name(4_000_000_000), None);
    }
}
