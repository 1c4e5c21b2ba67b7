//! Pipes between a parent and its forked children: line messages ([`channel`]) and a start
//! gate ([`Gate`]). Every pipe is close-on-exec, so spawned programs do not inherit it.

use std::fs::File;
use std::io::{ErrorKind, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::PATIENCE;

/// A new pipe, `(read end, write end)`, both close-on-exec.
///
/// # Panics
///
/// When `pipe2` fails.
pub fn pipe() -> (File, File) {
    let mut fds = [0; 2];
    // SAFETY: pipe2 writes two descriptors into `fds`, a valid array of two c_ints.
    let rc = unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) };
    assert_eq!(rc, 0, "pipe2: {}", std::io::Error::last_os_error());
    // SAFETY: fds[0] is the read end pipe2 just opened, owned by nobody else.
    let r = unsafe { OwnedFd::from_raw_fd(fds[0]) };
    // SAFETY: fds[1] is the write end pipe2 just opened, owned by nobody else.
    let w = unsafe { OwnedFd::from_raw_fd(fds[1]) };
    (File::from(r), File::from(w))
}

/// Sending end of a [`channel`]: one line per message.
#[derive(Debug)]
pub struct Sender(File);

/// Receiving end of a [`channel`].
#[derive(Debug)]
pub struct Receiver {
    file: File,
    pending: Mutex<Vec<u8>>,
}

/// A one-way pipe for line messages between a parent and its forked children. Receiving never
/// relies on end-of-file — copies of the write end may live in other tests' children — but on
/// a message arriving within [`PATIENCE`]. A message is at most `PIPE_BUF` (4096) bytes, so
/// that the messages of several senders never mix.
pub fn channel() -> (Sender, Receiver) {
    let (r, w) = pipe();
    (
        Sender(w),
        Receiver {
            file: r,
            pending: Mutex::new(Vec::new()),
        },
    )
}

impl Sender {
    /// Sends `msg` as one line.
    ///
    /// # Panics
    ///
    /// When `msg` holds a newline or the write fails.
    pub fn send(&self, msg: &str) {
        assert!(!msg.contains('\n'));
        (&self.0)
            .write_all(format!("{msg}\n").as_bytes())
            .expect("write to pipe");
    }
}

impl Receiver {
    /// The next line, waiting at most [`PATIENCE`].
    ///
    /// # Panics
    ///
    /// When no whole line arrives in time, or every write end is closed first.
    pub fn recv(&self) -> String {
        self.recv_timeout(PATIENCE).unwrap_or_else(|partial| {
            panic!("no message within {PATIENCE:?} (partial: {partial:?})")
        })
    }

    /// The next line, or (after `timeout`) `Err` with whatever partial line arrived.
    ///
    /// # Panics
    ///
    /// When every write end is closed before a whole line arrived, or the pipe fails.
    pub fn recv_timeout(&self, timeout: Duration) -> Result<String, String> {
        let deadline = Instant::now() + timeout;
        let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if let Some(at) = pending.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = pending.drain(..=at).collect();
                return Ok(String::from_utf8_lossy(&line[..at]).into_owned());
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(String::from_utf8_lossy(&pending).into_owned());
            }
            let mut pfd = libc::pollfd {
                fd: self.file.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            };
            // SAFETY: poll reads and writes exactly one pollfd, a valid local.
            let rc = unsafe { libc::poll(&mut pfd, 1, left.as_millis().min(1000) as i32 + 1) };
            if rc < 0 {
                let e = std::io::Error::last_os_error();
                assert_eq!(e.kind(), ErrorKind::Interrupted, "poll: {e}");
                continue;
            }
            if rc == 0 {
                continue;
            }
            let mut chunk = [0u8; 512];
            match (&self.file).read(&mut chunk) {
                Ok(0) => panic!(
                    "the pipe was closed with no further message (partial: {:?})",
                    String::from_utf8_lossy(&pending)
                ),
                Ok(n) => pending.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => panic!("read from pipe: {e}"),
            }
        }
    }

    /// Receives a line and asserts it is `want`.
    ///
    /// # Panics
    ///
    /// As [`recv`](Self::recv), or when the line is another.
    pub fn expect(&self, want: &str) {
        let got = self.recv();
        assert_eq!(got, want, "unexpected message from the other side");
    }
}

/// A start line for forked children: each [`wait`](Gate::wait)s at it until the parent
/// [`open`](Gate::open)s it for them, one byte each, so that they start together (and their
/// forking and first page faults stay out of what is measured after).
#[derive(Debug)]
pub struct Gate {
    r: File,
    w: File,
}

impl Gate {
    /// A closed gate; children forked after this share it.
    pub fn new() -> Gate {
        let (r, w) = pipe();
        Gate { r, w }
    }

    /// Child side: waits until the parent lets one more child through.
    ///
    /// # Panics
    ///
    /// When the pipe fails.
    pub fn wait(&self) {
        let mut b = [0u8; 1];
        loop {
            match (&self.r).read(&mut b) {
                Ok(1) => return,
                Ok(_) => panic!("the gate's pipe was closed before it opened"),
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => panic!("read from the gate's pipe: {e}"),
            }
        }
    }

    /// Parent side: lets `n` waiting children through.
    ///
    /// # Panics
    ///
    /// When the pipe fails.
    pub fn open(&self, n: usize) {
        (&self.w)
            .write_all(&vec![b'!'; n])
            .expect("write to the gate's pipe");
    }
}

impl Default for Gate {
    fn default() -> Gate {
        Gate::new()
    }
}

/// Sets `O_NONBLOCK` on `f`.
pub(crate) fn set_nonblocking(f: &File) {
    // SAFETY: fcntl on a descriptor we own, with integer arguments only.
    let flags = unsafe { libc::fcntl(f.as_raw_fd(), libc::F_GETFL) };
    assert!(flags >= 0);
    // SAFETY: as above.
    let rc = unsafe { libc::fcntl(f.as_raw_fd(), libc::F_SETFL, flags | libc::O_NONBLOCK) };
    assert_eq!(rc, 0);
}
