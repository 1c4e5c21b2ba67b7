//! Layer 6: a file updated by read-modify-write under a lock, crash-safe: a holder killed at any
//! instant leaves the old content or the new, never an empty or partial file.

use std::ffi::{OsStr, OsString};
use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{self, ErrorKind, Read, Write};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::{Arc, Mutex};

use crate::locks::lock::{Lock, LockGuard};
use crate::types::Error;

pub(crate) mod slots;

/// How a [`SharedFile`] keeps its content on disk. Both survive a writer killed at any instant;
/// they differ in what else can read the file and in speed.
///
/// # Examples
///
/// ```
/// let dir = tempfile::tempdir().unwrap();
/// let counter = interlock::SharedFile::open(dir.path().join("counter"))?
///     .format(interlock::Format::Slots);
/// assert_eq!(counter.update_parsed(|n: u64| n + 1)?, 1);
/// # Ok::<(), interlock::Error>(())
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Format {
    /// The file holds exactly the content, readable by any program; each commit writes a
    /// temporary file and renames it over the old one. A rename costs the filesystem a metadata
    /// update (~125 µs on ext4 here).
    #[default]
    Plain,
    /// The file holds two checksummed slots and a header, read through [`SharedFile::read`]; a
    /// commit writes the new content beside the current one, then flips a 32-byte selector in
    /// place — two `pwrite`s to one open file, tens of times faster than a rename. The file
    /// must be created by interlock (or be empty); other content is refused as
    /// [`Error::BadContent`], and so is a slot whose length runs past the end of the file.
    /// Content is limited to 1 GiB (a larger commit is refused, the file unchanged).
    Slots,
}

/// A file whose every update is a read-modify-write under a [`Lock`], committed by writing the
/// new content to a temporary file in the same directory and renaming it over the old one — so
/// readers and the next writer see either the old content or the new, whatever happens to the
/// writer in between (Python's multiprocessing counter example, `open(…, "w")`, truncates
/// first: a writer killed there leaves an empty file that reads as 0). With
/// [`SharedFile::durable`], the new content and the rename are also flushed to disk (`fsync` of
/// the file and of its directory) before the update returns.
///
/// # Examples
///
/// The multiprocessing counter example's counter (a missing or empty file counts as 0):
///
/// ```
/// let dir = tempfile::tempdir().unwrap();
/// let counter = interlock::SharedFile::open(dir.path().join("counter.txt"))?;
/// let n: u64 = counter.update_parsed(|n: u64| n + 1)?;
/// assert_eq!(n, 1);
/// # Ok::<(), interlock::Error>(())
/// ```
pub struct SharedFile {
    path: PathBuf,
    lock: Lock,
    durable: bool,
    format: Format,
    /// `None`: the file is ours alone, and one another user owns is refused. `Some(mode)`: shared
    /// with other users ([`SharedFile::open_shared`]); files are created with `mode`.
    shared: Option<u32>,
    /// [`Format::Slots`]: the open file, reopened when the path names another file.
    handle: Mutex<Option<Arc<slots::Handle>>>,
}

/// An update in progress: the lock is held and the current content read; [`Update::commit`]
/// replaces it; dropping the update releases the lock (without a commit, the file is as it was).
///
/// # Examples
///
/// ```
/// let dir = tempfile::tempdir().unwrap();
/// let file = interlock::SharedFile::open(dir.path().join("state"))?;
/// let mut update = file.begin()?;
/// if update.previous_owner_died() {
///     // the last writer died inside its update: its commit happened or not, never half
/// }
/// let next = format!("{}x", String::from_utf8_lossy(update.content()));
/// update.commit(next.as_bytes())?;
/// # Ok::<(), interlock::Error>(())
/// ```
pub struct Update<'a> {
    file: &'a SharedFile,
    guard: LockGuard<'a>,
    content: Vec<u8>,
    /// [`Format::Plain`]: the permissions a commit gives the new file exactly (the current
    /// file's; a shared file's mode); `None`: a new private file, 0644 less the umask, as the
    /// slotted format and every program's new file get.
    mode: Option<u32>,
    /// [`Format::Slots`]: the open file and where the current content lives.
    slot: Option<(Arc<slots::Handle>, slots::Meta)>,
}

