//! The multiprocessing counter example as a shared `Value` (Python's `multiprocessing.Value`):
//! the count lives in shared memory beside its lock, handed to the children like a lock, and
//! every read-modify-write is one `update`.
//!
//! ```text
//! cargo run --release -p interlock-ipc --example value_counter [-- --procs N --loops N]
//! ```

use std::process::{Command, ExitCode};

use interlock::Value;

const VAR: &str = "COUNTER_VALUE";

fn main() -> Result<ExitCode, Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("worker") {
        let counter = Value::<u64>::from_env(VAR)?;
        for _ in 0..args[2].parse::<u32>()? {
            counter.update(|n| *n += 1)?; // Python: with v.get_lock(): v.value += 1
        }
        println!("[{}] Finished", args[1]);
        return Ok(ExitCode::SUCCESS);
    }
    let get = |flag: &str, default: u32| {
        args.windows(2)
            .find(|w| w[0] == flag)
            .and_then(|w| w[1].parse().ok())
            .unwrap_or(default)
    };
    let (procs, loops) = (get("--procs", 2), get("--loops", 10));
    let counter = Value::new(0u64)?;
    println!("[Main] Initialized value with: 0");
    println!("--- Starting Parallel Processing ---");
    let me = std::env::current_exe()?;
    let mut children = Vec::new();
    for i in 1..=procs {
        let mut cmd = Command::new(&me);
        cmd.args(["worker", &format!("Process-{i}"), &loops.to_string()]);
        counter.pass_to(&mut cmd, VAR)?;
        children.push(cmd.spawn()?);
    }
    let mut ok = true;
    for mut child in children {
        ok &= child.wait()?.success();
    }
    println!("--- All processes finished ---");
    let final_val = counter.get()?;
    let expected_val = u64::from(procs) * u64::from(loops);
    println!("Final Result: {final_val}");
    println!("Expected Value: {expected_val}");
    let success = ok && final_val == expected_val;
    println!(
        "{}",
        if success {
            ">> Success: Counted correctly due to exclusive control."
        } else {
            ">> Failure: A race condition occurred."
        }
    );
    Ok(if success {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
