//! `parley bench proxy`: sipp's caller and callee through `parley serve --open` and, where it is
//! installed, through Kamailio (registrar + record-routing stateful proxy, 2 workers) at rising
//! call rates, in the same run: calls completed, failed and the proxy's CPU time per call (its
//! processes' user + system time from /proc, before and after).

use super::free_port;
use super::quota::Quota;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// The proxy under test: its processes are summed for CPU.
pub(super) struct Proxy {
    pub name: &'static str,
    child: Child,
    port: u16,
}

impl Drop for Proxy {
    /// SIGTERM, so Kamailio stops its workers too (SIGKILL would orphan them).
    fn drop(&mut self) {
        // SAFETY: kill(2) on our own child's pid has no memory effects.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let _ = self.child.wait();
    }
}

/// What one rate gave.
pub struct Round {
    pub proxy: &'static str,
    pub rate: u32,
    pub attempted: u64,
    pub completed: u64,
    pub failed: u64,
    pub cpu: Duration,
}

impl Round {
    pub fn cpu_per_call_ms(&self) -> f64 {
        self.cpu.as_secs_f64() * 1000.0 / self.completed.max(1) as f64
    }
}

const KAMAILIO_CFG: &str = r#"#!KAMAILIO
debug=1
log_stderror=yes
children=2
auto_aliases=no
alias="bench.test"
mpath="/usr/lib/x86_64-linux-gnu/kamailio/modules/"
loadmodule "tm.so"
loadmodule "sl.so"
loadmodule "rr.so"
loadmodule "pv.so"
loadmodule "maxfwd.so"
loadmodule "usrloc.so"
loadmodule "registrar.so"
loadmodule "siputils.so"
loadmodule "textops.so"
modparam("usrloc", "db_mode", 0)
modparam("rr", "enable_full_lr", 1)
request_route {
    if (!mf_process_maxfwd_header("10")) { sl_send_reply("483", "Too Many Hops"); exit; }
    if (has_totag()) {
        if (loose_route()) { t_relay(); exit; }
        if (is_method("ACK") && t_check_trans()) { t_relay(); }
        exit;
    }
    if (is_method("CANCEL")) { if (t_check_trans()) { t_relay(); } exit; }
    t_check_trans();
    if (is_method("REGISTER")) { save("location"); exit; }
    if (is_method("INVITE")) { record_route(); }
    if (!lookup("location")) { sl_send_reply("404", "Not Found"); exit; }
    t_relay();
}
"#;

/// Starts `cmd` silent, held to `quota` if given.
fn spawn(mut cmd: Command, quota: Option<&Quota>, what: &str) -> Result<Child, String> {
    if let Some(q) = quota {
        q.hold(&mut cmd)?;
    }
    cmd.stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start {what}: {e}"))
}

pub(super) fn start_parley(dir: &Path, quota: Option<&Quota>) -> Result<Proxy, String> {
    let port = free_port()?;
    let mut cmd = Command::new(std::env::current_exe().map_err(|e| e.to_string())?);
    cmd.arg("--profile")
        .arg(dir.join("serve-profile"))
        .args(["serve", "--bind", &format!("127.0.0.1:{port}")])
        .args(["--domain", "bench.test", "--open"]);
    let child = spawn(cmd, quota, "parley serve")?;
    Ok(Proxy {
        name: "parley serve",
        child,
        port,
    })
}

pub(super) fn kamailio_bin() -> Option<&'static str> {
    ["/usr/sbin/kamailio", "/usr/local/sbin/kamailio"]
        .into_iter()
        .find(|p| Path::new(p).exists())
}

pub(super) fn start_kamailio(
    bin: &str,
    dir: &Path,
    quota: Option<&Quota>,
) -> Result<Proxy, String> {
    let port = free_port()?;
    let cfg = dir.join("kamailio.cfg");
    std::fs::write(&cfg, KAMAILIO_CFG).map_err(|e| e.to_string())?;
    let run = dir.to_string_lossy().to_string();
    let mut cmd = Command::new(bin);
    cmd.arg("-f")
        .arg(&cfg)
        .args(["-DD", "-E", "-m", "1024", "-Y", &run, "-w", &run])
        .args(["-l", &format!("udp:127.0.0.1:{port}")]);
    let child = spawn(cmd, quota, "kamailio")?;
    Ok(Proxy {
        name: "Kamailio",
        child,
        port,
    })
}

