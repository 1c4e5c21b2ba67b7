//! `interlock demo`: Python's multiprocessing examples (the file counter, the recursive lock),
//! run by interlock's own processes.

use std::path::Path;
use std::process::Command;
use std::thread::sleep;
use std::time::Duration;

use anyhow::{bail, Context};
use interlock::{Lock, RLock};

use crate::cli::{CounterArgs, Demo, DemoWorkerArgs};
use crate::exit::Exit;

const LOCK_VAR: &str = "INTERLOCK_DEMO_LOCK";

pub(crate) fn demo(demo: Demo) -> anyhow::Result<Exit> {
    match demo {
        Demo::Counter(args) => counter(args),
        Demo::Rlock => rlock(),
    }
}

fn counter(args: CounterArgs) -> anyhow::Result<Exit> {
    // A fresh private directory (0700, a random name, removed at the end): in a shared /tmp a
    // predictable name could be taken first — by a symlink the counter would be written
    // through, say.
    let dir = tempfile::Builder::new()
        .prefix("interlock-demo-")
        .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o700))
        .tempdir()
        .context("creating a private directory for the counter")?;
    let file = dir.path().join("counter.txt");
    let lock = Lock::new()?;
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&file)
        .and_then(|mut f| std::io::Write::write_all(&mut f, b"0"))
        .with_context(|| format!("writing {}", file.display()))?;
    println!("[Main] Initialized file with: 0");
    println!("--- Starting Parallel Processing ---");
    let me = std::env::current_exe().context("finding the interlock executable")?;
    let mut children = Vec::new();
    for i in 1..=args.procs {
        let mut cmd = Command::new(&me);
        cmd.args([
            "demo-worker",
            "counter",
            &format!("Process-{i}"),
            &args.loops.to_string(),
        ])
        .arg(&file);
        if args.no_lock {
            cmd.arg("--no-lock");
        }
        lock.pass_to(&mut cmd, LOCK_VAR)?;
        children.push(cmd.spawn().context("starting a worker")?);
    }
    let mut workers_ok = true;
    for mut child in children {
        workers_ok &= child.wait()?.success();
    }
    println!("--- All processes finished ---");
    let final_val = read_counter(&file)?;
    drop(dir);
    let expected_val = u64::from(args.loops) * u64::from(args.procs);
    println!("Final Result: {final_val}");
    println!("Expected Value: {expected_val}");
    if workers_ok && final_val == expected_val {
        println!(">> Success: Counted correctly due to exclusive control.");
        Ok(Exit::Success)
    } else {
        println!(">> Failure: A race condition occurred.");
        Ok(Exit::Conflict)
    }
}

fn rlock() -> anyhow::Result<Exit> {
    let rlock = RLock::new()?;
    let mut cmd = Command::new(std::env::current_exe()?);
    cmd.args(["demo-worker", "rlock", "child", "3"]);
    rlock.pass_to(&mut cmd, LOCK_VAR)?;
    let ok = cmd.status().context("starting the child")?.success();
    Ok(if ok && rlock.try_lock()?.is_some() {
        Exit::Success
    } else {
        Exit::Conflict
    })
}

pub(crate) fn worker(args: DemoWorkerArgs) -> anyhow::Result<Exit> {
    match args.role.as_str() {
        "counter" => {
            let file = args.file.context("counter worker needs FILE")?;
            let lock = Lock::from_env(LOCK_VAR)?;
            for _ in 0..args.loops {
                {
                    // --- Start Critical Section --- (skipped entirely with --no-lock)
                    let _guard = if args.no_lock {
                        None
                    } else {
                        Some(lock.lock()?)
                    };
                    let current_val = read_counter(&file)?;
                    let new_val = current_val + 1;
                    sleep(Duration::from_millis(10));
                    std::fs::write(&file, new_val.to_string())?;
                }
                sleep(Duration::from_millis(1));
            }
            println!("[{}] Finished", args.name);
        }
        "rlock" => {
            let rlock = RLock::from_env(LOCK_VAR)?;
            layer(&rlock, args.loops)?;
        }
        other => bail!("unknown demo worker role {other:?}"),
    }
    Ok(Exit::Success)
}

fn layer(rlock: &RLock, count: u32) -> anyhow::Result<()> {
    if count == 0 {
        return Ok(());
    }
    let _guard = rlock.lock()?;
    println!("Layer {count}: Holding lock");
    layer(rlock, count - 1)
}

fn read_counter(file: &Path) -> anyhow::Result<u64> {
    let text =
        std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    Ok(if text.is_empty() {
        0
    } else {
        text.trim()
            .parse()
            .with_context(|| format!("{} holds {text:?}", file.display()))?
    })
}
