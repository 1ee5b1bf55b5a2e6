//! `parley bench strangers`: what strangers cost `parley serve`. Resident memory before, during
//! and after a flood of unauthenticated REGISTERs for made-up users (once their transactions
//! have run out), and how long a wrong password takes to be refused for a user the server has
//! and for one it lacks, each guess from an address of its own so that every one is judged.

use crate::memory::heap_in_use_kib;
use crate::server::{Server, ServerConfig};
use crate::sip::digest::Challenge;
use crate::sip::message::{code_of, decode, get_lines, Inbound, Response};
use std::fmt;
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio::net::UdpSocket;

pub struct Report {
    pub flood: usize,
    pub rss_before: Option<u64>,
    pub rss_flooded: Option<u64>,
    pub rss_after: Option<u64>,
    /// What is allocated and not freed (our tables and buffers) at the same three moments.
    pub heap: [Option<u64>; 3],
    /// Resident memory and heap in use after a second flood of the same size, settled: equal
    /// to the first means the room is reused, not lost.
    pub rss_again: Option<u64>,
    pub heap_again: Option<u64>,
    /// Median and 95th percentile of a judged wrong answer's refusal, known and unknown user.
    pub known: (Duration, Duration),
    pub unknown: (Duration, Duration),
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mb = |k: Option<u64>| k.map_or("?".into(), |k| format!("{:.1} MB", k as f64 / 1024.0));
        writeln!(
            f,
            "Strangers:    {} unauthenticated REGISTERs: resident {} before, {} flooded, {} once their transactions ran out",
            self.flood,
            mb(self.rss_before),
            mb(self.rss_flooded),
            mb(self.rss_after)
        )?;
        writeln!(
            f,
            "Heap in use:  {} before, {} flooded, {} after; after a second flood {} (resident {})",
            mb(self.heap[0]),
            mb(self.heap[1]),
            mb(self.heap[2]),
            mb(self.heap_again),
            mb(self.rss_again)
        )?;
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        writeln!(
            f,
            "Refusals:     a wrong password for a user we have p50 {:.3} ms p95 {:.3} ms; for one we lack p50 {:.3} ms p95 {:.3} ms",
            ms(self.known.0),
            ms(self.known.1),
            ms(self.unknown.0),
            ms(self.unknown.1)
        )
    }
}

fn register(user: &str, me: SocketAddr, n: usize, auth: &str) -> String {
    // A new branch for each request: the same one would be a retransmission.
    let b = rand::random::<u32>();
    format!(
        "REGISTER sip:company.com SIP/2.0\r\nVia: SIP/2.0/UDP {me};branch=z9hG4bKst{n}x{b};rport\r\n\
         Max-Forwards: 70\r\nFrom: <sip:{user}@company.com>;tag=s{n}\r\nTo: <sip:{user}@company.com>\r\n\
         Call-ID: strangers-{n}@{me}\r\nCSeq: 1 REGISTER\r\nContact: <sip:{user}@{me}>\r\n{auth}Content-Length: 0\r\n\r\n"
    )
}

async fn ask(sock: &UdpSocket, to: SocketAddr, text: &str) -> Result<Response, String> {
    sock.send_to(text.as_bytes(), to)
        .await
        .map_err(|e| e.to_string())?;
    let mut buf = vec![0u8; 8192];
    loop {
        let got = tokio::time::timeout(Duration::from_secs(5), sock.recv_from(&mut buf)).await;
        let (n, _) = got
            .map_err(|_| "the server did not answer")?
            .map_err(|e| e.to_string())?;
        if let Inbound::Response(r) = decode(&buf[..n]) {
            if code_of(&r) >= 200 {
                return Ok(r);
            }
        }
    }
}

/// One wrong answer for `user` from a fresh address: how long its refusal took.
async fn judged(server: SocketAddr, user: &str, n: usize) -> Result<Duration, String> {
    let ip = std::net::Ipv4Addr::new(127, 3, (n / 250) as u8, (n % 250 + 1) as u8);
    let sock = UdpSocket::bind((ip, 0)).await.map_err(|e| e.to_string())?;
    let me = sock.local_addr().map_err(|e| e.to_string())?;
    let first = ask(&sock, server, &register(user, me, n, "")).await?;
    let offered = get_lines(&first.headers, "WWW-Authenticate");
    let ch = Challenge::parse(offered.first().ok_or("no challenge")?).map_err(|e| e.to_string())?;
    let answer = ch.answer("REGISTER", "sip:company.com", user, "wrong", "c0ffee", 1);
    let text = register(user, me, n, &format!("Authorization: {answer}\r\n"));
    let started = Instant::now();
    let r = ask(&sock, server, &text).await?;
    if code_of(&r) != 403 {
        return Err(format!("a wrong password got {}", code_of(&r)));
    }
    Ok(started.elapsed())
}

fn p50_p95(mut d: Vec<Duration>) -> (Duration, Duration) {
    d.sort();
    let at = |p: f64| d[((d.len() - 1) as f64 * p).round() as usize];
    (at(0.5), at(0.95))
}

/// Sends `flood` REGISTERs for made-up users, reading and dropping the challenges; the
/// resident memory and heap in use at the end.
async fn flood_once(sock: &UdpSocket, at: SocketAddr, flood: usize) -> (Option<u64>, Option<u64>) {
    let me = sock.local_addr().expect("a bound socket");
    let mut buf = vec![0u8; 8192];
    for n in 0..flood {
        let user = format!("x{}", rand::random::<u32>());
        let _ = sock
            .send_to(register(&user, me, n, "").as_bytes(), at)
            .await;
        while let Ok(Ok(_)) = tokio::time::timeout(Duration::ZERO, sock.recv_from(&mut buf)).await {
        }
        if n % 500 == 499 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    (super::rss_kib(), heap_in_use_kib())
}

/// Waits out Timer J (64*T1) so the last transaction goes, then one more request lets the
/// endpoint give its room back; the resident memory and heap in use then.
async fn settle(sock: &UdpSocket, at: SocketAddr, n: usize) -> (Option<u64>, Option<u64>) {
    tokio::time::sleep(Duration::from_secs(34)).await;
    let me = sock.local_addr().expect("a bound socket");
    let _ = ask(sock, at, &register("alice", me, n, "")).await;
    (super::rss_kib(), heap_in_use_kib())
}

pub async fn run(flood: usize) -> Result<Report, String> {
    let mut cfg = ServerConfig::new("127.0.0.1:0".parse().expect("an address"), "company.com");
    cfg.users.insert("alice".into(), "a-secret".into());
    let server = Server::start(cfg).await.map_err(|e| e.to_string())?;
    let at = server.local_addr();
    let (mut known, mut unknown) = (Vec::new(), Vec::new());
    for n in 0..400 {
        known.push(judged(at, "alice", 2 * n).await?);
        unknown.push(judged(at, &format!("nobody{n}"), 2 * n + 1).await?);
    }
    let sock = UdpSocket::bind("127.0.0.1:0")
        .await
        .map_err(|e| e.to_string())?;
    let before = (super::rss_kib(), heap_in_use_kib());
    let flooded = flood_once(&sock, at, flood).await;
    let after = settle(&sock, at, flood).await;
    flood_once(&sock, at, flood).await;
    let again = settle(&sock, at, flood).await;
    Ok(Report {
        flood,
        rss_before: before.0,
        rss_flooded: flooded.0,
        rss_after: after.0,
        heap: [before.1, flooded.1, after.1],
        rss_again: again.0,
        heap_again: again.1,
        known: p50_p95(known),
        unknown: p50_p95(unknown),
    })
}
