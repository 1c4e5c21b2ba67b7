//! The multiprocessing counter example on a `SharedFile`: the same two processes × ten
//! increments, but each read-modify-write is committed by rename, so a worker killed at any
//! instant leaves the old count or the new one — never the empty file that the example's
//! truncate-then-write leaves, which reads as 0 and silently restarts the count. With
//! `--slots`, the file keeps two checksummed slots and commits in place (`Format::Slots`): as
//! safe, tens of times faster, but read through `SharedFile::read` rather than `cat`.
//!
//! ```text
//! cargo run --release -p interlock-ipc --example shared_counter [-- --procs N --loops N --slots]
//! ```

use std::process::{Command, ExitCode};
use std::thread::sleep;
use std::time::Duration;

use interlock::{Format, SharedFile};

fn main() -> Result<ExitCode, Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("worker") {
        let [_, name, loops, format, path] = &args[..] else {
            return Err("usage: shared_counter worker NAME LOOPS plain|slots FILE".into());
        };
        // Every process opens the same file, in the same format; its lock is the file
        // `FILE.lock` beside it.
        let counter = SharedFile::open(path)?.format(format_named(format));
        for _ in 0..loops.parse::<u32>()? {
            counter.update_parsed(|n: u64| {
                // The example's "processing time", inside the section.
                sleep(Duration::from_millis(10));
                n + 1
            })?;
            sleep(Duration::from_millis(1));
        }
        println!("[{name}] Finished");
        return Ok(ExitCode::SUCCESS);
    }
    let get = |flag: &str, default: u32| {
        args.windows(2)
            .find(|w| w[0] == flag)
            .and_then(|w| w[1].parse().ok())
            .unwrap_or(default)
    };
    let (procs, loops) = (get("--procs", 2), get("--loops", 10));
    let format = if args.iter().any(|a| a == "--slots") {
        "slots"
    } else {
        "plain"
    };
    let dir = std::env::temp_dir().join(format!("shared_counter-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let path = dir.join("counter_tmp.txt");
    let counter = SharedFile::open(&path)?.format(format_named(format));
    counter.update(|_| Ok::<_, std::convert::Infallible>(b"0".to_vec()))?;
    println!("[Main] Initialized file with: 0");
    println!("--- Starting Parallel Processing ---");
    let me = std::env::current_exe()?;
    let children: Vec<_> = (1..=procs)
        .map(|i| {
            Command::new(&me)
                .args([
                    "worker",
                    &format!("Process-{i}"),
                    &loops.to_string(),
                    format,
                ])
                .arg(&path)
                .spawn()
        })
        .collect::<Result<_, _>>()?;
    let mut ok = true;
    for mut child in children {
        ok &= child.wait()?.success();
    }
    println!("--- All processes finished ---");
    let final_val: u64 = String::from_utf8(counter.read()?)?.trim().parse()?;
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
    std::fs::remove_dir_all(&dir)?;
    Ok(if success {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn format_named(name: &str) -> Format {
    if name == "slots" {
        Format::Slots
    } else {
        Format::Plain
    }
}
