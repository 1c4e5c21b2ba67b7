//! The multiprocessing example's advice, "use a separate lock for logging": workers update a
//! shared file under a data lock and report each update as a three-line block on stdout through
//! a `LogWriter` with its own *log* lock, so no block is ever split by another process's lines —
//! and logging never holds up the data.
//!
//! ```text
//! cargo run --release -p interlock-ipc --example logging [-- --procs N --loops N]
//! ```

use std::io::Write;
use std::path::Path;
use std::process::{Command, ExitCode};

use interlock::{Lock, LogWriter};

fn worker(name: &str, loops: u32, file: &Path) -> Result<(), Box<dyn std::error::Error>> {
    let data_lock = Lock::from_env("DATA_LOCK")?;
    let mut log = LogWriter::stdout(Lock::from_env("LOG_LOCK")?);
    for _ in 0..loops {
        let new_val = {
            let _data = data_lock.lock()?;
            let n: u64 = std::fs::read_to_string(file)?.trim().parse()?;
            std::fs::write(file, (n + 1).to_string())?;
            n + 1
        };
        // One block of three lines: the LogWriter sends it out whole, under the log lock.
        write!(
            log,
            "[{name}] begin update\n[{name}]   counter is now {new_val}\n[{name}] end update\n"
        )?;
    }
    Ok(())
}

fn main() -> Result<ExitCode, Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("worker") {
        worker(&args[1], args[2].parse()?, Path::new(&args[3]))?;
        return Ok(ExitCode::SUCCESS);
    }
    let get = |flag: &str, default: u32| {
        args.windows(2)
            .find(|w| w[0] == flag)
            .and_then(|w| w[1].parse().ok())
            .unwrap_or(default)
    };
    let (procs, loops) = (get("--procs", 4), get("--loops", 5));
    let file = std::env::temp_dir().join(format!("logging_tmp-{}.txt", std::process::id()));
    std::fs::write(&file, "0")?;
    let data_lock = Lock::new()?;
    let log_lock = Lock::new()?;
    let me = std::env::current_exe()?;
    let mut children = Vec::new();
    for i in 1..=procs {
        let mut cmd = Command::new(&me);
        cmd.arg("worker")
            .arg(format!("Process-{i}"))
            .arg(loops.to_string())
            .arg(&file);
        data_lock.pass_to(&mut cmd, "DATA_LOCK")?;
        log_lock.pass_to(&mut cmd, "LOG_LOCK")?;
        children.push(cmd.spawn()?);
    }
    let mut ok = true;
    for mut c in children {
        ok &= c.wait()?.success();
    }
    let total: u32 = std::fs::read_to_string(&file)?.trim().parse()?;
    let _ = std::fs::remove_file(&file);
    println!("Final Result: {total}");
    println!("Expected Value: {}", procs * loops);
    Ok(if ok && total == procs * loops {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
