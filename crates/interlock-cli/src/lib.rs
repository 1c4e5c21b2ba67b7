//! The `interlock` command's code, as a library its binary (`src/main.rs`) calls. Not an API:
//! it exists so that the fuzzers in `fuzz/` can drive the real argument parser (feature
//! `fuzzing`, issue 18). The CLI's reference is `interlock --help`.

use std::io::Write;
use std::process::ExitCode;

mod cli;
mod cmd;
#[cfg(feature = "etcd")]
mod etcd; // issue 16: --etcd
mod exit;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;

use exit::Exit;

/// The `interlock` command: parses `std::env::args_os()`, runs the subcommand and returns its
/// exit code (a usage error exits the process, as clap does). The binary's `main` is this.
///
/// ```no_run
/// fn main() -> std::process::ExitCode {
///     interlock_cli::main()
/// }
/// ```
#[doc(hidden)]
pub fn main() -> ExitCode {
    let cli = cli::parse();
    match cmd::dispatch(cli) {
        Ok(code) => code.into(),
        Err(err) => {
            if is_broken_pipe(&err) {
                return Exit::Success.into();
            }
            let _ = writeln!(std::io::stderr(), "interlock: {err:#}");
            exit::for_error(&err).into()
        }
    }
}

fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|e| {
        e.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}
