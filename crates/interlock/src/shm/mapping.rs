//! A segment mapped into this process: creating one in a new file, validating and mapping one,
//! the descriptor's lifecycle (closed after mapping for lock files, reopened by path for a
//! child), the records and payload as atomics, and the trust rule (which files may go on our
//! robust list).
//!
//! # Safety
//!
//! `unsafe` here maps and unmaps the segment and turns the mapping into a `&Record` and payload
//! atomics. A record is all atomics plus an `UnsafeCell` node area, so shared references to it
//! are sound even while other processes write it; the mapping stays alive as long as the
//! `Segment` (and is leaked, not unmapped, if a thread of this process still holds the lock when
//! the `Segment` is dropped, because the kernel's robust list may point into it). One
//! `pre_exec` hook names a spawned group in its record between fork and exec.

#![allow(unsafe_code)]

use std::fmt;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::ptr::NonNull;

use rustix::fs::{fstat, ftruncate};
use rustix::io::{pread, pwrite};
use rustix::mm::{mmap, munmap, MapFlags, ProtFlags};

use super::header::{
    payload_len, slot_words, Content, Header, HEADER_LEN, PAYLOAD_OFFSET, RECORD_LEN,
    RECORD_OFFSET, WAIT_SLOT_LEN,
};
use super::record::Record;
use crate::sync::{AtomicU64, Ordering};
use crate::sys;
use crate::types::{Error, Kind, SegmentFault};
use crate::word::State;

/// One record of a segment, resolved once (the fast path reads it without going through the
/// `Arc`), with the segment kept alive for as long as the record is reachable.
pub(crate) struct RecordRef {
    seg: std::sync::Arc<Segment>,
    /// The record's first byte (a byte pointer, like the segment's own `base`, so that a lock
    /// stays `UnwindSafe`: what a panic leaves behind is the poison flag's business).
    rec: NonNull<u8>,
    index: usize,
}

// SAFETY: `rec` points into the mapping that `seg` (Send + Sync) owns; only `&Record` is handed
// out through it, and Record is Sync.
unsafe impl Send for RecordRef {}
// SAFETY: as for Send.
unsafe impl Sync for RecordRef {}

impl Clone for RecordRef {
    fn clone(&self) -> RecordRef {
        RecordRef {
            seg: std::sync::Arc::clone(&self.seg),
            rec: self.rec,
            index: self.index,
        }
    }
}

impl RecordRef {
    /// Makes each child that `cmd` spawns name itself in this record, between fork and exec,
    /// as the leader of hold `token`'s process group ([`Record::set_group`]; `ns`: the pid
    /// namespace tag to record with it): the record names the group before the child runs a
    /// single instruction of the program, so a holder killed at any instant leaves nothing
    /// unnamed. The child must lead its own group by then (`CommandExt::process_group(0)`,
    /// which std applies before `pre_exec` hooks).
    pub(crate) fn name_group_at_spawn(&self, cmd: &mut std::process::Command, token: u64, ns: u32) {
        use std::os::unix::process::CommandExt;
        let at = self.clone();
        let hook = move || {
            let pid = rustix::process::getpid().as_raw_nonzero().get() as u32;
            at.get().set_group(pid, ns, token);
            Ok(())
        };
        // SAFETY: the hook makes one system call (getpid) and stores to atomics in the
        // mapping, which the `Arc<Segment>` it owns keeps mapped in the child; it allocates
        // nothing and takes no locks, as `pre_exec` requires of code between fork and exec.
        unsafe { cmd.pre_exec(hook) };
    }

    /// Record `index` of `seg` (panics if out of range, like [`Segment::record_at`]).
    pub(crate) fn new(seg: std::sync::Arc<Segment>, index: usize) -> RecordRef {
        let rec = NonNull::from(seg.record_at(index)).cast::<u8>();
        RecordRef { seg, rec, index }
    }

    /// The record.
    #[inline(always)]
    pub(crate) fn get(&self) -> &Record {
        // SAFETY: `rec` came from `seg.record_at(index)`, a reference into the segment's
        // mapping, which stays mapped (and never moves) while the `Arc<Segment>` we hold
        // lives; the borrow returned cannot outlive `self`.
        unsafe { self.rec.cast::<Record>().as_ref() }
    }

