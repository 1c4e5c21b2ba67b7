//! Layer 6: a writer that never interleaves lines between processes — the multiprocessing
//! example's "separate lock for logging".

use std::fmt;
use std::fs::File;
use std::io::{self, Write};
use std::path::Path;
use std::sync::Arc;

use crate::locks::lock::Lock;
use crate::types::Error;

/// Opens the log file at `path` for [`LogWriter::append`] (the rules are there): first
/// without following a symlink and without blocking on a FIFO, then — for a symlink we may
/// follow — through it; `O_NONBLOCK` is cleared once open, so that writes wait as they should.
fn open_log(path: &Path) -> Result<File, Error> {
    use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt};
    let unsafe_path = |reason: String| Error::UnsafePath {
        path: path.to_owned(),
        reason,
    };
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    // A sticky directory (`/tmp`, `/dev/shm`): everyone may create names in it, and only the
    // owner of an entry (or of the directory) may remove or replace it.
    let sticky_owner = std::fs::metadata(dir)
        .ok()
        .filter(|m| m.mode() & 0o1000 != 0)
        .map(|m| m.uid());
    let me = rustix::process::geteuid().as_raw();
    let foreign =
        |owner: u32| sticky_owner.is_some_and(|dir_owner| owner != me && owner != dir_owner);
    let open = |follow: bool| {
        let nofollow = if follow { 0 } else { libc::O_NOFOLLOW };
        File::options()
            .create(true)
            .append(true)
            .custom_flags(nofollow | libc::O_NONBLOCK)
            .open(path)
    };
    let open_error = |e: io::Error| match e.raw_os_error() {
        // A FIFO nobody reads: a writer's non-blocking open fails so (a blocking one would
        // wait for a reader, for ever if none comes).
        Some(libc::ENXIO) => Error::io(
            "open for appending",
            path.display(),
            io::Error::new(
                io::ErrorKind::WouldBlock,
                "a FIFO that no process reads: opening it would wait for a reader",
            ),
        ),
        _ => Error::io("open for appending", path.display(), e),
    };
    let is_link = |p: &Path| {
        std::fs::symlink_metadata(p)
            .ok()
            .filter(|m| m.file_type().is_symlink())
    };
    let (file, followed) = match is_link(path) {
        Some(link) => {
            if foreign(link.uid()) {
                return Err(unsafe_path(format!(
                    "a symbolic link of uid {}, not ours (uid {me}) nor the owner's of its \
                     sticky directory {}: not followed",
                    link.uid(),
                    dir.display()
                )));
            }
            // Ours (or the directory owner's): nobody else can replace it in a sticky
            // directory, so following it is following our own choice.
            (open(true).map_err(open_error)?, true)
        }
        None => match open(false) {
            Ok(file) => (file, false),
            // A symlink made since we looked (O_NOFOLLOW with O_CREAT fails on one, with
            // ELOOP or, for another user's in a sticky directory, EACCES).
            Err(_) if is_link(path).is_some() => {
                return Err(unsafe_path(
                    "a symbolic link appeared while it was opened: not followed".into(),
                ))
            }
            Err(e) => return Err(open_error(e)),
        },
    };
    let meta = file
        .metadata()
        .map_err(|e| Error::io("stat", path.display(), e))?;
    let ft = meta.file_type();
    if !followed && (ft.is_file() || ft.is_fifo()) && foreign(meta.uid()) {
        return Err(unsafe_path(format!(
            "{} of uid {}, not ours (uid {me}) nor the owner's of its sticky directory {}: \
             another user made it, and would read every line",
            if ft.is_fifo() { "a FIFO" } else { "a file" },
            meta.uid(),
            dir.display()
        )));
    }
    let flags =
        rustix::fs::fcntl_getfl(&file).map_err(|e| Error::io("fcntl", path.display(), e))?;
    rustix::fs::fcntl_setfl(&file, flags - rustix::fs::OFlags::NONBLOCK)
        .map_err(|e| Error::io("fcntl", path.display(), e))?;
    Ok(file)
}

/// Where a [`LogWriter`] writes.
#[derive(Debug, Clone)]
enum Target {
    Stdout,
    Stderr,
    File(Arc<File>),
}

