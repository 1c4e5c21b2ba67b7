//! The in-place format of [`Format::Slots`](super::Format::Slots): a commit never touches the
//! content it replaces, and a commit becomes current with one small write.
//!
//! ```text
//! 0    magic "INTRLKSF", version u32, 0u32
//! 64   meta 0 ┐ each: generation u64, offset u64, length u64, crc32 of the data u32,
//! 128  meta 1 ┘       crc32 of the 28 bytes before it u32 (all zero: never written)
//! 256  data: each commit's bytes, placed where they overlap no current data
//! ```
//!
//! A commit writes its bytes outside the current content, then its meta into the slot the
//! current meta is not in. A writer killed before the meta write leaves the old meta current; a
//! meta write is 32 bytes within one page, which a fatal signal cannot split (and a torn meta
//! after power loss fails its checksum). Readers take the valid meta with the highest
//! generation whose data matches its checksum.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::{FileExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

const MAGIC: &[u8; 8] = b"INTRLKSF";
const VERSION: u32 = 1;
/// Where the data area starts.
const DATA: u64 = 256;
const META_AT: [u64; 2] = [64, 128];
const META_LEN: usize = 32;
/// The largest content a commit may write, and a slot may claim (1 GiB). A read also checks a
/// slot's claim against the file's size before it allocates anything: a damaged or forged
/// length must not allocate the machine.
pub(crate) const MAX_LEN: usize = 1 << 30;

/// Reads into `buf` at `offset` until it is full or the file ends; how many bytes were read.
fn read_at_most(file: &File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match file.read_at(&mut buf[got..], offset + got as u64) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}

/// One commit's place in the file. `generation == 0`: nothing committed yet.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Meta {
    generation: u64,
    offset: u64,
    length: u64,
    crc: u32,
}

impl Meta {
    fn encode(&self) -> [u8; META_LEN] {
        let mut b = [0u8; META_LEN];
        b[0..8].copy_from_slice(&self.generation.to_le_bytes());
        b[8..16].copy_from_slice(&self.offset.to_le_bytes());
        b[16..24].copy_from_slice(&self.length.to_le_bytes());
        b[24..28].copy_from_slice(&self.crc.to_le_bytes());
        let own = crc32fast::hash(&b[..28]);
        b[28..32].copy_from_slice(&own.to_le_bytes());
        b
    }

    /// The length of the data this meta claims, if it lies in the data area of a file of
    /// `file_len` bytes and within [`MAX_LEN`]; else what is wrong with the claim.
    fn claim_fits(&self, file_len: u64) -> Result<usize, String> {
        let claim = || {
            format!(
                "generation {} claims {} bytes at offset {}",
                self.generation, self.length, self.offset
            )
        };
        if self.offset < DATA {
            return Err(format!("{}, inside the {DATA}-byte header", claim()));
        }
        if self
            .offset
            .checked_add(self.length)
            .is_none_or(|end| end > file_len)
        {
            return Err(format!(
                "{}, past the end of the {file_len}-byte file",
                claim()
            ));
        }
        if self.length > MAX_LEN as u64 {
            return Err(format!("{}, over the {MAX_LEN}-byte limit", claim()));
        }
        Ok(self.length as usize)
    }

    /// `Ok(None)`: never written; `Err(())`: damaged.
    fn decode(b: &[u8]) -> Result<Option<Meta>, ()> {
        if b.iter().all(|&x| x == 0) {
            return Ok(None);
        }
        let u64_at = |i: usize| u64::from_le_bytes(b[i..i + 8].try_into().expect("8 bytes"));
        let u32_at = |i: usize| u32::from_le_bytes(b[i..i + 4].try_into().expect("4 bytes"));
        if crc32fast::hash(&b[..28]) != u32_at(28) {
            return Err(());
        }
        Ok(Some(Meta {
            generation: u64_at(0),
            offset: u64_at(8),
            length: u64_at(16),
            crc: u32_at(24),
        }))
    }
}

