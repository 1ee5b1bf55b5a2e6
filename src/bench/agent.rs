//! `parley bench agent`: the resident memory of a headless `parley agent`, registered and idle,
//! during a call, and after many calls, beside baresip's (registered to the same server, same
//! states) where baresip is installed. Processes are the real binaries; memory is VmRSS.

use super::{free_port, mb};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A child process killed when dropped.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn rss_kib(pid: u32) -> Option<u64> {
    super::status_kib(Some(pid), "VmRSS:")
}

fn parley(dir: &Path, profile: &str) -> Result<Command, String> {
    let mut c = Command::new(std::env::current_exe().map_err(|e| e.to_string())?);
    c.arg("--profile").arg(dir.join(profile));
    c.stdin(Stdio::null()).stderr(Stdio::null());
    Ok(c)
}

/// The agent to measure: the lean build (`cargo build --profile agent --no-default-features
/// --bin parley-agent`, in `target/agent/`) when there is one, then a `parley-agent` beside
/// this program (as installed), else this program's own `parley agent`.
fn agent_program() -> Result<(std::path::PathBuf, bool), String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let lean = [
        exe.parent()
            .and_then(Path::parent)
            .map(|t| t.join("agent/parley-agent")),
        Some(exe.with_file_name("parley-agent")),
    ];
    match lean.into_iter().flatten().find(|p| p.exists()) {
        Some(p) => Ok((p, true)),
        None => Ok((exe, false)),
    }
}

/// The agent as bob, answering every call; returned once it says it registered.
fn start_agent(
    dir: &Path,
    server: u16,
    program: &(std::path::PathBuf, bool),
) -> Result<Proc, String> {
    let mut c = Command::new(&program.0);
    c.arg("--profile").arg(dir.join("bob"));
    c.stdin(Stdio::null()).stderr(Stdio::null());
    if !program.1 {
        c.arg("agent");
    }
    // The same work as baresip's: a 440 Hz tone in, what it hears written to a WAV file.
    let record = dir.join("bob-player.wav");
    c.args([
        "--account",
        "sip:bob@bench.test",
        "--auto-answer",
        "--tone",
        "440",
    ])
    .arg("--record")
    .arg(record)
    .args(["--server", &format!("127.0.0.1:{server}")])
    .args(["--bind", "127.0.0.1:0"])
    .stdout(Stdio::piped());
    let mut child = c.spawn().map_err(|e| e.to_string())?;
    let out = child.stdout.take().ok_or("no agent output")?;
    let p = Proc(child);
    let mut lines = BufReader::new(out).lines();
    loop {
        match lines.next() {
            Some(Ok(l)) if l.starts_with("registered") => break,
            Some(Ok(_)) => {}
            _ => return Err("the agent did not register".into()),
        }
    }
    // Keep reading (and dropping) its output so it never blocks on a full pipe.
    std::thread::spawn(move || lines.for_each(drop));
    Ok(p)
}

/// Headless baresip as carol, answering by itself, registered at our server.
fn start_baresip(dir: &Path, server: u16) -> Result<Proc, String> {
    let home = dir.join("baresip");
    std::fs::create_dir_all(&home).map_err(|e| e.to_string())?;
    let (sip, d) = (free_port()?, home.display());
    let config = format!(
        "sip_listen 127.0.0.1:{sip}\nnet_interface 127.0.0.1\nmodule_path /usr/lib/baresip/modules\n\
         module g711.so\nmodule opus.so\nmodule ausine.so\nmodule aufile.so\nmodule_app account.so\n\
         audio_source ausine,440\naudio_player aufile,{d}/player.wav\naudio_alert aufile,{d}/alert.wav\n"
    );
    std::fs::write(home.join("config"), config).map_err(|e| e.to_string())?;
    let account = format!(
        "<sip:carol@bench.test>;auth_pass=x;outbound=\"sip:127.0.0.1:{server}\";regint=3600;answermode=auto\n"
    );
    std::fs::write(home.join("accounts"), account).map_err(|e| e.to_string())?;
    let child = Command::new("baresip")
        .arg("-f")
        .arg(&home)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start baresip (sudo apt-get install baresip-core): {e}"))?;
    Ok(Proc(child))
}

/// One call from a fresh `parley call` to `target`, hung up after `seconds`, playing the same
/// tone as either callee and discarding what it hears; its output is piped.
fn call(dir: &Path, server: u16, target: &str, seconds: f64) -> Result<Proc, String> {
    let mut c = parley(dir, "alice")?;
    c.args(["call", target, "--account", "sip:alice@bench.test"])
        .args(["--server", &format!("127.0.0.1:{server}")])
        .args(["--bind", "127.0.0.1:0", "--tone", "440"])
        .args(["--hangup-after", &seconds.to_string()])
        .stdout(Stdio::piped());
    Ok(Proc(c.spawn().map_err(|e| e.to_string())?))
}

