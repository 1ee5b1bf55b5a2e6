//! Transports as configured (RFC 3261 18, RFC 3263): TCP accounts register and call over TCP,
//! servers are found by NAPTR and SRV and failed over on 503 and timeouts, TLS is refused
//! clearly, TCP framing errors are answered and the connection closed, big requests leave UDP,
//! and a response whose connection is gone goes to the Via's port.

mod common;

use common::dns::{self, Zone};
use common::*;
use hickory_proto::rr::RecordType;
use parley::engine::{CallState, Command, Event};
use parley::sip::message::{self as msg, code_of, decode, Inbound, MessageExt, Method};
use parley::sip::parse::frame_len;
use parley::sip::transport::Proto;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// One SIP TCP connection, read message by message.
struct Conn {
    stream: TcpStream,
    buf: Vec<u8>,
    /// A CRLF keepalive (RFC 5626 3.5.1) came between messages.
    pinged: bool,
}

impl Conn {
    fn over(stream: TcpStream) -> Conn {
        Conn {
            stream,
            buf: Vec::new(),
            pinged: false,
        }
    }

    /// The next whole message; `None` when the other side closed the connection.
    async fn next(&mut self) -> Option<Inbound> {
        loop {
            self.pinged |= self.buf.starts_with(b"\r\n\r\n");
            if let Some(n) = frame_len(&self.buf).expect("bad framing from Parley") {
                let bytes: Vec<u8> = self.buf.drain(..n).collect();
                return Some(decode(&bytes));
            }
            let mut chunk = [0u8; 8192];
            let read = tokio::time::timeout(Duration::from_secs(20), self.stream.read(&mut chunk))
                .await
                .expect("nothing came over TCP");
            match read {
                Ok(0) | Err(_) => return None,
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
            }
        }
    }

    async fn request(&mut self) -> msg::Request {
        loop {
            match self.next().await.expect("connection closed") {
                Inbound::Request(r) => return r,
                _ => continue,
            }
        }
    }

    async fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).await.unwrap();
    }

    async fn answer(&mut self, req: &msg::Request, code: u16) {
        let mut r = msg::response_to(req, code, None, Some("tcp-peer"));
        msg::push(
            &mut r.headers,
            "Contact",
            req.header("Contact").unwrap_or_default(),
        );
        self.send(&msg::encode_response(&r)).await;
    }
}

async fn accept(l: &TcpListener) -> Conn {
    let (stream, _) = tokio::time::timeout(Duration::from_secs(20), l.accept())
        .await
        .expect("no TCP connection came")
        .unwrap();
    Conn::over(stream)
}

/// An agent that locates `company.com` through the DNS server `ns`, with short timers so a
/// silent server is given up on quickly.
async fn located_agent(ns: SocketAddr, proto: Proto) -> Agent {
    Agent::start_engine(
        "alice",
        "a-secret",
        None,
        |e| {
            e.dns = Some(ns);
            e.timers.t1 = Duration::from_millis(20);
        },
        |a| {
            a.transport = proto;
            a.register = true;
        },
    )
    .await
}

#[tokio::test]
async fn a_tcp_account_finds_its_server_by_sip_tcp_srv_and_registers_and_calls_over_tcp() {
    let listener = TcpListener::bind("127.0.0.30:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let zone: Zone = vec![
        (
            RecordType::SRV,
            "_sip._tcp.company.com.".into(),
            dns::srv(0, 1, port, "sip.company.com."),
        ),
        (
            RecordType::A,
            "sip.company.com.".into(),
            dns::a([127, 0, 0, 30].into()),
        ),
    ];
    let ns = dns::serve(zone).await;
    let mut alice = located_agent(ns, Proto::Tcp).await;
    let mut conn = accept(&listener).await;
    let reg = conn.request().await;
    assert_eq!(reg.method, Method::Register);
    assert!(reg.header("Via").unwrap().starts_with("SIP/2.0/TCP "));
    assert!(reg.header("Contact").unwrap().contains("transport=tcp"));
    conn.answer(&reg, 200).await;
    alice.registered().await;
    alice.call("bob").await;
    let invite = conn.request().await;
    assert_eq!(invite.method, Method::Invite);
    assert!(invite.header("Via").unwrap().starts_with("SIP/2.0/TCP "));
}

