//! The MSRP relay of `parley serve --relay` against a hand-written client, as a user with a
//! password or a stranger would use it to get into the server's network: next hops on
//! loopback, private and link-local addresses, more onward connections than a user needs,
//! a stranger claiming another peer's path, idle connections, and a flood of AUTHs meant to
//! push a real user's challenge out.

mod common;

use parley::msrp::frame;
use parley::msrp::relay::{authenticate, Granted};
use parley::server::msrp_relay::{MsrpRelay, MsrpRelayConfig, UNPROVEN_FOR};
use parley::server::reach::{Cidr, Reach};
use parley::sip::digest::{Algorithm, Challenge};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const WITHIN: Duration = Duration::from_secs(10);
const OWN: &str = "msrp://192.0.2.10:7000/own;tcp";

async fn relay(allow: &[&str], unproven_for: Duration) -> MsrpRelay {
    let cfg = MsrpRelayConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        realm: common::DOMAIN.into(),
        users: [("alice".to_string(), "a-secret".to_string())].into(),
        digest: vec![Algorithm::Md5],
        tls: None,
        reach: Reach {
            allow: allow.iter().map(|c| Cidr::parse(c).unwrap()).collect(),
        },
        unproven_for,
    };
    MsrpRelay::start(cfg).await.unwrap()
}

async fn alice(r: &MsrpRelay) -> Granted {
    authenticate(r.local_addr(), OWN, ("alice", "a-secret"), WITHIN, None)
        .await
        .unwrap()
}

/// What comes next on `s` (20 s at most), as text.
async fn read_some(s: &mut (impl AsyncReadExt + Unpin)) -> String {
    let mut buf = vec![0u8; 8192];
    let n = tokio::time::timeout(Duration::from_secs(20), s.read(&mut buf))
        .await
        .expect("nothing came")
        .unwrap();
    String::from_utf8_lossy(&buf[..n]).to_string()
}

/// alice sends a SEND through her grant to `next` and reads the relay's answer.
async fn send_onward(a: &mut Granted, tid: &str, next: &str) -> String {
    let to = format!("{} {next}", a.use_path);
    let req = frame::request(
        tid,
        "SEND",
        &[("To-Path", &to), ("From-Path", OWN)],
        Some(b"x"),
    );
    a.stream.write_all(&req).await.unwrap();
    read_some(&mut a.stream).await
}

#[tokio::test]
async fn the_relay_goes_nowhere_a_stranger_should_reach() {
    let r = relay(&[], UNPROVEN_FOR).await;
    let mut a = alice(&r).await;
    // A real listener on loopback: refused by the rule, not because nothing is there.
    let inside = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let at = inside.local_addr().unwrap();
    let targets = [
        format!("msrp://{at}/x;tcp"),
        "msrp://10.1.2.3:2855/x;tcp".to_string(),
        "msrp://192.168.1.1:80/x;tcp".to_string(),
        "msrp://169.254.169.254:80/x;tcp".to_string(),
        "msrp://[::1]:22/x;tcp".to_string(),
    ];
    for (i, target) in targets.iter().enumerate() {
        let answer = send_onward(&mut a, &format!("tx{i:04}"), target).await;
        assert!(
            answer.contains(" 403 This relay does not go there"),
            "{target}: {answer}"
        );
    }
}

#[tokio::test]
async fn a_user_has_a_few_onward_connections_not_a_thousand() {
    // The admin allows loopback, where a silent peer takes every connection and says nothing.
    let r = relay(&["127.0.0.0/8"], UNPROVEN_FOR).await;
    let mut a = alice(&r).await;
    let silent = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let at = silent.local_addr().unwrap();
    let held = tokio::spawn(async move {
        let mut kept = Vec::new();
        while let Ok((s, _)) = silent.accept().await {
            kept.push(s);
        }
    });
    for i in 0..8 {
        let to = format!("{} msrp://{at}/s{i};tcp", a.use_path);
        let req = frame::request(
            &format!("on{i:04}"),
            "SEND",
            &[("To-Path", &to), ("From-Path", OWN)],
            Some(b"x"),
        );
        a.stream.write_all(&req).await.unwrap();
    }
    let answer = send_onward(&mut a, "onmore", &format!("msrp://{at}/s9;tcp")).await;
    assert!(
        answer.contains("MSRP onmore 403 Too many next hops at once"),
        "{answer}"
    );
    held.abort();
}