/// A line-safe writer: whole lines from many processes (and threads) to stdout, stderr or a
/// file, never interleaved, each batch written under its own [`Lock`] — separate from the lock
/// that protects your data, as Python's multiprocessing example advises, so logging never
/// holds up the data.
///
/// Bytes are buffered in the writer until a newline completes a line; every complete line then
/// goes out under the lock in one piece. What remains of an unfinished line goes out when the
/// writer is dropped. Clones share the lock and the target but not the buffer, so give each
/// thread its own clone (or use [`LogWriter::write_line`]).
///
/// # Errors and retries
///
/// What the writer accepted is never dropped and never written twice; it goes out in order. A
/// write to the target that fails (a full disk, a file-size limit, a pipe that would block)
/// keeps the lines it did not get out, and the next `write`, `write_line` or `flush` (or the
/// drop) retries them first — as `std::io::BufWriter` does, that later call is the one that
/// reports the error, and while it persists it accepts nothing new. So an `Err` always means
/// "nothing of this call was taken": calling again with the same bytes never duplicates them.
/// (A failure part-way through a line leaves the start of the line out; the rest follows with
/// the retry, under a new hold of the lock, so another process's line may come between.)
///
/// It is a [`std::io::Write`], so it plugs into `writeln!`, `env_logger`'s
/// `Target::Pipe(Box::new(writer))`, or `tracing_subscriber`'s `with_writer(move || w.clone())`
/// (each event then becomes whole lines under one hold of the lock).
///
/// # Examples
///
/// ```
/// use std::io::Write;
///
/// let log_lock = interlock::Lock::new()?;
/// let mut log = interlock::LogWriter::stdout(log_lock);
/// writeln!(log, "[worker] started")?;
/// log.write_line("[worker] finished")?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct LogWriter {
    lock: Arc<Lock>,
    target: Target,
    /// Whole lines accepted but not yet written (a write to the target failed part-way or
    /// altogether): written before anything else.
    pending: Vec<u8>,
    /// The unfinished line.
    buf: Vec<u8>,
}

impl LogWriter {
    /// Lines to this process's standard output.
    ///
    /// # Examples
    ///
    /// ```
    /// let log = interlock::LogWriter::stdout(interlock::Lock::new()?);
    /// # Ok::<(), interlock::Error>(())
    /// ```
    pub fn stdout(lock: Lock) -> LogWriter {
        LogWriter::with(lock, Target::Stdout)
    }

    /// Lines to this process's standard error.
    ///
    /// # Examples
    ///
    /// ```
    /// let log = interlock::LogWriter::stderr(interlock::Lock::new()?);
    /// # Ok::<(), interlock::Error>(())
    /// ```
    pub fn stderr(lock: Lock) -> LogWriter {
        LogWriter::with(lock, Target::Stderr)
    }

    /// Lines appended to the file at `path` (created 0666 less the umask if missing — 0644
    /// usually —, opened `O_APPEND`).
    ///
    /// In a sticky directory that others can write (`/tmp`, `/dev/shm`), a symbolic link, FIFO
    /// or file at `path` must be ours or the directory owner's: one another user made there in
    /// advance would send our lines to a file of their choice or give them every line. (The
    /// kernel's `fs.protected_symlinks`, `protected_fifos` and `protected_regular` rules,
    /// applied whatever those settings.) Elsewhere `path` is opened as `>>` opens it — a pipe
    /// through `/proc/self/fd/N`, a FIFO a reader has open, a group's shared log — except that
    /// a FIFO nobody reads is an error instead of a wait.
    ///
    /// # Errors
    ///
    /// [`Error::UnsafePath`] naming the path for another user's symbolic link, FIFO or file in
    /// a sticky directory; [`Error::Io`] if the file cannot be opened for appending (a
    /// directory, a FIFO that no process reads, …).
    ///
    /// # Examples
    ///
    /// ```
    /// let dir = tempfile::tempdir().unwrap();
    /// let mut log = interlock::LogWriter::append(interlock::Lock::new()?, dir.path().join("app.log"))?;
    /// log.write_line("hello")?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn append(lock: Lock, path: impl AsRef<Path>) -> Result<LogWriter, Error> {
        let path = path.as_ref();
        let file = open_log(path)?;
        Ok(LogWriter::with(lock, Target::File(Arc::new(file))))
    }

    fn with(lock: Lock, target: Target) -> LogWriter {
        LogWriter {
            lock: Arc::new(lock),
            target,
            pending: Vec::new(),
            buf: Vec::new(),
        }
    }

    /// Writes `line` and a newline as one piece, under the lock (after any lines that an
    /// earlier failure left pending; an unfinished line written with `write` stays buffered).
    ///
    /// # Errors
    ///
    /// The target's I/O error, or the lock's (as [`io::Error`]), when lines that an earlier
    /// call accepted still cannot be written: then `line` is not taken. A failure to write
    /// `line` itself keeps it, to be written (or the error reported) by the next call — see
    /// "Errors and retries" above.
    ///
    /// # Examples
    ///
    /// ```
    /// let mut log = interlock::LogWriter::stderr(interlock::Lock::new()?);
    /// log.write_line("one whole line")?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn write_line(&mut self, line: &str) -> io::Result<()> {
        self.write_pending()?;
        self.pending.reserve(line.len() + 1);
        self.pending.extend_from_slice(line.as_bytes());
        self.pending.push(b'\n');
        // Taken: a failure now is reported (and retried) by the next call.
        let _ = self.write_pending();
        Ok(())
    }

    /// Writes the pending lines under the lock, in one piece as far as the target takes it.
    /// What was written leaves `pending`; what was not stays, in order.
    fn write_pending(&mut self) -> io::Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let _guard = self.lock.lock().map_err(io::Error::other)?;
        let mut done = 0;
        let result = match &self.target {
            Target::Stdout => {
                let mut out = io::stdout().lock();
                write_some(&mut out, &self.pending, &mut done).and_then(|()| out.flush())
            }
            Target::Stderr => write_some(&mut io::stderr().lock(), &self.pending, &mut done),
            Target::File(file) => write_some(&mut &**file, &self.pending, &mut done),
        };
        self.pending.drain(..done);
        result
    }
}

