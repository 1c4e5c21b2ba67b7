//! Layer 5: handing a lock to a spawned program. (After `fork` nothing is needed: the child has
//! the same mapping.)
//!
//! The parent marks the lock's descriptor to survive `exec` in that child only, and sets an
//! environment variable `VAR=interlock:v1:fd=N:dev=D:ino=I`. The child reopens the descriptor
//! through `/proc/self/fd/N` (so it never takes ownership of a descriptor number on trust), and
//! checks that device and inode match — a variable inherited by a grandchild whose descriptor was
//! closed and reused is refused instead of adopted.

use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};
use std::process::Command;

use rustix::fs::{fstat, openat, Mode, OFlags, CWD};

use crate::locks::raw::Raw;
use crate::shm::{trusted_file, Segment};
use crate::types::{Error, Kind};

const PREFIX: &str = "interlock:v1:";

pub(crate) fn pass(raw: &Raw, cmd: &mut Command, var: &str) -> Result<(), Error> {
    if var.is_empty() || var.contains('=') || var.contains('\0') {
        return Err(Error::InvalidVarName {
            var: var.to_owned(),
            reason: if var.is_empty() {
                "empty"
            } else if var.contains('=') {
                "contains '='"
            } else {
                "contains a NUL byte"
            },
        });
    }
    // The command gets its own duplicate, owned by the command: the number in the variable
    // stays this lock's even if the Lock is dropped (and its descriptor number reused) before
    // the spawn.
    let dup = duplicate(raw)?;
    let st = fstat(&dup).map_err(|e| Error::io("fstat", raw.label(), e))?;
    cmd.env(var, format_value(dup.as_raw_fd(), st.st_dev, st.st_ino));
    crate::sys::inherit_fd_on_exec(cmd, dup);
    Ok(())
}

pub(crate) fn adopt(var: &str, kind: Kind) -> Result<Raw, Error> {
    let fail = |reason: String| Error::Inherit {
        var: var.to_owned(),
        reason,
    };
    let value = std::env::var(var).map_err(|_| {
        fail("not set (was this process spawned with Lock::pass_to / RLock::pass_to?)".into())
    })?;
    let (fd, dev, ino) = parse(&value).ok_or_else(|| fail(format!("malformed value {value:?}")))?;
    let path = format!("/proc/self/fd/{fd}");
    let file = openat(
        CWD,
        path.as_str(),
        OFlags::RDWR | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| fail(format!("descriptor {fd} is not open in this process ({e})")))?;
    let st = fstat(&file).map_err(|e| fail(format!("fstat of descriptor {fd}: {e}")))?;
    if st.st_dev != dev || st.st_ino != ino {
        return Err(fail(format!(
            "descriptor {fd} is not the lock that was passed (dev/inode {}/{} instead of {dev}/{ino})",
            st.st_dev, st.st_ino
        )));
    }
    adopt_file(
        file,
        crate::handles::open::Source::Inherited(var).label(),
        kind,
    )
}

/// A new descriptor (close-on-exec) of `raw`'s memory: the handle's own duplicated, or, for a
/// lock file (whose descriptor is closed once mapped), the file reopened by path and checked to
/// be the same file. What `pass_to` hands over and `try_clone_fd` returns.
pub(crate) fn duplicate(raw: &Raw) -> Result<OwnedFd, Error> {
    raw.segment()
        .descriptor()
        .map_err(|e| Error::io("hand over", raw.label(), e))
}

/// Adopts the handle of `kind` whose memory descriptor `fd` is (`Options::from_fd`): a
/// duplicate of it is mapped, `fd` stays the caller's.
pub(crate) fn adopt_fd(fd: BorrowedFd<'_>, kind: Kind) -> Result<Raw, Error> {
    let label = crate::handles::open::Source::Descriptor(fd).label();
    let file = fd
        .try_clone_to_owned()
        .map_err(|e| Error::io("duplicate", &label, e))?;
    adopt_file(file, label, kind)
}

