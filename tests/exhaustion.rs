//! `parley serve --relay` run out of file descriptors by strangers' idle connections (a low
//! `ulimit -n`, as on a small VPS under attack, the strangers on many addresses): its accept
//! loops wait instead of exiting, and
//! take connections again once the strangers leave. The server says in its log that it ran
//! short, so the test knows the limit was really hit.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// A free port on loopback (TCP and UDP alike, for the relays' fixed ports).
fn free_port() -> u16 {
    let tcp = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    tcp.local_addr().unwrap().port()
}

struct Serve {
    child: Child,
    sip: SocketAddr,
    msrp: SocketAddr,
    log: mpsc::Receiver<String>,
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `parley serve --relay` with at most `fds` descriptors.
fn serve_with_fds(fds: u32) -> Serve {
    let (msrp, turn) = (free_port(), free_port());
    let script = format!(
        "ulimit -n {fds} && exec {} serve --bind 127.0.0.1:0 --domain company.com \
         --user alice:a-secret --relay --msrp-port {msrp} --turn-port {turn}",
        common::proc::BIN
    );
    let mut child = Command::new("sh")
        .args(["-c", &script])
        .env("PARLEY_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, log) = mpsc::channel();
    let err = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(err).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut out = BufReader::new(child.stdout.take().unwrap()).lines();
    let addr_in = |line: &str| -> SocketAddr {
        line.split_whitespace()
            .find_map(|w| w.parse().ok())
            .unwrap()
    };
    let (mut sip, mut msrp_at) = (None, None);
    while sip.is_none() {
        let line = out.next().expect("serve printed its addresses").unwrap();
        if line.contains("(MSRP)") {
            msrp_at = Some(addr_in(&line));
        }
        if line.starts_with("parley server for") {
            sip = Some(addr_in(&line));
        }
    }
    Serve {
        child,
        sip: sip.unwrap(),
        msrp: msrp_at.expect("the MSRP relay's address"),
        log,
    }
}

impl Serve {
    /// Waits (a minute at most) for a log line containing `text`.
    fn logged(&self, text: &str) {
        loop {
            let line = self
                .log
                .recv_timeout(Duration::from_secs(60))
                .unwrap_or_else(|_| panic!("the server never said {text:?}"));
            if line.contains(text) {
                return;
            }
        }
    }

    /// Whether a log line containing `text` came already (without waiting).
    fn said(&self, text: &str) -> bool {
        self.log.try_iter().any(|l| l.contains(text))
    }
}

/// A connection to `at` from `from` (any of 127.0.0.0/8 stands for another host), given up
/// after a second when the server's accept queue is full.
fn connect_from(from: std::net::Ipv4Addr, at: SocketAddr) -> Option<TcpStream> {
    use socket2::{Domain, Socket, Type};
    let s = Socket::new(Domain::IPV4, Type::STREAM, None).ok()?;
    s.bind(&SocketAddr::from((from, 0)).into()).ok()?;
    s.connect_timeout(&at.into(), Duration::from_secs(1)).ok()?;
    Some(s.into())
}

/// Opens connections to `at`, one at a time from 50 addresses in turn (the relay lets only a
/// few wait from each), until the server says it ran short.
fn exhaust(serve: &Serve, at: SocketAddr) -> Vec<TcpStream> {
    let mut held = Vec::new();
    for i in 0..400u32 {
        let from = std::net::Ipv4Addr::new(127, 0, 1, 1 + (i % 50) as u8);
        if let Some(s) = connect_from(from, at) {
            held.push(s);
        }
        if serve.said("waiting for descriptors") {
            return held;
        }
    }
    serve.logged("waiting for descriptors");
    held
}

/// An answer read from a fresh connection to `at` after writing `request`.
fn ask(at: SocketAddr, request: &str) -> String {
    let mut s = TcpStream::connect(at).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    s.write_all(request.as_bytes()).unwrap();
    let mut buf = vec![0u8; 4096];
    let n = s.read(&mut buf).expect("an answer");
    String::from_utf8_lossy(&buf[..n]).to_string()
}

#[test]
fn the_msrp_relay_takes_connections_again_after_running_out_of_descriptors() {
    let serve = serve_with_fds(64);
    let held = exhaust(&serve, serve.msrp);
    drop(held);
    serve.logged("taking connections again");
    let me = serve.msrp;
    let auth = format!(
        "MSRP a1b2 AUTH\r\nTo-Path: msrp://{me};tcp\r\nFrom-Path: msrp://127.0.0.1:9/x;tcp\r\n-------a1b2$\r\n"
    );
    let answer = ask(me, &auth);
    assert!(answer.starts_with("MSRP a1b2 401"), "{answer}");
}

#[test]
fn sip_over_tcp_takes_connections_again_after_running_out_of_descriptors() {
    let serve = serve_with_fds(64);
    let held = exhaust(&serve, serve.sip);
    drop(held);
    serve.logged("taking connections again");
    let at = serve.sip;
    let options = format!(
        "OPTIONS sip:{at};transport=tcp SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1:9;branch=z9hG4bKx1\r\n\
         Max-Forwards: 70\r\nFrom: <sip:probe@example.net>;tag=1\r\nTo: <sip:{at}>\r\n\
         Call-ID: fd-1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
    );
    let answer = ask(at, &options);
    assert!(answer.starts_with("SIP/2.0 200"), "{answer}");
}