/// Writes `bytes[*done..]` to `out`, counting in `done` what it took, until all is written or
/// an error other than an interruption.
fn write_some(out: &mut impl Write, bytes: &[u8], done: &mut usize) -> io::Result<()> {
    while *done < bytes.len() {
        match out.write(&bytes[*done..]) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => *done += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

impl Write for LogWriter {
    /// Takes `bytes` — unless lines an earlier call took still cannot be written: then the
    /// error, and nothing is taken — and writes the lines they complete.
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.write_pending()?;
        self.buf.extend_from_slice(bytes);
        if let Some(end) = self.buf.iter().rposition(|&b| b == b'\n') {
            let rest = self.buf.split_off(end + 1);
            self.pending = std::mem::replace(&mut self.buf, rest);
            // Taken: a failure now is reported (and retried) by the next call.
            let _ = self.write_pending();
        }
        Ok(bytes.len())
    }

    /// One `write!`/`writeln!` is one record: formatted whole first, then written, so its lines
    /// go out together under one hold of the lock (the default `write_fmt` writes piece by
    /// piece, and a piece ending a line would send that line out alone).
    fn write_fmt(&mut self, args: std::fmt::Arguments<'_>) -> io::Result<()> {
        let text = std::fmt::format(args);
        self.write_all(text.as_bytes())
    }

    /// Writes the complete lines a failure left pending (their error, if it persists); an
    /// unfinished line waits for its newline (flushing it now would let another process's line
    /// land in its middle).
    fn flush(&mut self) -> io::Result<()> {
        self.write_pending()
    }
}

impl Clone for LogWriter {
    /// Another writer to the same target under the same lock, with a buffer of its own.
    fn clone(&self) -> LogWriter {
        LogWriter {
            lock: Arc::clone(&self.lock),
            target: self.target.clone(),
            pending: Vec::new(),
            buf: Vec::new(),
        }
    }
}

impl Drop for LogWriter {
    fn drop(&mut self) {
        let rest = std::mem::take(&mut self.buf);
        self.pending.extend_from_slice(&rest);
        let _ = self.write_pending();
    }
}

impl fmt::Debug for LogWriter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LogWriter")
            .field("target", &self.target)
            .field("pending", &self.pending.len())
            .field("buffered", &self.buf.len())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partial_writes_leave_as_whole_lines_and_the_tail_on_drop() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        let mut log = LogWriter::append(Lock::new().unwrap(), &path).unwrap();
        log.write_all(b"first ha").unwrap();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "",
            "nothing before the newline"
        );
        log.write_all(b"lf\nsecond\nthi").unwrap();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "first half\nsecond\n"
        );
        log.flush().unwrap();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "first half\nsecond\n"
        );
        drop(log);
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "first half\nsecond\nthi"
        );
    }
}