    pub(crate) fn segment(&self) -> &std::sync::Arc<Segment> {
        &self.seg
    }

    pub(crate) fn index(&self) -> usize {
        self.index
    }
}

/// A mapped segment: the mapping, and either its descriptor (memfds, inherited segments) or,
/// for a lock file, the path and identity to reopen it by when a child needs a descriptor. A
/// process may hold thousands of named locks: they must not cost a descriptor each (the usual
/// soft limit is 1024).
pub(crate) struct Segment {
    /// Device and inode of the file or memfd: the lock's identity across processes.
    dev: u64,
    ino: u64,
    fd: Option<OwnedFd>,
    /// Set when `fd` was closed: the file's path, device and inode.
    file: Option<(std::path::PathBuf, u64, u64)>,
    base: NonNull<u8>,
    header: Header,
}

// SAFETY: the mapping is process-wide memory reached only through atomics (see `Record`), and
// `fd` is an owned descriptor; nothing is tied to the creating thread.
unsafe impl Send for Segment {}
// SAFETY: as for Send; `&Segment` only hands out `&Record`, which is Sync.
unsafe impl Sync for Segment {}

impl Segment {
    /// Writes a fresh header, zeroed records and (for a Value) the initial `value` into `fd`
    /// (which must be new and empty). `value` is empty for locks; for a LockTable (and a wait
    /// registry) it is the number of locks (slots) as 4 native-endian bytes
    /// ([`table_payload`](super::table_payload)); an RwLock's may add 4 bytes of header flags
    /// ([`FLAG_PREFER_READERS`](super::FLAG_PREFER_READERS)).
    pub(crate) fn initialize(
        fd: &OwnedFd,
        content: impl Into<Content>,
        value: &[u8],
    ) -> std::io::Result<()> {
        let content = content.into();
        let invalid = |why: String| std::io::Error::new(std::io::ErrorKind::InvalidInput, why);
        // An RwLock's `value` may carry its header flags after the size (8 bytes).
        let (value, flags) = match (content, value.len()) {
            (Content::Handle(Kind::RwLock), 8) => (
                &value[..4],
                u32::from_ne_bytes(value[4..8].try_into().expect("4 bytes")),
            ),
            _ => (value, 0),
        };
        let size = match content {
            Content::Handle(Kind::LockTable | Kind::Semaphore | Kind::Barrier | Kind::RwLock)
            | Content::WaitRegistry => u32::from_ne_bytes(
                value
                    .try_into()
                    .map_err(|_| invalid(format!("a {content}'s size")))?,
            ),
            // A Condition's `value` is its payload (the bound lock's identity), no size.
            Content::Handle(Kind::Condition) => 0,
            _ => u32::try_from(value.len()).unwrap_or(u32::MAX),
        };
        // Never write (and so never publish) a header `decode` refuses: a Value of no bytes
        // or of more than MAX_VALUE would block its name for good. `Value` and `LockTable`
        // refuse such sizes before creating anything; this is the backstop.
        let header = Header::new(content, size, sys::now_coarse_ns(), std::process::id())
            .and_then(|h| h.with_flags(flags))
            .map_err(|fault| invalid(format!("a new {content} of size {size}: {fault}")))?;
        ftruncate(fd, header.segment_len() as u64)?;
        reserve(fd, header.segment_len() as u64)?;
        if content == Content::Handle(Kind::Condition) {
            if value.len() > super::CONDITION_PAYLOAD_LEN {
                return Err(invalid(format!(
                    "a condition's payload of {} bytes",
                    value.len()
                )));
            }
            let written = pwrite(fd, value, PAYLOAD_OFFSET as u64)?;
            if written != value.len() {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::WriteZero,
                    "short write of a condition's lock",
                ));
            }
        }
        if content == Content::Handle(Kind::Value) {
            // Selector 0 (slot A current), slot A = the value, slot B zero.
            let mut payload = vec![0u8; payload_len(value.len())];
            payload[8..8 + value.len()].copy_from_slice(value);
            let payload = payload.as_slice();
            let written = pwrite(fd, payload, PAYLOAD_OFFSET as u64)?;
            if written != payload.len() {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::WriteZero,
                    "short write of the initial value",
                ));
            }
        }
        let bytes = header.encode();
        let written = pwrite(fd, &bytes, 0)?;
        if written != bytes.len() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::WriteZero,
                "short write of the segment header",
            ));
        }
        Ok(())
    }

    /// Validates the header in `fd` and maps the segment. `what` names it in errors.
    pub(crate) fn map(fd: OwnedFd, what: &str) -> Result<Segment, Error> {
        let st = fstat(&fd).map_err(|e| Error::io("fstat", what, e))?;
        let mut bytes = [0u8; HEADER_LEN];
        let n = pread(&fd, &mut bytes, 0).map_err(|e| Error::io("read header of", what, e))?;
        let header =
            Header::decode(&bytes[..n], st.st_size as u64).map_err(|fault| Error::BadSegment {
                what: what.to_owned(),
                fault,
            })?;
        // SAFETY: we map a fresh region (no address hint) of the segment's length, of a file at
        // least that long (checked by `decode` against fstat), shared so other processes see
        // our atomics. The pointer is only used through `record()`/`payload()` while `self`
        // lives.
        let ptr = unsafe {
            mmap(
                std::ptr::null_mut(),
                header.segment_len(),
                ProtFlags::READ | ProtFlags::WRITE,
                MapFlags::SHARED,
                &fd,
                0,
            )
        }
        .map_err(|e| Error::io("mmap", what, e))?;
        let base = NonNull::new(ptr.cast::<u8>()).expect("mmap returned null without error");
        Ok(Segment {
            dev: st.st_dev,
            ino: st.st_ino,
            fd: Some(fd),
            file: None,
            base,
            header,
        })
    }

    /// Closes the descriptor of a lock file mapped from `path`; [`Segment::descriptor`]
    /// reopens it by path (and checks it is still the same file) when one is needed.
    pub(crate) fn close_fd(mut self, path: &std::path::Path) -> Result<Segment, Error> {
        if let Some(fd) = self.fd.take() {
            let st = fstat(&fd).map_err(|e| Error::io("fstat", path.display(), e))?;
            // Absolute, so that a later change of directory does not change what it names.
            let path = std::path::absolute(path).unwrap_or_else(|_| path.to_owned());
            self.file = Some((path, st.st_dev, st.st_ino));
        }
        Ok(self)
    }

    /// Device and inode: which file (or memfd) this is, the same in every process.
    pub(crate) fn identity(&self) -> (u64, u64) {
        (self.dev, self.ino)
    }

    /// A wait registry's slots as 8-byte atomics (`WAIT_SLOT_LEN / 8` words a slot).
    pub(crate) fn registry_words(&self) -> &[AtomicU64] {
        assert_eq!(
            self.header.content,
            Content::WaitRegistry,
            "not a wait registry"
        );
        self.payload_words(self.header.wait_slots() * WAIT_SLOT_LEN / 8)
    }

    /// A Barrier's payload as 8-byte atomics: `BARRIER_HEAD_LEN / 8` words (why it broke, the
    /// last reset), then two banks of `parties` slots of `BARRIER_SLOT_LEN / 8` words.
    pub(crate) fn barrier_words(&self) -> &[AtomicU64] {
        assert_eq!(
            self.header.content,
            Content::Handle(Kind::Barrier),
            "not a barrier"
        );
        self.payload_words(
            (super::BARRIER_HEAD_LEN + 2 * self.header.parties() * super::BARRIER_SLOT_LEN) / 8,
        )
    }

    /// A Condition's payload as 8-byte atomics (`CONDITION_PAYLOAD_LEN / 8` words): its state
    /// (waiters, notifications pending: `word/condition.rs`), then the bound lock's device,
    /// inode and record index + 1.
    pub(crate) fn condition_words(&self) -> &[AtomicU64] {
        assert_eq!(
            self.header.content,
            Content::Handle(Kind::Condition),
            "not a condition"
        );
        self.payload_words(super::CONDITION_PAYLOAD_LEN / 8)
    }

    /// The first `words` 8-byte words after the records (a Value's payload, a wait registry's
    /// slots) as atomics, since other processes write them. Panics if the segment is shorter.
    fn payload_words(&self, words: usize) -> &[AtomicU64] {
        assert!(
            PAYLOAD_OFFSET + 8 * words <= self.header.segment_len(),
            "{words} payload words past the end of a {} segment",
            self.header.content
        );
        // SAFETY: `base + PAYLOAD_OFFSET .. + 8 * words` lies inside our live mapping of
        // `segment_len()` bytes (checked above); PAYLOAD_OFFSET is a multiple of 64 and mmap
        // returns page-aligned memory, so the words are 8-aligned; AtomicU64 is valid for any
        // bit pattern, and shared references to atomics in memory others write are sound.
        unsafe {
            std::slice::from_raw_parts(
                self.base
                    .as_ptr()
                    .wrapping_add(PAYLOAD_OFFSET)
                    .cast::<AtomicU64>(),
                words,
            )
        }
    }

    /// The segment's descriptor while it is open (not after [`Segment::close_fd`]).
    pub(crate) fn fd(&self) -> Option<BorrowedFd<'_>> {
        self.fd.as_ref().map(AsFd::as_fd)
    }

    /// A new descriptor of the segment, for a child: a duplicate, or the lock file reopened by
    /// path — refused if the path now names another file (removed and recreated, say).
    pub(crate) fn descriptor(&self) -> std::io::Result<OwnedFd> {
        if let Some(fd) = &self.fd {
            return fd.try_clone();
        }
        let (path, dev, ino) = self
            .file
            .as_ref()
            .expect("a segment has a descriptor or a path");
        let fd = rustix::fs::open(
            path,
            rustix::fs::OFlags::RDWR
                | rustix::fs::OFlags::CLOEXEC
                | rustix::fs::OFlags::NOFOLLOW
                | rustix::fs::OFlags::NONBLOCK,
            rustix::fs::Mode::empty(),
        )?;
        let st = fstat(&fd)?;
        if st.st_dev != *dev || st.st_ino != *ino {
            return Err(std::io::Error::other(
                "the lock file was removed or replaced since this process opened it",
            ));
        }
        Ok(fd)
    }

    /// Record `i` of a LockTable (record 0 of any other segment).
    ///
    /// # Panics
    ///
    /// If `i` is not below [`Header::records`].
    #[inline]
    pub(crate) fn record_at(&self, i: usize) -> &Record {
        assert!(
            i < self.header.records(),
            "record {i} of {}",
            self.header.records()
        );
        // SAFETY: as in `record`; record `i` lies inside the mapping (`segment_len` covers
        // `records()` records after RECORD_OFFSET) and is 64-byte aligned (RECORD_LEN is 128).
        unsafe {
            &*self
                .base
                .as_ptr()
                .wrapping_add(RECORD_OFFSET + i * RECORD_LEN)
                .cast::<Record>()
        }
    }

    /// The lock record.
    #[inline]
    pub(crate) fn record(&self) -> &Record {
        // SAFETY: `base + RECORD_OFFSET` is inside a live mapping of at least SEGMENT_LEN bytes, 64-byte
        // aligned (mmap returns page-aligned memory), and Record is valid for any bit pattern
        // (atomics and bytes), so a shared reference for the life of `self` is sound.
        unsafe {
            &*self
                .base
                .as_ptr()
                .wrapping_add(RECORD_OFFSET)
                .cast::<Record>()
        }
    }

    pub(crate) fn header(&self) -> &Header {
        &self.header
    }

    /// The kind of handle this segment is for; [`Error::BadSegment`] naming `what` for the
    /// namespace's wait registry, which no handle opens.
    pub(crate) fn kind(&self, what: &str) -> Result<Kind, Error> {
        self.header.kind().ok_or_else(|| Error::BadSegment {
            what: what.to_owned(),
            fault: SegmentFault::Internal("the namespace's wait registry (deadlock detection)"),
        })
    }

    /// A Value's payload as atomics — the selector word and the two slots — since other
    /// processes write it (under the lock, but a reference must be sound whatever they do).
    pub(crate) fn value_words(&self) -> (&AtomicU64, &[AtomicU64], &[AtomicU64]) {
        let n = slot_words(self.header.value_len());
        let words = payload_len(self.header.value_len()) / 8;
        assert!(words > 0, "value_words of a segment without a value");
        let all = self.payload_words(words);
        (&all[0], &all[1..1 + n], &all[1 + n..1 + 2 * n])
    }
}