impl SharedFile {
    /// The file at `path`, guarded by the lock file `PATH.lock` beside it (created 0600), for
    /// this user's processes: the lock file and the file must be ours. In a directory other
    /// users can write (`/tmp`, `/dev/shm`), what they made at either path — in advance, say —
    /// is refused rather than used: they could hold that lock for ever, or change that content
    /// at any time. To share a file with other users, use [`SharedFile::open_shared`]. The
    /// file, when a commit creates it, gets 0644 less the umask, as any program's new file does
    /// (a umask of 077 keeps it private); a commit keeps an existing file's mode.
    ///
    /// # Errors
    ///
    /// As [`Lock::open_path`] for the lock file; [`Error::UnsafePath`] naming the lock file and
    /// its owner when another user owns it. (The file itself is checked when it is read or
    /// updated: [`Error::UnsafePath`] if another user owns it or it is a symlink.)
    ///
    /// # Examples
    ///
    /// ```
    /// let dir = tempfile::tempdir().unwrap();
    /// let f = interlock::SharedFile::open(dir.path().join("data.json"))?;
    /// # Ok::<(), interlock::Error>(())
    /// ```
    pub fn open(path: impl AsRef<Path>) -> Result<SharedFile, Error> {
        let path = path.as_ref().to_owned();
        let lock_path = lock_path_of(&path);
        let lock = Lock::open_path(&lock_path, 0o600)?;
        check_lock_owner(&lock, &lock_path)?;
        Ok(SharedFile::with_lock(path, lock))
    }

    /// The file at `path`, shared with other users: guarded by the lock file `PATH.lock`
    /// (created with exactly `mode`, as [`Lock::open_path`] does), and created with exactly
    /// `mode` too ([`Format::Plain`]: when the file does not exist yet; a commit keeps the
    /// file's permissions). Lock file and file are used whoever owns them: that is the point,
    /// and the explicit request for it.
    ///
    /// `0o660` shares with the file's group (in a directory of that group), `0o666` with
    /// everyone. [`Format::Plain`] commits replace the file by a rename, which needs a
    /// directory every sharer may write and, if it is sticky (like `/tmp`), fails for a file
    /// another user owns: share plain files in a group directory without the sticky bit, or
    /// use [`Format::Slots`], which writes in place.
    ///
    /// # Errors
    ///
    /// As [`Lock::open_path`] for the lock file.
    ///
    /// # Examples
    ///
    /// ```
    /// use interlock::{Format, SharedFile};
    /// let dir = tempfile::tempdir().unwrap();
    /// let f = SharedFile::open_shared(dir.path().join("jobs"), 0o666)?.format(Format::Slots);
    /// f.update_parsed(|n: u64| n + 1)?;
    /// # Ok::<(), interlock::Error>(())
    /// ```
    pub fn open_shared(path: impl AsRef<Path>, mode: u32) -> Result<SharedFile, Error> {
        let path = path.as_ref().to_owned();
        let lock = Lock::open_path(lock_path_of(&path), mode)?;
        let mut file = SharedFile::with_lock(path, lock);
        file.shared = Some(mode & 0o777);
        Ok(file)
    }

    /// The file at `path`, guarded by `lock` (every process must use the same lock for it).
    /// The file must be ours, as with [`SharedFile::open`].
    ///
    /// # Examples
    ///
    /// ```
    /// let dir = tempfile::tempdir().unwrap();
    /// let f = interlock::SharedFile::with_lock(dir.path().join("n"), interlock::Lock::new()?);
    /// # Ok::<(), interlock::Error>(())
    /// ```
    pub fn with_lock(path: impl AsRef<Path>, lock: Lock) -> SharedFile {
        SharedFile {
            path: path.as_ref().to_owned(),
            lock,
            durable: false,
            format: Format::Plain,
            shared: None,
            handle: Mutex::new(None),
        }
    }

    /// How the content is kept on disk ([`Format::Plain`] unless set). Every process sharing
    /// the file must use the same format.
    ///
    /// # Examples
    ///
    /// ```
    /// use interlock::{Format, SharedFile};
    /// let dir = tempfile::tempdir().unwrap();
    /// let f = SharedFile::open(dir.path().join("n"))?.format(Format::Slots);
    /// f.update(|_| Ok::<_, std::convert::Infallible>(b"hello".to_vec()))?;
    /// assert_eq!(f.read()?, b"hello");
    /// # Ok::<(), interlock::Error>(())
    /// ```
    pub fn format(mut self, format: Format) -> SharedFile {
        self.format = format;
        self
    }

