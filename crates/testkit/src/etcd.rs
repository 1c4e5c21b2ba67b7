//! A real etcd cluster on 127.0.0.1 for one test: members spawned from Debian's `etcd`
//! binary on ports free at the start, data in a directory of their own, every member killed by
//! pid and the directory removed when the [`EtcdCluster`] drops.
//!
//! A missing `etcd` fails the test with what to install: the etcd tests never skip quietly.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::PATIENCE;

/// One member of an [`EtcdCluster`].
#[derive(Debug)]
struct Member {
    name: String,
    client_port: u16,
    child: Child,
    stopped: bool,
    gone: bool,
}

/// A cluster of `etcd` processes on 127.0.0.1, stopped (SIGKILL by pid) and removed on drop.
#[derive(Debug)]
pub struct EtcdCluster {
    members: Vec<Member>,
    dir: PathBuf,
}

/// Ports that were free a moment ago: bound together on 127.0.0.1:0, then released.
///
/// # Panics
///
/// When the loopback interface cannot be bound.
pub fn free_ports(n: usize) -> Vec<u16> {
    let listeners: Vec<TcpListener> = (0..n)
        .map(|_| TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0"))
        .collect();
    listeners
        .iter()
        .map(|l| l.local_addr().expect("local_addr").port())
        .collect()
}

/// The `etcd` binary, or a panic saying how to install it.
///
/// # Panics
///
/// When `etcd` is not on `PATH`.
pub fn etcd_binary() -> PathBuf {
    which("etcd").unwrap_or_else(|| {
        panic!(
            "the etcd tests need `etcd` (Debian: apt-get install etcd-server; ci/install.sh \
             installs it): not found on PATH"
        )
    })
}

fn which(program: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join(program))
            .find(|p| p.is_file())
    })
}

