//! Issue 18: the hostile-file matrix, as one table.
//!
//! Block 1 (`planted_things_at_every_path_interlock_opens`): every path interlock opens — a
//! lock file of each primitive by `open_path`, a `FileLock`, `path::status` and
//! `path::remove_unheld` (the CLI's `run`, `status` and `rm --path`), a `SharedFile`'s file and
//! its lock file in both formats, a `LogWriter`'s file, a named lock in the namespace, its
//! removal, the namespace directory itself (the CLI's named locks go the same ways; its own
//! `run --shared --path` open is tested in interlock-cli's `rwlock.rs`) — × every thing another
//! user (or an earlier accident) may have left there — a symlink to a victim's file (a valid
//! file of the very kind the call opens, so that following it would succeed, and show), a
//! symlink to a victim's directory, a FIFO, a directory, a file owned by the second user, a
//! file of ours but mode 0666, an empty file, a truncated lock file, a file of another kind —
//! × ext4 (`CARGO_TARGET_TMPDIR`) and tmpfs (`/dev/shm`), in a sticky directory like `/tmp`.
//! Each cell runs in its own process (a fork, or this binary re-run for the namespace rows),
//! with an alarm: a hang is a cell that failed, not a stuck test. (The second user's things
//! are made by root and handed over with `lchown`: the same inodes, without a process a cell.)
//!
//! Expected per cell: a typed [`Error`] whose message names the path; or, where the design
//! says the thing is legitimate, that documented behaviour (the reason is printed with the
//! table) — and never a hang or a panic. Before and after each cell every file in the cell's
//! directory and every victim file (the symlinks' targets) is compared: type, content, mode,
//! owner and inode; nothing else may appear (no temporary left behind).
//!
//! Block 2 (`a_second_user_cannot_touch_the_victims_locks_directories_and_files`): the second
//! user (`common::hostile`, a real process through `setpriv`) tries to open, hold, read,
//! truncate, write-fill, unlink, rename and chmod the victim's (root's) held locks, private
//! namespace directory and `SharedFile`s, on both file systems; the victim's files must be
//! unchanged and its locks still its own. The victim makes them under umask 077, as a careful
//! user would: interlock's own defaults must not undo it.
//!
//! Both print their table at the end (`cargo nextest run -p interlock-ipc --no-capture -E
//! 'test(/^hostile_matrix::/)'`) and fail after printing it if a cell failed. They need root
//! (to plant files of another owner and to be the victim); in CI they fail loudly without it.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::fmt::Write as _;
use std::io::Read;
use std::os::unix::fs::{lchown, symlink, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Stdio;

use interlock::{
    Barrier, Condition, Error, Event, FileLock, Format, Lock, LockTable, LogWriter, RLock, RwLock,
    Semaphore, SharedFile, Value,
};

use crate::common::{self, have_root, hostile, role, role_command, tell_parent};

/// How long one cell may take before its process is killed (by its own alarm) and the cell
/// counted as a hang. Generous: every cell is a handful of system calls.
const CELL_SECONDS: u32 = 10;

// ---------------------------------------------------------------------------------------------
// The rows: every path interlock opens
// ---------------------------------------------------------------------------------------------

/// A path interlock opens, and the call that opens it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Opener {
    Lock,
    FairLock,
    RLock,
    Table,
    Semaphore,
    Event,
    Barrier,
    Condition,
    RwLock,
    Value,
    FileLock,
    /// `path::status(P)` (`interlock status --path`).
    PathStatus,
    /// `path::remove_unheld(P)` (`interlock rm --path`).
    PathRemove,
    /// `SharedFile::open(P)`, `Format::Plain`, the thing planted at `P`.
    PlainFile,
    /// The same, the thing planted at `P.lock`.
    PlainFileLock,
    SlotsFile,
    SlotsFileLock,
    LogWriter,
    /// `Lock::open(NAME)`, the thing planted at `$INTERLOCK_DIR/NAME.lock`.
    NsOpen,
    /// `namespace::remove(NAME)`, the same.
    NsRemove,
    /// `Lock::open(NAME)`, the thing planted at `$INTERLOCK_DIR` itself.
    NsDir,
}

const OPENERS: [Opener; 21] = [
    Opener::Lock,
    Opener::FairLock,
    Opener::RLock,
    Opener::Table,
    Opener::Semaphore,
    Opener::Event,
    Opener::Barrier,
    Opener::Condition,
    Opener::RwLock,
    Opener::Value,
    Opener::FileLock,
    Opener::PathStatus,
    Opener::PathRemove,
    Opener::PlainFile,
    Opener::PlainFileLock,
    Opener::SlotsFile,
    Opener::SlotsFileLock,
    Opener::LogWriter,
    Opener::NsOpen,
    Opener::NsRemove,
    Opener::NsDir,
];

/// The name of the named lock the namespace rows open.
const NS_NAME: &str = "victim";