    /// Whether each commit waits for the disk (`fsync` of the new file, then of the directory
    /// after the rename; with [`Format::Slots`], `fdatasync` after the data and after the
    /// selector): survives power loss, at the disk's speed. Off by default (a crash of the
    /// process is covered either way).
    ///
    /// Without it, a power loss loses the commits the kernel had not yet written to disk
    /// (typically those of the last 30 s). With [`Format::Slots`], no commit touches the one
    /// before it, so a power loss during a commit made after the earlier ones reached the disk
    /// leaves the old content or the new; but the lost commits may have reused the space of
    /// the ones before, and the file can then hold no intact content — an
    /// [`Error::BadContent`] naming it, never wrong content
    /// (`docs/decisions/0014-slotted-file-power-loss.md`).
    ///
    /// # Examples
    ///
    /// ```
    /// let dir = tempfile::tempdir().unwrap();
    /// let f = interlock::SharedFile::open(dir.path().join("n"))?.durable(true);
    /// # Ok::<(), interlock::Error>(())
    /// ```
    pub fn durable(mut self, durable: bool) -> SharedFile {
        self.durable = durable;
        self
    }

    /// The file's path.
    ///
    /// # Examples
    ///
    /// ```
    /// let dir = tempfile::tempdir().unwrap();
    /// let f = interlock::SharedFile::open(dir.path().join("n"))?;
    /// assert!(f.path().ends_with("n"));
    /// # Ok::<(), interlock::Error>(())
    /// ```
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The current content, without the lock (a commit replaces the file in one rename, or
    /// flips one selector, so a reader never sees half of one). A missing file reads as empty.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] naming the path; with [`Format::Slots`], [`Error::BadContent`] for a file
    /// that is not in that format or whose slots are both damaged.
    ///
    /// # Examples
    ///
    /// ```
    /// let dir = tempfile::tempdir().unwrap();
    /// let f = interlock::SharedFile::open(dir.path().join("n"))?;
    /// assert!(f.read()?.is_empty());
    /// # Ok::<(), interlock::Error>(())
    /// ```
    pub fn read(&self) -> Result<Vec<u8>, Error> {
        if self.format == Format::Plain {
            return match self.open_plain()? {
                Some((file, _)) => self.read_all(file),
                None => Ok(Vec::new()),
            };
        }
        let Some(handle) = self.slots_handle(false)? else {
            return Ok(Vec::new());
        };
        // A writer may reuse the region being read (two commits later): retry, then read under
        // the lock, where a failure is the file's.
        for _ in 0..8 {
            if let Ok((content, _)) = handle.read(true) {
                return Ok(content);
            }
        }
        let _guard = self.lock.lock()?;
        self.slots_read(&handle).map(|(content, _)| content)
    }

    /// The open slotted file (created if `create`, which also refuses a read-only file; `None`
    /// if missing and not `create`).
    fn slots_handle(&self, create: bool) -> Result<Option<Arc<slots::Handle>>, Error> {
        let now = match std::fs::symlink_metadata(&self.path) {
            Ok(meta) => Some(meta),
            Err(e) if e.kind() == ErrorKind::NotFound => None,
            Err(e) => return Err(Error::io("open", self.path.display(), e)),
        };
        if let (true, Some(meta)) = (create, now.as_ref()) {
            // Only a commit needs to write: checked before anything is read or created.
            check_writable(&self.path, meta)?;
        }
        let mut cached = self.handle.lock().unwrap_or_else(|e| e.into_inner());
        if let (Some(h), Some(meta)) = (cached.as_ref(), now.as_ref()) {
            if h.is(meta) {
                return Ok(Some(Arc::clone(h)));
            }
        }
        if now.is_none() && !create {
            return Ok(None);
        }
        let create = create.then_some(self.shared);
        let h = slots::Handle::open(&self.path, create).map_err(|e| self.open_error(e))?;
        self.check_owner(h.uid())?;
        let h = Arc::new(h);
        *cached = Some(Arc::clone(&h));
        Ok(Some(h))
    }

    /// A file that is not shared must be ours: another user could change it at any time.
    fn check_owner(&self, owner: u32) -> Result<(), Error> {
        let me = rustix::process::geteuid().as_raw();
        if self.shared.is_none() && owner != me {
            return Err(Error::UnsafePath {
                path: self.path.clone(),
                reason: format!(
                    "owned by uid {owner}, not by us (uid {me}), who can change it at any time; \
                     a file shared with other users must be opened with SharedFile::open_shared"
                ),
            });
        }
        Ok(())
    }

    /// The plain file, open for reading — never through a symlink, never blocking on a FIFO,
    /// and only if it is a regular file — and its metadata; `None` if there is none.
    fn open_plain(&self) -> Result<Option<(File, std::fs::Metadata)>, Error> {
        let file = match OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
            .open(&self.path)
        {
            Ok(file) => file,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(self.open_error(e)),
        };
        let meta = file
            .metadata()
            .map_err(|e| Error::io("stat", self.path.display(), e))?;
        if !meta.file_type().is_file() {
            return Err(Error::io(
                "open",
                self.path.display(),
                io::Error::new(ErrorKind::InvalidInput, "not a regular file"),
            ));
        }
        self.check_owner(meta.uid())?;
        Ok(Some((file, meta)))
    }

    /// An error opening the file: a symlink (refused, never followed) says so.
    fn open_error(&self, e: io::Error) -> Error {
        if e.raw_os_error() == Some(libc::ELOOP) {
            return Error::UnsafePath {
                path: self.path.clone(),
                reason: "it is a symbolic link (not followed)".into(),
            };
        }
        Error::io("open", self.path.display(), e)
    }

    fn read_all(&self, mut file: File) -> Result<Vec<u8>, Error> {
        let mut content = Vec::new();
        file.read_to_end(&mut content)
            .map_err(|e| Error::io("read", self.path.display(), e))?;
        Ok(content)
    }

    fn slots_read(&self, handle: &slots::Handle) -> Result<(Vec<u8>, slots::Meta), Error> {
        handle.read(false).map_err(|e| match e {
            slots::ReadError::Io(e) => Error::io("read", self.path.display(), e),
            slots::ReadError::Corrupt(reason) => Error::BadContent {
                path: self.path.clone(),
                reason,
            },
        })
    }

    /// Takes the lock and reads the content: the start of a read-modify-write.
    ///
    /// # Errors
    ///
    /// The lock's errors; [`Error::Io`] if the path cannot be read (a directory, say) or is
    /// read-only — checked here, so that nothing is attempted that could not be committed.
    ///
    /// # Examples
    ///
    /// See [`Update`].
    pub fn begin(&self) -> Result<Update<'_>, Error> {
        let guard = self.lock.lock()?;
        if self.format == Format::Slots {
            let handle = self.slots_handle(true)?.expect("created");
            let (content, meta) = self.slots_read(&handle)?;
            return Ok(Update {
                file: self,
                guard,
                content,
                mode: None,
                slot: Some((handle, meta)),
            });
        }
        if guard.previous_owner_died() {
            // A writer killed inside its commit may have left its temporary.
            remove_dead_temporaries(&self.path);
        }
        let (content, mode) = match self.open_plain()? {
            Some((file, meta)) => {
                check_writable(&self.path, &meta)?;
                (self.read_all(file)?, Some(meta.mode() & 0o777))
            }
            None => (Vec::new(), self.shared),
        };
        Ok(Update {
            file: self,
            guard,
            content,
            mode,
            slot: None,
        })
    }

