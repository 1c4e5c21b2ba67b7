//! Layer 5: a writer that never interleaves lines between processes — the seed's "separate lock
//! for logging".

use std::fmt;
use std::fs::File;
use std::io::{self, Write};
use std::path::Path;
use std::sync::Arc;

use crate::error::Error;
use crate::lock::Lock;

/// Where a [`LogWriter`] writes.
#[derive(Debug, Clone)]
enum Target {
    Stdout,
    Stderr,
    File(Arc<File>),
}

/// A line-safe writer: whole lines from many processes (and threads) to stdout, stderr or a
/// file, never interleaved, each batch written under its own [`Lock`] — separate from the lock
/// that protects your data, as the seed advises, so logging never holds up the data.
///
/// Bytes are buffered in the writer until a newline completes a line; every complete line then
/// goes out under the lock in one piece. What remains of an unfinished line goes out when the
/// writer is dropped. Clones share the lock and the target but not the buffer, so give each
/// thread its own clone (or use [`LogWriter::write_line`]).
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

    /// Lines appended to the file at `path` (created 0644 if missing, opened `O_APPEND`).
    ///
    /// # Errors
    ///
    /// [`Error::Io`] if the file cannot be opened for appending.
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
        let file = File::options()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|e| Error::io("open for appending", path.display(), e))?;
        Ok(LogWriter::with(lock, Target::File(Arc::new(file))))
    }

    fn with(lock: Lock, target: Target) -> LogWriter {
        LogWriter {
            lock: Arc::new(lock),
            target,
            buf: Vec::new(),
        }
    }

    /// Writes `line` and a newline as one piece, under the lock.
    ///
    /// # Errors
    ///
    /// The target's I/O error, or the lock's (as [`io::Error`]).
    ///
    /// # Examples
    ///
    /// ```
    /// let mut log = interlock::LogWriter::stderr(interlock::Lock::new()?);
    /// log.write_line("one whole line")?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn write_line(&mut self, line: &str) -> io::Result<()> {
        let mut piece = Vec::with_capacity(line.len() + 1);
        piece.extend_from_slice(line.as_bytes());
        piece.push(b'\n');
        self.emit(&piece)
    }

    /// Writes `bytes` (whole lines) under the lock, in one piece.
    fn emit(&self, bytes: &[u8]) -> io::Result<()> {
        if bytes.is_empty() {
            return Ok(());
        }
        let _guard = self.lock.lock().map_err(io::Error::other)?;
        match &self.target {
            Target::Stdout => {
                let mut out = io::stdout().lock();
                out.write_all(bytes)?;
                out.flush()
            }
            Target::Stderr => io::stderr().lock().write_all(bytes),
            Target::File(file) => (&**file).write_all(bytes),
        }
    }
}

impl Write for LogWriter {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(bytes);
        if let Some(end) = self.buf.iter().rposition(|&b| b == b'\n') {
            let rest = self.buf.split_off(end + 1);
            let lines = std::mem::replace(&mut self.buf, rest);
            self.emit(&lines)?;
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

    /// Complete lines are already out; an unfinished line waits for its newline (flushing it
    /// now would let another process's line land in its middle).
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Clone for LogWriter {
    /// Another writer to the same target under the same lock, with a buffer of its own.
    fn clone(&self) -> LogWriter {
        LogWriter {
            lock: Arc::clone(&self.lock),
            target: self.target.clone(),
            buf: Vec::new(),
        }
    }
}

impl Drop for LogWriter {
    fn drop(&mut self) {
        let rest = std::mem::take(&mut self.buf);
        let _ = self.emit(&rest);
    }
}

impl fmt::Debug for LogWriter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LogWriter")
            .field("target", &self.target)
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
