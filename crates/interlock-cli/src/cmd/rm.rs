//! `interlock rm`.

use std::io::Write;
use std::path::PathBuf;

use serde::Serialize;

use crate::cli::RmArgs;
use crate::cmd::status::Report;
use crate::exit::{Coded, Exit};

/// `rm --json`'s object (documented in `rm --help`).
#[derive(Debug, Serialize)]
struct Removal {
    removed: bool,
    file: Option<PathBuf>,
    lock: Option<Report>,
}

pub(crate) fn rm(args: RmArgs) -> anyhow::Result<Exit> {
    // The lock as it was, for --json (read before: after the removal there is nothing to read).
    let before = || match (&args.name, &args.path) {
        (Some(name), _) => Report::named(name).ok(),
        (None, Some(path)) => interlock::path::status(path).ok().map(Report::path),
        (None, None) => None,
    };
    let lock = if args.json { before() } else { None };
    let outcome = match (&args.name, &args.path, args.force) {
        (Some(name), _, true) => interlock::namespace::remove(name).map(|()| None),
        (Some(name), _, false) => interlock::namespace::remove_unheld(name).map(|()| None),
        (None, Some(path), true) => interlock::path::remove(path).map(Some),
        (None, Some(path), false) => interlock::path::remove_unheld(path).map(Some),
        (None, None, _) => unreachable!("clap requires a name or --path"),
    };
    let print = |removal: &Removal| -> anyhow::Result<()> {
        if args.json {
            writeln!(
                std::io::stdout(),
                "{}",
                serde_json::to_string_pretty(removal)?
            )?;
        }
        Ok(())
    };
    match outcome {
        Ok(removed) => {
            if let (Some(path), Some(file)) = (&args.path, &removed) {
                if file != path {
                    eprintln!(
                        "interlock: {} is not an interlock lock file: removed interlock's record \
                         of it ({}); the file itself is not removed",
                        path.display(),
                        file.display()
                    );
                }
            }
            let file = match (&args.name, removed) {
                (Some(name), _) => Some(interlock::namespace::dir()?.join(format!("{name}.lock"))),
                (None, removed) => removed,
            };
            print(&Removal {
                removed: true,
                file,
                lock,
            })?;
            Ok(Exit::Success)
        }
        Err(e @ interlock::Error::InUse { .. }) => {
            // The holder as of now, for --json.
            let lock = if args.json { before() } else { None };
            print(&Removal {
                removed: false,
                file: None,
                lock,
            })?;
            Err(anyhow::Error::new(Coded(
                Exit::Conflict,
                format!("{e} (use --force to remove it anyway)"),
            )))
        }
        Err(e) => Err(e.into()),
    }
}
