//! `interlock rm`.

use crate::cli::RmArgs;
use crate::exit::{Coded, Exit};

pub(crate) fn rm(args: RmArgs) -> anyhow::Result<Exit> {
    if args.force {
        interlock::remove(&args.name)?;
        return Ok(Exit::Success);
    }
    match interlock::remove_unheld(&args.name) {
        Err(e @ interlock::Error::InUse { .. }) => Err(anyhow::Error::new(Coded(
            Exit::Conflict,
            format!("{e} (use --force to remove it anyway)"),
        ))),
        other => {
            other?;
            Ok(Exit::Success)
        }
    }
}