impl Opener {
    fn label(self) -> &'static str {
        match self {
            Opener::Lock => "Lock::open_path",
            Opener::FairLock => "fair Lock open_path",
            Opener::RLock => "RLock::open_path",
            Opener::Table => "LockTable::open_path",
            Opener::Semaphore => "Semaphore::open_path",
            Opener::Event => "Event::open_path",
            Opener::Barrier => "Barrier::open_path",
            Opener::Condition => "Condition::open_path",
            Opener::RwLock => "RwLock::open_path",
            Opener::Value => "Value::open_path",
            Opener::FileLock => "FileLock::open",
            Opener::PathStatus => "path::status",
            Opener::PathRemove => "path::remove_unheld",
            Opener::PlainFile => "SharedFile plain: P",
            Opener::PlainFileLock => "SharedFile plain: P.lock",
            Opener::SlotsFile => "SharedFile slots: P",
            Opener::SlotsFileLock => "SharedFile slots: P.lock",
            Opener::LogWriter => "LogWriter::append",
            Opener::NsOpen => "Lock::open: DIR/NAME.lock",
            Opener::NsRemove => "namespace::remove",
            Opener::NsDir => "Lock::open: DIR itself",
        }
    }

    /// Opens through a namespace (a child with its own `INTERLOCK_DIR`), not a path.
    fn in_namespace(self) -> bool {
        matches!(self, Opener::NsOpen | Opener::NsRemove | Opener::NsDir)
    }

    /// Where, in a cell's directory, the thing is planted.
    fn plant_path(self, cell: &Path) -> PathBuf {
        match self {
            Opener::PlainFile | Opener::SlotsFile => cell.join("data"),
            Opener::PlainFileLock | Opener::SlotsFileLock => cell.join("data.lock"),
            Opener::LogWriter => cell.join("app.log"),
            Opener::NsOpen | Opener::NsRemove => cell.join("ns").join(format!("{NS_NAME}.lock")),
            Opener::NsDir => cell.join("ns"),
            _ => cell.join("x.lock"),
        }
    }

    /// The path the call is given (the `SharedFile`'s own path for its lock-file rows).
    fn call_path(self, cell: &Path) -> PathBuf {
        match self {
            Opener::PlainFileLock | Opener::SlotsFileLock => cell.join("data"),
            _ => self.plant_path(cell),
        }
    }

    /// The seed (a valid file of the kind this call opens) a plant copies.
    fn seed(self) -> Seed {
        match self {
            Opener::Lock | Opener::FileLock | Opener::PathStatus | Opener::PathRemove => Seed::Lock,
            Opener::FairLock => Seed::FairLock,
            Opener::RLock => Seed::RLock,
            Opener::Table => Seed::Table,
            Opener::Semaphore => Seed::Semaphore,
            Opener::Event => Seed::Event,
            Opener::Barrier => Seed::Barrier,
            Opener::Condition => Seed::Condition,
            Opener::RwLock => Seed::RwLock,
            Opener::Value => Seed::Value,
            Opener::PlainFile | Opener::LogWriter => Seed::Text,
            Opener::SlotsFile => Seed::Slots,
            Opener::PlainFileLock
            | Opener::SlotsFileLock
            | Opener::NsOpen
            | Opener::NsRemove
            | Opener::NsDir => Seed::Lock,
        }
    }

    /// A valid file of another kind than the one this call opens.
    fn other_seed(self) -> Seed {
        match self.seed() {
            Seed::Lock => Seed::RLock,
            _ => Seed::Lock,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The columns: what is planted
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Plant {
    /// A symlink (the second user's) to a file of the victim's — a valid file of the very kind
    /// the call opens, so that following it would succeed, and be seen.
    SymlinkToFile,
    /// A symlink (the second user's) to a private directory of the victim's.
    SymlinkToDir,
    /// A FIFO of the second user's, with nobody at the other end.
    Fifo,
    /// A directory of the second user's.
    Directory,
    /// A valid file of the call's kind, owned by the second user (mode 0644).
    ForeignOwned,
    /// A valid file of the call's kind, ours, but mode 0666.
    Open0666,
    /// An empty file of ours (0600).
    Empty,
    /// The first 100 bytes of a valid file of the call's kind, ours (0600).
    Truncated,
    /// A valid file of another kind (0600, ours).
    OtherKind,
}

const PLANTS: [Plant; 9] = [
    Plant::SymlinkToFile,
    Plant::SymlinkToDir,
    Plant::Fifo,
    Plant::Directory,
    Plant::ForeignOwned,
    Plant::Open0666,
    Plant::Empty,
    Plant::Truncated,
    Plant::OtherKind,
];

impl Plant {
    fn label(self) -> &'static str {
        match self {
            Plant::SymlinkToFile => "symlink>file",
            Plant::SymlinkToDir => "symlink>dir",
            Plant::Fifo => "FIFO",
            Plant::Directory => "directory",
            Plant::ForeignOwned => "2nd user's",
            Plant::Open0666 => "ours 0666",
            Plant::Empty => "empty",
            Plant::Truncated => "truncated",
            Plant::OtherKind => "other kind",
        }
    }
}

/// Where the design says a planted thing is legitimate: the call succeeds (and the reason is
/// printed under the table). Everywhere else the call must fail with a typed error naming the
/// path.
fn documented(op: Opener, plant: Plant) -> Option<&'static str> {
    use Opener as O;
    use Plant as P;
    const SHARING: &str = "open_path is the explicit way to share a lock between users: any \
        owner and mode is accepted (a file others can write is never linked on the robust list: \
        trust.rs)";
    const FLOCK: &str = "FileLock locks any existing file or directory, as flock(1) does (opened \
        read-only, never written)";
    const PLAIN: &str = "Format::Plain: any regular file of ours is content (a commit replaces \
        it by a rename, keeping its mode)";
    const MODE: &str = "a file of ours: its mode is our choice, not another user's";
    const SLOTS_EMPTY: &str = "Format::Slots adopts an empty file of ours as empty content";
    const LOG: &str = "LogWriter appends to any regular file of ours";
    const STATUS: &str = "path::status reads the lock record of any file or directory (none: \
        never taken), changing nothing";
    const RM_PATH: &str = "path::remove_unheld removes the unheld lock file at the path its \
        caller names, whoever made it (the kernel decides who may: in a sticky directory its \
        owner, the directory's, or root); any other file is never removed";
    const REMOVE: &str = "namespace::remove removes a regular 0600 file of ours in our private \
        namespace whatever its content: the way out of a damaged lock file";
    match (op, plant) {
        (
            O::Lock
            | O::FairLock
            | O::RLock
            | O::Table
            | O::Semaphore
            | O::Event
            | O::Barrier
            | O::Condition
            | O::RwLock
            | O::Value
            | O::FileLock,
            P::ForeignOwned | P::Open0666,
        ) => Some(SHARING),
        (O::FileLock, P::Directory | P::Empty) => Some(FLOCK),
        (O::PathStatus, P::Directory | P::ForeignOwned | P::Open0666 | P::Empty | P::OtherKind) => {
            Some(STATUS)
        }
        (O::PathRemove, P::ForeignOwned | P::Open0666 | P::OtherKind) => Some(RM_PATH),
        (O::PlainFile, P::Open0666 | P::Empty | P::Truncated | P::OtherKind) => Some(PLAIN),
        (O::PlainFileLock | O::SlotsFileLock, P::Open0666) => Some(MODE),
        (O::SlotsFile, P::Empty) => Some(SLOTS_EMPTY),
        (O::SlotsFile, P::Open0666) => Some(MODE),
        (O::LogWriter, P::Open0666 | P::Empty | P::Truncated | P::OtherKind) => Some(LOG),
        (O::NsRemove, P::Empty | P::Truncated | P::OtherKind) => Some(REMOVE),
        _ => None,
    }
}

// ---------------------------------------------------------------------------------------------
// Fixtures: seeds and the victim's files, one set per file system
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Seed {
    Lock,
    FairLock,
    RLock,
    Table,
    Semaphore,
    Event,
    Barrier,
    Condition,
    RwLock,
    Value,
    Text,
    Slots,
}