/// Registers `user` at the proxy with `contact`, waiting for its 200 (the proxy is up then).
fn register(proxy: u16, user: &str, contact: u16) -> Result<(), String> {
    let sock = std::net::UdpSocket::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    sock.set_read_timeout(Some(Duration::from_millis(200)))
        .map_err(|e| e.to_string())?;
    let me = sock.local_addr().map_err(|e| e.to_string())?;
    for i in 0..50 {
        let reg = format!(
            "REGISTER sip:bench.test SIP/2.0\r\nVia: SIP/2.0/UDP {me};branch=z9hG4bKbench{user}{i}\r\n\
             From: <sip:{user}@bench.test>;tag=b{i}\r\nTo: <sip:{user}@bench.test>\r\n\
             Call-ID: bench-{user}-{i}\r\nCSeq: {} REGISTER\r\nMax-Forwards: 70\r\n\
             Contact: <sip:{user}@127.0.0.1:{contact}>\r\nExpires: 3600\r\nContent-Length: 0\r\n\r\n",
            i + 1
        );
        let _ = sock.send_to(reg.as_bytes(), ("127.0.0.1", proxy));
        let mut buf = [0u8; 4096];
        while let Ok(n) = sock.recv(&mut buf) {
            if buf[..n].starts_with(b"SIP/2.0 200") {
                return Ok(());
            }
        }
    }
    Err(format!("{user} could not register at port {proxy}"))
}

/// User + system time of a process and its direct children (Kamailio's workers), from /proc.
fn cpu_of(pid: u32) -> Duration {
    let tick = 100.0; // USER_HZ on Linux
    let mut total = 0u64;
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Duration::ZERO;
    };
    for e in dir.flatten() {
        let Ok(stat) = std::fs::read_to_string(e.path().join("stat")) else {
            continue;
        };
        // Fields after the command name, which may hold spaces: `) S ppid ...`.
        let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) else {
            continue;
        };
        let f: Vec<&str> = rest.split_whitespace().collect();
        let this: u32 = stat
            .split_whitespace()
            .next()
            .and_then(|p| p.parse().ok())
            .unwrap_or(0);
        let ppid: u32 = f.get(1).and_then(|p| p.parse().ok()).unwrap_or(0);
        if this == pid || ppid == pid {
            let t = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
            total += t(11) + t(12);
        }
    }
    Duration::from_secs_f64(total as f64 / tick)
}

/// sipp with its whole run bounded, and a call that hears nothing for 10 s beyond its hold
/// counted failed.
fn sipp(args: &[String], seconds: u32, hold_ms: u32) -> Command {
    let quiet = (hold_ms + 10_000).to_string();
    let mut c = Command::new("sipp");
    c.args(args)
        .args(["-i", "127.0.0.1", "-nostdin", "-recv_timeout", &quiet])
        .args(["-timeout", &format!("{}s", seconds * 2 + 30)])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    c
}

/// The last row of sipp's statistics file: (successful, failed) calls.
fn sipp_counts(stat: &Path) -> Result<(u64, u64), String> {
    let text = std::fs::read_to_string(stat).map_err(|e| format!("no sipp statistics: {e}"))?;
    let mut lines = text.lines();
    let head: Vec<&str> = lines.next().unwrap_or_default().split(';').collect();
    let last: Vec<&str> = lines.last().unwrap_or_default().split(';').collect();
    let col = |name: &str| {
        let i = head.iter().position(|h| *h == name)?;
        last.get(i)?.trim().parse::<u64>().ok()
    };
    match (col("SuccessfulCall(C)"), col("FailedCall(C)")) {
        (Some(ok), Some(failed)) => Ok((ok, failed)),
        _ => Err("sipp's statistics have no call counts".into()),
    }
}

