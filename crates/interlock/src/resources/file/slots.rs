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

use std::borrow::Cow;
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
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Meta {
    generation: u64,
    offset: u64,
    length: u64,
    crc: u32,
    /// Not stored: the file's length when this meta was read, or after it was committed — what
    /// the next commit (under the same hold of the lock) needs to know to trim the file,
    /// without asking the kernel again.
    file_len: u64,
    /// Not stored: which meta slot holds it (0 or 1; 0 for "never written"). The next commit
    /// writes its meta into the *other* slot, so that it never overwrites the meta of the
    /// content it replaces. In a healthy file this is the generation's parity; in a damaged
    /// one it need not be (the fuzzer's case: a current generation 1 in slot 0 beside a
    /// forged generation 2^48 in slot 1, where a commit by parity overwrote the only intact
    /// meta and left the forged one newest).
    slot: u8,
}

/// Two metas are equal when they describe the same commit (whatever the file's length).
impl PartialEq for Meta {
    fn eq(&self, other: &Meta) -> bool {
        (self.generation, self.offset, self.length, self.crc)
            == (other.generation, other.offset, other.length, other.crc)
    }
}

impl Eq for Meta {}

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
            file_len: 0,
            slot: 0,
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
        let file_len = self.len()?;
        let mut metas = Vec::with_capacity(2);
        let mut damaged = 0;
        let mut unwritten = 0;
        for (slot, at) in META_AT.into_iter().enumerate() {
            let at = at as usize;
            match Meta::decode(&head[at..at + META_LEN]) {
                Ok(Some(m)) => metas.push(Meta {
                    slot: slot as u8,
                    ..m
                }),
                Ok(None) => unwritten += 1,
                Err(()) => damaged += 1,
            }
        }
        if metas.is_empty() && damaged == 0 {
            return Ok((
                Vec::new(),
                Meta {
                    file_len,
                    ..Meta::default()
                },
            ));
        }
        // Only the first commit was ever made (or begun): before it, the content was empty. (A
        // first commit puts its data at the start of the data area, within the limit: a meta
        // claiming anything else is damage, not a commit cut short.)
        let first_only = unwritten == 1
            && damaged == 0
            && metas
                .iter()
                .all(|m| m.generation == 1 && m.offset == DATA && m.length <= MAX_LEN as u64);
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
                        return Ok((data, Meta { file_len, ..m }));
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
        if first_only && !newest_only {
            // A first commit cut short by a power loss (without `durable`, its meta can reach
            // the disk before its data): the file is as it was before it, empty.
            return Ok((
                Vec::new(),
                Meta {
                    file_len,
                    ..Meta::default()
                },
            ));
        }
        Err(ReadError::Corrupt(match why {
            Some(why) => format!("no slot holds intact content ({damaged} damaged: {why})"),
            None => format!("no slot holds intact content ({damaged} damaged)"),
        }))
    }

    /// Commits `new` after `current` (as returned by [`Handle::read`] or the last commit):
    /// the steps of [`plan`], in order.
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
        if new.len() > MAX_LEN {
            return Err(CommitError {
                committed: None,
                source: io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!(
                        "{} bytes of content: over the slotted format's limit of {MAX_LEN} bytes (1 GiB)",
                        new.len()
                    ),
                ),
            });
        }
        let (steps, next) = plan(current, new, durable);
        let mut committed = None;
        for step in &steps {
            self.apply(step)
                .map_err(|source| CommitError { committed, source })?;
            if let Step::Meta { .. } = step {
                committed = Some(next);
            }
        }
        Ok(next)
    }

    /// The file's length: `lseek(SEEK_END)`, a quarter of the cost of `fstat`/`statx` here (the
    /// descriptor's offset is otherwise unused: all I/O is positioned).
    fn len(&self) -> io::Result<u64> {
        Ok(rustix::fs::seek(&self.file, rustix::fs::SeekFrom::End(0))?)
    }

    fn apply(&self, step: &Step<'_>) -> io::Result<()> {
        match step {
            Step::Write { at, bytes } => self.file.write_all_at(bytes, *at),
            Step::Meta { at, bytes } => self.file.write_all_at(bytes, *at),
            Step::Sync => self.file.sync_data(),
            Step::Trim(len) => self.file.set_len(*len),
        }
    }
}

/// One step of a commit: a commit is planned as a list of steps ([`plan`]), then carried out
/// in order. (The power-loss test applies every subset of a plan, in every order.)
#[derive(Debug)]
enum Step<'a> {
    /// Bytes written at an offset: the header, or the new content.
    Write { at: u64, bytes: Cow<'a, [u8]> },
    /// The meta write that makes the commit current.
    Meta { at: u64, bytes: [u8; META_LEN] },
    /// Everything before is on disk before anything after (`fdatasync`).
    Sync,
    /// The file cut to this length.
    Trim(u64),
}

