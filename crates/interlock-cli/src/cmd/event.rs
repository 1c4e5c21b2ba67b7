//! `interlock event set|clear|wait NAME`: a named `interlock::Event` from the shell.

use clap::{Args, Subcommand};

use crate::cli::{parse_wait, WaitLimit};
use crate::exit::{Coded, Exit};

/// Set, clear or wait for a named event (Python's multiprocessing.Event): `wait` returns once
/// another process (or `interlock event set NAME`) has set it. The event is created, clear, if
/// it does not exist.
///
/// `wait` exits 0 when the event is set, 1 when --wait DURATION passes first.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  interlock event wait db-ready && ./migrate      # blocks until ...
  interlock event set db-ready                    # ... another shell says so
  interlock event wait --wait 30s db-ready || echo 'not ready after 30 s'
  interlock event clear db-ready")]
pub(crate) struct EventArgs {
    #[command(subcommand)]
    pub(crate) action: EventAction,
}

#[derive(Debug, Subcommand)]
pub(crate) enum EventAction {
    /// Set the event, waking every waiter.
    Set {
        /// The event's name.
        name: String,
    },
    /// Clear the event.
    Clear {
        /// The event's name.
        name: String,
    },
    /// Wait until the event is set (exit 0), or --wait DURATION passes (exit 1).
    Wait {
        /// How long to wait at most: seconds (2, 0.5), a number with a unit (500ms, 1.5s, 2m,
        /// 1h, 1d) or inf (the default).
        #[arg(long, short = 'w', value_name = "DURATION", value_parser = parse_wait)]
        wait: Option<WaitLimit>,
        /// The event's name.
        name: String,
    },
}

pub(crate) fn event(args: EventArgs) -> anyhow::Result<Exit> {
    match args.action {
        EventAction::Set { name } => interlock::Event::open(&name)?.set(),
        EventAction::Clear { name } => interlock::Event::open(&name)?.clear(),
        EventAction::Wait { wait, name } => {
            let event = interlock::Event::open(&name)?;
            match wait {
                Some(WaitLimit::AtMost(limit)) => {
                    if !event.wait_timeout(limit) {
                        return Err(Coded(
                            Exit::Conflict,
                            format!("event {name:?} was not set within {limit:?}"),
                        )
                        .into());
                    }
                }
                Some(WaitLimit::Forever) | None => event.wait(),
            }
        }
    }
    Ok(Exit::Success)
}