/// Why a read failed.
#[derive(Debug)]
pub(crate) enum ReadError {
    Io(io::Error),
    /// The file is not in this format, or no slot holds intact content.
    Corrupt(String),
}

impl From<io::Error> for ReadError {
    fn from(e: io::Error) -> ReadError {
        ReadError::Io(e)
    }
}

/// An open slotted file, and the identity it was opened with (to notice a replaced path).
#[derive(Debug)]
pub(crate) struct Handle {
    file: File,
    dev: u64,
    ino: u64,
    uid: u32,
}

impl Handle {
    /// Opens the regular file at `path`; with `create`, creates it if missing: with exactly
    /// the mode given, or (`Some(None)`) 0644 less the umask. Does not follow a final symlink
    /// and does not block on a FIFO; creates only a new file (`O_EXCL`), so whatever appears at
    /// the path meanwhile is opened as found, and checked.
    pub(crate) fn open(path: &Path, create: Option<Option<u32>>) -> io::Result<Handle> {
        let flags = libc::O_NOFOLLOW | libc::O_NONBLOCK;
        let mut attempts = 0;
        let file = loop {
            match OpenOptions::new()
                .read(true)
                .write(true)
                .custom_flags(flags)
                .open(path)
            {
                Ok(file) => break file,
                Err(e)
                    if create.is_some() && e.kind() == io::ErrorKind::NotFound && attempts < 16 => {
                }
                Err(e) => return Err(e),
            }
            attempts += 1;
            let exact = create.flatten();
            match OpenOptions::new()
                .read(true)
                .write(true)
                .create_new(true)
                .mode(exact.unwrap_or(0o644))
                .custom_flags(flags)
                .open(path)
            {
                Ok(file) => {
                    if let Some(mode) = exact {
                        // The umask may have narrowed it: the mode asked for is exact.
                        file.set_permissions(std::fs::Permissions::from_mode(mode))?;
                    }
                    break file;
                }
                // Created by someone else meanwhile: open that one.
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(e),
            }
        };
        let meta = file.metadata()?;
        if !meta.file_type().is_file() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "not a regular file",
            ));
        }
        Ok(Handle {
            file,
            dev: meta.dev(),
            ino: meta.ino(),
            uid: meta.uid(),
        })
    }

    /// The file's owner.
    pub(crate) fn uid(&self) -> u32 {
        self.uid
    }

    /// Whether `meta` (of the path, now) is still this handle's file.
    pub(crate) fn is(&self, meta: &std::fs::Metadata) -> bool {
        meta.dev() == self.dev && meta.ino() == self.ino
    }

    /// The current content and where it lives. An empty file is empty content. With
    /// `newest_only` (a reader without the lock), only the newest valid meta is taken: a
    /// writer may be reusing an older commit's space, and falling back to an even older
    /// generation could return content older than the read's start. Under the lock (no writer),
    /// a damaged newest commit falls back to the previous one.
    pub(crate) fn read(&self, newest_only: bool) -> Result<(Vec<u8>, Meta), ReadError> {
        let mut head = [0u8; DATA as usize];
        let got = read_at_most(&self.file, &mut head, 0)?;
        if got == 0 {
            return Ok((Vec::new(), Meta::default()));
        }
        if got < head.len() {
            return Err(ReadError::Corrupt(format!(
                "{got} bytes: too short for the {DATA}-byte header of an interlock slotted file"
            )));
        }
        if &head[..8] != MAGIC {
            return Err(ReadError::Corrupt(format!(
                "not an interlock slotted file (starts {:?})",
                String::from_utf8_lossy(&head[..8])
            )));
        }
        let version = u32::from_le_bytes(head[8..12].try_into().expect("4 bytes"));
        if version != VERSION {
            return Err(ReadError::Corrupt(format!(
                "slotted-file version {version}, this build reads version {VERSION}"
            )));
        }
        // Taken after the metas were read: a commit writes its data before its meta, so the
        // data of any meta read above is within this length (unless trimmed since).
        let file_len = self.file.metadata()?.len();
        let mut metas = Vec::with_capacity(2);
        let mut damaged = 0;
        for at in META_AT {
            let at = at as usize;
            match Meta::decode(&head[at..at + META_LEN]) {
                Ok(Some(m)) => metas.push(m),
                Ok(None) => {}
                Err(()) => damaged += 1,
            }
        }
        if metas.is_empty() && damaged == 0 {
            return Ok((Vec::new(), Meta::default()));
        }
        metas.sort_by_key(|m| std::cmp::Reverse(m.generation));
        let mut why = None;
        for m in metas {
            // A meta pointing outside the file (or past the limit) is damaged, and found so
            // before anything is allocated for its data.
            match m.claim_fits(file_len) {
                Err(claim) => {
                    why.get_or_insert(claim);
                }
                Ok(length) => {
                    let mut data = vec![0u8; length];
                    if read_at_most(&self.file, &mut data, m.offset)? == length
                        && crc32fast::hash(&data) == m.crc
                    {
                        return Ok((data, m));
                    }
                    why.get_or_insert(format!(
                        "generation {}'s {length} bytes fail their checksum",
                        m.generation
                    ));
                }
            }
            damaged += 1;
            if newest_only {
                break;
            }
        }
        Err(ReadError::Corrupt(match why {
            Some(why) => format!("no slot holds intact content ({damaged} damaged: {why})"),
            None => format!("no slot holds intact content ({damaged} damaged)"),
        }))
    }

    /// Commits `new` after `current` (as returned by [`Handle::read`] or the last commit):
    /// the data goes where it overlaps no current data, then the meta flips. With `durable`,
    /// each step is flushed before the next.
    ///
    /// # Errors
    ///
    /// A failure before the meta write leaves the previous content current
    /// (`committed: None`); one after it (a flush, the tail trim) leaves the new content current
    /// and says so (`committed: Some`).
    pub(crate) fn commit(
        &self,
        current: Meta,
        new: &[u8],
        durable: bool,
    ) -> Result<Meta, CommitError> {
        let next = self
            .write_commit(current, new, durable)
            .map_err(|source| CommitError {
                committed: None,
                source,
            })?;
        let after = || -> io::Result<()> {
            if durable {
                self.file.sync_data()?;
            }
            // Content that shrank: drop the tail, which holds only superseded commits.
            let end = next.offset + next.length;
            if next.offset == DATA && current.offset + current.length > 2 * end + 4096 {
                self.file.set_len(end)?;
            }
            Ok(())
        };
        after().map_err(|source| CommitError {
            committed: Some(next),
            source,
        })?;
        Ok(next)
    }

    /// The data, then the meta that makes it current.
    fn write_commit(&self, current: Meta, new: &[u8], durable: bool) -> io::Result<Meta> {
        if new.len() > MAX_LEN {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "{} bytes of content: over the slotted format's limit of {MAX_LEN} bytes (1 GiB)",
                    new.len()
                ),
            ));
        }
        if current.generation == 0 {
            let mut head = [0u8; DATA as usize];
            head[..8].copy_from_slice(MAGIC);
            head[8..12].copy_from_slice(&VERSION.to_le_bytes());
            self.file.write_all_at(&head, 0)?;
        }
        let length = new.len() as u64;
        let offset = if current.generation != 0 && length <= current.offset - DATA {
            DATA
        } else {
            (current.offset + current.length).max(DATA)
        };
        self.file.write_all_at(new, offset)?;
        if durable {
            self.file.sync_data()?;
        }
        let next = Meta {
            generation: current.generation + 1,
            offset,
            length,
            crc: crc32fast::hash(new),
        };
        self.file
            .write_all_at(&next.encode(), META_AT[(next.generation % 2) as usize])?;
        Ok(next)
    }
}

