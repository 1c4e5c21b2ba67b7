//! `interlock status` and `interlock list`.

use std::io::Write;
use std::path::PathBuf;

use interlock::namespace::NamedLock;
use interlock::{
    FlockEntry, Holder, LockStatus, PathStatus, RwLockStatus, RwPolicy, SemaphoreStatus, WaitEdge,
};
use serde::Serialize;

use crate::cli::{ListArgs, StatusArgs};
use crate::exit::Exit;

pub(crate) fn status(args: StatusArgs) -> anyhow::Result<Exit> {
    let report = match (&args.name, &args.path) {
        (Some(name), _) => Report::named(name)?,
        (None, Some(path)) => Report::path(interlock::path::status(path)?),
        (None, None) => return deadlocks(args.json),
    };
    let mut out = std::io::stdout().lock();
    if args.json {
        writeln!(out, "{}", serde_json::to_string_pretty(&report)?)?;
    } else {
        write_text(&mut out, &report)?;
    }
    Ok(Exit::Success)
}

/// One lock as `status --json` shows it — also each element of `list --json` and the "lock"
/// of `run --json` and `rm --json`: the library's status types (feature `serde`) with where
/// the lock is and who waits for it. The fields are listed in `status --help`.
#[derive(Debug, Serialize)]
pub(crate) struct Report {
    name: Option<String>,
    path: Option<PathBuf>,
    record: PathBuf,
    held: bool,
    #[serde(flatten)]
    status: LockStatus,
    file_locks: Vec<FlockEntry>,
    wait_for: Vec<WaitEdge>,
    /// Who is inside, for text: for a path, a flock(1) user counts.
    #[serde(skip)]
    inside: Option<Holder>,
    #[serde(skip)]
    sidecar: bool,
}

impl Report {
    /// The named lock `name` now.
    pub(crate) fn named(name: &str) -> anyhow::Result<Report> {
        let lock = interlock::namespace::status(name)?;
        let edges = edges_of(name, &interlock::deadlock::wait_graph()?);
        Report::of_named(lock, edges)
    }

    fn of_named(lock: NamedLock, wait_for: Vec<WaitEdge>) -> anyhow::Result<Report> {
        Ok(Report {
            record: interlock::namespace::dir()?.join(format!("{}.lock", lock.name)),
            name: Some(lock.name),
            path: None,
            held: lock.status.holder.is_some()
                || any_permit_held(&lock.status)
                || any_reader(&lock.status),
            inside: lock.status.holder.clone(),
            status: lock.status,
            file_locks: Vec::new(),
            wait_for,
            sidecar: false,
        })
    }

    /// The lock at a path, from its status.
    pub(crate) fn path(s: PathStatus) -> Report {
        Report {
            name: None,
            held: s.is_held() || any_permit_held(&s.status) || any_reader(&s.status),
            inside: s.holder(),
            path: Some(s.path),
            record: s.record,
            status: s.status,
            file_locks: s.file_locks,
            wait_for: s.wait_for,
            sidecar: s.sidecar,
        }
    }

    /// "lock \"name\"" or "lock at PATH"; "semaphore \"name\"" for a semaphore, "rwlock
    /// \"name\"" for a reader-writer lock.
    fn label(&self) -> String {
        let what = if self.status.semaphore.is_some() {
            "semaphore"
        } else if self.status.rwlock.is_some() {
            "rwlock"
        } else {
            "lock"
        };
        match (&self.name, &self.path) {
            (Some(name), _) => format!("{what} {name:?}"),
            (None, Some(path)) => format!("{what} at {}", path.display()),
            (None, None) => what.into(),
        }
    }

    /// The name, or the path, for the NAME column of `list`.
    fn shown(&self) -> String {
        match (&self.name, &self.path) {
            (Some(name), _) => name.clone(),
            (None, Some(path)) => path.display().to_string(),
            (None, None) => String::new(),
        }
    }
}

/// Whether a permit of a semaphore is held (`status` has no single holder for one).
fn any_permit_held(status: &LockStatus) -> bool {
    status
        .semaphore
        .as_ref()
        .is_some_and(|s| s.permits.iter().any(|p| p.holder.is_some()))
}

/// Whether a reader holds a reader-writer lock (`status` names its writer only).
fn any_reader(status: &LockStatus) -> bool {
    status
        .rwlock
        .as_ref()
        .is_some_and(|r| !r.readers.is_empty())
}

