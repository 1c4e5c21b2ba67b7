//! Entry points for the fuzzers in `fuzz/` (cargo-fuzz), built only with the `fuzzing`
//! feature and hidden from the documentation: each decodes what an attacker or a damaged file
//! can hand interlock, and asserts the properties that must hold for any input — no panic, no
//! allocation beyond what the input's size allows, and whatever is accepted round-trips.
//! Not an API: its functions panic when a property fails, which is what a fuzzer looks for.

use std::io::Write;
use std::sync::OnceLock;

use crate::handles::inherit;
use crate::resources::file::slots::{Handle, ReadError};
use crate::shm::{Header, SEGMENT_LEN};

/// A segment header: any bytes and any file length decode to a header or an error, and a
/// header that decodes re-encodes to bytes that decode to the same header, agreeing with the
/// input in every field that `encode` writes.
pub fn header(bytes: &[u8], file_len: u64) {
    if let Ok(h) = Header::decode(bytes, file_len) {
        let again = h.encode();
        assert_eq!(Header::decode(&again, SEGMENT_LEN as u64), Ok(h));
        assert_eq!(Header::decode(&again, file_len), Ok(h));
        assert_eq!(
            &again[..],
            &bytes[..again.len()],
            "decode accepted bytes encode would not write"
        );
        assert!(
            h.segment_len() as u64 <= file_len,
            "a header accepted past the file's end"
        );
    }
}

/// The environment hand-over value (`pass_to` / `from_env`): parsed or refused, and what parses
/// is exactly what `pass_to` would have written for it.
pub fn handover(value: &str) {
    if let Some((fd, dev, ino)) = inherit::parse(value) {
        assert!(fd >= 0, "a negative descriptor accepted: {value:?}");
        let written = inherit::format_value(fd, dev, ino);
        assert_eq!(inherit::parse(&written), Some((fd, dev, ino)));
    }
}

/// A lock name: valid or a typed error; a valid name is a single safe path component.
pub fn name(name: &str) {
    match crate::namespace::validate_name(name) {
        Ok(()) => {
            assert!(!name.is_empty() && name.len() <= 200);
            assert!(!name.starts_with('.'));
            assert!(name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b)));
            assert_eq!(std::path::Path::new(name).components().count(), 1);
        }
        Err(crate::Error::InvalidName {
            name: echoed,
            reason,
        }) => {
            assert_eq!(echoed, name, "the error names another name");
            assert!(!reason.is_empty());
        }
        Err(e) => panic!("validate_name gave {e:?}, not InvalidName"),
    }
}

/// A [`Format::Slots`](crate::Format::Slots) file of these bytes: read (newest-only and
/// fallback) gives content or a named corruption, never a panic or an allocation the file's
/// size does not back; after any read, a commit on top reads back exactly.
pub fn slots(bytes: &[u8]) {
    let path = scratch();
    let mut f = std::fs::File::create(path).expect("scratch file");
    f.write_all(bytes).expect("scratch write");
    drop(f);
    let handle = Handle::open(path, None).expect("scratch open");
    for newest_only in [true, false] {
        match handle.read(newest_only) {
            Ok((content, _)) => assert!(content.len() <= bytes.len()),
            Err(ReadError::Corrupt(why)) => assert!(!why.is_empty()),
            Err(ReadError::Io(e)) => panic!("reading a regular file failed: {e}"),
        }
    }
    if let Ok((_, meta)) = handle.read(false) {
        let new = b"fuzz commit";
        let next = handle.commit(meta, new, false).expect("commit");
        let (back, read_meta) = handle.read(true).expect("read after commit");
        assert_eq!(back, new);
        assert_eq!(read_meta, next);
    }
}

/// This process's scratch file (one per fuzzing process, reused by every input), in
/// `INTERLOCK_FUZZ_DIR` — `ci/fuzz.sh` makes one on tmpfs and removes it afterwards, since a
/// fuzzer ends by `exit` and never removes the file itself — else on `/dev/shm` (or `/tmp`).
fn scratch() -> &'static std::path::Path {
    static PATH: OnceLock<std::path::PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        let dir = std::env::var_os("INTERLOCK_FUZZ_DIR")
            .map(std::path::PathBuf::from)
            .unwrap_or_else(|| {
                if std::path::Path::new("/dev/shm").is_dir() {
                    "/dev/shm".into()
                } else {
                    "/tmp".into()
                }
            });
        dir.join(format!("interlock-fuzz-slots-{}", std::process::id()))
    })
}
