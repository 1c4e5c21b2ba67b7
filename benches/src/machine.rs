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