/// Whether a caller's output line says it has heard at least two seconds of the callee's audio:
/// the call connected and the callee is doing a call's work.
fn heard_enough(line: &str) -> bool {
    line.split(", ")
        .find_map(|part| part.rsplit_once("received ").map(|(_, n)| n.parse::<u64>()))
        .is_some_and(|n| n.is_ok_and(|n| n >= 100))
}

/// RSS of `pid` in a call to `target`, read once the caller has heard two seconds from it.
fn during_call(dir: &Path, server: u16, target: &str, pid: u32) -> Result<Option<u64>, String> {
    let mut caller = call(dir, server, target, 8.0)?;
    let out = caller.0.stdout.take().ok_or("no caller output")?;
    let mut lines = BufReader::new(out).lines();
    let connected = lines
        .by_ref()
        .map_while(Result::ok)
        .any(|l| heard_enough(&l));
    let rss = rss_kib(pid);
    lines.for_each(drop);
    let _ = caller.0.wait();
    match connected {
        true => Ok(rss),
        false => Err(format!(
            "the call to {target} did not connect or carried no audio"
        )),
    }
}

/// The RSS of `pid` after one short call to `target`, after `n` more, and after `n` more again,
/// each measured once the batch's transactions have run out (RFC 3261 keeps each for 32 s to
/// absorb retransmissions: state of the last half minute, not of every call).
fn growth(dir: &Path, server: u16, target: &str, pid: u32, n: usize) -> Result<String, String> {
    let calls = |k: usize| -> Result<Option<u64>, String> {
        for _ in 0..k {
            let mut c = call(dir, server, target, 0.2)?;
            if let Some(out) = c.0.stdout.take() {
                BufReader::new(out).lines().for_each(drop);
            }
            let _ = c.0.wait();
        }
        std::thread::sleep(Duration::from_secs(34));
        Ok(rss_kib(pid))
    };
    let t0 = Instant::now();
    let (first, warm, after) = (calls(1)?, calls(n)?, calls(n)?);
    let per_call = |a: Option<u64>, b: Option<u64>, k: usize| match (a, b) {
        (Some(a), Some(b)) => format!("{:+.2} KB", (b as f64 - a as f64) / k as f64),
        _ => "n/a".into(),
    };
    Ok(format!(
        "{} after 1 call, {} after {}, {} after {}, each 34 s after its last call: {} per call over all {}, {} over the second {n} ({:.0} s)",
        mb(first),
        mb(warm),
        n + 1,
        mb(after),
        2 * n + 1,
        per_call(first, after, 2 * n),
        2 * n,
        per_call(warm, after, n),
        t0.elapsed().as_secs_f64()
    ))
}

pub fn run(calls: usize) -> Result<String, String> {
    let dir = std::env::temp_dir().join(format!(
        "parley-bench-agent-{}",
        crate::sip::message::random_token(8)
    ));
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let port = free_port()?;
    let mut serve = parley(&dir, "server")?;
    serve
        .args(["serve", "--bind", &format!("127.0.0.1:{port}")])
        .args(["--domain", "bench.test", "--open"])
        .stdout(Stdio::null());
    let _server = Proc(serve.spawn().map_err(|e| e.to_string())?);
    std::thread::sleep(Duration::from_millis(300));
    let program = agent_program()?;
    let mut out = format!("Agent measured: {}\n", program.0.display());
    let agent = start_agent(&dir, port, &program)?;
    std::thread::sleep(Duration::from_secs(2));
    let pid = agent.0.id();
    let idle = rss_kib(pid);
    let busy = during_call(&dir, port, "sip:bob@bench.test", pid)?;
    out += &format!(
        "parley agent: {} registered and idle, {} during a call\n",
        mb(idle),
        mb(busy)
    );
    out += &format!(
        "  over calls: {}\n",
        growth(&dir, port, "sip:bob@bench.test", pid, calls)?
    );
    drop(agent);
    match start_baresip(&dir, port) {
        Ok(b) => {
            // baresip says nothing on stdout headless: give it the time the agent took.
            std::thread::sleep(Duration::from_secs(3));
            let pid = b.0.id();
            let (idle_b, busy_b) = (
                rss_kib(pid),
                during_call(&dir, port, "sip:carol@bench.test", pid)?,
            );
            out += &format!(
                "baresip:      {} registered and idle, {} during a call\n",
                mb(idle_b),
                mb(busy_b)
            );
            let ratio = |a: Option<u64>, b: Option<u64>| match (a, b) {
                (Some(a), Some(b)) if b > 0 => format!("{:.2}x", a as f64 / b as f64),
                _ => "n/a".into(),
            };
            out += &format!(
                "Ratio:        {} idle, {} during a call (parley / baresip)\n",
                ratio(idle, idle_b),
                ratio(busy, busy_b)
            );
        }
        Err(e) => out += &format!("baresip: {e}\n"),
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(out)
}
