//! `parley bench`: figures for speed and memory, printed, never asserted. It decodes a SIP
//! INVITE many times, then sets up and tears down calls between two engines through the embedded
//! server on loopback, and reads the process's resident memory.

use crate::engine::{AccountConfig, CallState, Command, Engine, EngineConfig, EngineHandle, Event};
use crate::server::{Server, ServerConfig};
use crate::sip::message::{decode, Inbound};
use std::fmt;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

use crate::sip::message::RFC3261_INVITE as INVITE;

pub mod agent;
pub mod all;
pub mod media;
pub mod msrp;
pub mod overload;
pub mod proxy;
mod quota;
pub mod strangers;

#[derive(Debug, Clone)]
pub struct Report {
    pub decodes: usize,
    pub decode_time: Duration,
    pub calls: usize,
    /// INVITE sent to 200 OK seen, per call.
    pub setups: Vec<Duration>,
    pub total_call_time: Duration,
    pub rss_kib: Option<u64>,
    /// Resident memory again once every transaction's timers ran out (with `settle`).
    pub settled_rss_kib: Option<u64>,
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let per = self.decode_time.as_secs_f64() / self.decodes.max(1) as f64;
        writeln!(
            f,
            "SIP decode:   {} INVITEs in {:.3} s: {:.1} µs each, {:.0} per second",
            self.decodes,
            self.decode_time.as_secs_f64(),
            per * 1e6,
            1.0 / per
        )?;
        let mut s = self.setups.clone();
        s.sort();
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        writeln!(
            f,
            "Call setup:   {} calls through the embedded server on loopback: p50 {:.2} ms, p95 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
            self.calls,
            ms(percentile(&s, 0.5)),
            ms(percentile(&s, 0.95)),
            ms(percentile(&s, 0.99)),
            ms(s.last().copied().unwrap_or_default())
        )?;
        writeln!(
            f,
            "Call cycles:  {:.1} calls per second (INVITE..200..ACK..BYE..200, one at a time)",
            self.calls as f64 / self.total_call_time.as_secs_f64().max(1e-9)
        )?;
        match self.rss_kib {
            Some(k) => writeln!(
                f,
                "Memory:       {:.1} MB resident (server and two engines in this process)",
                k as f64 / 1024.0
            ),
            None => writeln!(f, "Memory:       not available on this system"),
        }?;
        if let Some(k) = self.settled_rss_kib {
            writeln!(f, "Settled:      {:.1} MB resident once the transactions' timers ran out (33 s later)", k as f64 / 1024.0)?;
        }
        Ok(())
    }
}

/// Resident memory of this process, from /proc.
pub fn rss_kib() -> Option<u64> {
    status_kib(None, "VmRSS:")
}

/// A figure of `/proc/<pid>/status` in KiB (`VmRSS:`, `VmHWM:`), of this process without a pid.
pub fn status_kib(pid: Option<u32>, field: &str) -> Option<u64> {
    let path = pid.map_or("/proc/self/status".into(), |p| format!("/proc/{p}/status"));
    let status = std::fs::read_to_string(path).ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// CPU time this thread has used so far (user and system), so that a figure of CPU per second
/// of work does not count the time the thread waited or was preempted.
pub fn thread_cpu() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec through the pointer we pass, which is valid.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// `12.3 MB`, or `n/a` when the figure could not be read.
pub fn mb(kib: Option<u64>) -> String {
    kib.map_or("n/a".into(), |k| format!("{:.1} MB", k as f64 / 1024.0))
}

/// A loopback port free for both UDP and TCP.
pub fn free_port() -> Result<u16, String> {
    for _ in 0..100 {
        let udp = std::net::UdpSocket::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
        let p = udp.local_addr().map_err(|e| e.to_string())?.port();
        if std::net::TcpListener::bind(("127.0.0.1", p)).is_ok() {
            return Ok(p);
        }
    }
    Err("no free port".into())
}

async fn agent(
    user: &str,
    server: std::net::SocketAddr,
) -> Result<(EngineHandle, mpsc::Receiver<Event>, u32), String> {
    let (h, mut ev) = Engine::start(EngineConfig::new("127.0.0.1:0".parse().unwrap()))
        .await
        .map_err(|e| e.to_string())?;
    let mut acc = AccountConfig::new(&format!("sip:{user}@bench.test"), "");
    acc.server = Some(server.to_string());
    h.send(Command::AddAccount(Box::new(acc))).await;
    loop {
        match next(&mut ev).await? {
            Event::Registered { account, .. } => return Ok((h, ev, account)),
            Event::RegistrationFailed { message, .. } => return Err(message),
            _ => {}
        }
    }
}

async fn next(ev: &mut mpsc::Receiver<Event>) -> Result<Event, String> {
    tokio::time::timeout(Duration::from_secs(10), ev.recv())
        .await
        .map_err(|_| "the engine went quiet for 10 s".to_string())?
        .ok_or_else(|| "the engine stopped".to_string())
}

pub async fn run(calls: usize, decodes: usize, settle: bool) -> Result<Report, String> {
    let start = Instant::now();
    for _ in 0..decodes {
        if !matches!(decode(std::hint::black_box(INVITE)), Inbound::Request(_)) {
            return Err("the benchmark INVITE did not decode".into());
        }
    }
    let decode_time = start.elapsed();

    let mut cfg = ServerConfig::new("127.0.0.1:0".parse().unwrap(), "bench.test");
    cfg.open = true;
    let server = Server::start(cfg).await.map_err(|e| e.to_string())?;
    let (alice, mut alice_ev, account) = agent("alice", server.local_addr()).await?;
    let (bob, mut bob_ev, _) = agent("bob", server.local_addr()).await?;
    // Bob answers everything, on his own task (stopped at the end, which stops his engine).
    let answerer = tokio::spawn(async move {
        while let Some(ev) = bob_ev.recv().await {
            if let Event::IncomingCall { call, .. } = ev {
                bob.send(Command::Answer(call)).await;
            }
        }
    });
    let mut setups = Vec::with_capacity(calls);
    let all = Instant::now();
    for _ in 0..calls {
        let t = Instant::now();
        alice
            .send(Command::Call {
                account,
                target: "bob".into(),
            })
            .await;
        let call = loop {
            match next(&mut alice_ev).await? {
                Event::Call {
                    call,
                    state: CallState::Connected,
                    ..
                } => break call,
                Event::CallEnded { message, .. } => {
                    return Err(format!("a call failed: {message}"))
                }
                _ => {}
            }
        };
        setups.push(t.elapsed());
        alice.send(Command::Hangup(call)).await;
        loop {
            if let Event::CallEnded { .. } = next(&mut alice_ev).await? {
                break;
            }
        }
    }
    let total_call_time = all.elapsed();
    answerer.abort();
    let rss = rss_kib();
    let settled_rss_kib = if settle {
        // Timers J, L and M hold finished transactions for 64*T1 = 32 s on UDP.
        tokio::time::sleep(Duration::from_secs(33)).await;
        rss_kib()
    } else {
        None
    };
    Ok(Report {
        decodes,
        decode_time,
        calls,
        setups,
        total_call_time,
        rss_kib: rss,
        settled_rss_kib,
    })
}