const SEEDS: [Seed; 12] = [
    Seed::Lock,
    Seed::FairLock,
    Seed::RLock,
    Seed::Table,
    Seed::Semaphore,
    Seed::Event,
    Seed::Barrier,
    Seed::Condition,
    Seed::RwLock,
    Seed::Value,
    Seed::Text,
    Seed::Slots,
];

/// A private (0700) directory of the victim's on one file system: a valid file of each kind
/// (the seeds plants copy and symlinks point to), the mutex conditions are bound to, and a
/// private directory with a file in it.
struct Fixtures {
    dir: PathBuf,
}

impl Fixtures {
    fn make(dir: PathBuf) -> Fixtures {
        std::fs::DirBuilder::new().create(&dir).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();
        let fx = Fixtures { dir };
        for seed in SEEDS {
            let path = fx.seed(seed);
            match seed {
                Seed::Lock => drop(Lock::open_path(&path, 0o600).unwrap()),
                Seed::FairLock => drop(
                    Lock::options()
                        .fair(true)
                        .mode(0o600)
                        .open_path(&path)
                        .unwrap(),
                ),
                Seed::RLock => drop(RLock::open_path(&path, 0o600).unwrap()),
                Seed::Table => drop(LockTable::open_path(&path, 0o600, 4).unwrap()),
                Seed::Semaphore => drop(Semaphore::open_path(&path, 0o600, 2).unwrap()),
                Seed::Event => drop(Event::open_path(&path, 0o600).unwrap()),
                Seed::Barrier => drop(Barrier::open_path(&path, 0o600, 1).unwrap()),
                Seed::Condition => {
                    let mutex = Lock::open_path(fx.mutex(), 0o600).unwrap();
                    drop(Condition::open_path(&path, 0o600, &mutex).unwrap());
                }
                Seed::RwLock => drop(RwLock::open_path(&path, 0o600).unwrap()),
                Seed::Value => drop(Value::<u64>::open_path(&path, 0o600, 7).unwrap()),
                Seed::Text => std::fs::write(&path, b"victim's content 42\n").unwrap(),
                Seed::Slots => {
                    let file = SharedFile::open(&path).unwrap().format(Format::Slots);
                    file.update(|_| Ok::<_, Infallible>(b"victim's slots".to_vec()))
                        .unwrap();
                }
            }
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        }
        let inner = fx.victim_dir();
        std::fs::DirBuilder::new().create(&inner).unwrap();
        std::fs::set_permissions(&inner, std::fs::Permissions::from_mode(0o700)).unwrap();
        std::fs::write(inner.join("inside.txt"), b"the victim's private file\n").unwrap();
        fx
    }

    fn seed(&self, seed: Seed) -> PathBuf {
        self.dir.join(format!("seed-{seed:?}").to_lowercase())
    }

    fn mutex(&self) -> PathBuf {
        self.dir.join("condition-mutex.lock")
    }

    fn victim_dir(&self) -> PathBuf {
        self.dir.join("private-dir")
    }
}

/// Plants `plant` at `at` for a call of `op` (as root, then handed to the second user where
/// the plant is theirs: the same inode a `setpriv` shell would have made, without a process
/// per cell; block 2 acts as that user for real).
fn plant(plant: Plant, at: &Path, op: Opener, fx: &Fixtures, user: hostile::User) {
    let theirs = |path: &Path| lchown(path, Some(user.uid), Some(user.gid)).unwrap();
    let copy = |seed: Seed, mode: u32| {
        std::fs::copy(fx.seed(seed), at).unwrap();
        std::fs::set_permissions(at, std::fs::Permissions::from_mode(mode)).unwrap();
    };
    match plant {
        Plant::SymlinkToFile => {
            symlink(fx.seed(op.seed()), at).unwrap();
            theirs(at);
        }
        Plant::SymlinkToDir => {
            symlink(fx.victim_dir(), at).unwrap();
            theirs(at);
        }
        Plant::Fifo => {
            rustix::fs::mknodat(
                rustix::fs::CWD,
                at,
                rustix::fs::FileType::Fifo,
                rustix::fs::Mode::from_raw_mode(0o666),
                0,
            )
            .unwrap();
            theirs(at);
        }
        Plant::Directory => {
            std::fs::DirBuilder::new().create(at).unwrap();
            std::fs::set_permissions(at, std::fs::Permissions::from_mode(0o755)).unwrap();
            theirs(at);
        }
        Plant::ForeignOwned => {
            copy(op.seed(), 0o644);
            theirs(at);
        }
        Plant::Open0666 => copy(op.seed(), 0o666),
        Plant::Empty => {
            std::fs::write(at, b"").unwrap();
            std::fs::set_permissions(at, std::fs::Permissions::from_mode(0o600)).unwrap();
        }
        Plant::Truncated => {
            let bytes = std::fs::read(fx.seed(op.seed())).unwrap();
            std::fs::write(at, &bytes[..100.min(bytes.len())]).unwrap();
            std::fs::set_permissions(at, std::fs::Permissions::from_mode(0o600)).unwrap();
        }
        Plant::OtherKind => copy(op.other_seed(), 0o600),
    }
}

// ---------------------------------------------------------------------------------------------
// Snapshots: type, content, mode, owner, inode
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    kind: &'static str,
    mode: u32,
    uid: u32,
    gid: u32,
    ino: u64,
    /// A regular file's bytes, a symlink's target.
    content: Vec<u8>,
}

/// Every entry under each of `roots` (not following symlinks), by path.
fn snapshot(roots: &[&Path]) -> BTreeMap<PathBuf, Entry> {
    let mut out = BTreeMap::new();
    let mut todo: Vec<PathBuf> = roots.iter().map(|p| p.to_path_buf()).collect();
    while let Some(path) = todo.pop() {
        let Ok(meta) = std::fs::symlink_metadata(&path) else {
            continue;
        };
        let ft = meta.file_type();
        let (kind, content) = if ft.is_symlink() {
            let target = std::fs::read_link(&path).unwrap();
            ("symlink", target.into_os_string().into_encoded_bytes())
        } else if ft.is_dir() {
            for e in std::fs::read_dir(&path).unwrap() {
                todo.push(e.unwrap().path());
            }
            ("dir", Vec::new())
        } else if ft.is_file() {
            let mut bytes = Vec::new();
            std::fs::File::open(&path)
                .unwrap()
                .read_to_end(&mut bytes)
                .unwrap();
            ("file", bytes)
        } else {
            ("other", Vec::new())
        };
        out.insert(
            path,
            Entry {
                kind,
                mode: meta.mode() & 0o7777,
                uid: meta.uid(),
                gid: meta.gid(),
                ino: meta.ino(),
                content,
            },
        );
    }
    out
}

