//! `interlock rm`.

use crate::cli::RmArgs;
use crate::exit::{Coded, Exit};

pub(crate) fn rm(args: RmArgs) -> anyhow::Result<Exit> {
    let lock = interlock::status(&args.name)?;
    if let (Some(holder), false) = (&lock.status.holder, args.force) {
        return Err(anyhow::Error::new(Coded(
            Exit::Conflict,
            format!(
                "lock {:?} is held by {holder}; not removing it (use --force)",
                args.name
            ),
        )));
    }
    interlock::remove(&args.name)?;
    Ok(Exit::Success)
}
