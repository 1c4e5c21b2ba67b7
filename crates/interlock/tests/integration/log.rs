//! `LogWriter` between real processes: whole lines, never mixed, none lost.

use crate::common;

use std::collections::HashSet;
use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};

use common::{fork, pipe};
use interlock::{Lock, LogWriter};

/// The line process `p` writes as its `i`-th: recognisable, and checkable byte by byte.
fn line(p: usize, i: usize, len: usize) -> Vec<u8> {
    let head = format!("[P{p} L{i:05}] ");
    let mut line = head.into_bytes();
    let fill = b'a' + ((p * 7 + i) % 26) as u8;
    line.resize(len - 1, fill);
    line.push(b'\n');
    line
}

/// Every line is one of the expected ones, each appears exactly once, and nothing is left over.
fn check(out: &[u8], procs: usize, lines: usize, len: usize) {
    let mut seen = HashSet::new();
    for (n, got) in out.split_inclusive(|&b| b == b'\n').enumerate() {
        let text = String::from_utf8_lossy(&got[..got.len().min(40)]);
        let (p, i) = text
            .strip_prefix("[P")
            .and_then(|t| t.split_once(" L"))
            .and_then(|(p, rest)| Some((p.parse().ok()?, rest.get(..5)?.parse().ok()?)))
            .unwrap_or_else(|| panic!("line {n} is not a whole line: {text:?}…"));
        assert_eq!(
            got,
            line(p, i, len),
            "line {n} (P{p} L{i}) is damaged or mixed"
        );
        assert!(seen.insert((p, i)), "line P{p} L{i} appears twice");
    }
    assert_eq!(seen.len(), procs * lines, "lines lost");
}

/// The case: 8 processes × 1,000 lines of 200 bytes into one file, each line written in
/// four pieces (with yields between them for every eighth line). (An `O_APPEND` file keeps each single write whole by
/// itself, so this shows the buffering into whole lines; the pipe test below is the one that
/// fails without the lock — checked by removing it.)
#[test]
fn eight_processes_write_a_thousand_whole_lines_each() {
    const PROCS: usize = 8;
    const LINES: usize = 1000;
    const LEN: usize = 200;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.log");
    let log = LogWriter::append(Lock::new().unwrap(), &path).unwrap();
    let mut children: Vec<_> = (0..PROCS)
        .map(|p| {
            let log = &log;
            fork(move || {
                let mut log = log.clone();
                for i in 0..LINES {
                    for piece in line(p, i, LEN).chunks(LEN / 4) {
                        log.write_all(piece).unwrap();
                        // Not after every piece: beside CPU hogs each yield can cost a whole
                        // time slice, and 32,000 of them ran the test into its 30 s bound.
                        if i % 8 == 0 {
                            std::thread::yield_now();
                        }
                    }
                }
            })
        })
        .collect();
    for child in &mut children {
        assert_eq!(child.wait(), 0, "a writer failed");
    }
    check(&std::fs::read(&path).unwrap(), PROCS, LINES, LEN);
}

/// Where the lock is what keeps lines whole: lines of 96 KiB into a pipe. The kernel only keeps
/// pipe writes of up to PIPE_BUF (4 KiB) in one piece; larger ones from two writers interleave.
#[test]
fn lines_longer_than_pipe_buf_stay_whole_in_a_pipe() {
    const PROCS: usize = 4;
    const LINES: usize = 12;
    const LEN: usize = 96 * 1024;
    let (mut reader, writer) = pipe();
    let path = format!("/proc/self/fd/{}", writer.as_raw_fd());
    let log = LogWriter::append(Lock::new().unwrap(), &path).unwrap();
    drop(writer); // the LogWriter holds its own descriptor for the pipe
    let collector = std::thread::spawn(move || {
        let mut out = Vec::new();
        reader.read_to_end(&mut out).unwrap();
        out
    });
    let mut children: Vec<_> = (0..PROCS)
        .map(|p| {
            let log = &log;
            fork(move || {
                let mut log = log.clone();
                for i in 0..LINES {
                    log.write_all(&line(p, i, LEN)).unwrap();
                }
            })
        })
        .collect();
    for child in &mut children {
        assert_eq!(child.wait(), 0, "a writer failed");
    }
    drop(log); // the last write end: the collector sees end-of-file
    check(&collector.join().unwrap(), PROCS, LINES, LEN);
}