impl Drop for Segment {
    fn drop(&mut self) {
        // A thread of ours that still owns the word (a leaked guard) has it on its robust list:
        // the kernel will walk that entry when the thread dies, and libc may write next to it.
        // Unmapping would leave the list pointing at nothing (or at whatever is mapped next), so
        // the mapping is kept: a deliberate leak of one page, only after a leaked guard.
        for i in 0..self.header.records() {
            let owner = State::load(&self.record_at(i).word, Ordering::Relaxed).owner_tid();
            if owner != 0 && sys::is_own_thread(owner) {
                return;
            }
        }
        // SAFETY: `base` is the start of our own mapping of the segment's length; no `&Record`
        // or payload slice outlives `self` (they borrow it), and no robust list of this process
        // points into it (checked above).
        let _ = unsafe { munmap(self.base.as_ptr().cast(), self.header.segment_len()) };
    }
}

impl fmt::Debug for Segment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Segment")
            .field("fd", &self.fd.as_ref().map(AsRawFd::as_raw_fd))
            .field("file", &self.file.as_ref().map(|(p, _, _)| p))
            .field("content", &self.header.content)
            .finish_non_exhaustive()
    }
}

/// Whether only we can write (or read) the file behind `fd`, so that its node area may go on our
/// robust list (decision 0010, the trust rule): memory another user can write must never be
/// linked, because the unlink of a linked node writes wherever its `prev`/`next` point.
///
/// The file must be ours (owner = effective uid) and either
/// - an anonymous lock's memfd: sealed against shrinking and growing and linked in no
///   directory. Only memfds accept such seals — every other shmem file (`/dev/shm`, `/run`,
///   a tmpfs `/tmp`) answers `F_GET_SEALS` with `F_SEAL_SEAL` alone — and a memfd is reachable
///   only through descriptors, which another user can get only from us; or
/// - a file that group and others can neither write nor read (the node area holds our
///   process's addresses), on any file system.
pub(crate) fn trusted_file(fd: impl std::os::fd::AsFd) -> bool {
    let Ok(st) = rustix::fs::fstat(&fd) else {
        return false;
    };
    if st.st_uid != rustix::process::geteuid().as_raw() {
        return false;
    }
    let sealed = rustix::fs::fcntl_get_seals(&fd).is_ok_and(|seals| {
        seals.contains(rustix::fs::SealFlags::SHRINK | rustix::fs::SealFlags::GROW)
    });
    (sealed && st.st_nlink == 0) || st.st_mode & 0o077 == 0
}

