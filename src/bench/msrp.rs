//! `parley bench msrp`: a file sent end to end as a user sends it (an engine here, a `parley
//! agent` receiving), and through two bare MSRP sessions on loopback (chunks from disk, the
//! receiver writing, hashing and checking it, the Success-Report back) against a raw TCP copy of
//! the same bytes from file to file in the same run, and the peak memory of the sender (this
//! process; Linux lets the peak be reset between runs through `clear_refs`) and of the receiver
//! (a child process) for a small and a large file.

use super::mb;
use crate::msrp::session::{MsrpSession, SessionEvent, SessionParams};
use std::path::Path;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;

const MIB: u64 = 1 << 20;

fn make(path: &Path, mib: u64) -> Result<(), String> {
    use std::io::Write;
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).map_err(|e| e.to_string())?);
    let block: Vec<u8> = (0..MIB).map(|i| (i * 7 % 251) as u8).collect();
    for _ in 0..mib {
        f.write_all(&block).map_err(|e| e.to_string())?;
    }
    f.flush().map_err(|e| e.to_string())
}

const SENDER_PATH: &str = "msrp://127.0.0.1:9/bench-a;tcp";

fn params(local: &str, remote: &str, active: bool, inbox: &Path) -> SessionParams {
    SessionParams {
        local_path: local.into(),
        remote_path: remote.into(),
        active,
        files: inbox.to_path_buf(),
        partial: inbox.join(".partial"),
        max_size: u64::MAX,
        expect: None,
        ask: false,
        max_upload: None,
        budget: Default::default(),
        tls: None,
    }
}

/// The receiving end, run as its own process (`parley bench msrp-receiver`) so its memory is
/// measured apart: prints its MSRP path, takes one file, prints its peak memory.
pub async fn receive(inbox: &Path) -> Result<String, String> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    let path = format!("msrp://{}/bench-b;tcp", listener.local_addr().unwrap());
    println!("{path}");
    let (tx, mut rx) = mpsc::unbounded_channel();
    let _bob = MsrpSession::start(
        Some(listener),
        params(&path, SENDER_PATH, false, inbox),
        move |e| {
            let _ = tx.send(e);
        },
    );
    // Stays until the sender closes, so the Success-Report gets out.
    let mut received = false;
    while let Some(e) = rx.recv().await {
        match e {
            SessionEvent::FileReceived { .. } => received = true,
            SessionEvent::Failed(why) => return Err(why),
            _ => {}
        }
    }
    match received {
        true => Ok(format!("peak {}\n", peak_kib().unwrap_or(0))),
        false => Err("the session ended before the file arrived".into()),
    }
}

/// Sends `file` to a receiver process; the time until we heard it arrived whole, and the
/// receiver's peak memory (KiB).
async fn msrp_copy(file: &Path, inbox: &Path) -> Result<(Duration, Option<u64>), String> {
    use tokio::io::AsyncBufReadExt;
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let mut child = tokio::process::Command::new(exe)
        .args(["bench", "msrp-receiver", "--inbox"])
        .arg(inbox)
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("cannot start the receiver: {e}"))?;
    let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let their_path = lines
        .next_line()
        .await
        .map_err(|e| e.to_string())?
        .ok_or("the receiver did not start")?;
    let (tx, mut rx) = mpsc::unbounded_channel();
    let alice = MsrpSession::start(
        None,
        params(SENDER_PATH, &their_path, true, inbox),
        move |e| {
            let _ = tx.send(e);
        },
    );
    let t0 = Instant::now();
    alice.send_file(file.to_path_buf());
    let took = loop {
        match rx.recv().await {
            Some(SessionEvent::FileSent { .. }) => break t0.elapsed(),
            Some(SessionEvent::Failed(why)) => return Err(why),
            Some(_) => {}
            None => return Err("the session ended".into()),
        }
    };
    drop(alice);
    let said = lines.next_line().await.map_err(|e| e.to_string())?;
    let peak = said.and_then(|l| l.strip_prefix("peak ")?.trim().parse().ok());
    let _ = child.wait().await;
    Ok((took, peak))
}

/// The same bytes from file to socket to file, with nothing in between.
async fn raw_copy(file: &Path, out: &Path) -> Result<Duration, String> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| e.to_string())?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let out = out.to_path_buf();
    let receiver = tokio::spawn(async move {
        use std::io::Write;
        let (mut s, _) = listener.accept().await?;
        let mut f = std::fs::File::create(&out)?;
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = s.read(&mut buf).await?;
            if n == 0 {
                return f.sync_all();
            }
            f.write_all(&buf[..n])?;
        }
    });
    let t0 = Instant::now();
    let mut s = tokio::net::TcpStream::connect(addr)
        .await
        .map_err(|e| e.to_string())?;
    let mut f = std::fs::File::open(file).map_err(|e| e.to_string())?;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = std::io::Read::read(&mut f, &mut buf).map_err(|e| e.to_string())?;
        if n == 0 {
            break;
        }
        s.write_all(&buf[..n]).await.map_err(|e| e.to_string())?;
    }
    drop(s);
    receiver
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())?;
    Ok(t0.elapsed())
}