    /// Read-modify-write in one call: `f` gets the content and returns the new one, or an error
    /// that leaves the file untouched.
    ///
    /// # Errors
    ///
    /// As [`SharedFile::begin`] and [`Update::commit`]; `f`'s error as
    /// [`Error::BadContent`].
    ///
    /// # Examples
    ///
    /// ```
    /// let dir = tempfile::tempdir().unwrap();
    /// let f = interlock::SharedFile::open(dir.path().join("log"))?;
    /// f.update(|old| Ok::<_, std::convert::Infallible>([old, b"entry\n"].concat()))?;
    /// assert_eq!(f.read()?, b"entry\n");
    /// # Ok::<(), interlock::Error>(())
    /// ```
    pub fn update<E: fmt::Display>(
        &self,
        f: impl FnOnce(&[u8]) -> Result<Vec<u8>, E>,
    ) -> Result<Vec<u8>, Error> {
        let mut update = self.begin()?;
        let new = f(update.content()).map_err(|e| Error::BadContent {
            path: self.path.clone(),
            reason: e.to_string(),
        })?;
        update.commit(&new)?;
        Ok(new)
    }

    /// Read-modify-write of a value stored as text (`FromStr` / `Display`, surrounding
    /// whitespace ignored; an empty or missing file is `T::default()`). Returns the new value.
    ///
    /// # Errors
    ///
    /// [`Error::BadContent`] when the content does not parse — the file is left untouched;
    /// otherwise as [`SharedFile::update`].
    ///
    /// # Examples
    ///
    /// ```
    /// let dir = tempfile::tempdir().unwrap();
    /// let counter = interlock::SharedFile::open(dir.path().join("counter.txt"))?;
    /// assert_eq!(counter.update_parsed(|n: u64| n + 1)?, 1);
    /// assert_eq!(counter.update_parsed(|n: u64| n + 1)?, 2);
    /// assert_eq!(counter.read()?, b"2");
    /// # Ok::<(), interlock::Error>(())
    /// ```
    pub fn update_parsed<T>(&self, f: impl FnOnce(T) -> T) -> Result<T, Error>
    where
        T: FromStr + fmt::Display + Default,
        T::Err: fmt::Display,
    {
        let mut update = self.begin()?;
        let value = update.parse::<T>()?;
        let new = f(value);
        update.commit(new.to_string().as_bytes())?;
        Ok(new)
    }
}