#[tokio::test]
async fn naptr_and_srv_order_with_failover_on_503_and_timeout() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter("parley=debug,hickory=debug")
        .with_test_writer()
        .try_init();
    let server = server(USERS).await;
    let first = Wire::on("127.0.0.31").await;
    let silent = Wire::on("127.0.0.32").await;
    let zone: Zone = vec![
        (
            RecordType::NAPTR,
            "company.com.".into(),
            dns::naptr(20, 10, "SIP+D2T", "_sip._tcp.company.com."),
        ),
        (
            RecordType::NAPTR,
            "company.com.".into(),
            dns::naptr(10, 10, "SIP+D2U", "_sip._udp.company.com."),
        ),
        (
            RecordType::SRV,
            "_sip._udp.company.com.".into(),
            dns::srv(2, 1, server.local_addr().port(), "sip3.company.com."),
        ),
        (
            RecordType::SRV,
            "_sip._udp.company.com.".into(),
            dns::srv(0, 1, first.addr.port(), "sip1.company.com."),
        ),
        (
            RecordType::SRV,
            "_sip._udp.company.com.".into(),
            dns::srv(1, 1, silent.addr.port(), "sip2.company.com."),
        ),
        (
            RecordType::A,
            "sip1.company.com.".into(),
            dns::a([127, 0, 0, 31].into()),
        ),
        (
            RecordType::A,
            "sip2.company.com.".into(),
            dns::a([127, 0, 0, 32].into()),
        ),
        (
            RecordType::A,
            "sip3.company.com.".into(),
            dns::a([127, 0, 0, 1].into()),
        ),
    ];
    let ns = dns::serve(zone).await;
    let mut alice = Agent::start_engine(
        "alice",
        "a-secret",
        None,
        |e| {
            e.dns = Some(ns);
            e.timers.t1 = Duration::from_millis(20);
        },
        |a| a.register = true,
    )
    .await;
    // Priority 0 says 503, priority 1 never answers, priority 2 is the real server.
    let reg = first.request().await;
    assert_eq!(reg.method, Method::Register);
    first.answer(&reg, 503, alice.handle.local_addr()).await;
    assert_eq!(silent.request().await.method, Method::Register);
    alice.registered().await;
}

#[tokio::test]
async fn tls_addresses_go_over_tls_or_not_at_all_never_over_udp() {
    let wire = Wire::on("127.0.0.33").await;
    let mut alice = Agent::start("alice", "", None).await;
    // Nothing takes TLS there: the call fails, and nothing reaches the UDP socket.
    alice
        .call(&format!("sip:bob@{};transport=tls", wire.addr))
        .await;
    alice.ended().await;
    alice.call(&format!("sips:bob@{}", wire.addr)).await;
    alice.ended().await;
    alice
        .call(&format!("sips:bob@{};transport=udp", wire.addr))
        .await;
    let ev = alice.wait(|e| matches!(e, Event::Error { .. })).await;
    assert!(format!("{ev:?}").contains("sips:"), "{ev:?}");
    // The next plain call is the first thing the wire hears.
    alice.call(&format!("sip:bob@{}", wire.addr)).await;
    let invite = wire.request().await;
    assert!(!invite.uri.to_string().contains("tls"), "{}", invite.uri);
    assert!(invite.uri.to_string().starts_with("sip:"));
}

/// Sends `head` on a fresh TCP connection to the agent; returns the response's code and the
/// connection.
async fn tcp_exchange(to: SocketAddr, head: &str) -> (u16, Conn) {
    let stream = TcpStream::connect(to).await.unwrap();
    let mut conn = Conn::over(stream);
    conn.send(head.as_bytes()).await;
    match conn.next().await {
        Some(Inbound::Response(r)) => (code_of(&r), conn),
        other => panic!("expected a response, got {other:?}"),
    }
}

/// The code answered to `head`, and that the connection was closed after it.
async fn refused_and_closed(to: SocketAddr, head: &str) -> u16 {
    let (code, mut conn) = tcp_exchange(to, head).await;
    assert!(conn.next().await.is_none(), "the connection stayed open");
    code
}

#[tokio::test]
async fn tcp_framing_errors_are_answered_and_the_connection_closed() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter("trace")
        .with_test_writer()
        .try_init();
    let bob = Agent::start("bob", "", None).await;
    let to = bob.handle.local_addr();
    let head = |cl: &str| {
        format!("OPTIONS sip:bob@{to} SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1:9;branch=z9hG4bKtcp\r\nFrom: <sip:t@x>;tag=1\r\nTo: <sip:bob@x>\r\nCall-ID: tcp1\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\n{cl}\r\n")
    };
    assert_eq!(refused_and_closed(to, &head("")).await, 400);
    let absurd = format!("Content-Length: {}\r\n", u64::MAX);
    assert_eq!(refused_and_closed(to, &head(&absurd)).await, 413);
    let big = "Content-Length: 99999999\r\n";
    assert_eq!(refused_and_closed(to, &head(big)).await, 413);
    // A well-formed request on the same port is still answered.
    let (ok, _conn) = tcp_exchange(to, &head("Content-Length: 0\r\n")).await;
    assert_eq!(ok, 200);
}

