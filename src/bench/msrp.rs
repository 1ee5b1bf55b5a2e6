//! `parley bench msrp`: a file through two MSRP sessions on loopback (chunks from disk, the
//! receiver writing, hashing and checking it, the Success-Report back) against a raw TCP copy of
//! the same bytes from file to file in the same run, and the process's peak memory for a small
//! and a large file (Linux lets the peak be reset between runs through `clear_refs`).

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

/// Sends `file` from one session to another; the time until the sender heard it arrived whole.
async fn msrp_copy(file: &Path, inbox: &Path) -> Result<Duration, String> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    let b_path = format!("msrp://{}/bench-b;tcp", listener.local_addr().unwrap());
    let a_path = "msrp://127.0.0.1:9/bench-a;tcp".to_string();
    let params = |local: &str, remote: &str, active: bool| SessionParams {
        local_path: local.into(),
        remote_path: remote.into(),
        active,
        files: inbox.to_path_buf(),
        max_size: u64::MAX,
        expect: None,
    };
    let _bob = MsrpSession::start(Some(listener), params(&b_path, &a_path, false), |_| {});
    let (tx, mut rx) = mpsc::unbounded_channel();
    let alice = MsrpSession::start(None, params(&a_path, &b_path, true), move |e| {
        let _ = tx.send(e);
    });
    let t0 = Instant::now();
    alice.send_file(file.to_path_buf());
    while let Some(e) = rx.recv().await {
        match e {
            SessionEvent::FileSent { .. } => return Ok(t0.elapsed()),
            SessionEvent::Failed(why) => return Err(why),
            _ => {}
        }
    }
    Err("the session ended".into())
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

/// Resets this process's peak resident memory to its current size.
fn reset_peak() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

fn peak_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

pub async fn run(mib: u64) -> Result<String, String> {
    let dir = tempfile_dir()?;
    let (big, small) = (dir.join("big.bin"), dir.join("small.bin"));
    make(&big, mib)?;
    make(&small, 1)?;
    let inbox = dir.join("inbox");
    std::fs::create_dir_all(&inbox).map_err(|e| e.to_string())?;
    let raw = raw_copy(&big, &dir.join("raw.bin")).await?;
    let _ = std::fs::remove_file(dir.join("raw.bin"));
    reset_peak();
    msrp_copy(&small, &inbox).await?;
    let small_peak = peak_kib();
    reset_peak();
    let msrp = msrp_copy(&big, &inbox).await?;
    let big_peak = peak_kib();
    let _ = std::fs::remove_dir_all(&dir);
    let rate = |d: Duration| mib as f64 * MIB as f64 / 1e6 / d.as_secs_f64().max(1e-9);
    let mb = |k: Option<u64>| k.map_or("n/a".into(), |k| format!("{:.1} MB", k as f64 / 1024.0));
    Ok(format!(
        "MSRP file:    {mib} MiB in {:.2} s = {:.0} MB/s (chunks from disk, written, SHA-256, Success-Report)\n\
         Raw TCP:      the same bytes file to file in {:.2} s = {:.0} MB/s\n\
         Ratio:        {:.2}x raw TCP\n\
         Peak memory:  {} for 1 MiB, {} for {mib} MiB (sender and receiver together, this process)\n",
        msrp.as_secs_f64(),
        rate(msrp),
        raw.as_secs_f64(),
        rate(raw),
        raw.as_secs_f64() / msrp.as_secs_f64().max(1e-9),
        mb(small_peak),
        mb(big_peak),
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
