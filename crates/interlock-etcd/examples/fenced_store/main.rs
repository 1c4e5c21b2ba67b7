//! Fencing end to end: a holder is paused (SIGSTOP) past its lease's TTL, another client takes
//! the lock and writes, the paused holder resumes believing for an instant that it still holds
//! the lock — and its write is refused by the store, because it carries an older token. The
//! guard also says its lease was lost.
//!
//! ```text
//! cargo run -p interlock-etcd --example fenced_store -- 127.0.0.1:2379
//! ```
//!
//! (`ci/etcd-cluster.sh start` starts a cluster and prints its endpoints.) The program re-runs
//! itself as the holder (`fenced_store holder ENDPOINTS DIR NAME`).

mod store;

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use interlock_etcd::{EtcdClient, EtcdLock, EtcdOptions};
use store::FencedStore;

const TTL: Duration = Duration::from_secs(2);

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.as_slice() {
        [role, endpoints, dir, name] if role == "holder" => holder(endpoints, dir, name),
        [endpoints] => demo(endpoints),
        _ => Err("usage: fenced_store ENDPOINTS".into()),
    }
}

/// The holder: takes the lock, writes, says so, waits to be told to write again (it is
/// paused meanwhile), then tries.
fn holder(endpoints: &str, dir: &str, name: &str) -> Result<(), Box<dyn std::error::Error>> {
    let store = FencedStore::open(dir.as_ref())?;
    let client = EtcdClient::connect(EtcdOptions::parse(endpoints).ttl(TTL))?;
    let lock = EtcdLock::new(&client, name)?;
    let guard = lock.lock()?;
    store
        .write(guard.token(), "written by the first holder")
        .map_err(|r| format!("{r:?}"))?;
    println!("holding {}", guard.token());
    let mut line = String::new();
    std::io::stdin().read_line(&mut line)?;
    // Resumed: a real program would not know it had been paused. Its write carries its token.
    let lost = guard.lease_lost();
    match store.write(guard.token(), "late write of the paused holder") {
        Ok(()) => println!("late write accepted lease_lost={lost}"),
        Err(r) => println!(
            "late write rejected token={} newest={} lease_lost={lost}",
            r.token, r.newest
        ),
    }
    // Its release finds the hold gone.
    match guard.unlock() {
        Ok(()) => println!("unlock clean"),
        Err(e) => println!("unlock: {e}"),
    }
    Ok(())
}

fn demo(endpoints: &str) -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::temp_dir().join(format!("fenced-store-{}", std::process::id()));
    let store = FencedStore::open(&dir)?;
    let name = format!("fenced-demo-{}", std::process::id());
    let mut child = Command::new(std::env::current_exe()?)
        .args(["holder", endpoints, dir.to_str().ok_or("temp dir")?, &name])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()?;
    let mut lines = BufReader::new(child.stdout.take().ok_or("stdout")?).lines();
    let first = lines.next().ok_or("the holder said nothing")??;
    println!("[holder] {first}");
    let old: u64 = first.trim_start_matches("holding ").parse()?;

    // Pause the holder: a GC pause, a VM migration, a stopped container.
    let pid = child.id() as i32;
    kill(pid, "STOP")?;
    println!("[main] holder paused (SIGSTOP); waiting for its lease to lapse (TTL {TTL:?})");
    let client = EtcdClient::connect(EtcdOptions::parse(endpoints).ttl(TTL))?;
    let lock = EtcdLock::new(&client, &name)?;
    let start = Instant::now();
    let guard = lock.lock_timeout(TTL * 5)?;
    println!(
        "[main] acquired after {:.1}s: token {} > {old}, previous owner died: {}",
        start.elapsed().as_secs_f64(),
        guard.token(),
        guard.previous_owner_died()
    );
    store
        .write(guard.token(), "written by the second holder")
        .map_err(|r| format!("{r:?}"))?;

    kill(pid, "CONT")?;
    writeln!(child.stdin.as_mut().ok_or("stdin")?, "write")?;
    let mut outcome = String::new();
    for line in lines {
        let line = line?;
        println!("[holder] {line}");
        outcome.push_str(&line);
        outcome.push('\n');
    }
    child.wait()?;
    let (token, value) = store.read().ok_or("empty store")?;
    println!("[main] the store holds {value:?} (token {token})");
    drop(guard);
    let _ = std::fs::remove_dir_all(&dir);
    if outcome.contains("late write rejected") && outcome.contains("lease_lost=true") {
        println!(">> Success: the paused holder's write was fenced off.");
        Ok(())
    } else {
        Err("the paused holder's write was not rejected".into())
    }
}

fn kill(pid: i32, sig: &str) -> Result<(), Box<dyn std::error::Error>> {
    let status = Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(pid.to_string())
        .status()?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("kill -{sig} {pid} failed").into())
    }
}