#[tokio::test]
async fn a_request_over_the_udp_mtu_goes_over_tcp() {
    let udp = Wire::on("127.0.0.34").await;
    let listener = TcpListener::bind(udp.addr).await.unwrap();
    let mut alice = Agent::start("alice", "", None).await;
    let long_user = "x".repeat(700);
    alice.call(&format!("sip:{long_user}@{}", udp.addr)).await;
    let mut conn = accept(&listener).await;
    let invite = conn.request().await;
    assert_eq!(invite.method, Method::Invite);
    assert!(invite.header("Via").unwrap().starts_with("SIP/2.0/TCP "));
    assert!(msg::encode_request(&invite).len() > 1300);
}

#[tokio::test]
async fn a_response_whose_connection_is_gone_goes_to_the_via_port() {
    let mut bob = Agent::start("bob", "", None).await;
    let to = bob.handle.local_addr();
    let listener = TcpListener::bind("127.0.0.35:0").await.unwrap();
    let back = listener.local_addr().unwrap();
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.35:0".parse().unwrap()).unwrap();
    let stream = socket.connect(to).await.unwrap();
    let mut conn = Conn::over(stream);
    let sdp = "v=0\r\no=t 1 1 IN IP4 127.0.0.35\r\ns=-\r\nc=IN IP4 127.0.0.35\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n";
    let invite = format!("INVITE sip:bob@{to};transport=tcp SIP/2.0\r\nVia: SIP/2.0/TCP {back};branch=z9hG4bKgone\r\nFrom: <sip:t@{back}>;tag=1\r\nTo: <sip:bob@x>\r\nCall-ID: gone1\r\nCSeq: 1 INVITE\r\nContact: <sip:t@{back};transport=tcp>\r\nMax-Forwards: 70\r\nContent-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{sdp}", sdp.len());
    conn.send(invite.as_bytes()).await;
    let call = bob.incoming().await;
    loop {
        if let Some(Inbound::Response(r)) = conn.next().await {
            if code_of(&r) == 180 {
                break;
            }
        }
    }
    drop(conn);
    bob.send(Command::Answer(call)).await;
    let mut back_conn = accept(&listener).await;
    let ok = loop {
        match back_conn.next().await.expect("closed") {
            Inbound::Response(r) if code_of(&r) == 200 => break r,
            _ => continue,
        }
    };
    assert_eq!(ok.cseq().1, "INVITE");
    bob.wait(|e| {
        matches!(
            e,
            Event::Call {
                state: CallState::Connecting,
                ..
            }
        )
    })
    .await;
}

/// A TCP registrar without RFC 5626 outbound (Asterisk's), which never answers CRLF pings:
/// the keepalives go on, but their silence is not taken for a dead server. The registration
/// holds until its refresh (Expires 30: at 15 s, after the 10 s in which a pong was once
/// required), with no "Offline" and no new flow in between.
#[tokio::test]
async fn a_tcp_registrar_that_never_answers_pings_is_not_taken_for_dead() {
    let listener = TcpListener::bind("127.0.0.31:0").await.unwrap();
    let server = listener.local_addr().unwrap();
    let mut alice = Agent::start_with("alice", "a-secret", Some(server), |a| {
        a.transport = Proto::Tcp;
    })
    .await;
    let mut conn = accept(&listener).await;
    let reg = conn.request().await;
    let mut ok = msg::response_to(&reg, 200, None, Some("tcp-peer"));
    let contact = format!("{};expires=30", reg.header("Contact").unwrap());
    msg::push(&mut ok.headers, "Contact", contact);
    conn.send(&msg::encode_response(&ok)).await;
    alice.registered().await;
    // The next request on the connection is the refresh; pings come before it.
    let refresh = conn.request().await;
    assert_eq!(refresh.method, Method::Register);
    assert_eq!(
        refresh.call_id(),
        reg.call_id(),
        "a refresh, not a new registration"
    );
    assert!(conn.pinged, "no CRLF keepalive came before the refresh");
    while let Ok(e) = alice.events.try_recv() {
        alice.seen.push(e);
    }
    let offline = |e: &Event| matches!(e, Event::Connection { online: false, .. });
    assert!(
        !alice.seen.iter().any(offline),
        "the account went offline: {:#?}",
        alice.seen
    );
}
