//! User names, for messages that name a file's owner.
//!
//! # Safety
//!
//! `getpwuid_r` is the one call here: libc's reentrant user-database lookup (NSS: files, LDAP,
//! systemd's dynamic users), which rustix does not wrap. It writes into buffers we own and
//! returns pointers into them; we read one NUL-terminated string before the buffers go away.
//!
//! # Statically linked programs
//!
//! A program built with `-C target-feature=+crt-static` (the installed `interlock` binary:
//! decision 0020) never calls `getpwuid_r`: a static glibc answers from `/etc/passwd` itself but
//! `dlopen`s every other module nsswitch.conf names, and such a module crashes it — Debian's
//! default `passwd: files systemd` sends every uid missing from `/etc/passwd` to
//! `libnss_systemd.so.2`, which segfaulted in `_nss_systemd_is_blocked` (glibc 2.36, systemd
//! 252), turning a clear error about a foreign owner into SIGSEGV. There the name comes from
//! `/etc/passwd` alone, as nss_files would give it; a user only LDAP, sssd or systemd knows is
//! shown by uid.

#![allow(unsafe_code)]

use std::ffi::CStr;
use std::mem::MaybeUninit;

/// The largest buffer offered to `getpwuid_r` before giving up (entries are rarely > 1 KiB).
const MAX_BUF: usize = 1 << 20;

/// The user name of `uid`, if the user database has one: `getpwuid_r`, or in a statically
/// linked program `/etc/passwd` alone (see the module's documentation).
///
/// # References
///
/// - getpwuid_r(3), passwd(5)
pub(crate) fn user_name(uid: u32) -> Option<String> {
    if cfg!(target_feature = "crt-static") {
        name_in_passwd(&std::fs::read("/etc/passwd").ok()?, uid)
    } else {
        getpwuid_name(uid)
    }
}

/// The name of the first entry of `uid` in the text of a passwd(5) file. Comments and
/// NIS compat entries (`+`, `-`) are skipped, as nss_files skips them.
fn name_in_passwd(text: &[u8], uid: u32) -> Option<String> {
    text.split(|&b| b == b'\n').find_map(|line| {
        if matches!(line.first(), None | Some(b'#' | b'+' | b'-')) {
            return None;
        }
        let mut fields = line.split(|&b| b == b':');
        let name = fields.next().filter(|n| !n.is_empty())?;
        let entry_uid = fields.nth(1)?;
        let entry_uid: u32 = std::str::from_utf8(entry_uid).ok()?.parse().ok()?;
        (entry_uid == uid).then(|| String::from_utf8_lossy(name).into_owned())
    })
}

/// `getpwuid_r(uid, …)`: the user name of `uid`, if NSS has one.
fn getpwuid_name(uid: u32) -> Option<String> {
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

    /// The static build's reader agrees with getpwuid_r on this system's /etc/passwd.
    #[test]
    #[cfg_attr(
        target_feature = "crt-static",
        ignore = "getpwuid_r may crash a static program"
    )]
    fn passwd_file_agrees_with_getpwuid_r() {
        let text = std::fs::read("/etc/passwd").unwrap();
        for uid in [0, 65534, 4_000_000_000] {
            assert_eq!(
                super::name_in_passwd(&text, uid),
                super::getpwuid_name(uid),
                "uid {uid}"
            );
        }
    }

    #[test]
    fn passwd_lines_that_are_not_entries_are_skipped() {
        let text = b"# comment:x:7:7\n+nis:x:7:7\n-gone:x:7:7\n\n:x:7:7\nbad:x:seven:7\n\
                     short:x\nseven:x:7:7::/:/bin/sh\nlater:x:7:7::/:/bin/sh";
        assert_eq!(super::name_in_passwd(text, 7).as_deref(), Some("seven"));
        assert_eq!(super::name_in_passwd(text, 8), None);
    }
}
