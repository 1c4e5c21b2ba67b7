//! `interlock`: run commands under process locks that survive crashed holders, and see who holds
//! what. A thin layer over the `interlock` library; see `interlock --help`. The code is in the
//! package's library target (`src/lib.rs`), which the fuzzers in `fuzz/` also link.

fn main() -> std::process::ExitCode {
    interlock_cli::main()
}