/// What changed between two snapshots, apart from what a documented success may change: the
/// content (and, for a rename-based commit, the inode) of the files `allowed` — or the files
/// themselves, for a call that `removes` —, and the files the call creates (`created`, which
/// may appear).
fn changes(
    before: &BTreeMap<PathBuf, Entry>,
    after: &BTreeMap<PathBuf, Entry>,
    allowed: &[&Path],
    removes: bool,
    created: &[PathBuf],
) -> Vec<String> {
    let mut out = Vec::new();
    for (path, was) in before {
        match after.get(path) {
            None if allowed.contains(&path.as_path()) && removes => {}
            None => out.push(format!("{} was removed", path.display())),
            Some(now) if now == was => {}
            Some(now) if allowed.contains(&path.as_path()) => {
                if (now.kind, now.mode, now.uid, now.gid) != (was.kind, was.mode, was.uid, was.gid)
                {
                    out.push(format!(
                        "{}: {} {:o} {}:{} became {} {:o} {}:{}",
                        path.display(),
                        was.kind,
                        was.mode,
                        was.uid,
                        was.gid,
                        now.kind,
                        now.mode,
                        now.uid,
                        now.gid
                    ));
                }
            }
            Some(now) => out.push(format!(
                "{} changed: {}",
                path.display(),
                describe_change(was, now)
            )),
        }
    }
    for path in after.keys() {
        if !before.contains_key(path) && !created.contains(path) {
            out.push(format!("{} appeared", path.display()));
        }
    }
    out
}

fn describe_change(was: &Entry, now: &Entry) -> String {
    let mut parts = Vec::new();
    if was.kind != now.kind {
        parts.push(format!("type {} -> {}", was.kind, now.kind));
    }
    if was.mode != now.mode {
        parts.push(format!("mode {:o} -> {:o}", was.mode, now.mode));
    }
    if (was.uid, was.gid) != (now.uid, now.gid) {
        parts.push(format!(
            "owner {}:{} -> {}:{}",
            was.uid, was.gid, now.uid, now.gid
        ));
    }
    if was.ino != now.ino {
        parts.push(format!("inode {} -> {}", was.ino, now.ino));
    }
    if was.content != now.content {
        parts.push(format!(
            "content {} bytes -> {} bytes",
            was.content.len(),
            now.content.len()
        ));
    }
    parts.join(", ")
}

// ---------------------------------------------------------------------------------------------
// Running one cell
// ---------------------------------------------------------------------------------------------

/// How a call ended, as a child reports it on one line.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Ended {
    Ok,
    /// A typed error: its short label, whether its message names the path, the message.
    Typed {
        label: String,
        names_path: bool,
        message: String,
    },
    /// An error that is not an `interlock::Error` (an `io::Error` from a write, say).
    Untyped(String),
    /// The child died: a panic, a signal, the alarm (a hang).
    Died(String),
}

impl Ended {
    fn encode(&self) -> String {
        let clean = |s: &str| s.replace(['\n', '\t'], " ");
        match self {
            Ended::Ok => "ok".into(),
            Ended::Typed {
                label,
                names_path,
                message,
            } => format!("typed\t{label}\t{names_path}\t{}", clean(message)),
            Ended::Untyped(m) => format!("untyped\t{}", clean(m)),
            Ended::Died(m) => format!("died\t{}", clean(m)),
        }
    }

    fn decode(line: &str) -> Ended {
        let mut parts = line.split('\t');
        match parts.next() {
            Some("ok") => Ended::Ok,
            Some("typed") => Ended::Typed {
                label: parts.next().unwrap_or("?").into(),
                names_path: parts.next() == Some("true"),
                message: parts.next().unwrap_or("").into(),
            },
            Some("untyped") => Ended::Untyped(parts.next().unwrap_or("").into()),
            _ => Ended::Died(format!("unreadable report {line:?}")),
        }
    }
}

/// A short label for an error: its variant, and the fault's for segment and namespace faults.
fn error_label(e: &Error) -> String {
    let first_word = |s: String| -> String {
        s.chars()
            .take_while(|c| c.is_ascii_alphanumeric())
            .collect()
    };
    match e {
        Error::BadSegment { fault, .. } => {
            format!("BadSegment/{}", first_word(format!("{fault:?}")))
        }
        Error::UnusableNamespace { fault, .. } => {
            format!("UnusableNamespace/{}", first_word(format!("{fault:?}")))
        }
        Error::Io { error, .. } => format!("Io/{:?}", error.kind()),
        other => first_word(format!("{other:?}")),
    }
}

fn ended(result: Result<(), Failure>, shown: &Path) -> Ended {
    ended_naming(result, &[shown])
}

/// [`ended`], where naming any of `shown` is naming the path (a file, or the directory that
/// refused the way to it).
fn ended_naming(result: Result<(), Failure>, shown: &[&Path]) -> Ended {
    match result {
        Ok(()) => Ended::Ok,
        Err(Failure::Typed(e)) => {
            let message = e.to_string();
            Ended::Typed {
                label: error_label(&e),
                names_path: shown
                    .iter()
                    .any(|p| message.contains(&p.display().to_string())),
                message,
            }
        }
        Err(Failure::Untyped(m)) => Ended::Untyped(m),
    }
}

enum Failure {
    Typed(Error),
    Untyped(String),
}

impl From<Error> for Failure {
    fn from(e: Error) -> Failure {
        Failure::Typed(e)
    }
}