/// Forks `PROCS` processes that each emit `EVENTS` records through `emit(process, log)`, then
/// checks the file: every line starts with `prefix` and ends with the 150-byte `payload`
/// (nothing mixed or cut), and the words at `fields` (process, event) appear once per line.
fn records_arrive_whole(
    emit: impl Fn(usize, &LogWriter) + Sync,
    prefix: &str,
    payload: &str,
    fields: (usize, usize),
) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("records.log");
    let log = LogWriter::append(Lock::new().unwrap(), &path).unwrap();
    let mut children: Vec<_> = (0..PROCS)
        .map(|p| {
            let (log, emit) = (&log, &emit);
            fork(move || emit(p, log))
        })
        .collect();
    for child in &mut children {
        assert_eq!(
            child.wait(),
            0,
            "a logging process failed: {}",
            child.report()
        );
    }
    let text = std::fs::read_to_string(&path).unwrap();
    let mut seen = HashSet::new();
    for line in text.lines() {
        assert!(
            line.starts_with(prefix) && line.ends_with(payload),
            "mixed or damaged line: {line:?}"
        );
        let words: Vec<&str> = line.split_whitespace().collect();
        assert!(
            seen.insert((words[fields.0].to_owned(), words[fields.1].to_owned())),
            "duplicate line: {line:?}"
        );
    }
    assert_eq!(seen.len(), PROCS * EVENTS, "records lost");
}

const PROCS: usize = 4;
const EVENTS: usize = 500;

/// The tracing ecosystem: a `fmt` subscriber writing through `move || log.clone()` turns every
/// event into whole lines under the log lock, from several processes at once.
#[test]
fn tracing_events_from_several_processes_arrive_as_whole_lines() {
    let payload = "x".repeat(150);
    records_arrive_whole(
        |p, log| {
            let log = log.clone();
            let subscriber = tracing_subscriber::fmt()
                .with_writer(move || log.clone())
                .with_ansi(false)
                .without_time()
                .with_target(false)
                .finish();
            tracing::subscriber::with_default(subscriber, || {
                for i in 0..EVENTS {
                    tracing::info!(process = p, event = i, payload = %payload, "update");
                }
            });
        },
        " INFO update process=",
        &payload,
        (2, 3),
    );
}

/// The `log` ecosystem: `env_logger` writing into a `LogWriter` (`Target::Pipe`), from several
/// processes at once, each record a whole line.
#[test]
fn log_records_from_several_processes_arrive_as_whole_lines() {
    let payload = "y".repeat(150);
    records_arrive_whole(
        |p, log| {
            env_logger::Builder::new()
                .filter_level(log::LevelFilter::Info)
                .format_timestamp(None)
                .format_target(false)
                .target(env_logger::Target::Pipe(Box::new(log.clone())))
                .init();
            for i in 0..EVENTS {
                log::info!("process={p} record={i} payload={payload}");
            }
            log::logger().flush();
        },
        "[INFO ] process=",
        &payload,
        (2, 3),
    );
}

/// One `writeln!` of several lines is one record: its lines arrive together, never with
/// another process's lines between them (the multiprocessing example's "begin / counter is /
/// end" group).
#[test]
fn a_multi_line_writeln_stays_together() {
    use std::io::Write;
    const PROCS: usize = 4;
    const RECORDS: usize = 2000;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("groups.log");
    let log = LogWriter::append(Lock::new().unwrap(), &path).unwrap();
    let mut children: Vec<_> = (0..PROCS)
        .map(|p| {
            let log = &log;
            fork(move || {
                let mut log = log.clone();
                for i in 0..RECORDS {
                    writeln!(log, "[P{p}] begin {i}\n[P{p}]   middle {i}\n[P{p}] end {i}")
                        .expect("writeln");
                }
            })
        })
        .collect();
    for child in &mut children {
        assert_eq!(child.wait(), 0, "a writer failed: {}", child.report());
    }
    let text = std::fs::read_to_string(&path).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3 * PROCS * RECORDS, "lines lost");
    for group in lines.chunks(3) {
        let key = |l: &str| {
            let (who, rest) = l.split_once(']').expect("a tagged line");
            (
                who.to_owned(),
                rest.rsplit(' ').next().unwrap_or("").to_owned(),
            )
        };
        assert!(
            key(group[0]) == key(group[1]) && key(group[1]) == key(group[2]),
            "a record was split: {group:?}"
        );
    }
}

