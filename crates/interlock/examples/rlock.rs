//! The multiprocessing RLock example: a child process takes an `RLock` three times over, once per
//! layer of recursion, without deadlocking itself.
//!
//! ```text
//! cargo run --release -p interlock-ipc --example rlock
//! ```
//!
//! Prints `Layer 3: Holding lock`, `Layer 2: …`, `Layer 1: …` from the child.

use std::process::{Command, ExitCode};

use interlock::RLock;

const LOCK_VAR: &str = "RLOCK";

fn recursive_worker(rlock: &RLock, count: u32) -> Result<(), interlock::Error> {
    if count == 0 {
        return Ok(());
    }
    // An RLock can be acquired repeatedly within the same thread of the same process.
    let _guard = rlock.lock()?;
    println!("Layer {count}: Holding lock");
    recursive_worker(rlock, count - 1)
}

fn main() -> Result<ExitCode, Box<dyn std::error::Error>> {
    if std::env::args().nth(1).as_deref() == Some("child") {
        let rlock = RLock::from_env(LOCK_VAR)?;
        recursive_worker(&rlock, 3)?;
        assert_eq!(rlock.status().depth, 0, "every layer released its hold");
        return Ok(ExitCode::SUCCESS);
    }
    let rlock = RLock::new()?;
    let mut cmd = Command::new(std::env::current_exe()?);
    cmd.arg("child");
    rlock.pass_to(&mut cmd, LOCK_VAR)?;
    let status = cmd.status()?;
    // The child's three holds were all released: the parent can take it at once.
    let free = rlock.try_lock()?.is_some();
    Ok(if status.success() && free {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
