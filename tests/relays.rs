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

mod turn {
    use parley::nat::turn::{allocate, Relay, TurnError, TurnServer};
    use parley::server::reach::{Cidr, Reach};
    use parley::server::relay::{Relay as TurnRelay, RelayConfig};
    use parley::server::turn_gate::Quotas;
    use std::net::{SocketAddr, UdpSocket};
    use std::time::{Duration, Instant};

    async fn turn_server(allow: &[&str], quotas: Quotas) -> TurnRelay {
        let users = [("alice", "a-secret"), ("bob", "b-secret")];
        let cfg = RelayConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            ports: 41000..=41999,
            realm: super::common::DOMAIN.into(),
            users: users
                .iter()
                .map(|(u, p)| (u.to_string(), p.to_string()))
                .collect(),
            reach: Reach {
                allow: allow.iter().map(|c| Cidr::parse(c).unwrap()).collect(),
            },
            quotas,
            external_ip: None,
        };
        TurnRelay::start(cfg).await.unwrap()
    }

    fn account(server: &TurnRelay, user: &str, password: &str) -> TurnServer {
        TurnServer {
            addr: server.local_addr(),
            user: user.into(),
            password: password.into(),
        }
    }

    async fn allocation(server: &TurnServer) -> (UdpSocket, Result<Relay, TurnError>) {
        let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
        let relay = allocate(&sock, server).await;
        (sock, relay)
    }

    /// One round of `relay` on `sock`: its own messages out, the server's in, and `data`
    /// wrapped toward its peer once it may be.
    fn step(relay: &mut Relay, sock: &UdpSocket, data: &[u8]) {
        let mut buf = [0u8; 2048];
        let (out, _) = relay.poll(Instant::now());
        for bytes in out {
            sock.send_to(&bytes, relay.server()).unwrap();
        }
        while let Ok((n, _)) = sock.recv_from(&mut buf) {
            relay.unwrap(&buf[..n], Instant::now());
        }
        if let Some(wrapped) = relay.wrap(data, Instant::now()) {
            sock.send_to(&wrapped, relay.server()).unwrap();
        }
    }

    // Driven by blocking sockets on this thread: the server runs on another.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn turn_relays_nowhere_inside_and_holds_its_quotas() {
        let quotas = Quotas {
            per_user: 3,
            total: 5,
        };
        // Only 127.0.0.2 is allowed: 127.0.0.1 stands for the server's own network.
        let server = turn_server(&["127.0.0.2"], quotas).await;
        let (alice, bob) = (
            account(&server, "alice", "a-secret"),
            account(&server, "bob", "b-secret"),
        );
        let mut mine = Vec::new();
        for _ in 0..3 {
            let (sock, relay) = allocation(&alice).await;
            mine.push((sock, relay.expect("within alice's quota")));
        }
        let (_s, fourth) = allocation(&alice).await;
        assert!(
            matches!(fourth, Err(TurnError::Refused(_))),
            "over alice's quota"
        );
        let (_b1, b1) = allocation(&bob).await;
        let (_b2, b2) = allocation(&bob).await;
        assert!(b1.is_ok() && b2.is_ok(), "bob has his own quota");
        let (_b3, b3) = allocation(&bob).await;
        assert!(
            matches!(b3, Err(TurnError::Refused(_))),
            "over the server's total"
        );

        let inside = UdpSocket::bind("127.0.0.1:0").unwrap();
        let outside = UdpSocket::bind("127.0.0.2:0").unwrap();
        inside.set_nonblocking(true).unwrap();
        outside.set_nonblocking(true).unwrap();
        let (sock_in, mut to_inside) = mine.remove(0);
        let (sock_out, mut to_outside) = mine.remove(0);
        to_inside.open_to(inside.local_addr().unwrap(), Instant::now());
        to_outside.open_to(outside.local_addr().unwrap(), Instant::now());
        // Both allocations side by side, round for round, until the allowed peer hears: by
        // then the refused one's channel was answered too, and it heard nothing.
        sock_in.set_nonblocking(true).unwrap();
        sock_out.set_nonblocking(true).unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut buf = [0u8; 64];
        while outside.recv_from(&mut buf).is_err() {
            assert!(Instant::now() < deadline, "the allowed peer never heard");
            step(&mut to_inside, &sock_in, b"into your network");
            step(&mut to_outside, &sock_out, b"out there");
            std::thread::yield_now();
        }
        for _ in 0..20 {
            step(&mut to_inside, &sock_in, b"into your network");
        }
        match inside.recv_from(&mut buf) {
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            other => panic!("the relay reached inside: {other:?}"),
        }
    }

    #[tokio::test]
    async fn turn_guesses_are_held_back_like_sips() {
        let server = turn_server(&[], Quotas::default()).await;
        // A wrong password is answered 401 (signed with the real key, which the guesser's
        // client cannot check: to it, no answer).
        let (_s, wrong) = allocation(&account(&server, "alice", "guess")).await;
        // Right away, from the same place, the right password gets that same 401, and its
        // client makes of it what the guesser's did.
        let (_s, right) = allocation(&account(&server, "alice", "a-secret")).await;
        let same = matches!(
            (&wrong, &right),
            (Err(TurnError::NoAnswer(_)), Err(TurnError::NoAnswer(_)))
        );
        assert!(same, "{:?} then {:?}", wrong.err(), right.as_ref().err());
    }

    #[test]
    fn the_gate_says_486_for_a_users_quota() {
        use parley::server::turn_gate::{TurnGate, Verdict};
        // A signed Allocate as a client writes it, through the real client.
        let mut gate = TurnGate::new(
            super::common::DOMAIN,
            [("alice".to_string(), "a-secret".to_string())].into(),
            Reach::default(),
            Quotas {
                per_user: 0,
                total: 10,
            },
        );
        let allocate = signed_allocate();
        let from: SocketAddr = "192.0.2.10:5000".parse().unwrap();
        match gate.inbound(&allocate, from, Instant::now()) {
            Verdict::Answer(reply) => {
                let m = stun_types::message::Message::from_bytes(&reply).unwrap();
                let code = m
                    .attribute::<stun_types::attribute::ErrorCode>()
                    .unwrap()
                    .code();
                assert_eq!(code, 486);
            }
            other => panic!("{other:?}"),
        }
    }

    /// An Allocate signed with alice's long-term key.
    fn signed_allocate() -> Vec<u8> {
        use stun_types::attribute::{Nonce, Realm, Username};
        use stun_types::message::{
            IntegrityAlgorithm, LongTermCredentials, Message, MessageType, MessageWriteVec,
            TransactionId,
        };
        use stun_types::prelude::*;
        let kind = MessageType::from_class_method(
            stun_types::message::MessageClass::Request,
            parley::server::turn_gate::ALLOCATE,
        );
        let mut b = Message::builder(kind, TransactionId::generate(), MessageWriteVec::new());
        b.add_attribute(&Username::new("alice").unwrap()).unwrap();
        b.add_attribute(&Realm::new(super::common::DOMAIN).unwrap())
            .unwrap();
        b.add_attribute(&Nonce::new("n").unwrap()).unwrap();
        let key = LongTermCredentials::new("alice".into(), "a-secret".into())
            .to_key(super::common::DOMAIN.into());
        b.add_message_integrity(&key.into(), IntegrityAlgorithm::Sha1)
            .unwrap();
        b.finish()
    }
}