impl Update<'_> {
    /// The content: as read when the update began, or as last committed by it.
    ///
    /// # Examples
    ///
    /// ```
    /// let dir = tempfile::tempdir().unwrap();
    /// let file = interlock::SharedFile::open(dir.path().join("f"))?;
    /// let mut update = file.begin()?;
    /// assert!(update.content().is_empty());
    /// update.commit(b"new")?;
    /// assert_eq!(update.content(), b"new");
    /// # Ok::<(), interlock::Error>(())
    /// ```
    pub fn content(&self) -> &[u8] {
        &self.content
    }

    /// The content parsed as text (`T::default()` when empty).
    ///
    /// # Errors
    ///
    /// [`Error::BadContent`] quoting the start of the content and the parser's reason.
    ///
    /// # Examples
    ///
    /// ```
    /// let dir = tempfile::tempdir().unwrap();
    /// let file = interlock::SharedFile::open(dir.path().join("n"))?;
    /// assert_eq!(file.begin()?.parse::<u32>()?, 0);
    /// # Ok::<(), interlock::Error>(())
    /// ```
    pub fn parse<T>(&self) -> Result<T, Error>
    where
        T: FromStr + Default,
        T::Err: fmt::Display,
    {
        let text = std::str::from_utf8(&self.content).map_err(|e| Error::BadContent {
            path: self.file.path.clone(),
            reason: format!("not UTF-8 text: {e}"),
        })?;
        let text = text.trim();
        if text.is_empty() {
            return Ok(T::default());
        }
        text.parse().map_err(|e: T::Err| Error::BadContent {
            path: self.file.path.clone(),
            reason: format!(
                "{:?} does not parse: {e}",
                text.chars().take(40).collect::<String>()
            ),
        })
    }

    /// The previous holder of the file's lock died inside its update. Its commit either
    /// happened completely or not at all — the file is one or the other — but work it did
    /// elsewhere may be half done.
    ///
    /// # Examples
    ///
    /// ```
    /// let dir = tempfile::tempdir().unwrap();
    /// let file = interlock::SharedFile::open(dir.path().join("n"))?;
    /// assert!(!file.begin()?.previous_owner_died());
    /// # Ok::<(), interlock::Error>(())
    /// ```
    pub fn previous_owner_died(&self) -> bool {
        self.guard.previous_owner_died()
    }

    /// Replaces the content with `new`. [`Format::Plain`]: written to a temporary file beside
    /// the file — always a new file under a random name, never one that was there before (see
    /// the notes on temporaries in the source) — with the file's permissions (less any setuid,
    /// setgid or sticky bit), optionally flushed to disk, then renamed over it.
    /// [`Format::Slots`]: written beside the current content in the file, then made current by
    /// one 32-byte write. The lock stays held until
    /// the update is dropped, so work that must go with the commit (recording that it
    /// happened, say) can follow it inside the same hold.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] naming the path. A failure to write leaves the file unchanged (and no
    /// temporary behind); a failure to flush a commit that already took effect (the last
    /// `fsync` of a durable commit) says "flush", and [`Update::content`] is then the new
    /// content.
    ///
    /// # Examples
    ///
    /// ```
    /// let dir = tempfile::tempdir().unwrap();
    /// let file = interlock::SharedFile::open(dir.path().join("n"))?;
    /// let mut update = file.begin()?;
    /// update.commit(b"42")?;
    /// drop(update); // releases the lock
    /// assert_eq!(file.read()?, b"42");
    /// # Ok::<(), interlock::Error>(())
    /// ```
    pub fn commit(&mut self, new: &[u8]) -> Result<(), Error> {
        let path = &self.file.path;
        if let Some((handle, current)) = &mut self.slot {
            return match handle.commit(*current, new, self.file.durable) {
                Ok(next) => {
                    *current = next;
                    self.content = new.to_vec();
                    Ok(())
                }
                Err(slots::CommitError {
                    committed: Some(next),
                    source,
                }) => {
                    // The new content is current; only its flush (or tail trim) failed.
                    *current = next;
                    self.content = new.to_vec();
                    Err(Error::io(
                        "flush the committed content of",
                        path.display(),
                        source,
                    ))
                }
                Err(e) => Err(Error::io("commit", path.display(), e.source)),
            };
        }
        let dir = parent_dir(path);
        let mode = self.mode;
        let (tmp, mut out) = create_temporary(path, mode.unwrap_or(0o644), random_hex)
            .map_err(|e| Error::io("create a temporary for", path.display(), e))?;
        let result = (|| {
            if let Some(mode) = mode {
                out.set_permissions(std::fs::Permissions::from_mode(mode))?;
            }
            out.write_all(new)?;
            if self.file.durable {
                out.sync_all()?;
            }
            drop(out);
            std::fs::rename(&tmp, path)
        })();
        if let Err(e) = result {
            let _ = std::fs::remove_file(&tmp);
            return Err(Error::io("commit", path.display(), e));
        }
        // The rename took effect: the new content is the file's, whatever the flush says.
        self.content = new.to_vec();
        if self.file.durable {
            File::open(&dir)
                .and_then(|d| d.sync_all())
                .map_err(|e| Error::io("flush the committed content of", path.display(), e))?;
        }
        Ok(())
    }
}