/// Gives every page of a new segment of `len` bytes its storage now, while running out of it is
/// an error: a page of a shared mapping that is still a hole gets its storage when first
/// written through the mapping, and on a full file system (a full /dev/shm, a tmpfs at its
/// `size=`, a memory cgroup at its limit for a memfd) that write is a `SIGBUS` that kills the
/// process taking a lock, instead of an error at creation (issue 18: a 1,024-row table created
/// on a full tmpfs killed its first user at row 32). `fallocate`, or, where the file system
/// has none, zeros written over the whole segment.
fn reserve(fd: &OwnedFd, len: u64) -> std::io::Result<()> {
    match rustix::fs::fallocate(fd, rustix::fs::FallocateFlags::empty(), 0, len) {
        Ok(()) => Ok(()),
        Err(rustix::io::Errno::OPNOTSUPP | rustix::io::Errno::NOSYS) => {
            let zeros = [0u8; 4096];
            let mut at = 0u64;
            while at < len {
                let n = (len - at).min(zeros.len() as u64) as usize;
                let written = pwrite(fd, &zeros[..n], at)?;
                if written == 0 {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::WriteZero,
                        "no room for the new segment",
                    ));
                }
                at += written as u64;
            }
            Ok(())
        }
        Err(e) => Err(e.into()),
    }
}