/// A permit's holder as a permit's line says it: `pid P tid T for 3.2s: `COMMAND``.
fn permit_holder(h: &Holder) -> String {
    let mut text = format!("pid {} tid {}", h.pid, h.tid);
    if let Some(since) = h.since {
        match std::time::SystemTime::now().duration_since(since) {
            Ok(held) => text += &format!(" for {:.1}s", held.as_secs_f64()),
            Err(_) => text += " since just now",
        }
    }
    if let Some(cmd) = &h.command {
        text += &format!(": `{cmd}`");
    }
    if let Some(group) = h.process_group {
        text += &format!(", running process group {group}");
    }
    if !h.alive {
        text += ", holder no longer running";
    }
    text
}

/// The registered waiters (past the deadlock timeout) on the named lock `name`.
fn edges_of(name: &str, graph: &[WaitEdge]) -> Vec<WaitEdge> {
    let quoted = format!("{name:?}");
    graph
        .iter()
        .filter(|e| e.waits_for == quoted)
        .cloned()
        .collect()
}

/// `status --deadlocks`: the cycles present now; exit 1 if there is one.
fn deadlocks(json: bool) -> anyhow::Result<Exit> {
    let cycles = interlock::deadlock::cycles()?;
    let mut out = std::io::stdout().lock();
    if json {
        // The library's shape (feature `serde`): {pid, tid, waits_for, held_by_tid}.
        writeln!(out, "{}", serde_json::to_string_pretty(&cycles)?)?;
    } else if cycles.is_empty() {
        writeln!(out, "no deadlock")?;
    } else {
        for cycle in &cycles {
            let text: Vec<String> = cycle
                .iter()
                .map(|m| {
                    format!(
                        "pid {} (tid {}) waits for {} held by tid {}",
                        m.pid, m.tid, m.waits_for, m.held_by
                    )
                })
                .collect();
            writeln!(out, "deadlock: {}", text.join(" -> "))?;
        }
    }
    Ok(if cycles.is_empty() {
        Exit::Success
    } else {
        Exit::Conflict
    })
}

pub(crate) fn list(args: ListArgs) -> anyhow::Result<Exit> {
    let graph = interlock::deadlock::wait_graph()?;
    let reports: Vec<Report> = if args.path.is_empty() {
        interlock::namespace::list()?
            .into_iter()
            .map(|lock| {
                let edges = edges_of(&lock.name, &graph);
                Report::of_named(lock, edges)
            })
            .collect::<anyhow::Result<_>>()?
    } else {
        args.path
            .iter()
            .map(|p| Ok(Report::path(interlock::path::status(p)?)))
            .collect::<anyhow::Result<_>>()?
    };
    let mut out = std::io::stdout().lock();
    if args.json {
        writeln!(out, "{}", serde_json::to_string_pretty(&reports)?)?;
        return Ok(Exit::Success);
    }
    writeln!(
        out,
        "{:<24} {:<9} {:<8} {:>8} {:>7} {:>6} {:>8}  HOLDER",
        "NAME", "KIND", "STATE", "ACQUIRED", "WAITERS", "DEATHS", "POISONED"
    )?;
    for r in &reports {
        let s = &r.status;
        let state = state_word(r);
        let holder = match (&r.inside, &s.semaphore) {
            (Some(h), _) => h.to_string(),
            // A reader-writer lock's readers, by pid.
            (None, None) if s.rwlock.is_some() => s
                .rwlock
                .iter()
                .flat_map(|rw| &rw.readers)
                .map(|r| format!("pid {} (reading)", r.holder.pid))
                .collect::<Vec<_>>()
                .join(", "),
            // A semaphore's holders, by pid.
            (None, Some(sem)) => sem
                .permits
                .iter()
                .filter_map(|p| p.holder.as_ref())
                .map(|h| format!("pid {}", h.pid))
                .collect::<Vec<_>>()
                .join(", "),
            (None, None) => String::new(),
        };
        writeln!(
            out,
            "{:<24} {:<9} {:<8} {:>8} {:>7} {:>6} {:>8}  {}",
            r.shown(),
            s.kind.to_string(),
            state,
            s.acquisitions,
            s.waiters,
            s.owner_deaths,
            if s.poisoned { "yes" } else { "no" },
            holder
        )?;
    }
    let edges: Vec<&WaitEdge> = if args.path.is_empty() {
        graph.iter().collect()
    } else {
        reports.iter().flat_map(|r| &r.wait_for).collect()
    };
    if !edges.is_empty() {
        writeln!(out, "\nwaiting past the deadlock timeout:")?;
        for e in edges {
            writeln!(
                out,
                "  pid {} (tid {}) waits for {} held by tid {}, for {} ms",
                e.pid,
                e.tid,
                e.waits_for,
                e.held_by,
                e.waited.as_millis()
            )?;
        }
    }
    Ok(Exit::Success)
}