/// The call of `op` at `path`, then one use of what it returned (take and release, update,
/// write a line): what a program does with it.
fn exercise(op: Opener, path: &Path, fx: &Fixtures) -> Result<(), Failure> {
    let update = |file: SharedFile| -> Result<(), Failure> {
        file.update(|_| Ok::<_, Infallible>(b"the victim's update".to_vec()))?;
        Ok(())
    };
    match op {
        Opener::Lock => drop(Lock::open_path(path, 0o600)?.lock()?),
        Opener::FairLock => drop(
            Lock::options()
                .fair(true)
                .mode(0o600)
                .open_path(path)?
                .lock()?,
        ),
        Opener::RLock => drop(RLock::open_path(path, 0o600)?.lock()?),
        Opener::Table => {
            let table = LockTable::open_path(path, 0o600, 4)?;
            drop(table.get(3).expect("4 rows").lock()?);
        }
        Opener::Semaphore => drop(Semaphore::open_path(path, 0o600, 2)?.acquire()?),
        Opener::Event => {
            let event = Event::open_path(path, 0o600)?;
            event.set();
            event.clear();
        }
        Opener::Barrier => drop(Barrier::open_path(path, 0o600, 1)?.wait()?),
        Opener::Condition => {
            let mutex = Lock::open_path(fx.mutex(), 0o600)?;
            let cond = Condition::open_path(path, 0o600, &mutex)?;
            let guard = mutex.lock()?;
            cond.notify_all();
            drop(guard);
        }
        Opener::RwLock => drop(RwLock::open_path(path, 0o600)?.write()?),
        Opener::Value => {
            Value::<u64>::open_path(path, 0o600, 0)?.update(|n| *n += 1)?;
        }
        Opener::FileLock => drop(FileLock::open(path, 0o600)?.lock()?),
        Opener::PathStatus => drop(interlock::path::status(path)?),
        Opener::PathRemove => drop(interlock::path::remove_unheld(path)?),
        Opener::PlainFile | Opener::PlainFileLock => update(SharedFile::open(path)?)?,
        Opener::SlotsFile | Opener::SlotsFileLock => {
            update(SharedFile::open(path)?.format(Format::Slots))?
        }
        Opener::LogWriter => {
            let mut log = LogWriter::append(Lock::new()?, path)?;
            log.write_line("the victim's log line")
                .map_err(|e| Failure::Untyped(format!("write_line: {e}")))?;
        }
        Opener::NsOpen | Opener::NsDir => drop(Lock::open(NS_NAME)?.lock()?),
        Opener::NsRemove => interlock::namespace::remove(NS_NAME)?,
    }
    Ok(())
}

/// Arms an alarm: a hung call ends its process with SIGALRM instead of hanging the test.
fn arm_alarm() {
    // SAFETY: alarm has no preconditions; SIGALRM's default action ends the process.
    unsafe { libc::alarm(CELL_SECONDS) };
}

/// Runs `op` at `path` in a forked child; how it ended.
fn run_forked(op: Opener, cell: &Path, fx: &Fixtures) -> Ended {
    let (read, write) = common::pipe();
    let path = op.call_path(cell);
    let shown = op.plant_path(cell);
    let mut child = common::fork(move || {
        arm_alarm();
        let line = ended(exercise(op, &path, fx), &shown).encode();
        std::io::Write::write_all(&mut &write, format!("{line}\n").as_bytes()).unwrap();
    });
    let status = child.wait();
    let mut report = String::new();
    let _ = (&read).read_to_string(&mut report);
    if status != 0 {
        return Ended::Died(format!(
            "{}{}",
            common::describe_status(status),
            if libc::WIFSIGNALED(status) && libc::WTERMSIG(status) == libc::SIGALRM {
                format!(" (a hang: no answer within {CELL_SECONDS} s)")
            } else {
                format!(": {}", child.report())
            }
        ));
    }
    Ended::decode(report.trim_end())
}

const NS_ROLE: &str = "matrix-namespace";

/// Runs a namespace row in this binary re-run with `INTERLOCK_DIR` set (the variable is
/// process-wide: a fork of a multi-threaded test could not set it safely).
fn run_in_namespace(op: Opener, cell: &Path) -> Ended {
    let mut cmd = role_command(NS_ROLE);
    cmd.env("INTERLOCK_DIR", cell.join("ns"))
        .env("MATRIX_OP", format!("{op:?}"))
        .env("MATRIX_SHOWN", op.plant_path(cell))
        .stdin(Stdio::null());
    let out = cmd.output().expect("run the namespace role");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let report = stdout
        .lines()
        .find_map(|l| l.strip_prefix("<<interlock-test:")?.strip_suffix(">>"));
    match (out.status.success(), report) {
        (true, Some(line)) => Ended::decode(line),
        _ => {
            use std::os::unix::process::ExitStatusExt;
            let hang = out.status.signal() == Some(libc::SIGALRM);
            Ended::Died(format!(
                "{}{}: {}",
                out.status,
                if hang { " (a hang)" } else { "" },
                String::from_utf8_lossy(&out.stderr)
                    .lines()
                    .rev()
                    .take(3)
                    .collect::<Vec<_>>()
                    .join(" | ")
            ))
        }
    }
}

/// The namespace role's side: one call, its ending told to the parent.
fn namespace_role() {
    arm_alarm();
    let op = OPENERS
        .into_iter()
        .find(|op| format!("{op:?}") == std::env::var("MATRIX_OP").unwrap())
        .expect("a namespace row");
    let shown = PathBuf::from(std::env::var_os("MATRIX_SHOWN").unwrap());
    // The namespace rows use no fixture; the directory is never created.
    let fx = Fixtures {
        dir: PathBuf::from("/nonexistent"),
    };
    tell_parent(&ended(exercise(op, Path::new(""), &fx), &shown).encode());
}

/// One cell's verdict.
struct Cell {
    outcome: String,
    pass: bool,
    detail: String,
}

fn judge(op: Opener, plant: Plant, ended: &Ended, changed: &[String]) -> Cell {
    let doc = documented(op, plant);
    let (outcome, mut pass, mut detail) = match (ended, doc) {
        (Ended::Ok, Some(_)) => ("accepted*".to_owned(), true, String::new()),
        (Ended::Ok, None) => (
            "ACCEPTED".to_owned(),
            false,
            "succeeded where it must be refused".to_owned(),
        ),
        (
            Ended::Typed {
                label,
                names_path,
                message,
            },
            None,
        ) => (
            label.clone(),
            *names_path,
            if *names_path {
                String::new()
            } else {
                format!("the error does not name the path: {message}")
            },
        ),
        (Ended::Typed { label, message, .. }, Some(_)) => (
            format!("{label}!"),
            false,
            format!("refused where the design accepts it: {message}"),
        ),
        (Ended::Untyped(m), _) => ("UNTYPED".to_owned(), false, m.clone()),
        (Ended::Died(m), _) => (
            if m.contains("hang") { "HANG" } else { "DIED" }.to_owned(),
            false,
            m.clone(),
        ),
    };
    if !changed.is_empty() {
        pass = false;
        detail = format!("{detail} victim's files changed: {}", changed.join("; "));
    }
    Cell {
        outcome: if changed.is_empty() {
            outcome
        } else {
            format!("{outcome}+CHANGED")
        },
        pass,
        detail,
    }
}

