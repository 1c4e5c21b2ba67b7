//! Facts about the machine, for the header line of every report.

#![allow(unsafe_code)]

use std::ffi::CStr;

/// What the report's header line says about the machine.
#[derive(Debug, Clone)]
pub struct Machine {
    /// CPUs this process may run on.
    pub nproc: usize,
    /// `model name` from `/proc/cpuinfo`.
    pub cpu: String,
    /// The kernel release (`uname -r`).
    pub kernel: String,
    /// `gnu_get_libc_version()`.
    pub glibc: String,
}

impl Machine {
    /// Reads the facts of this machine.
    pub fn read() -> Machine {
        let nproc = std::thread::available_parallelism().map_or(1, |n| n.get());
        let cpu = std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(|info| {
                info.lines()
                    .find(|l| l.starts_with("model name"))
                    .and_then(|l| l.split_once(':'))
                    .map(|(_, v)| v.trim().to_owned())
            })
            .unwrap_or_else(|| "unknown CPU".into());
        let kernel = rustix::system::uname()
            .release()
            .to_string_lossy()
            .into_owned();
        // SAFETY: gnu_get_libc_version takes no arguments and has no preconditions.
        let version = unsafe { libc::gnu_get_libc_version() };
        // SAFETY: it returns a pointer to a static NUL-terminated string that lives as long as
        // the process.
        let glibc = unsafe { CStr::from_ptr(version) }
            .to_string_lossy()
            .into_owned();
        Machine {
            nproc,
            cpu,
            kernel,
            glibc,
        }
    }
}

impl std::fmt::Display for Machine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "nproc {}, CPU {}, kernel {}, glibc {}",
            self.nproc, self.cpu, self.kernel, self.glibc
        )
    }
}

/// The filesystem that holds `path`, for reports whose numbers depend on it (`fsync`, `rename`):
/// its type from `/proc/self/mountinfo` (the longest mount point above `path`) and the
/// `statfs(2)` magic number `f_type`, the device, the mount point and the options — say
/// `ext4 (statfs f_type 0xef53) on /dev/vda mounted at / (rw,relatime; rw,discard)`.
pub fn filesystem(path: &std::path::Path) -> String {
    let magic = rustix::fs::statfs(path).map(|s| s.f_type as u32);
    let magic_text = match &magic {
        Ok(m) => format!("statfs f_type {m:#x}"),
        Err(e) => format!("statfs failed: {e}"),
    };
    let full = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_owned());
    // Fields: id parent major:minor root MOUNT_POINT MOUNT_OPTIONS [optional...] - TYPE SOURCE
    // SUPER_OPTIONS; spaces in paths are written as \040.
    let mount = std::fs::read_to_string("/proc/self/mountinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .filter_map(|line| {
                    let (left, right) = line.split_once(" - ")?;
                    let left: Vec<&str> = left.split(' ').collect();
                    let right: Vec<&str> = right.split(' ').collect();
                    let point = left.get(4)?.replace("\\040", " ");
                    full.starts_with(&point).then(|| {
                        (
                            point,
                            left.get(5).copied().unwrap_or("").to_owned(),
                            right.first().copied().unwrap_or("?").to_owned(),
                            right.get(1).copied().unwrap_or("?").to_owned(),
                            right.get(2).copied().unwrap_or("").to_owned(),
                        )
                    })
                })
                // The longest mount point wins; of equal ones the last (it is mounted on top).
                .max_by_key(|m| m.0.len())
        });
    match mount {
        Some((point, options, kind, source, super_options)) => format!(
            "{kind} ({magic_text}) on {source} mounted at {point} ({options}; {super_options})"
        ),
        None => {
            let kind = match magic {
                Ok(0xef53) => "ext2/3/4",
                Ok(0x5846_5342) => "xfs",
                Ok(0x9123_683e) => "btrfs",
                Ok(0x0102_1994) => "tmpfs",
                Ok(0x794c_7630) => "overlayfs",
                _ => "unknown filesystem",
            };
            format!("{kind} ({magic_text})")
        }
    }
}