fn lock_path_of(path: &Path) -> PathBuf {
    let mut lock_path = path.to_owned().into_os_string();
    lock_path.push(".lock");
    PathBuf::from(lock_path)
}

/// [`SharedFile::open`]'s lock file must be ours: another user's lock is theirs to hold for ever
/// or to reset. Checked on the file that was opened (its device and inode), not on whatever
/// the path names by now.
fn check_lock_owner(lock: &Lock, lock_path: &Path) -> Result<(), Error> {
    let meta = std::fs::symlink_metadata(lock_path)
        .map_err(|e| Error::io("stat", lock_path.display(), e))?;
    if (meta.dev(), meta.ino()) != lock.raw.segment().identity() {
        return Err(Error::UnsafePath {
            path: lock_path.to_owned(),
            reason: "it was replaced while it was being opened".into(),
        });
    }
    let me = rustix::process::geteuid().as_raw();
    if meta.uid() != me {
        return Err(Error::UnsafePath {
            path: lock_path.to_owned(),
            reason: format!(
                "the lock file is owned by uid {}, not by us (uid {me}): another user's lock is \
                 theirs to hold for ever or to reset; remove it, or share the file with \
                 SharedFile::open_shared",
                meta.uid()
            ),
        });
    }
    Ok(())
}

fn check_writable(path: &Path, meta: &std::fs::Metadata) -> Result<(), Error> {
    if meta.permissions().mode() & 0o222 == 0 {
        return Err(Error::io(
            "update",
            path.display(),
            std::io::Error::new(ErrorKind::PermissionDenied, "the file is read-only"),
        ));
    }
    Ok(())
}