#[tokio::test]
async fn a_stranger_cannot_take_over_a_peers_path() {
    let r = relay(&[], UNPROVEN_FOR).await;
    let mut a = alice(&r).await;
    let peer_path = "msrp://198.51.100.7:9999/bob;tcp";
    let to = format!("{} {OWN}", a.use_path);
    let hello = |tid: &str, body: &[u8]| {
        frame::request(
            tid,
            "SEND",
            &[("To-Path", &to), ("From-Path", peer_path)],
            Some(body),
        )
    };
    // Bob's side reaches alice through the relay; alice hears it.
    let mut bob = TcpStream::connect(r.local_addr()).await.unwrap();
    bob.write_all(&hello("bob00001", b"hi alice"))
        .await
        .unwrap();
    assert!(read_some(&mut a.stream).await.contains("hi alice"));
    // A stranger says the same path is theirs.
    let mut thief = TcpStream::connect(r.local_addr()).await.unwrap();
    thief
        .write_all(&hello("thief001", b"me too"))
        .await
        .unwrap();
    assert!(read_some(&mut a.stream).await.contains("me too"));
    // alice's answer to that path still goes to Bob.
    let back = format!("{} {peer_path}", a.use_path);
    let req = frame::request(
        "alice001",
        "SEND",
        &[("To-Path", &back), ("From-Path", OWN)],
        Some(b"for bob"),
    );
    a.stream.write_all(&req).await.unwrap();
    assert!(read_some(&mut bob).await.contains("for bob"));
    let mut buf = [0u8; 1024];
    match thief.try_read(&mut buf) {
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
        other => panic!("the stranger got alice's words: {other:?}"),
    }
}

#[tokio::test]
async fn idle_strangers_are_capped_and_sent_away() {
    let r = relay(&[], Duration::from_secs(1)).await;
    let mut idle = Vec::new();
    for _ in 0..16 {
        idle.push(TcpStream::connect(r.local_addr()).await.unwrap());
    }
    // The seventeenth from the same address is closed at once.
    let mut extra = TcpStream::connect(r.local_addr()).await.unwrap();
    assert_eq!(read_closed(&mut extra).await, 0);
    // The others, which never said who they are, are closed when their time is up.
    for s in &mut idle {
        assert_eq!(read_closed(s).await, 0);
    }
    // A real user still gets in.
    alice(&r).await;
}

/// Reads until the relay closes the connection; the bytes that came before.
async fn read_closed(s: &mut TcpStream) -> usize {
    let mut buf = vec![0u8; 1024];
    let mut total = 0;
    loop {
        let n = tokio::time::timeout(Duration::from_secs(20), s.read(&mut buf))
            .await
            .expect("still open")
            .unwrap_or(0);
        if n == 0 {
            return total;
        }
        total += n;
    }
}

/// An AUTH on `s` with `authorization` (or none), and the relay's answer.
async fn auth(
    s: &mut TcpStream,
    relay: SocketAddr,
    tid: &str,
    authorization: Option<&str>,
) -> String {
    let to = format!("msrp://{relay};tcp");
    let mut headers = vec![("To-Path", to.as_str()), ("From-Path", OWN)];
    if let Some(a) = authorization {
        headers.push(("Authorization", a));
    }
    s.write_all(&frame::request(tid, "AUTH", &headers, None))
        .await
        .unwrap();
    read_some(s).await
}

#[tokio::test]
async fn a_flood_of_auths_pushes_no_real_users_challenge_out() {
    let r = relay(&[], UNPROVEN_FOR).await;
    let at = r.local_addr();
    let mut real = TcpStream::connect(at).await.unwrap();
    let first = auth(&mut real, at, "real0001", None).await;
    let header = first
        .lines()
        .find_map(|l| l.strip_prefix("WWW-Authenticate: "))
        .expect("a challenge");
    let challenge = Challenge::parse(header).unwrap();
    // A stranger asks for 5000 challenges and answers none.
    let mut flood = TcpStream::connect(at).await.unwrap();
    for i in 0..5000 {
        let answer = auth(&mut flood, at, &format!("fl{i:06}"), None).await;
        assert!(answer.contains(" 401 "), "{answer}");
    }
    let to = format!("msrp://{at};tcp");
    let a = challenge.answer("AUTH", &to, "alice", "a-secret", "c0ffee", 1);
    let granted = auth(&mut real, at, "real0002", Some(&a)).await;
    assert!(granted.contains(" 200 OK"), "{granted}");
}