/// Why a commit failed, and whether it took effect anyway.
#[derive(Debug)]
pub(crate) struct CommitError {
    /// The new commit, when it became current before the failure.
    pub(crate) committed: Option<Meta>,
    pub(crate) source: io::Error,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn handle() -> (tempfile::TempDir, Handle) {
        let dir = tempfile::tempdir().unwrap();
        let h = Handle::open(&dir.path().join("f"), Some(None)).unwrap();
        (dir, h)
    }

    #[test]
    fn commits_alternate_slots_and_read_back() {
        let (_dir, h) = handle();
        let (content, mut cur) = h.read(false).unwrap();
        assert!(content.is_empty());
        for i in 0..50u32 {
            let text = format!("value {i} {}", "x".repeat((i % 7) as usize * 100));
            cur = h.commit(cur, text.as_bytes(), false).unwrap();
            let (back, meta) = h.read(false).unwrap();
            assert_eq!(back, text.as_bytes());
            assert_eq!(meta, cur);
        }
        // Lengths cycle between ~10 and ~600 bytes: the file stays near twice the largest.
        assert!(
            h.file.metadata().unwrap().len() < 4096,
            "file grew without bound"
        );
    }

    #[test]
    fn growing_content_keeps_the_file_linear() {
        let (_dir, h) = handle();
        let mut cur = Meta::default();
        let mut content = Vec::new();
        for _ in 0..500 {
            content.extend_from_slice(b"a line of the growing log\n");
            cur = h.commit(cur, &content, false).unwrap();
        }
        let size = h.file.metadata().unwrap().len();
        assert!(
            size <= DATA + 3 * content.len() as u64,
            "{size} bytes for {} of content",
            content.len()
        );
        assert_eq!(h.read(false).unwrap().0, content);
    }