/// One rate for `seconds` through `proxy`: a fresh sipp callee and caller.
pub(super) fn round(proxy: &Proxy, rate: u32, load: Load, dir: &Path) -> Result<Round, String> {
    let (uas_port, uac_port) = (free_port()?, free_port()?);
    let uas_args = [
        "-sn".into(),
        "uas".into(),
        "-p".into(),
        uas_port.to_string(),
    ];
    let mut uas = sipp(
        &uas_args,
        load.seconds + load.hold_ms / 1000 + 30,
        load.hold_ms,
    )
    .spawn()
    .map_err(|e| format!("cannot start sipp (sudo apt-get install sip-tester): {e}"))?;
    let result = (|| {
        register(proxy.port, "bob", uas_port)?;
        register(proxy.port, "alice", uac_port)?;
        let stat = dir.join(format!(
            "{}-{rate}-{}.csv",
            proxy.name.replace(' ', "-"),
            crate::sip::message::random_token(4)
        ));
        let calls = u64::from(rate) * u64::from(load.seconds);
        let before = cpu_of(proxy.child.id());
        let status = sipp(
            &[
                "-sn".into(),
                "uac".into(),
                "-s".into(),
                "bob".into(),
                "-p".into(),
                uac_port.to_string(),
                "-r".into(),
                rate.to_string(),
                "-d".into(),
                load.hold_ms.to_string(),
                "-m".into(),
                calls.to_string(),
                "-trace_stat".into(),
                "-stf".into(),
                stat.to_string_lossy().to_string(),
                "-fd".into(),
                "1".into(),
                format!("127.0.0.1:{}", proxy.port),
            ],
            load.seconds + load.hold_ms / 1000,
            load.hold_ms,
        )
        .status()
        .map_err(|e| format!("cannot start sipp: {e}"))?;
        let cpu = cpu_of(proxy.child.id()).saturating_sub(before);
        let (completed, failed) = sipp_counts(&stat)?;
        tracing::debug!(?status, "sipp caller ended");
        Ok(Round {
            proxy: proxy.name,
            rate,
            attempted: calls,
            completed,
            failed,
            cpu,
        })
    })();
    let _ = uas.kill();
    let _ = uas.wait();
    result
}

/// How long each rate runs, and how long each call lasts between its ACK and its BYE (calls in
/// flight: rate x hold).
#[derive(Debug, Clone, Copy)]
pub struct Load {
    pub seconds: u32,
    pub hold_ms: u32,
}

/// Every rate through parley serve, then through Kamailio when installed.
pub fn run(rates: &[u32], load: Load) -> Result<String, String> {
    let dir = std::env::temp_dir().join(format!(
        "parley-bench-proxy-{}",
        crate::sip::message::random_token(8)
    ));
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let mut rounds = Vec::new();
    let mut out = String::new();
    for &rate in rates {
        let p = start_parley(&dir, None)?;
        rounds.push(round(&p, rate, load, &dir)?);
        drop(p);
        match kamailio_bin() {
            Some(bin) => {
                let k = start_kamailio(bin, &dir, None)?;
                rounds.push(round(&k, rate, load, &dir)?);
            }
            None => out
                .push_str("Kamailio is not installed (sudo apt-get install kamailio): no anchor\n"),
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    out.push_str(&format!(
        "Each rate for {} s, calls held {} ms (about {} in flight at the top rate)\n",
        load.seconds,
        load.hold_ms,
        rates.iter().max().copied().unwrap_or(0) as u64 * u64::from(load.hold_ms) / 1000
    ));
    out.push_str(&table(&rounds));
    Ok(out)
}

fn table(rounds: &[Round]) -> String {
    let mut s = String::from(
        "Proxy         calls/s   calls   completed  failed  CPU per call   vs Kamailio\n",
    );
    for r in rounds {
        let anchor = rounds
            .iter()
            .find(|k| k.proxy == "Kamailio" && k.rate == r.rate)
            .map(|k| {
                format!(
                    "{:.2}x",
                    r.cpu_per_call_ms() / k.cpu_per_call_ms().max(1e-9)
                )
            })
            .unwrap_or_default();
        s.push_str(&format!(
            "{:<13} {:>7} {:>7} {:>11} {:>7} {:>9.3} ms   {anchor}\n",
            r.proxy,
            r.rate,
            r.attempted,
            r.completed,
            r.failed,
            r.cpu_per_call_ms()
        ));
    }
    s
}