/// What every adoption checks, once: the header (an interlock segment, of `kind`), and the
/// trust rule (`trusted_file`: a file others can write is used without the robust list).
fn adopt_file(file: OwnedFd, label: String, kind: Kind) -> Result<Raw, Error> {
    let trusted = trusted_file(&file);
    let seg = Segment::map(file, &label)?;
    Raw::new(seg, label, kind, trusted)
}

/// The variable's value naming descriptor `fd` of file `dev`/`ino`: what [`parse`] reads.
pub(crate) fn format_value(fd: i32, dev: u64, ino: u64) -> String {
    format!("{PREFIX}fd={fd}:dev={dev}:ino={ino}")
}

/// The descriptor, device and inode a hand-over variable names; `None` for anything but the
/// documented form (`interlock:v1:fd=N:dev=N:ino=N`, each once, in any order).
pub(crate) fn parse(value: &str) -> Option<(i32, u64, u64)> {
    let mut fd = None;
    let mut dev = None;
    let mut ino = None;
    for part in value.strip_prefix(PREFIX)?.split(':') {
        let (k, v) = part.split_once('=')?;
        // Digits only: `str::parse` would also take a sign (`fd=+5`, `fd=-1`).
        if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let first = match k {
            "fd" => fd.replace(v.parse().ok()?).is_none(),
            "dev" => dev.replace(v.parse().ok()?).is_none(),
            "ino" => ino.replace(v.parse().ok()?).is_none(),
            _ => return None,
        };
        if !first {
            return None;
        }
    }
    Some((fd?, dev?, ino?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_accepts_only_the_documented_form() {
        assert_eq!(parse("interlock:v1:fd=5:dev=2:ino=9"), Some((5, 2, 9)));
        assert_eq!(parse("interlock:v2:fd=5:dev=2:ino=9"), None);
        assert_eq!(parse("interlock:v1:fd=5:dev=2"), None);
        assert_eq!(parse("interlock:v1:fd=x:dev=2:ino=9"), None);
        assert_eq!(parse("interlock:v1:fd=5:dev=2:ino=9:extra=1"), None);
        assert_eq!(parse("interlock:v1:ino=9:fd=5:dev=2"), Some((5, 2, 9)));
        assert_eq!(
            parse("interlock:v1:fd=5:fd=6:dev=2:ino=9"),
            None,
            "a key twice"
        );
        assert_eq!(parse("interlock:v1:fd=+5:dev=2:ino=9"), None, "a sign");
        assert_eq!(
            parse("interlock:v1:fd=-1:dev=2:ino=9"),
            None,
            "a negative descriptor"
        );
        assert_eq!(
            parse("interlock:v1:fd=:dev=2:ino=9"),
            None,
            "an empty number"
        );
        assert_eq!(parse(&format_value(7, u64::MAX, 0)), Some((7, u64::MAX, 0)));
    }
}

#[cfg(test)]
mod handover_tests {
    use std::process::Command;

    use crate::Lock;

    /// Review finding: `pass_to` used to name the lock's own descriptor number, so dropping the
    /// lock before the spawn handed the child whatever file reused that number.
    #[test]
    fn passed_descriptor_survives_the_lock_being_dropped_before_spawn() {
        let lock = Lock::new().unwrap();
        let mut cmd = Command::new("sh");
        cmd.args([
            "-c",
            "v=$IL; fd=${v#*fd=}; fd=${fd%%:*}; readlink /proc/self/fd/$fd",
        ]);
        lock.pass_to(&mut cmd, "IL").unwrap();
        drop(lock);
        let _reuses_numbers: Vec<std::fs::File> = (0..4)
            .map(|_| std::fs::File::open("/dev/null").unwrap())
            .collect();
        let out = cmd.output().unwrap();
        let target = String::from_utf8_lossy(&out.stdout);
        assert!(
            target.contains("memfd:interlock"),
            "the child got {target:?}"
        );
    }
}
