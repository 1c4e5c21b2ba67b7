//! `interlock barrier wait|abort|reset NAME`: a named `interlock::Barrier` from the shell.

use clap::{Args, Subcommand};

use crate::cli::{parse_wait, WaitLimit};
use crate::exit::Exit;

/// Wait at, abort or reset a named barrier (Python's multiprocessing.Barrier): `wait` returns
/// when --parties processes have arrived. A party that dies while others wait breaks the
/// barrier, and the others exit 1 naming its pid instead of waiting for ever; so do a timeout
/// (--wait) and `abort`, until `reset`.
///
/// `wait` creates the barrier with --parties N if it does not exist (an existing one must
/// have N parties) and prints "leader" for the last to arrive.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  interlock barrier wait --parties 3 nightly && ./next-phase    # in three scripts
  interlock barrier wait --parties 3 --wait 10m nightly || echo 'broken: see the message'
  interlock barrier abort nightly
  interlock barrier reset nightly")]
pub(crate) struct BarrierArgs {
    #[command(subcommand)]
    pub(crate) action: BarrierAction,
}

#[derive(Debug, Subcommand)]
pub(crate) enum BarrierAction {
    /// Wait until --parties processes have arrived (exit 0), or until it breaks (exit 1).
    Wait {
        /// How many parties the barrier has.
        #[arg(long, short = 'n', value_name = "N")]
        parties: u32,
        /// How long to wait at most (a timeout breaks the barrier for every party):
        /// seconds (2, 0.5), a number with a unit (500ms, 1.5s, 2m, 1h, 1d) or inf (default).
        #[arg(long, short = 'w', value_name = "DURATION", value_parser = parse_wait)]
        wait: Option<WaitLimit>,
        /// The barrier's name.
        name: String,
    },
    /// Break the barrier: every party waiting, and every wait until a reset, fails.
    Abort {
        /// The barrier's name.
        name: String,
    },
    /// Make the barrier usable again (parties waiting now fail).
    Reset {
        /// The barrier's name.
        name: String,
    },
}

/// The existing barrier `name`, with the parties it was made with.
fn existing(name: &str) -> anyhow::Result<interlock::Barrier> {
    let status = interlock::namespace::status(name)?;
    let parties = status.status.barrier.map_or(1, |b| b.parties);
    Ok(interlock::Barrier::open(name, parties)?)
}

pub(crate) fn barrier(args: BarrierArgs) -> anyhow::Result<Exit> {
    match args.action {
        BarrierAction::Wait {
            parties,
            wait,
            name,
        } => {
            let barrier = interlock::Barrier::open(&name, parties)?;
            let passed = match wait {
                Some(WaitLimit::AtMost(limit)) => barrier.wait_timeout(limit)?,
                Some(WaitLimit::Forever) | None => barrier.wait()?,
            };
            if passed.is_leader() {
                println!("leader");
            }
        }
        BarrierAction::Abort { name } => existing(&name)?.abort(),
        BarrierAction::Reset { name } => existing(&name)?.reset(),
    }
    Ok(Exit::Success)
}
