//! One file per subcommand, each a few lines over library calls.

mod acquire;
mod demo;
mod generate;
mod rm;
mod run;
mod shared; // issue 15: `run --shared --path FILE` (flock -s)
mod slots; // issue 15: `run --slots N`
pub(crate) mod status;
mod target;

// Issue 15: Event and Barrier.
pub(crate) mod barrier;
pub(crate) mod event;

#[cfg(feature = "etcd")]
pub(crate) use run::exit_of;

use crate::cli::{Cli, Command};
use crate::exit::Exit;

pub(crate) fn dispatch(cli: Cli) -> anyhow::Result<Exit> {
    match cli.command {
        // Issue 16: --etcd ENDPOINTS (or INTERLOCK_ETCD_ENDPOINTS).
        #[cfg(feature = "etcd")]
        Command::Run(args) if args.etcd.etcd.is_some() => crate::etcd::run(&args),
        #[cfg(feature = "etcd")]
        Command::Status(args) if args.etcd.etcd.is_some() => crate::etcd::status(&args),
        #[cfg(feature = "etcd")]
        Command::List(args) if args.etcd.etcd.is_some() => crate::etcd::list(&args),
        #[cfg(not(feature = "etcd"))]
        Command::Run(crate::cli::RunArgs { etcd, .. })
        | Command::Status(crate::cli::StatusArgs { etcd, .. })
        | Command::List(crate::cli::ListArgs { etcd, .. })
            if etcd.etcd.is_some() =>
        {
            Err(anyhow::Error::new(crate::exit::Coded(
                Exit::Usage,
                "--etcd: this interlock was built without the `etcd` feature".into(),
            )))
        }
        Command::Run(args) => run::run(args),
        Command::Status(args) => status::status(args),
        Command::List(args) => status::list(args),
        Command::Rm(args) => rm::rm(args),
        Command::Demo(demo) => demo::demo(demo),
        Command::DemoWorker(args) => demo::worker(args),
        Command::Completions(args) => generate::completions(args),
        Command::Man(args) => generate::man(args),
        Command::Event(args) => event::event(args),
        Command::Barrier(args) => barrier::barrier(args),
    }
}