/// Sets this process's file-size limit (`RLIMIT_FSIZE`, soft): writes past it fail with EFBIG
/// (SIGXFSZ ignored), and one that crosses it is cut short at it.
fn limit_file_size(bytes: u64) {
    // SAFETY: setting a signal's disposition to SIG_IGN; no handler runs.
    unsafe { libc::signal(libc::SIGXFSZ, libc::SIG_IGN) };
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes only `limit`, a valid local.
    let rc = unsafe { libc::getrlimit(libc::RLIMIT_FSIZE, &mut limit) };
    assert_eq!(rc, 0);
    limit.rlim_cur = bytes.min(limit.rlim_max);
    // SAFETY: setrlimit reads only `limit`, a valid local.
    assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_FSIZE, &limit) }, 0);
}

/// Issue 11 item 9: a write that failed dropped the lines already split off the buffer (and a
/// failure part-way through them left their start written, so a retry wrote it again). With a
/// real failing descriptor — a file that reaches the process's file-size limit, part-way
/// through a line — every line arrives exactly once and whole, whichever call (`write`,
/// `write_line`, `flush`) meets the failure, when the caller retries exactly the calls that
/// returned an error.
#[test]
fn a_failed_write_loses_and_repeats_no_line() {
    const LINES: usize = 300;
    let record = |i: usize| format!("[line {i:04}] {}\n", "x".repeat(30 + i % 17));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("limited.log");
    let log = LogWriter::append(Lock::new().unwrap(), &path).unwrap();
    let report = fork(|| {
        let mut log = log.clone();
        let mut failures = 0;
        // Retries `call` until it succeeds, lifting the limit after a failure.
        let mut retry =
            |log: &mut LogWriter, call: &mut dyn FnMut(&mut LogWriter) -> std::io::Result<()>| {
                while let Err(e) = call(log) {
                    assert_eq!(e.raw_os_error(), Some(libc::EFBIG), "{e}");
                    failures += 1;
                    limit_file_size(u64::MAX);
                }
            };
        for i in 0..LINES {
            if i % 50 == 0 {
                // The next few lines cross the limit (part-way through one of them).
                let size = std::fs::metadata(&path).unwrap().len();
                limit_file_size(size + 70);
            }
            let text = record(i);
            if i % 3 == 0 {
                let line = text.trim_end_matches('\n');
                retry(&mut log, &mut |log| log.write_line(line));
            } else {
                // Two pieces: the first is only buffered, the second completes the line.
                let (a, b) = text.split_at(7);
                retry(&mut log, &mut |log| log.write_all(a.as_bytes()));
                retry(&mut log, &mut |log| log.write_all(b.as_bytes()));
            }
            if i % 50 == 49 {
                retry(&mut log, &mut |log| log.flush());
            }
        }
        assert!(
            failures >= 6,
            "only {failures} writes failed: the test tested little"
        );
    });
    report.join();
    drop(log);
    let want: String = (0..LINES).map(record).collect();
    let got = std::fs::read_to_string(&path).unwrap();
    if got != want {
        let at = got
            .bytes()
            .zip(want.bytes())
            .position(|(g, w)| g != w)
            .unwrap_or(got.len().min(want.len()));
        panic!(
            "the log differs from the lines written, from byte {at}:\n got: {:?}\nwant: {:?}",
            &got[at.saturating_sub(40)..(at + 80).min(got.len())],
            &want[at.saturating_sub(40)..(at + 80).min(want.len())]
        );
    }
}