    #[test]
    fn a_commit_cut_off_before_its_meta_leaves_the_previous_content() {
        let (_dir, h) = handle();
        let cur = h.commit(Meta::default(), b"old", false).unwrap();
        // Write the next commit's data but not its meta, as a writer killed in between would.
        h.file.write_all_at(b"garbage-garbage", DATA + 3).unwrap();
        assert_eq!(h.read(false).unwrap().0, b"old");
        let next = h.commit(cur, b"new", false).unwrap();
        assert_eq!(h.read(false).unwrap(), (b"new".to_vec(), next));
    }

    #[test]
    fn damaged_current_data_falls_back_to_the_previous_commit() {
        let (_dir, h) = handle();
        let a = h.commit(Meta::default(), b"first", false).unwrap();
        let b = h.commit(a, b"second", false).unwrap();
        h.file.write_all_at(b"X", b.offset).unwrap();
        assert_eq!(h.read(false).unwrap(), (b"first".to_vec(), a));
        h.file.write_all_at(b"X", a.offset).unwrap();
        match h.read(false) {
            Err(ReadError::Corrupt(m)) => assert!(m.contains("2 damaged"), "{m}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn damaged_metas_and_foreign_files_are_named() {
        let (_dir, h) = handle();
        let a = h.commit(Meta::default(), b"first", false).unwrap();
        h.file.write_all_at(&[0xff], META_AT[1] + 3).unwrap();
        match h.read(false) {
            Err(ReadError::Corrupt(m)) => assert!(m.contains("1 damaged"), "{m}"),
            other => panic!("{other:?}"),
        }
        let _ = a;
        h.file.set_len(0).unwrap();
        h.file.write_all_at(&[b'7'; 300], 0).unwrap();
        match h.read(false) {
            Err(ReadError::Corrupt(m)) => assert!(m.contains("not an interlock slotted"), "{m}"),
            other => panic!("{other:?}"),
        }
        h.file.set_len(3).unwrap();
        match h.read(false) {
            Err(ReadError::Corrupt(m)) => assert!(m.contains("too short"), "{m}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn meta_decoding_rejects_every_single_bit_flip() {
        let m = Meta {
            generation: 7,
            offset: 300,
            length: 12,
            crc: 0xdead_beef,
        };
        let good = m.encode();
        assert_eq!(Meta::decode(&good), Ok(Some(m)));
        for bit in 0..META_LEN * 8 {
            let mut bad = good;
            bad[bit / 8] ^= 1 << (bit % 8);
            assert_eq!(Meta::decode(&bad), Err(()), "bit {bit}");
        }
    }
}