impl EtcdCluster {
    /// Starts `n` members (1 or 3, typically) and waits until each answers a health check
    /// (bounded by [`PATIENCE`]).
    ///
    /// # Panics
    ///
    /// When `etcd` is missing, or the cluster is not healthy in time (the members' logs are
    /// in the message).
    pub fn start(n: usize) -> EtcdCluster {
        static SEQ: AtomicUsize = AtomicUsize::new(0);
        let etcd = etcd_binary();
        let dir = std::env::temp_dir().join(format!(
            "interlock-etcd-{}-{}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create the cluster's directory");
        let ports = free_ports(2 * n);
        let peer = |i: usize| format!("http://127.0.0.1:{}", ports[2 * i + 1]);
        let initial: Vec<String> = (0..n).map(|i| format!("m{i}={}", peer(i))).collect();
        let token = format!(
            "interlock-{}-{}",
            std::process::id(),
            dir.file_name().unwrap().to_string_lossy()
        );
        let mut members = Vec::new();
        for i in 0..n {
            let name = format!("m{i}");
            let client = format!("http://127.0.0.1:{}", ports[2 * i]);
            let log = std::fs::File::create(dir.join(format!("{name}.log"))).expect("log file");
            let child = Command::new(&etcd)
                .args(["--name", &name])
                .arg("--data-dir")
                .arg(dir.join(&name))
                .args(["--listen-client-urls", &client])
                .args(["--advertise-client-urls", &client])
                .args(["--listen-peer-urls", &peer(i)])
                .args(["--initial-advertise-peer-urls", &peer(i)])
                .args(["--initial-cluster", &initial.join(",")])
                .args(["--initial-cluster-token", &token])
                .args(["--initial-cluster-state", "new"])
                .args(["--logger", "zap", "--log-level", "warn"])
                .stdin(Stdio::null())
                .stdout(log.try_clone().expect("dup log"))
                .stderr(log)
                .spawn()
                .unwrap_or_else(|e| panic!("spawn {}: {e}", etcd.display()));
            members.push(Member {
                name,
                client_port: ports[2 * i],
                child,
                stopped: false,
                gone: false,
            });
        }
        let cluster = EtcdCluster { members, dir };
        for i in 0..n {
            cluster.wait_healthy(i);
        }
        cluster
    }

    /// Waits until member `i` answers `etcdctl endpoint health` (bounded by [`PATIENCE`]).
    ///
    /// # Panics
    ///
    /// When it does not in time.
    pub fn wait_healthy(&self, i: usize) {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let out = Command::new("etcdctl")
                .env("ETCDCTL_API", "3")
                .args(["--endpoints", &self.endpoint(i), "--command-timeout=1s"])
                .args(["endpoint", "health"])
                .output();
            match out {
                Ok(out) if out.status.success() => return,
                Err(e) => panic!("run etcdctl (apt-get install etcd-client): {e}"),
                _ => {}
            }
            assert!(
                Instant::now() < deadline,
                "etcd member {i} not healthy after {PATIENCE:?}:\n{}",
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The members' client endpoints, comma-separated (`127.0.0.1:PORT,…`).
    pub fn endpoints(&self) -> String {
        (0..self.members.len())
            .map(|i| self.endpoint(i))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// Member `i`'s client endpoint.
    pub fn endpoint(&self, i: usize) -> String {
        format!("127.0.0.1:{}", self.members[i].client_port)
    }

    /// Member `i`'s pid.
    pub fn pid(&self, i: usize) -> u32 {
        self.members[i].child.id()
    }

    /// How many members the cluster was started with.
    pub fn len(&self) -> usize {
        self.members.len()
    }

    /// Whether the cluster has no members (never: [`start`](Self::start) takes n ≥ 1).
    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    /// The index of the member that leads now, as `etcdctl endpoint status` reports it
    /// (asked of the members still running); `None` while there is no leader or no answer.
    pub fn leader(&self) -> Option<usize> {
        let live: Vec<usize> = (0..self.members.len())
            .filter(|&i| !self.members[i].gone && !self.members[i].stopped)
            .collect();
        let endpoints: Vec<String> = live.iter().map(|&i| self.endpoint(i)).collect();
        let out = Command::new("etcdctl")
            .env("ETCDCTL_API", "3")
            .args(["--endpoints", &endpoints.join(","), "--command-timeout=1s"])
            .args(["endpoint", "status", "-w", "json"])
            .output()
            .ok()?;
        let text = String::from_utf8_lossy(&out.stdout);
        // `[{"Endpoint":"127.0.0.1:P","Status":{"header":{…,"member_id":M,…},…,"leader":L,…}},…]`
        let number = |block: &str, field: &str| -> Option<u64> {
            let at = block.find(&format!("\"{field}\":"))? + field.len() + 3;
            let digits: String = block[at..]
                .chars()
                .take_while(char::is_ascii_digit)
                .collect();
            digits.parse().ok()
        };
        let blocks: Vec<&str> = text.split("{\"Endpoint\":").skip(1).collect();
        let leader = blocks.iter().find_map(|b| number(b, "leader"))?;
        blocks.iter().find_map(|block| {
            let port: u16 = block.split('"').nth(1)?.rsplit(':').next()?.parse().ok()?;
            let index = self.members.iter().position(|m| m.client_port == port)?;
            (number(block, "member_id")? == leader).then_some(index)
        })
    }

    fn signal(&self, i: usize, sig: i32) {
        // SAFETY: kill(2) on a pid this cluster spawned and has not reaped (`gone` is set
        // only after `wait`), so it names our child, not a reused pid.
        let rc = unsafe { libc::kill(self.pid(i) as i32, sig) };
        assert_eq!(rc, 0, "kill({}, {sig}) failed", self.pid(i));
    }

    /// SIGKILLs member `i` and reaps it.
    pub fn kill(&mut self, i: usize) {
        let m = &mut self.members[i];
        if !m.gone {
            let _ = m.child.kill();
            let _ = m.child.wait();
            m.gone = true;
        }
    }

    /// SIGSTOPs member `i`.
    pub fn stop(&mut self, i: usize) {
        self.signal(i, libc::SIGSTOP);
        self.members[i].stopped = true;
    }

    /// SIGCONTs member `i`.
    pub fn cont(&mut self, i: usize) {
        self.signal(i, libc::SIGCONT);
        self.members[i].stopped = false;
    }

    /// The cluster's directory (data and one log per member).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Every member's log, for a failure message.
    pub fn logs(&self) -> String {
        let mut all = String::new();
        for m in &self.members {
            let log = std::fs::read_to_string(self.dir.join(format!("{}.log", m.name)))
                .unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(20).collect();
            all.push_str(&format!("--- {} (last lines) ---\n", m.name));
            for line in tail.into_iter().rev() {
                all.push_str(line);
                all.push('\n');
            }
        }
        all
    }
}

impl Drop for EtcdCluster {
    fn drop(&mut self) {
        for m in &mut self.members {
            if !m.gone {
                // SIGKILL ends a stopped process too.
                let _ = m.child.kill();
                let _ = m.child.wait();
                m.gone = true;
            }
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
