//! `try_clone_fd` / `from_fd`: a handle's descriptor sent to another process (here over a Unix
//! socket with `SCM_RIGHTS`, as Python's multiprocessing sends one) and adopted there with the
//! same checks as `from_env`; a descriptor of anything else is a typed error.

use crate::common;

use std::io::{IoSlice, IoSliceMut};
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::UnixStream;

use rustix::net::{
    recvmsg, sendmsg, RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags, SendAncillaryBuffer,
    SendAncillaryMessage, SendFlags,
};

use interlock::{Error, Lock, RLock, Semaphore};

/// Sends `fd` over `sock` as `SCM_RIGHTS`.
fn send_fd(sock: &UnixStream, fd: &OwnedFd) {
    let fds = [fd.as_fd()];
    let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
    let mut cmsg = SendAncillaryBuffer::new(&mut space);
    assert!(cmsg.push(SendAncillaryMessage::ScmRights(&fds)));
    let n = sendmsg(sock, &[IoSlice::new(b"x")], &mut cmsg, SendFlags::empty()).expect("sendmsg");
    assert_eq!(n, 1);
}

/// Receives one descriptor sent by [`send_fd`].
fn recv_fd(sock: &UnixStream) -> OwnedFd {
    let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
    let mut cmsg = RecvAncillaryBuffer::new(&mut space);
    let mut byte = [0u8; 1];
    recvmsg(
        sock,
        &mut [IoSliceMut::new(&mut byte)],
        &mut cmsg,
        RecvFlags::CMSG_CLOEXEC,
    )
    .expect("recvmsg");
    cmsg.drain()
        .find_map(|msg| match msg {
            RecvAncillaryMessage::ScmRights(mut fds) => fds.next(),
            _ => None,
        })
        .expect("a descriptor")
}

/// A child forked before the lock existed receives its descriptor over a socket, adopts it,
/// takes the lock and exits holding it: the parent, through its own handle, is told the
/// previous owner died — one lock, in two processes that met only through the descriptor.
#[test]
fn a_forked_child_adopts_a_descriptor_sent_over_a_socket() {
    let (parent_end, child_end) = UnixStream::pair().expect("socketpair");
    let child = common::fork(|| {
        let lock = Lock::from_fd(recv_fd(&child_end)).expect("Lock::from_fd");
        let guard = lock.lock().expect("lock");
        assert!(!guard.previous_owner_died());
        std::mem::forget(guard); // exits holding it
    });
    let lock = Lock::new().expect("Lock::new");
    send_fd(&parent_end, &lock.try_clone_fd().expect("try_clone_fd"));
    child.join();
    let guard = lock.lock().expect("lock after the child's exit");
    assert!(guard.previous_owner_died(), "the child held this very lock");
    assert_eq!(lock.status().owner_deaths, 1);
}

/// A lock file's descriptor is reopened by path (its own was closed once mapped): adopting it
/// gives the same lock.
#[test]
fn a_lock_files_descriptor_is_the_same_lock() {
    let dir = tempfile::tempdir().expect("tempdir");
    let lock = RLock::open_path(dir.path().join("x.lock"), 0o600).expect("open_path");
    let same = RLock::from_fd(lock.try_clone_fd().expect("try_clone_fd")).expect("from_fd");
    let _outer = lock.lock().expect("lock");
    let _inner = same.lock().expect("re-entry through the adopted handle");
    assert_eq!(lock.status().depth, 2);
}

/// A descriptor of another kind of handle, of a file that is no interlock segment, or of
/// something that is no file at all: each a typed error, nothing adopted.
#[test]
fn a_foreign_descriptor_is_a_typed_error() {
    let lock = Lock::new().expect("Lock::new");
    assert!(matches!(
        Semaphore::from_fd(lock.try_clone_fd().unwrap()),
        Err(Error::KindMismatch { .. })
    ));
    assert!(matches!(
        RLock::from_fd(lock.try_clone_fd().unwrap()),
        Err(Error::KindMismatch { .. })
    ));
    let mut file = tempfile::tempfile().expect("tempfile");
    std::io::Write::write_all(&mut file, &[0x5a; 4096]).unwrap();
    assert!(matches!(
        Lock::from_fd(file.into()),
        Err(Error::BadSegment { .. })
    ));
    let (reader, _writer) = common::pipe();
    assert!(matches!(
        Lock::from_fd(reader.into()),
        Err(Error::Io { .. })
    ));
}