/// The file system type of `dir`, for the table.
fn fs_name(dir: &Path) -> &'static str {
    let st = rustix::fs::statfs(dir).expect("statfs");
    match st.f_type as i64 {
        libc::TMPFS_MAGIC => "tmpfs",
        libc::EXT4_SUPER_MAGIC => "ext4",
        libc::OVERLAYFS_SUPER_MAGIC => "overlayfs",
        libc::BTRFS_SUPER_MAGIC => "btrfs",
        libc::XFS_SUPER_MAGIC => "xfs",
        _ => "other",
    }
}

#[test]
fn planted_things_at_every_path_interlock_opens() {
    if role().as_deref() == Some(NS_ROLE) {
        namespace_role();
        return;
    }
    if !have_root("plants files of a second user and is the victim") {
        return;
    }
    // FileLock keeps the record of a file that is not a lock file in the namespace: the test's.
    common::shared_namespace();
    let user = hostile::user();
    let mut table = String::new();
    let mut failures = Vec::new();
    let (mut tried, mut passed) = (0, 0);
    for (label, sticky) in hostile::sticky_dirs() {
        let fs = fs_name(sticky.path());
        let fx = Fixtures::make(sticky.path().join("fixtures"));
        let mut grid: Vec<(String, Vec<String>)> = Vec::new();
        for (n, op) in OPENERS.into_iter().enumerate() {
            let mut row = Vec::new();
            for (m, thing) in PLANTS.into_iter().enumerate() {
                // A fresh cell, sticky and world-writable like /tmp; the namespace rows get a
                // private namespace directory in it.
                let cell = sticky.path().join(format!("cell-{n}-{m}"));
                std::fs::DirBuilder::new().create(&cell).unwrap();
                std::fs::set_permissions(&cell, std::fs::Permissions::from_mode(0o1777)).unwrap();
                if matches!(op, Opener::NsOpen | Opener::NsRemove) {
                    std::fs::DirBuilder::new().create(cell.join("ns")).unwrap();
                    std::fs::set_permissions(
                        cell.join("ns"),
                        std::fs::Permissions::from_mode(0o700),
                    )
                    .unwrap();
                }
                let at = op.plant_path(&cell);
                plant(thing, &at, op, &fx, user);
                let roots = [cell.as_path(), fx.dir.as_path()];
                let before = snapshot(&roots);
                let end = if op.in_namespace() {
                    run_in_namespace(op, &cell)
                } else {
                    run_forked(op, &cell, &fx)
                };
                let after = snapshot(&roots);
                // A documented success may change the file it uses (not its owner or mode),
                // and a SharedFile creates its lock file beside the file.
                let doc = documented(op, thing).is_some() && end == Ended::Ok;
                let created: Vec<PathBuf> = match op {
                    Opener::PlainFile
                    | Opener::SlotsFile
                    | Opener::PlainFileLock
                    | Opener::SlotsFileLock => vec![cell.join("data.lock"), cell.join("data")],
                    _ => Vec::new(),
                };
                // The mutex a condition is bound to is the victim's own, used by the call.
                let mutex = fx.mutex();
                let mut allowed: Vec<&Path> = Vec::new();
                if doc {
                    allowed.push(&at);
                    if op == Opener::Condition {
                        allowed.push(&mutex);
                    }
                }
                let changed = changes(
                    &before,
                    &after,
                    &allowed,
                    matches!(op, Opener::NsRemove | Opener::PathRemove),
                    &created,
                );
                let verdict = judge(op, thing, &end, &changed);
                tried += 1;
                if verdict.pass {
                    passed += 1;
                } else {
                    failures.push(format!(
                        "[{label} {fs}] {} × {}: {} — {}",
                        op.label(),
                        thing.label(),
                        verdict.outcome,
                        verdict.detail
                    ));
                }
                row.push(verdict.outcome);
            }
            grid.push((op.label().to_owned(), row));
        }
        let plants: Vec<&str> = PLANTS.iter().map(|p| p.label()).collect();
        write_grid(
            &mut table,
            &format!("{label} ({fs}): what each call did with the thing planted at its path"),
            "path \\ planted",
            &plants,
            &grid,
        );
    }
    let _ = writeln!(table, "\n* accepted by design:");
    let mut reasons: Vec<&str> = OPENERS
        .iter()
        .flat_map(|&op| PLANTS.iter().filter_map(move |&p| documented(op, p)))
        .collect();
    reasons.sort();
    reasons.dedup();
    for reason in reasons {
        let _ = writeln!(table, "  - {reason}");
    }
    let _ = writeln!(
        table,
        "\nhostile matrix: {tried} cells tried, {passed} passing, {} failing",
        tried - passed
    );
    println!("{table}");
    assert!(
        failures.is_empty(),
        "{} of {tried} cells failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// A text table (Markdown): `corner` and `headers` on top, a row per `rows` entry.
fn write_grid(
    out: &mut String,
    title: &str,
    corner: &str,
    headers: &[&str],
    rows: &[(String, Vec<String>)],
) {
    let first = rows
        .iter()
        .map(|(label, _)| label.len())
        .chain([corner.len()])
        .max()
        .unwrap_or(0);
    let widths: Vec<usize> = headers
        .iter()
        .enumerate()
        .map(|(i, h)| {
            rows.iter()
                .map(|(_, row)| row[i].len())
                .chain([h.len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let _ = writeln!(out, "\n{title}");
    let _ = write!(out, "| {corner:first$} |");
    for (h, w) in headers.iter().zip(&widths) {
        let _ = write!(out, " {h:w$} |");
    }
    let _ = write!(out, "\n|{}|", "-".repeat(first + 2));
    for w in &widths {
        let _ = write!(out, "{}|", "-".repeat(w + 2));
    }
    for (label, row) in rows {
        let _ = write!(out, "\n| {label:first$} |");
        for (cell, w) in row.iter().zip(&widths) {
            let _ = write!(out, " {cell:w$} |");
        }
    }
    let _ = writeln!(out);
}

// ---------------------------------------------------------------------------------------------
// Block 2: the second user against the victim's things
// ---------------------------------------------------------------------------------------------

const HOSTILE_ROLE: &str = "matrix-hostile";

/// A thing of the victim's the second user goes for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Target {
    /// The victim's private namespace directory (0700), as `Lock::open` makes it.
    NsDir,
    /// A named `Lock` in it (`NAME.lock`, 0600), held by the victim.
    NamedLock,
    /// A named `RwLock` in it, write-held.
    NamedRwLock,
    /// A named `Semaphore` (2 permits) in it, one permit held.
    NamedSemaphore,
    /// A named `Value<u64>` in it.
    NamedValue,
    /// A lock file by path (0600) in the sticky directory itself, held.
    PathLock,
    /// A `LockTable` file (0600) in the sticky directory, row 0 held.
    Table,
    /// A private `SharedFile` (plain) in the sticky directory, mid-update.
    PlainFile,
    /// Its lock file.
    PlainFileLock,
    /// A private `SharedFile` (slots) in the sticky directory.
    SlotsFile,
    /// Its lock file.
    SlotsFileLock,
}

const TARGETS: [Target; 11] = [
    Target::NsDir,
    Target::NamedLock,
    Target::NamedRwLock,
    Target::NamedSemaphore,
    Target::NamedValue,
    Target::PathLock,
    Target::Table,
    Target::PlainFile,
    Target::PlainFileLock,
    Target::SlotsFile,
    Target::SlotsFileLock,
];

impl Target {
    fn path(self, base: &Path) -> PathBuf {
        let ns = base.join("victim-ns");
        match self {
            Target::NsDir => ns,
            Target::NamedLock => ns.join("named.lock"),
            Target::NamedRwLock => ns.join("rw.lock"),
            Target::NamedSemaphore => ns.join("sem.lock"),
            Target::NamedValue => ns.join("value.lock"),
            Target::PathLock => base.join("victim-path.lock"),
            Target::Table => base.join("victim-table.lock"),
            Target::PlainFile => base.join("victim-plain"),
            Target::PlainFileLock => base.join("victim-plain.lock"),
            Target::SlotsFile => base.join("victim-slots"),
            Target::SlotsFileLock => base.join("victim-slots.lock"),
        }
    }

    fn label(self) -> &'static str {
        match self {
            Target::NsDir => "namespace directory (0700)",
            Target::NamedLock => "named Lock (held)",
            Target::NamedRwLock => "named RwLock (write-held)",
            Target::NamedSemaphore => "named Semaphore (a permit held)",
            Target::NamedValue => "named Value",
            Target::PathLock => "Lock by path (held)",
            Target::Table => "LockTable (row held)",
            Target::PlainFile => "SharedFile plain (mid-update)",
            Target::PlainFileLock => "  its lock file",
            Target::SlotsFile => "SharedFile slots",
            Target::SlotsFileLock => "  its lock file",
        }
    }
}

/// What the second user tries, each as a shell command line on `P` (a file) or `D` (the
/// directory): open and hold (interlock's own calls, in this binary run as that user) and the
/// shell's read, truncate, write-fill, unlink, rename and chmod.
const ACTIONS: [(&str, &str, &str); 7] = [
    ("open+hold", "", ""),
    (
        "read",
        "cat -- \"$P\" >/dev/null",
        "ls -- \"$D\" >/dev/null",
    ),
    (
        "truncate",
        "truncate -s 0 -- \"$P\"",
        "touch -- \"$D/planted.lock\"",
    ),
    (
        "write-fill",
        "dd if=/dev/zero of=\"$P\" bs=4096 count=64 conv=notrunc status=none",
        "dd if=/dev/zero of=\"$D/filler\" bs=4096 count=64 status=none",
    ),
    ("unlink", "rm -f -- \"$P\"", "rm -rf -- \"$D\""),
    (
        "rename",
        "mv -f -- \"$P\" \"$P.moved\"",
        "mv -f -- \"$D\" \"$D.moved\"",
    ),
    ("chmod", "chmod 666 -- \"$P\"", "chmod 777 -- \"$D\""),
];

/// The second user's interlock calls on every target (the role's side): each one's ending.
fn hostile_role() {
    arm_alarm();
    let base = PathBuf::from(std::env::var_os("MATRIX_BASE").unwrap());
    for target in TARGETS {
        let path = target.path(&base);
        let result: Result<(), Failure> = (|| {
            match target {
                // INTERLOCK_DIR is the victim's directory (set by the parent).
                Target::NsDir => {
                    drop(Lock::open("named")?.lock()?);
                    interlock::namespace::remove("named")?;
                }
                Target::NamedLock | Target::PathLock => {
                    drop(Lock::open_path(&path, 0o666)?.try_lock()?)
                }
                Target::NamedRwLock => drop(RwLock::open_path(&path, 0o666)?.try_write()?),
                Target::NamedSemaphore => {
                    drop(Semaphore::open_path(&path, 0o666, 2)?.try_acquire()?)
                }
                Target::NamedValue => {
                    Value::<u64>::open_path(&path, 0o666, 0)?.set(666)?;
                }
                Target::Table => drop(
                    LockTable::open_path(&path, 0o666, 8)?
                        .get(0)
                        .unwrap()
                        .try_lock()?,
                ),
                Target::PlainFile | Target::PlainFileLock => {
                    let p = base.join("victim-plain");
                    SharedFile::open_shared(&p, 0o666)?
                        .update(|_| Ok::<_, Infallible>(b"666".to_vec()))?;
                }
                Target::SlotsFile | Target::SlotsFileLock => {
                    let p = base.join("victim-slots");
                    SharedFile::open_shared(&p, 0o666)?
                        .format(Format::Slots)
                        .update(|_| Ok::<_, Infallible>(b"666".to_vec()))?;
                }
            }
            Ok(())
        })();
        let shown = match target {
            Target::PlainFile | Target::PlainFileLock => base.join("victim-plain.lock"),
            Target::SlotsFile | Target::SlotsFileLock => base.join("victim-slots.lock"),
            _ => path,
        };
        // Into the victim's 0700 namespace, the directory is what refuses the way.
        let dir = shown.parent().unwrap().to_owned();
        tell_parent(&format!(
            "{target:?}\t{}",
            ended_naming(result, &[&shown, &dir]).encode()
        ));
    }
}

#[test]
fn a_second_user_cannot_touch_the_victims_locks_directories_and_files() {
    if role().as_deref() == Some(HOSTILE_ROLE) {
        hostile_role();
        return;
    }
    if !have_root("runs a second user against root's files") {
        return;
    }
    let user = hostile::user();
    let mut table = String::new();
    let mut failures = Vec::new();
    let (mut tried, mut passed) = (0, 0);
    for (label, sticky) in hostile::sticky_dirs() {
        let base = sticky.path();
        let fs = fs_name(base);
        // The victim's things, made in a child with the umask a careful user has (077): what
        // the victim creates is then private, whatever interlock's defaults.
        let made = common::fork(|| {
            // SAFETY: umask has no preconditions; this child is single-threaded.
            unsafe { libc::umask(0o077) };
            let ns = Target::NsDir.path(base);
            std::fs::DirBuilder::new().create(&ns).unwrap();
            std::fs::set_permissions(&ns, std::fs::Permissions::from_mode(0o700)).unwrap();
            drop(Lock::open_path(Target::NamedLock.path(base), 0o600).unwrap());
            drop(RwLock::open_path(Target::NamedRwLock.path(base), 0o600).unwrap());
            drop(Semaphore::open_path(Target::NamedSemaphore.path(base), 0o600, 2).unwrap());
            drop(Value::<u64>::open_path(Target::NamedValue.path(base), 0o600, 41).unwrap());
            drop(Lock::open_path(Target::PathLock.path(base), 0o600).unwrap());
            drop(LockTable::open_path(Target::Table.path(base), 0o600, 8).unwrap());
            SharedFile::open(Target::PlainFile.path(base))
                .unwrap()
                .update(|_| Ok::<_, Infallible>(b"1".to_vec()))
                .unwrap();
            SharedFile::open(Target::SlotsFile.path(base))
                .unwrap()
                .format(Format::Slots)
                .update(|_| Ok::<_, Infallible>(b"2".to_vec()))
                .unwrap();
        });
        made.join();
        // The victim holds what can be held while the second user tries.
        let named = Lock::open_path(Target::NamedLock.path(base), 0o600).unwrap();
        let rw = RwLock::open_path(Target::NamedRwLock.path(base), 0o600).unwrap();
        let sem = Semaphore::open_path(Target::NamedSemaphore.path(base), 0o600, 2).unwrap();
        let path_lock = Lock::open_path(Target::PathLock.path(base), 0o600).unwrap();
        let rows = LockTable::open_path(Target::Table.path(base), 0o600, 8).unwrap();
        let plain = SharedFile::open(Target::PlainFile.path(base)).unwrap();
        let slots = SharedFile::open(Target::SlotsFile.path(base))
            .unwrap()
            .format(Format::Slots);
        let holds = (
            named.lock().unwrap(),
            rw.write().unwrap(),
            sem.acquire().unwrap(),
            path_lock.lock().unwrap(),
            rows.get(0).unwrap().lock().unwrap(),
        );
        let update = plain.begin().unwrap();
        let before = snapshot(&[base]);

        // The second user's interlock calls (one process, every target).
        let mut cmd = user.role_command(HOSTILE_ROLE);
        cmd.env("MATRIX_BASE", base)
            .env("INTERLOCK_DIR", Target::NsDir.path(base));
        let child = common::RoleChild::spawn(cmd);
        let mut opens = BTreeMap::new();
        for _ in TARGETS {
            let line = child.recv();
            let (target, end) = line.split_once('\t').unwrap();
            opens.insert(target.to_owned(), Ended::decode(end));
        }
        child.finish();
        // The shell's attempts: one shell, every target and action, each exit status printed.
        let mut script = String::new();
        for target in TARGETS {
            for (action, on_file, on_dir) in &ACTIONS[1..] {
                let (var, cmd) = if target == Target::NsDir {
                    ("D", on_dir)
                } else {
                    ("P", on_file)
                };
                let _ = writeln!(
                    script,
                    "{var}='{}'; if out=$( {{ {cmd}; }} 2>&1); then echo \"{target:?}|{action}|0|\"; \
                     else echo \"{target:?}|{action}|1|$(printf %s \"$out\" | head -n1)\"; fi",
                    target.path(base).display()
                );
            }
        }
        let out = user
            .command("sh")
            .args(["-c", &script])
            .stdin(Stdio::null())
            .output()
            .expect("run the second user's shell");
        let shell = String::from_utf8_lossy(&out.stdout).into_owned();
        let after = snapshot(&[base]);
        let changed = changes(&before, &after, &[], false, &[]);

        // The victim's holds are still its own, its content unchanged.
        assert!(named.is_held_by_current_thread() && path_lock.is_held_by_current_thread());
        assert_eq!(named.status().owner_deaths, 0);
        assert_eq!(update.content(), b"1");
        drop(update);
        drop(holds);
        assert_eq!(plain.read().unwrap(), b"1", "[{label}] plain content");
        assert_eq!(slots.read().unwrap(), b"2", "[{label}] slots content");
        let value = Value::<u64>::open_path(Target::NamedValue.path(base), 0o600, 0).unwrap();
        assert_eq!(value.get().unwrap(), 41, "[{label}] the value");
        drop(named.lock().unwrap());

        let mut grid: Vec<(String, Vec<String>)> = Vec::new();
        for target in TARGETS {
            let mut row = Vec::new();
            for (action, ..) in ACTIONS {
                let (outcome, pass, detail) = if action == "open+hold" {
                    match &opens[&format!("{target:?}")] {
                        Ended::Typed {
                            label: l,
                            names_path: true,
                            ..
                        } => (format!("refused: {l}"), true, String::new()),
                        other => ("NOT REFUSED".to_owned(), false, format!("{other:?}")),
                    }
                } else {
                    let key = format!("{target:?}|{action}|");
                    match shell.lines().find_map(|l| l.strip_prefix(&key)) {
                        Some(rest) if rest.starts_with('1') => {
                            let why = if rest.contains("Operation not permitted") {
                                "EPERM"
                            } else if rest.contains("Permission denied") {
                                "EACCES"
                            } else {
                                "failed"
                            };
                            (format!("denied: {why}"), true, String::new())
                        }
                        Some(_) => ("ALLOWED".to_owned(), false, "it succeeded".to_owned()),
                        None => (
                            "NOT RUN".to_owned(),
                            false,
                            format!(
                                "no result in the shell's output: {shell}{}",
                                String::from_utf8_lossy(&out.stderr)
                            ),
                        ),
                    }
                };
                tried += 1;
                if pass {
                    passed += 1;
                } else {
                    failures.push(format!(
                        "[{label} {fs}] {} × {action}: {outcome} — {detail}",
                        target.label()
                    ));
                }
                row.push(outcome);
            }
            grid.push((target.label().to_owned(), row));
        }
        let actions: Vec<&str> = ACTIONS.iter().map(|(a, ..)| *a).collect();
        write_grid(
            &mut table,
            &format!(
                "{label} ({fs}): the second user (uid {}) against root's things",
                user.uid
            ),
            "target \\ action",
            &actions,
            &grid,
        );
        if !changed.is_empty() {
            failures.push(format!(
                "[{label} {fs}] the victim's files changed: {}",
                changed.join("; ")
            ));
        }
    }
    let _ = writeln!(
        table,
        "\nsecond user: {tried} attempts, {passed} refused, {} allowed",
        tried - passed
    );
    println!("{table}");
    assert!(
        failures.is_empty(),
        "{} of {tried} attempts were not refused, or changed something:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
