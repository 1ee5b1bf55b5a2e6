//! A CPU quota for a process and the children it forks: a cgroup of its own (v2 `cpu.max`, or
//! v1 `cpu.cfs_quota_us`) that it joins between fork and exec, before it can fork workers. The
//! overload benchmark holds each proxy to a share of one core with it, so the proxy is what
//! saturates, not sipp's two ends on the same two cores.

use std::fs::{self, File};
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Scheduling periods of 10 ms: a held process waits at most the rest of one, well under the
/// server's 150 ms queue limit, so its own overload control is what answers, not the quota.
const PERIOD_US: u64 = 10_000;

pub struct Quota {
    dir: PathBuf,
}

/// Where a cgroup with the CPU controller can be made: v2 if it offers `cpu` to children, else
/// v1's `cpu` hierarchy.
fn cgroup_root() -> Option<(PathBuf, bool)> {
    let v2 = Path::new("/sys/fs/cgroup");
    let offered = fs::read_to_string(v2.join("cgroup.subtree_control")).unwrap_or_default();
    if offered.split_whitespace().any(|c| c == "cpu") {
        return Some((v2.to_path_buf(), true));
    }
    let v1 = v2.join("cpu");
    v1.join("cpu.cfs_quota_us").exists().then_some((v1, false))
}

impl Quota {
    /// A new cgroup whose processes together get `share` of one core.
    pub fn new(share: f64) -> Result<Quota, String> {
        let (root, v2) = cgroup_root().ok_or("no cgroup with the CPU controller here")?;
        let dir = root.join(format!(
            "parley-bench-{}",
            crate::sip::message::random_token(6)
        ));
        let denied = |e: std::io::Error| {
            format!(
                "cannot make a cgroup in {} ({e}); run the benchmark as root",
                root.display()
            )
        };
        fs::create_dir(&dir).map_err(denied)?;
        let quota = Quota { dir };
        let us = ((PERIOD_US as f64) * share).round().max(1000.0) as u64;
        let set = match v2 {
            true => fs::write(quota.dir.join("cpu.max"), format!("{us} {PERIOD_US}")),
            false => fs::write(quota.dir.join("cpu.cfs_period_us"), PERIOD_US.to_string())
                .and_then(|_| fs::write(quota.dir.join("cpu.cfs_quota_us"), us.to_string())),
        };
        set.map_err(denied)?;
        Ok(quota)
    }

    /// Makes `cmd`'s process join this cgroup before it execs.
    pub fn hold(&self, cmd: &mut Command) -> Result<(), String> {
        let procs = File::options()
            .write(true)
            .open(self.dir.join("cgroup.procs"))
            .map_err(|e| format!("cannot open the cgroup: {e}"))?;
        let fd = procs.as_raw_fd();
        // SAFETY: between fork and exec only async-signal-safe calls are allowed: getpid and
        // write, with the pid formatted on the stack; the file stays open in the parent
        // (moved into the closure, which lives as long as `cmd`).
        unsafe {
            cmd.pre_exec(move || {
                let _keep = &procs;
                let mut digits = [0u8; 20];
                let text = pid_digits(libc::getpid() as u32, &mut digits);
                match libc::write(fd, text.as_ptr().cast(), text.len()) {
                    n if n == text.len() as isize => Ok(()),
                    _ => Err(std::io::Error::last_os_error()),
                }
            })
        };
        Ok(())
    }
}

/// `pid` in decimal, written into the end of `buf` without allocating.
fn pid_digits(mut pid: u32, buf: &mut [u8; 20]) -> &[u8] {
    let mut at = buf.len();
    loop {
        at -= 1;
        buf[at] = b'0' + (pid % 10) as u8;
        pid /= 10;
        if pid == 0 {
            return &buf[at..];
        }
    }
}

impl Drop for Quota {
    /// The cgroup goes once its processes have (they are waited for before).
    fn drop(&mut self) {
        let _ = fs::remove_dir(&self.dir);
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn pids_are_written_in_decimal() {
        let mut b = [0u8; 20];
        assert_eq!(super::pid_digits(0, &mut b), b"0");
        assert_eq!(super::pid_digits(4_194_304, &mut b), b"4194304");
    }
}