fn parent_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
        _ => PathBuf::from("."),
    }
}

// Plain commits' temporaries.
//
// A commit writes the new content to a temporary file beside the file and renames it over the
// file. The directory may be shared with other users (/tmp, /dev/shm): whatever they put there
// must never be opened, written or renamed by a commit. So each temporary gets a fresh random
// name and is created with O_CREAT|O_EXCL (a name someone else took — a FIFO, a file, a
// symlink — fails with EEXIST and the next random name is tried; nothing of theirs is opened),
// O_NOFOLLOW and O_NONBLOCK. Commits are made under the lock, so a writer killed inside its
// commit leaves at most one temporary, and the next holder told of the death removes it — it
// removes only what it can prove is a temporary of ours: a regular file with a temporary's
// name, our uid and one link. (A dead writer of another uid, sharing the file through
// `open_shared`, may leave one that stays: it cannot be told from a file that user planted.)

/// The marker between a temporary's file-name part and its random part.
const TMP_MARK: &str = ".interlock-tmp.";
/// Hex digits of a temporary's random part (64 random bits).
const TMP_RANDOM: usize = 16;
/// Random names tried before a commit gives up (each taken one was planted or is a live
/// collision; 64 random bits make either a sign of something else at work).
const TMP_ATTEMPTS: usize = 8;
/// The longest file name Linux filesystems take.
const NAME_MAX: usize = 255;

/// The start of every temporary name of `path`: `.NAME.interlock-tmp.`. A name too long to
/// leave room for the rest within [`NAME_MAX`] is shortened, with a checksum of the whole name
/// appended so that two long names sharing a beginning still get different prefixes.
fn temporary_prefix(path: &Path) -> OsString {
    let name = path.file_name().map(OsStrExt::as_bytes).unwrap_or_default();
    let room = NAME_MAX - 1 - TMP_MARK.len() - TMP_RANDOM;
    let mut prefix = b".".to_vec();
    if name.len() <= room {
        prefix.extend_from_slice(name);
    } else {
        prefix.extend_from_slice(&name[..room - 9]);
        prefix.extend_from_slice(format!("~{:08x}", crc32fast::hash(name)).as_bytes());
    }
    prefix.extend_from_slice(TMP_MARK.as_bytes());
    OsString::from_vec(prefix)
}

/// Whether `name` is one of the temporary names starting with `prefix`.
fn is_temporary(name: &OsStr, prefix: &OsStr) -> bool {
    name.as_bytes()
        .strip_prefix(prefix.as_bytes())
        .is_some_and(|rest| {
            rest.len() == TMP_RANDOM && rest.iter().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
        })
}

/// The one fixed temporary name of earlier versions (`.NAME.interlock-tmp`): a writer of such a
/// version killed inside its commit may have left it.
fn legacy_temporary(path: &Path) -> OsString {
    let mut name = OsString::from(".");
    name.push(path.file_name().unwrap_or_default());
    name.push(".interlock-tmp");
    name
}