/// The STATE column of `list`: held/free; an event's set/clear; a barrier's arrivals or
/// "broken"; a semaphore's permits held of its total ("2/3"); a condition's waiting/idle; a
/// reader-writer lock's "write" or how many read ("3 read").
fn state_word(r: &Report) -> String {
    if let Some(rw) = &r.status.rwlock {
        return match (&rw.writer, rw.readers.len()) {
            (Some(_), 0) => "write".into(),
            // A writer holding the lock against new readers while these leave.
            (Some(_), _) => "draining".into(),
            (None, 0) => "free".into(),
            (None, n) => format!("{n} read"),
        };
    }
    if let Some(sem) = &r.status.semaphore {
        return format!(
            "{}/{}",
            sem.permits.len() as u32 - sem.free,
            sem.permits.len()
        );
    }
    if let Some(e) = &r.status.event {
        return if e.set { "set" } else { "clear" }.into();
    }
    if let Some(b) = &r.status.barrier {
        return match b.broken {
            Some(_) => "broken".into(),
            None => format!("{}/{}", b.arrived, b.parties),
        };
    }
    // Issue 15: a condition: whether anyone is counted waiting (how many: WAITERS).
    if let Some(c) = &r.status.condition {
        return if c.waiters > 0 { "waiting" } else { "idle" }.into();
    }
    if r.held { "held" } else { "free" }.into()
}

fn write_text(out: &mut impl Write, r: &Report) -> std::io::Result<()> {
    let s = &r.status;
    writeln!(out, "{} ({})", r.label(), s.kind)?;
    // Issue 15: an event or a barrier has no holder: its own state instead.
    if let Some(e) = &s.event {
        let yes = |b: bool| if b { "yes" } else { "no" };
        writeln!(out, "  set:           {}", yes(e.set))?;
        writeln!(out, "  sets:          {}", e.sets)?;
        writeln!(
            out,
            "  waiters:       {}",
            if e.waiters { "maybe" } else { "none" }
        )?;
        return Ok(());
    }
    if let Some(b) = &s.barrier {
        writeln!(out, "  parties:       {}", b.parties)?;
        writeln!(out, "  arrived:       {}", b.arrived)?;
        writeln!(out, "  generation:    {}", b.generation)?;
        match (b.broken, b.dead_pid) {
            (Some(why), Some(pid)) => writeln!(out, "  broken:        yes: {why} (pid {pid})")?,
            (Some(why), None) => writeln!(out, "  broken:        yes: {why}")?,
            (None, _) => writeln!(out, "  broken:        no")?,
        }
        for pid in &b.waiting {
            writeln!(out, "  waiting:       pid {pid}")?;
        }
        return Ok(());
    }
    if let Some(sem) = &s.semaphore {
        return write_semaphore(out, r, sem);
    }
    // Issue 15: a condition has no holder (its lock has): its counts instead.
    if let Some(c) = &s.condition {
        writeln!(
            out,
            "  waiters:       {} (at most: a killed waiter is counted until another finds it dead)",
            c.waiters
        )?;
        writeln!(
            out,
            "  pending:       {} notification(s) not yet taken",
            c.pending
        )?;
        writeln!(out, "  notifications: {}", c.sequence)?;
        for pid in &c.waiting {
            writeln!(out, "  waiting:       pid {pid}")?;
        }
        return Ok(());
    }
    if let Some(rw) = &s.rwlock {
        return write_rwlock(out, r, rw);
    }
    if r.sidecar {
        writeln!(
            out,
            "  record:        {} (not an interlock lock file: interlock's record of it)",
            r.record.display()
        )?;
    }
    match (&r.inside, &s.holder) {
        (Some(h), Some(_)) => {
            writeln!(out, "  held by:       {h}")?;
            writeln!(out, "  token:         {}", h.token)?;
        }
        (Some(h), None) => writeln!(
            out,
            "  held by:       {h} (a flock(2) lock only: not an interlock holder)"
        )?,
        (None, _) if s.owner_died_unclaimed => writeln!(
            out,
            "  held by:       nobody (the last holder died holding it)"
        )?,
        (None, _) => writeln!(out, "  held by:       nobody")?,
    }
    for f in &r.file_locks {
        writeln!(out, "  file lock:     {f}")?;
    }
    if let Some(g) = s.leftover_group {
        let state = match g.state() {
            interlock::GroupState::Running => "still running",
            interlock::GroupState::Gone => "gone",
            _ => "cannot be checked from here",
        };
        writeln!(out, "  left running:  {g} by a holder that died ({state})")?;
    }
    writeln!(out, "  waiters:       {}", s.waiters)?;
    writeln!(out, "  acquisitions:  {}", s.acquisitions)?;
    writeln!(out, "  owner deaths:  {}", s.owner_deaths)?;
    write_poisoned(out, s.poisoned)?;
    write_waiters(out, r)
}

