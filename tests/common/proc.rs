//! The real `parley` binary as a child process: killed on drop, its stdout lines on a channel.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

pub const BIN: &str = env!("CARGO_BIN_EXE_parley");

/// A child process killed on drop, its stdout lines on a channel.
pub struct Proc {
    pub child: Child,
    lines: mpsc::Receiver<String>,
}

impl Proc {
    pub fn spawn(args: &[&str]) -> Proc {
        Self::spawn_cmd(Command::new(BIN).args(args))
    }

    pub fn spawn_cmd(cmd: &mut Command) -> Proc {
        let mut child = cmd
            .stdout(Stdio::piped())
            // With PARLEY_LOG set, the child's log shows beside the test's output.
            .stderr(match std::env::var_os("PARLEY_LOG") {
                Some(_) => Stdio::inherit(),
                None => Stdio::null(),
            })
            .spawn()
            .unwrap();
        let out = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        Proc { child, lines }
    }

    /// The first line (within a minute) that `pred` accepts: a hang fails the test.
    pub fn wait_line(&self, pred: impl Fn(&str) -> bool) -> String {
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            let line = self.lines.recv_timeout(left).expect("no such line");
            if pred(&line) {
                return line;
            }
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `parley serve` on a free loopback port, and Bob's `agent --auto-answer` registered to it.
/// Returns the server, its address and Bob.
pub fn server_and_bob(
    server_args: &[&str],
    bob_dir: &std::path::Path,
    bob_password: &str,
) -> (Proc, String, Proc) {
    server_and_bob_with(server_args, bob_dir, bob_password, &[])
}

/// As `server_and_bob`, with more options for Bob's agent.
pub fn server_and_bob_with(
    server_args: &[&str],
    bob_dir: &std::path::Path,
    bob_password: &str,
    bob_args: &[&str],
) -> (Proc, String, Proc) {
    let mut args = vec!["serve", "--bind", "127.0.0.1:0", "--domain", "company.com"];
    args.extend_from_slice(server_args);
    let server = Proc::spawn(&args);
    let line = server.wait_line(|l| l.contains("listening on"));
    let addr = line
        .split("listening on ")
        .nth(1)
        .unwrap()
        .split(' ')
        .next()
        .unwrap()
        .to_string();
    let mut args = vec![
        "--profile",
        bob_dir.to_str().unwrap(),
        "agent",
        "--account",
        "sip:bob@company.com",
        "--password",
        bob_password,
        "--server",
        &addr,
        "--bind",
        "127.0.0.1:0",
        "--auto-answer",
        "--json",
    ];
    args.extend_from_slice(bob_args);
    let bob = Proc::spawn(&args);
    bob.wait_line(|l| l.contains(r#""event":"registered""#));
    (server, addr, bob)
}

/// Waits for a child and returns its exit code and peak resident memory in KiB (from the
/// kernel's accounting of the child, so nothing is sampled).
pub fn wait_with_peak(p: Proc) -> (i32, u64) {
    let pid = p.child.id() as libc::pid_t;
    let (mut status, mut usage) = (0, unsafe { std::mem::zeroed::<libc::rusage>() });
    // SAFETY: `pid` is our own child, not reaped yet; both out-pointers are valid.
    let r = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    assert_eq!(r, pid, "wait4 failed");
    // Reaped here: Drop must not kill or wait on a pid that may be reused.
    std::mem::forget(p);
    (libc::WEXITSTATUS(status), usage.ru_maxrss as u64)
}

/// A running child's peak resident memory so far, in KiB.
pub fn peak_of(p: &Proc) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{}/status", p.child.id())).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .expect("VmHWM in /proc")
}