/// 16 random hex digits.
fn random_hex() -> io::Result<String> {
    let mut bytes = [0u8; TMP_RANDOM / 2];
    let mut filled = 0;
    while filled < bytes.len() {
        filled +=
            rustix::rand::getrandom(&mut bytes[filled..], rustix::rand::GetRandomFlags::empty())?;
    }
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// Creates a temporary for a commit of `path` (permissions `mode` less the umask; the caller
/// sets them exactly), named with `random`'s digits: only ever a new file of our own.
fn create_temporary(
    path: &Path,
    mode: u32,
    mut random: impl FnMut() -> io::Result<String>,
) -> io::Result<(PathBuf, File)> {
    let dir = parent_dir(path);
    let prefix = temporary_prefix(path);
    for _ in 0..TMP_ATTEMPTS {
        let mut name = prefix.clone();
        name.push(random()?);
        let tmp = dir.join(name);
        match OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
            .open(&tmp)
        {
            Ok(file) => return Ok((tmp, file)),
            Err(e) if e.kind() == ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
    Err(io::Error::new(
        ErrorKind::AlreadyExists,
        format!(
            "{TMP_ATTEMPTS} random temporary names in {} were all taken",
            dir.display()
        ),
    ))
}

/// Removes the temporaries of `path` that a writer killed inside its commit left: every
/// regular file with a temporary's name, our uid and one link (see the notes above). Called by
/// the holder told of a death, under the lock, when no commit of ours is under way.
fn remove_dead_temporaries(path: &Path) {
    let prefix = temporary_prefix(path);
    let legacy = legacy_temporary(path);
    let me = rustix::process::geteuid().as_raw();
    let Ok(entries) = std::fs::read_dir(parent_dir(path)) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        if name != legacy && !is_temporary(&name, &prefix) {
            continue;
        }
        // Of the entry itself: a symlink is not followed.
        let Ok(meta) = entry.metadata() else {
            continue;
        };
        if meta.file_type().is_file() && meta.uid() == me && meta.nlink() == 1 {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

impl fmt::Debug for SharedFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SharedFile")
            .field("path", &self.path)
            .field("durable", &self.durable)
            .field("format", &self.format)
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for Update<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Update")
            .field("path", &self.file.path)
            .field("content_len", &self.content.len())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::FileTypeExt;

    #[test]
    fn a_taken_temporary_name_is_skipped_never_opened() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("data");
        let victim = dir.path().join("victim");
        std::fs::write(&victim, "victim").unwrap();
        let fifo = dir.path().join(".data.interlock-tmp.0000000000000000");
        let link = dir.path().join(".data.interlock-tmp.1111111111111111");
        let file = dir.path().join(".data.interlock-tmp.2222222222222222");
        rustix::fs::mknodat(
            rustix::fs::CWD,
            &fifo,
            rustix::fs::FileType::Fifo,
            rustix::fs::Mode::from_raw_mode(0o666),
            0,
        )
        .unwrap();
        std::os::unix::fs::symlink(&victim, &link).unwrap();
        std::fs::write(&file, "planted").unwrap();
        let mut names = ["0", "1", "2", "3"].into_iter().map(|d| Ok(d.repeat(16)));
        let (tmp, mut out) = create_temporary(&path, 0o600, || names.next().unwrap()).unwrap();
        assert_eq!(tmp, dir.path().join(".data.interlock-tmp.3333333333333333"));
        out.write_all(b"new").unwrap();
        assert!(std::fs::symlink_metadata(&fifo)
            .unwrap()
            .file_type()
            .is_fifo());
        assert_eq!(std::fs::read(&victim).unwrap(), b"victim");
        assert_eq!(std::fs::read(&file).unwrap(), b"planted");

        let mut taken = std::iter::repeat_with(|| Ok("0".repeat(16)));
        let err = create_temporary(&path, 0o600, || taken.next().unwrap()).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::AlreadyExists, "{err}");
    }

    #[test]
    fn temporary_names_fit_in_a_file_name_and_are_recognised() {
        for len in [1, 100, 222, 223, 224, 255] {
            let name = "n".repeat(len);
            let path = Path::new("/d").join(&name);
            let prefix = temporary_prefix(&path);
            let mut tmp = prefix.clone();
            tmp.push(random_hex().unwrap());
            assert!(tmp.len() <= NAME_MAX, "{len}: {}", tmp.len());
            assert!(is_temporary(&tmp, &prefix), "{tmp:?}");
            let other = temporary_prefix(&Path::new("/d").join(format!("{name}x")));
            assert!(!is_temporary(&tmp, &other), "{len}");
        }
        let prefix = temporary_prefix(Path::new("a"));
        assert_eq!(prefix, ".a.interlock-tmp.");
        for not in [
            ".a.interlock-tmp.",
            ".a.interlock-tmp.0123456789abcde",
            ".a.interlock-tmp.0123456789ABCDEF",
            ".a.interlock-tmp.0123456789abcdef0",
            ".a.interlock-tmp.x.interlock-tmp.0123456789abcdef",
        ] {
            assert!(!is_temporary(OsStr::new(not), &prefix), "{not}");
        }
        assert!(is_temporary(
            OsStr::new(".a.interlock-tmp.0123456789abcdef"),
            &prefix
        ));
    }
}
