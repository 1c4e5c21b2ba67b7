//! `interlock status` and `interlock list`.

use std::io::Write;
use std::time::{SystemTime, UNIX_EPOCH};

use interlock::{Holder, NamedLock};
use serde_json::{json, Value};

use crate::cli::{ListArgs, StatusArgs};
use crate::exit::Exit;

pub(crate) fn status(args: StatusArgs) -> anyhow::Result<Exit> {
    let lock = interlock::status(&args.name)?;
    let mut out = std::io::stdout().lock();
    if args.json {
        writeln!(out, "{}", serde_json::to_string_pretty(&to_json(&lock))?)?;
    } else {
        write_text(&mut out, &lock)?;
    }
    Ok(Exit::Success)
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
    })
}