impl std::fmt::Display for Step<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Step::Write { at, bytes } => write!(f, "write {} bytes at {at}", bytes.len()),
            Step::Meta { at, .. } => write!(f, "meta at {at}"),
            Step::Sync => write!(f, "sync"),
            Step::Trim(len) => write!(f, "trim to {len}"),
        }
    }
}

/// The steps that commit `new` after `current` (in a file then `current.file_len` bytes long),
/// and the meta that will then be current: the data where it overlaps no current data, then the meta into the
/// slot the current one is not in; with `durable`, each flushed before the next. Then, if the
/// file is much longer than the current and the new data need, its tail is dropped.
///
/// # Power loss
///
/// No step touches the current generation — its meta, or the bytes of its data: the data goes
/// where it overlaps no current data, the meta into the other slot, and the trim keeps every
/// byte up to the end of *both* the current and the new data (it once kept only the new data:
/// the trim could then reach the disk before the new meta, and a power loss lost both
/// generations — the current one cut off, the previous one overwritten by the new data). So
/// whichever of a commit's steps reach the disk, in whatever order, the current generation
/// stays intact, and a reader falls back to it when the new one is incomplete. Two more
/// orders matter for the file's first commit only, and are closed: the header is flushed
/// before anything else is written (new data on disk without a header would be a file not in
/// the format at all), and a first meta whose data never reached the disk reads as the empty
/// content that came before it ([`Handle::read`]).
///
/// That needs the current generation on disk when the commit starts: with `durable`, every
/// commit is on disk before it returns, so power loss never loses an acknowledged commit.
/// Without it, commits the kernel has not yet written back (within about 30 s) share that
/// fate: a later commit may reuse their space, and a power loss can then leave no intact
/// generation — reported as [`ReadError::Corrupt`], never as wrong content
/// (`docs/decisions/0014-slotted-file-power-loss.md`).
fn plan(current: Meta, new: &[u8], durable: bool) -> (Vec<Step<'_>>, Meta) {
    let mut steps = Vec::with_capacity(6);
    if current.generation == 0 {
        let mut head = vec![0u8; DATA as usize];
        head[..8].copy_from_slice(MAGIC);
        head[8..12].copy_from_slice(&VERSION.to_le_bytes());
        steps.push(Step::Write {
            at: 0,
            bytes: Cow::Owned(head),
        });
        // Flushed whatever `durable` says, once in the file's life: new data reaching the disk
        // before the header (nothing else orders them) would leave a file that is not in the
        // format at all, refused for good, instead of one that reads as before the commit.
        steps.push(Step::Sync);
    }
    let length = new.len() as u64;
    let offset = if current.generation != 0 && length <= current.offset - DATA {
        DATA
    } else {
        (current.offset + current.length).max(DATA)
    };
    steps.push(Step::Write {
        at: offset,
        bytes: Cow::Borrowed(new),
    });
    if durable {
        steps.push(Step::Sync);
    }
    let mut next = Meta {
        generation: current.generation + 1,
        offset,
        length,
        crc: crc32fast::hash(new),
        file_len: current.file_len.max(offset + length),
        // The slot the current meta is not in (for a healthy file, the new generation's
        // parity: a first commit goes to slot 1, as it always did).
        slot: 1 - current.slot,
    };
    steps.push(Step::Meta {
        at: META_AT[usize::from(next.slot)],
        bytes: next.encode(),
    });
    if durable {
        steps.push(Step::Sync);
    }
    // A file much longer than the current and the new data need (the content shrank): drop
    // the tail, which holds only older generations (see "Power loss" above).
    let keep = (current.offset + current.length).max(next.offset + next.length);
    if next.file_len > 2 * keep + 4096 {
        steps.push(Step::Trim(keep));
        next.file_len = keep;
    }
    (steps, next)
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

    /// Every sequence of `steps` a power loss during a commit can have left on disk: with the
    /// steps split into epochs at each `Sync`, the epochs before some epoch reached the disk
    /// whole, and of that epoch any subset, in any order (nothing orders unsynced writes).
    fn power_loss_outcomes<'s, 'a>(steps: &'s [Step<'a>]) -> Vec<Vec<&'s Step<'a>>> {
        fn orders<'s, 'a>(
            pool: &[&'s Step<'a>],
            prefix: &mut Vec<&'s Step<'a>>,
            out: &mut Vec<Vec<&'s Step<'a>>>,
        ) {
            out.push(prefix.clone());
            for (i, step) in pool.iter().enumerate() {
                let mut rest = pool.to_vec();
                rest.remove(i);
                prefix.push(step);
                orders(&rest, prefix, out);
                prefix.pop();
            }
        }
        let epochs: Vec<Vec<&Step<'a>>> = steps
            .split(|s| matches!(s, Step::Sync))
            .map(|epoch| epoch.iter().collect())
            .collect();
        let mut out = Vec::new();
        for (e, epoch) in epochs.iter().enumerate() {
            let mut done: Vec<&Step<'a>> = epochs[..e].iter().flatten().copied().collect();
            orders(epoch, &mut done, &mut out);
        }
        out
    }

    /// Issue 11 item 8: without `durable`, the tail trim could reach the disk before the new
    /// meta, and a power loss then lost both generations — the current one cut off, the previous
    /// one overwritten by the new data. Every commit of a sequence that grows and shrinks, with
    /// and without `durable`, is checked against every state a power loss during it can leave
    /// (the commits before it on disk): the old content or the new is always intact.
    #[test]
    fn no_power_loss_during_a_commit_loses_both_generations() {
        for durable in [false, true] {
            let (_dir, h) = handle();
            let (_scratch_dir, scratch) = handle();
            let mut lengths = vec![1, 10_000, 1, 1, 5_000, 3, 20_000, 2, 2, 2, 9_000, 4, 4];
            let mut rng = 0x9e37_79b9_7f4a_7c15_u64;
            for _ in 0..150 {
                rng ^= rng << 13;
                rng ^= rng >> 7;
                rng ^= rng << 17;
                lengths.push(match rng % 4 {
                    0 => (rng >> 8) % 16,
                    1 => (rng >> 8) % 600,
                    _ => (rng >> 8) % 30_000,
                } as usize);
            }
            let mut current = Meta::default();
            let mut old = Vec::new();
            let mut trims = 0;
            for (i, len) in lengths.into_iter().enumerate() {
                let new: Vec<u8> = (0..len).map(|j| (i * 31 + j * 7) as u8).collect();
                let mut before = vec![0u8; h.file.metadata().unwrap().len() as usize];
                h.file.read_exact_at(&mut before, 0).unwrap();
                assert_eq!(current.file_len, before.len() as u64, "commit {i}");
                let (steps, _) = plan(current, &new, durable);
                trims += steps.iter().filter(|s| matches!(s, Step::Trim(_))).count();
                for outcome in power_loss_outcomes(&steps) {
                    scratch.file.set_len(0).unwrap();
                    scratch.file.write_all_at(&before, 0).unwrap();
                    for step in &outcome {
                        scratch.apply(step).unwrap();
                    }
                    match scratch.read(false) {
                        Ok((content, _)) if content == old || content == new => {}
                        other => panic!(
                            "durable {durable}, commit {i} ({} -> {len} bytes), after {:?}: {:?}",
                            old.len(),
                            outcome.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
                            other.map(|(c, m)| (c.len(), m))
                        ),
                    }
                }
                current = h.commit(current, &new, durable).unwrap();
                old = new;
            }
            assert!(
                trims > 10,
                "durable {durable}: only {trims} commits trimmed the file"
            );
        }
    }

    /// Found by the `slots` fuzzer (issue 18): generation 1 current in meta slot 0 beside a
    /// meta in slot 1 whose checksum holds but whose claim is impossible (generation 2^48, data
    /// inside the header). A commit chose its slot by the new generation's parity — slot 0 —
    /// and overwrote the only intact meta, leaving the forged one newest: the next newest-only
    /// read failed, and a torn meta write there would have lost both. Now the commit writes
    /// into the slot the current meta is not in.
    #[test]
    fn a_commit_beside_a_damaged_meta_never_overwrites_the_current_one() {
        let (_dir, h) = handle();
        // Generation 1 (written to slot 1); its meta copied to slot 0 (its parity's slot is
        // 1), a forged one in slot 1.
        let first = h.commit(Meta::default(), b"42", false).unwrap();
        h.file.write_all_at(&first.encode(), META_AT[0]).unwrap();
        let forged = Meta {
            generation: 1 << 48,
            offset: 0,
            length: 0,
            crc: 0,
            file_len: 0,
            slot: 1,
        };
        h.file.write_all_at(&forged.encode(), META_AT[1]).unwrap();
        let (content, current) = h.read(false).unwrap();
        assert_eq!((content.as_slice(), current), (&b"42"[..], first));
        let next = h.commit(current, b"43", false).unwrap();
        assert_eq!(
            h.read(true).unwrap().0,
            b"43",
            "the new commit is the newest"
        );
        // The meta of the content it replaced is still there: a torn write of the new one
        // would have left "42" readable.
        let mut meta0 = [0u8; META_LEN];
        h.file.read_exact_at(&mut meta0, META_AT[0]).unwrap();
        assert_eq!(Meta::decode(&meta0), Ok(Some(first)));
        let _ = next;
    }

    #[test]
    fn meta_decoding_rejects_every_single_bit_flip() {
        let m = Meta {
            generation: 7,
            offset: 300,
            length: 12,
            crc: 0xdead_beef,
            file_len: 0,
            slot: 0,
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