/// A semaphore: its counts, then one line per permit, named as messages name it
/// (`semaphore "jobs" permit 2: held by pid … tid … for 3.2s`, or free).
fn write_semaphore(out: &mut impl Write, r: &Report, sem: &SemaphoreStatus) -> std::io::Result<()> {
    let s = &r.status;
    writeln!(
        out,
        "  permits:       {} free of {}",
        sem.free,
        sem.permits.len()
    )?;
    writeln!(out, "  sleepers:      {}", sem.sleepers)?;
    writeln!(out, "  acquisitions:  {}", s.acquisitions)?;
    writeln!(out, "  owner deaths:  {}", s.owner_deaths)?;
    let label = r.label();
    for p in &sem.permits {
        let state = match &p.holder {
            Some(h) => format!("held by {}, token {}", permit_holder(h), h.token),
            None if p.owner_died_unclaimed => "free (its last holder died holding it)".into(),
            None => "free".into(),
        };
        write!(out, "{label} permit {}: {state}", p.permit)?;
        if p.owner_deaths > 0 {
            write!(out, "; owner deaths {}", p.owner_deaths)?;
        }
        if p.waiters > 0 {
            write!(out, "; {} asleep on it", p.waiters)?;
        }
        writeln!(out)?;
        if let Some(g) = p.leftover_group {
            let state = match g.state() {
                interlock::GroupState::Running => "still running",
                interlock::GroupState::Gone => "gone",
                _ => "cannot be checked from here",
            };
            writeln!(out, "  left running:  {g} by a holder that died ({state})")?;
        }
    }
    write_waiters(out, r)
}

/// A reader-writer lock: its writer, then one line per reader, named as messages name them
/// (`rwlock "catalog" reader slot 2: held by pid … tid … for 3.2s`).
fn write_rwlock(out: &mut impl Write, r: &Report, rw: &RwLockStatus) -> std::io::Result<()> {
    let label = r.label();
    match &rw.writer {
        Some(h) if rw.readers.is_empty() => {
            writeln!(out, "  writer:        {h}")?;
            writeln!(out, "  token:         {}", h.token)?;
        }
        Some(h) if rw.policy == RwPolicy::PreferReaders => writeln!(
            out,
            "  writer:        {h}, waiting for {} reader(s) to leave (new readers come in)",
            rw.readers.len()
        )?,
        Some(h) => writeln!(
            out,
            "  writer:        {h}, waiting for {} reader(s) to leave (new readers wait)",
            rw.readers.len()
        )?,
        None if r.status.owner_died_unclaimed => writeln!(
            out,
            "  writer:        none (the last writer died holding it)"
        )?,
        None => writeln!(out, "  writer:        none")?,
    }
    writeln!(
        out,
        "  readers:       {} (of {} slots)",
        rw.readers.len(),
        rw.reader_slots
    )?;
    writeln!(out, "  policy:        {}", rw.policy)?;
    for reader in &rw.readers {
        writeln!(
            out,
            "{label} reader slot {}: held by {}",
            reader.slot,
            permit_holder(&reader.holder)
        )?;
    }
    if let Some(g) = r.status.leftover_group {
        let state = match g.state() {
            interlock::GroupState::Running => "still running",
            interlock::GroupState::Gone => "gone",
            _ => "cannot be checked from here",
        };
        writeln!(out, "  left running:  {g} by a writer that died ({state})")?;
    }
    writeln!(
        out,
        "  waiters:       {} ({} of them readers)",
        rw.waiters, rw.waiting_readers
    )?;
    writeln!(out, "  writes:        {}", rw.writes)?;
    writeln!(
        out,
        "  owner deaths:  {} writer(s), {} reader(s)",
        rw.writer_deaths, rw.reader_deaths
    )?;
    write_poisoned(out, rw.poisoned)?;
    write_waiters(out, r)
}

/// The `poisoned:` line of a lock's or a reader-writer lock's report.
fn write_poisoned(out: &mut impl Write, poisoned: bool) -> std::io::Result<()> {
    writeln!(
        out,
        "  poisoned:      {}",
        if poisoned { "yes" } else { "no" }
    )
}

/// One `waiting:` line per thread the wait registry shows blocked on this lock.
fn write_waiters(out: &mut impl Write, r: &Report) -> std::io::Result<()> {
    for e in &r.wait_for {
        writeln!(
            out,
            "  waiting:       pid {} (tid {}) for {} ms",
            e.pid,
            e.tid,
            e.waited.as_millis()
        )?;
    }
    Ok(())
}
