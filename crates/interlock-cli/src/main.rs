//! `interlock`: run commands under process locks that survive crashed holders, and see who holds
//! what. A thin layer over the `interlock` library; see `interlock --help`.

use std::io::Write;
use std::process::ExitCode;

mod cli;
mod cmd;
mod etcd; // issue 16: --etcd
mod exit;

use exit::Exit;

fn main() -> ExitCode {
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