/// A `parley agent` child taking files into `inbox`, registered at `server` as bob.
async fn receiving_agent(
    dir: &Path,
    inbox: &Path,
    server: std::net::SocketAddr,
) -> Result<tokio::process::Child, String> {
    use tokio::io::AsyncBufReadExt;
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let mut child = tokio::process::Command::new(exe)
        .arg("--profile")
        .arg(dir.join("bob"))
        .args(["agent", "--account", "sip:bob@bench.test", "--auto-answer"])
        .args(["--server", &server.to_string(), "--bind", "127.0.0.1:0"])
        .arg("--accept-files")
        .arg(inbox)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("cannot start the receiving agent: {e}"))?;
    let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    loop {
        match lines.next_line().await {
            Ok(Some(l)) if l.starts_with("registered") => break,
            Ok(Some(_)) => {}
            _ => return Err("the receiving agent did not register".into()),
        }
    }
    // Its further output is read and dropped, so it never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    Ok(child)
}

/// As a user sends a file: from `SendFileTo` (the file described and hashed, the INVITE with
/// its file-selector answered, MSRP connected, the bytes sent) to the receiver's report that it
/// arrived whole and checked. The receiver is a `parley agent` of its own.
async fn end_to_end(dir: &Path, files: &[&Path]) -> Result<Vec<Duration>, String> {
    let mut cfg = crate::server::ServerConfig::new("127.0.0.1:0".parse().unwrap(), "bench.test");
    cfg.open = true;
    let server = crate::server::Server::start(cfg)
        .await
        .map_err(|e| e.to_string())?;
    let inbox = dir.join("agent-inbox");
    let _bob = receiving_agent(dir, &inbox, server.local_addr()).await?;
    let (alice, mut ev, account) = super::agent("alice", server.local_addr()).await?;
    let mut took = Vec::new();
    for file in files {
        let t0 = Instant::now();
        let (target, path) = ("bob".to_string(), file.to_path_buf());
        alice
            .send(crate::engine::Command::SendFileTo {
                account,
                target,
                path,
            })
            .await;
        loop {
            match tokio::time::timeout(Duration::from_secs(120), ev.recv()).await {
                Ok(Some(crate::engine::Event::FileSent { .. })) => break,
                Ok(Some(crate::engine::Event::TransferFailed { message, .. })) => {
                    return Err(message)
                }
                Ok(Some(_)) => {}
                _ => return Err("the file was not confirmed".into()),
            }
        }
        took.push(t0.elapsed());
        let _ = std::fs::remove_dir_all(&inbox);
    }
    alice.send(crate::engine::Command::Shutdown).await;
    Ok(took)
}

/// Waits until everything written so far is on disk.
fn quiet_disk() {
    // SAFETY: sync(2) takes no arguments and touches no memory of ours.
    unsafe { libc::sync() };
}

/// Resets this process's peak resident memory to its current size.
fn reset_peak() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

fn peak_kib() -> Option<u64> {
    super::status_kib(None, "VmHWM:")
}

pub async fn run(mib: u64) -> Result<String, String> {
    let dir = tempfile_dir()?;
    let (big, small) = (dir.join("big.bin"), dir.join("small.bin"));
    make(&big, mib)?;
    make(&small, 1)?;
    let inbox = dir.join("inbox");
    std::fs::create_dir_all(&inbox).map_err(|e| e.to_string())?;
    // Both warmed alike: the file read once (a first copy), then timed. Each timed part starts
    // on a quiet disk (what the part before wrote flushed first), so none waits on another's.
    let _ = raw_copy(&big, &dir.join("raw.bin")).await?;
    quiet_disk();
    let raw = raw_copy(&big, &dir.join("raw.bin")).await?;
    let _ = std::fs::remove_file(dir.join("raw.bin"));
    reset_peak();
    let (_, small_receiver) = msrp_copy(&small, &inbox).await?;
    let small_sender = peak_kib();
    reset_peak();
    quiet_disk();
    let (msrp, big_receiver) = msrp_copy(&big, &inbox).await?;
    let big_sender = peak_kib();
    let _ = std::fs::remove_dir_all(&inbox);
    quiet_disk();
    // The small file first warms the engines' paths; the big one is timed.
    let whole = end_to_end(&dir, &[&small, &big]).await?[1];
    let _ = std::fs::remove_dir_all(&dir);
    let rate = |d: Duration| mib as f64 * MIB as f64 / 1e6 / d.as_secs_f64().max(1e-9);
    let ratio = |d: Duration| raw.as_secs_f64() / d.as_secs_f64().max(1e-9);
    Ok(format!(
        "Send a file:  {mib} MiB end to end in {:.2} s = {:.0} MB/s (SendFileTo to the receiver's report: hashed, offered, sent, written, checked)\n\
         MSRP file:    {mib} MiB in {:.2} s = {:.0} MB/s (two MSRP sessions: chunks from disk, written, SHA-256, Success-Report)\n\
         Raw TCP:      the same bytes file to socket to file, fsync at the end, in {:.2} s = {:.0} MB/s\n\
         Ratio:        {:.2}x raw TCP end to end, {:.2}x for the MSRP transfer alone\n\
         Peak memory:  sender {} for 1 MiB, {} for {mib} MiB; receiver {} for 1 MiB, {} for {mib} MiB\n",
        whole.as_secs_f64(),
        rate(whole),
        msrp.as_secs_f64(),
        rate(msrp),
        raw.as_secs_f64(),
        rate(raw),
        ratio(whole),
        ratio(msrp),
        mb(small_sender),
        mb(big_sender),
        mb(small_receiver),
        mb(big_receiver),
    ))
}

/// A fresh folder under the system's temporary directory.
fn tempfile_dir() -> Result<std::path::PathBuf, String> {
    let d = std::env::temp_dir().join(format!(
        "parley-bench-{}",
        crate::sip::message::random_token(8)
    ));
    std::fs::create_dir_all(&d).map_err(|e| e.to_string())?;
    Ok(d)
}