/// Issue 18 (the hostile-file matrix): `LogWriter::append` used to open its path as `>>` does
/// even in a sticky directory everyone may write — following the second user's symlink (our
/// lines appended to a file of their choice), appending to their file or FIFO (every line
/// theirs to read), and blocking for ever on a FIFO nobody reads. Each is now refused at once,
/// naming the path, and nothing of the victim's changes. Our own file and symlink there, and
/// another user's file in a directory without the sticky bit (a group's log directory), are
/// appended to as before.
#[test]
fn append_refuses_what_another_user_planted_at_the_log_path() {
    if !common::have_root("plants files of a second user") {
        return;
    }
    let user = common::hostile::user();
    for (label, dir) in common::hostile::sticky_dirs() {
        let victim = dir.path().join("victim.txt");
        std::fs::write(&victim, b"the victim's file\n").unwrap();
        let their_link = dir.path().join("their-link.log");
        user.run(
            "ln",
            ["-s".as_ref(), victim.as_os_str(), their_link.as_os_str()],
        );
        let their_fifo = dir.path().join("their-fifo.log");
        user.run("mkfifo", [&their_fifo]);
        let their_file = dir.path().join("their-file.log");
        user.run("touch", [&their_file]);
        let our_fifo = dir.path().join("our-fifo.log");
        rustix::fs::mknodat(
            rustix::fs::CWD,
            &our_fifo,
            rustix::fs::FileType::Fifo,
            rustix::fs::Mode::from_raw_mode(0o600),
            0,
        )
        .unwrap();
        // A fork: a regression (a blocking open of a FIFO) ends as a timed-out child.
        let child = fork(|| {
            // Their FIFO, with a reader: still theirs.
            let _reader = std::fs::OpenOptions::new()
                .read(true)
                .custom_flags(libc::O_NONBLOCK)
                .open(&their_fifo)
                .unwrap();
            for (path, why) in [
                (&their_link, "symbolic link of uid"),
                (&their_fifo, "a FIFO of uid"),
                (&their_file, "a file of uid"),
            ] {
                match LogWriter::append(Lock::new().unwrap(), path) {
                    Err(interlock::Error::UnsafePath { path: p, reason }) => {
                        assert_eq!(&p, path);
                        assert!(
                            reason.contains(why),
                            "{label}: {}: {reason}",
                            path.display()
                        );
                    }
                    other => panic!("{label}: {} gave {:?}", path.display(), other.map(|_| ())),
                }
            }
            match LogWriter::append(Lock::new().unwrap(), &our_fifo) {
                Err(e @ interlock::Error::Io { .. }) => {
                    let shown = e.to_string();
                    assert!(
                        shown.contains("our-fifo.log") && shown.contains("no process reads"),
                        "{label}: {shown}"
                    );
                }
                other => panic!("{label}: a FIFO nobody reads gave {:?}", other.map(|_| ())),
            }
        });
        child.join();
        assert_eq!(std::fs::read(&victim).unwrap(), b"the victim's file\n");
        assert_eq!(std::fs::metadata(&their_file).unwrap().len(), 0, "{label}");

        let ours = dir.path().join("ours.log");
        let mut log = LogWriter::append(Lock::new().unwrap(), &ours).unwrap();
        log.write_line("ours").unwrap();
        drop(log);
        let our_link = dir.path().join("our-link.log");
        std::os::unix::fs::symlink(&ours, &our_link).unwrap();
        let mut log = LogWriter::append(Lock::new().unwrap(), &our_link).unwrap();
        log.write_line("through our link").unwrap();
        drop(log);
        assert_eq!(
            std::fs::read(&ours).unwrap(),
            b"ours\nthrough our link\n",
            "{label}"
        );
        // Without the sticky bit another user's file is a shared log, and used.
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
        let mut log = LogWriter::append(Lock::new().unwrap(), &their_file).unwrap();
        log.write_line("shared").unwrap();
        drop(log);
        assert_eq!(std::fs::read(&their_file).unwrap(), b"shared\n", "{label}");
    }
}
