//! `interlock status` and `interlock list`.

use std::io::Write;
use std::time::{SystemTime, UNIX_EPOCH};

use interlock::{Holder, NamedLock, WaitEdge};
use serde_json::{json, Value};

use crate::cli::{ListArgs, StatusArgs};
use crate::exit::Exit;

pub(crate) fn status(args: StatusArgs) -> anyhow::Result<Exit> {
    let Some(name) = args.name else {
        return deadlocks(args.json);
    };
    let lock = interlock::status(&name)?;
    let edges = edges_of(&name)?;
    let mut out = std::io::stdout().lock();
    if args.json {
        let mut value = to_json(&lock);
        value["wait_for"] = edges_json(&edges);
        writeln!(out, "{}", serde_json::to_string_pretty(&value)?)?;
    } else {
        write_text(&mut out, &lock)?;
        for e in &edges {
            writeln!(
                out,
                "  waiting:       pid {} (tid {}) for {} ms",
                e.pid,
                e.tid,
                e.waited.as_millis()
            )?;
        }
    }
    Ok(Exit::Success)
}

/// The registered waiters (past the deadlock timeout) on the named lock `name`.
fn edges_of(name: &str) -> anyhow::Result<Vec<WaitEdge>> {
    let quoted = format!("{name:?}");
    Ok(interlock::wait_graph()?
        .into_iter()
        .filter(|e| e.waits_for == quoted)
        .collect())
}

fn edges_json(edges: &[WaitEdge]) -> Value {
    edges
        .iter()
        .map(|e| {
            json!({
                "pid": e.pid,
                "tid": e.tid,
                "held_by_tid": e.held_by,
                "waited_ms": e.waited.as_millis() as u64,
            })
        })
        .collect()
}

/// `status --deadlocks`: the cycles present now; exit 1 if there is one.
fn deadlocks(json: bool) -> anyhow::Result<Exit> {
    let cycles = interlock::deadlocks()?;
    let mut out = std::io::stdout().lock();
    if json {
        let all: Vec<Value> = cycles
            .iter()
            .map(|c| {
                c.iter()
                    .map(|m| {
                        json!({
                            "pid": m.pid,
                            "tid": m.tid,
                            "waits_for": m.waits_for,
                            "held_by_tid": m.held_by,
                        })
                    })
                    .collect()
            })
            .collect();
        writeln!(out, "{}", serde_json::to_string_pretty(&all)?)?;
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
    let locks = interlock::list()?;
    let mut out = std::io::stdout().lock();
    if args.json {
        let all: Vec<Value> = locks.iter().map(to_json).collect();
        writeln!(out, "{}", serde_json::to_string_pretty(&all)?)?;
        return Ok(Exit::Success);
    }
    writeln!(
        out,
        "{:<24} {:<5} {:<8} {:>8} {:>7} {:>6} {:>8}  HOLDER",
        "NAME", "KIND", "STATE", "ACQUIRED", "WAITERS", "DEATHS", "POISONED"
    )?;
    for lock in &locks {
        let s = &lock.status;
        let state = if s.holder.is_some() { "held" } else { "free" };
        let holder = s.holder.as_ref().map(Holder::to_string).unwrap_or_default();
        writeln!(
            out,
            "{:<24} {:<5} {:<8} {:>8} {:>7} {:>6} {:>8}  {}",
            lock.name,
            lock.kind.to_string(),
            state,
            s.acquisitions,
            s.waiters,
            s.owner_deaths,
            if s.poisoned { "yes" } else { "no" },
            holder
        )?;
    }
    let edges = interlock::wait_graph()?;
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

fn write_text(out: &mut impl Write, lock: &NamedLock) -> std::io::Result<()> {
    let s = &lock.status;
    writeln!(out, "lock {:?} ({})", lock.name, lock.kind)?;
    match &s.holder {
        Some(h) => {
            writeln!(out, "  held by:       {h}")?;
            writeln!(out, "  token:         {}", h.token)?;
        }
        None if s.owner_died_unclaimed => writeln!(
            out,
            "  held by:       nobody (the last holder died holding it)"
        )?,
        None => writeln!(out, "  held by:       nobody")?,
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
    writeln!(
        out,
        "  poisoned:      {}",
        if s.poisoned { "yes" } else { "no" }
    )?;
    Ok(())
}

/// The JSON shape scripts rely on. Field names are stable; new fields may be added.
pub(crate) fn to_json(lock: &NamedLock) -> Value {
    let s = &lock.status;
    let holder = s.holder.as_ref().map(|h| {
        let since_ms = h
            .since
            .and_then(|s| s.duration_since(UNIX_EPOCH).ok())
            .map(|d| d.as_millis() as u64);
        let held_for_ms = h.since.map(|s| {
            SystemTime::now()
                .duration_since(s)
                .map(|d| d.as_millis() as u64)
                .unwrap_or(0)
        });
        json!({
            "pid": h.pid,
            "tid": h.tid,
            "command": h.command,
            "since_unix_ms": since_ms,
            "held_for_ms": held_for_ms,
            "token": h.token,
            "alive": h.alive,
            "process_group": h.process_group,
        })
    });
    let leftover = s.leftover_group.map(|g| {
        json!({
            "pgid": g.pgid,
            "token": g.token,
            "running": g.state() == interlock::GroupState::Running,
        })
    });
    json!({
        "name": lock.name,
        "kind": lock.kind.to_string(),
        "held": s.holder.is_some(),
        "holder": holder,
        "waiters": s.waiters,
        "acquisitions": s.acquisitions,
        "owner_deaths": s.owner_deaths,
        "owner_died_unclaimed": s.owner_died_unclaimed,
        "poisoned": s.poisoned,
        "depth": s.depth,
        "leftover_group": leftover,
    })
}
