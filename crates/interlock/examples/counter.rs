//! Python's multiprocessing counter example, on interlock: two processes each add 1 to a number
//! in a file, ten times, and every read-modify-write runs under one lock created by the parent
//! and handed to the children. Prints the example's output and exits non-zero if a count was lost.
//!
//! ```text
//! cargo run --release -p interlock-ipc --example counter [-- --procs N --loops N]
//! ```
//!
//! The children are this same program re-run with `worker` as first argument; the lock reaches
//! them through `Lock::pass_to` / `Lock::from_env` (Python's `Process(args=(lock,))`).

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::thread::sleep;
use std::time::Duration;

use interlock::Lock;

const LOCK_VAR: &str = "COUNTER_LOCK";

fn init_data(file: &Path) -> std::io::Result<()> {
    std::fs::write(file, "0")?;
    println!("[Main] Initialized file with: 0");
    Ok(())
}

fn read_data(file: &Path) -> std::io::Result<u64> {
    let text = std::fs::read_to_string(file)?;
    Ok(if text.is_empty() {
        0
    } else {
        text.trim().parse().map_err(std::io::Error::other)?
    })
}

fn write_data(file: &Path, n: u64) -> std::io::Result<()> {
    std::fs::write(file, n.to_string())
}

/// The child: `loops` locked read-increment-write cycles.
fn increment_process(
    lock: &Lock,
    process_name: &str,
    loops: u32,
    file: &Path,
) -> Result<(), Box<dyn std::error::Error>> {
    for _ in 0..loops {
        {
            // --- Start Critical Section --- (Python: `with lock:`)
            let _guard = lock.lock()?;
            let current_val = read_data(file)?;
            let new_val = current_val + 1;
            sleep(Duration::from_millis(10)); // simulate processing time
            write_data(file, new_val)?;
            // --- End Critical Section: the guard drops here ---
        }
        // Wait slightly outside the lock to give other processes a turn.
        sleep(Duration::from_millis(1));
    }
    println!("[{process_name}] Finished");
    Ok(())
}

fn arg_value(args: &[String], flag: &str, default: u32) -> u32 {
    args.windows(2)
        .find(|w| w[0] == flag)
        .map(|w| {
            w[1].parse()
                .unwrap_or_else(|_| panic!("{flag} takes a number, got {:?}", w[1]))
        })
        .unwrap_or(default)
}

fn main() -> Result<ExitCode, Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("worker") {
        let [_, name, loops, file] = &args[..] else {
            return Err("usage: counter worker NAME LOOPS FILE".into());
        };
        let lock = Lock::from_env(LOCK_VAR)?;
        increment_process(&lock, name, loops.parse()?, Path::new(file))?;
        return Ok(ExitCode::SUCCESS);
    }

    let loops = arg_value(&args, "--loops", 10);
    let process_count = arg_value(&args, "--procs", 2);
    let file: PathBuf =
        std::env::temp_dir().join(format!("counter_tmp-{}.txt", std::process::id()));

    // 1. Create a Lock object.
    let lock = Lock::new()?;
    // 2. Initialize data.
    init_data(&file)?;
    println!("--- Starting Parallel Processing ---");
    // 3. Create processes and pass the lock.
    let me = std::env::current_exe()?;
    let mut children = Vec::new();
    for i in 1..=process_count {
        let mut cmd = Command::new(&me);
        cmd.arg("worker")
            .arg(format!("Process-{i}"))
            .arg(loops.to_string())
            .arg(&file);
        lock.pass_to(&mut cmd, LOCK_VAR)?;
        children.push(cmd.spawn()?);
    }
    let mut all_ok = true;
    for mut child in children {
        all_ok &= child.wait()?.success();
    }
    println!("--- All processes finished ---");

    // Verify results.
    let final_val = read_data(&file)?;
    let expected_val = u64::from(loops) * u64::from(process_count);
    println!("Final Result: {final_val}");
    println!("Expected Value: {expected_val}");
    let success = all_ok && final_val == expected_val;
    if success {
        println!(">> Success: Counted correctly due to exclusive control.");
    } else {
        println!(">> Failure: A race condition occurred.");
    }
    // Cleanup.
    let _ = std::fs::remove_file(&file);
    Ok(if success {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
