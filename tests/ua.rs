//! The user agent against hand-driven peers on raw UDP sockets: each test plays the other side
//! byte by byte, so what the engine puts on the wire is checked, not just what it reports.

mod common;

use common::*;
use parley::engine::{CallState, Command, Event};
use parley::sip::digest::{Algorithm, Challenge, Credentials};
use parley::sip::message::{self as msg, code_of, decode, Inbound, MessageExt, Request, Response};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::net::UdpSocket;

/// A scripted SIP peer on a UDP socket.
struct Peer {
    sock: UdpSocket,
}

impl Peer {
    async fn new() -> Peer {
        Peer {
            sock: UdpSocket::bind("127.0.0.1:0").await.unwrap(),
        }
    }

    fn addr(&self) -> SocketAddr {
        self.sock.local_addr().unwrap()
    }

    async fn recv(&self) -> (Inbound, SocketAddr) {
        let mut buf = vec![0u8; 65536];
        let (n, from) =
            tokio::time::timeout(Duration::from_secs(10), self.sock.recv_from(&mut buf))
                .await
                .expect("peer got nothing")
                .unwrap();
        (decode(&buf[..n]), from)
    }

    async fn recv_request(&self) -> (Request, SocketAddr) {
        loop {
            if let (Inbound::Request(r), from) = self.recv().await {
                return (r, from);
            }
        }
    }

    async fn recv_response(&self) -> Response {
        loop {
            if let (Inbound::Response(r), _) = self.recv().await {
                return r;
            }
        }
    }

    async fn send(&self, bytes: &[u8], to: SocketAddr) {
        self.sock.send_to(bytes, to).await.unwrap();
    }

    async fn respond(&self, req: &Request, code: u16, to: SocketAddr, extra: &[(&str, String)]) {
        let mut r = msg::response_to(req, code, None, Some("peer-tag"));
        for (n, v) in extra {
            msg::push(&mut r.headers, n, v.clone());
        }
        self.send(&msg::encode_response(&r), to).await;
    }
}

fn invite_text(
    peer: SocketAddr,
    target: SocketAddr,
    ctype: &str,
    body: &str,
    branch: &str,
) -> String {
    format!(
        "INVITE sip:bob@{target} SIP/2.0\r\nVia: SIP/2.0/UDP {peer};branch={branch}\r\nFrom: <sip:tester@{peer}>;tag=t1\r\nTo: <sip:bob@company.com>\r\nCall-ID: {branch}@test\r\nCSeq: 1 INVITE\r\nContact: <sip:tester@{peer}>\r\nMax-Forwards: 70\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
}

fn sdp(port: u16, codecs: &str) -> String {
    format!("v=0\r\no=t 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio {port} RTP/AVP {codecs}\r\n")
}

#[tokio::test]
async fn options_is_answered_and_unknown_methods_get_405() {
    let bob = Agent::start("bob", "", None).await;
    let target = bob.handle.local_addr();
    let p = Peer::new().await;
    let me = p.addr();
    let opts = format!("OPTIONS sip:bob@{target} SIP/2.0\r\nVia: SIP/2.0/UDP {me};branch=z9hG4bKo1\r\nFrom: <sip:t@x>;tag=1\r\nTo: <sip:bob@company.com>\r\nCall-ID: o1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n");
    p.send(opts.as_bytes(), target).await;
    let r = p.recv_response().await;
    assert_eq!(code_of(&r), 200);
    assert_eq!(r.header("Accept").as_deref(), Some("application/sdp"));
    let subscribe = opts
        .replace("OPTIONS", "SUBSCRIBE")
        .replace("o1", "o2")
        .replace("z9hG4bKo1", "z9hG4bKo2");
    p.send(subscribe.as_bytes(), target).await;
    let r = p.recv_response().await;
    assert_eq!(code_of(&r), 405);
    let allow = r.header("Allow").unwrap();
    assert!(
        allow.contains("INVITE") && allow.contains("MESSAGE"),
        "{allow}"
    );
    // INFO outside any call: no such dialog.
    let info = opts
        .replace("OPTIONS", "INFO")
        .replace("o1", "o3")
        .replace("z9hG4bKo1", "z9hG4bKo3");
    p.send(info.as_bytes(), target).await;
    assert_eq!(code_of(&p.recv_response().await), 481);
}

#[tokio::test]
async fn non_sdp_body_is_415_and_no_common_codec_is_488() {
    let bob = Agent::start("bob", "", None).await;
    let target = bob.handle.local_addr();
    let p = Peer::new().await;
    let inv = invite_text(p.addr(), target, "text/plain", "hello", "z9hG4bKa415");
    p.send(inv.as_bytes(), target).await;
    let r = p.recv_response().await;
    assert_eq!(code_of(&r), 415);
    assert_eq!(r.header("Accept").as_deref(), Some("application/sdp"));
    let inv = invite_text(
        p.addr(),
        target,
        "application/sdp",
        &sdp(4000, "18"),
        "z9hG4bKa488",
    );
    p.send(inv.as_bytes(), target).await;
    assert_eq!(code_of(&p.recv_response().await), 488);
}

/// The callee's 2xx is retransmitted until the ACK comes (RFC 3261 13.3.1.4), then stops;
/// a re-INVITE in the dialog is answered with SDP.
#[tokio::test]
async fn answer_is_retransmitted_until_ack_and_reinvite_is_accepted() {
    let mut bob = Agent::start("bob", "", None).await;
    let target = bob.handle.local_addr();
    let p = Peer::new().await;
    let inv = invite_text(
        p.addr(),
        target,
        "application/sdp",
        &sdp(4000, "0 8"),
        "z9hG4bKret",
    );
    p.send(inv.as_bytes(), target).await;
    let call = bob.incoming().await;
    assert_eq!(code_of(&p.recv_response().await), 180);
    bob.send(Command::Answer(call)).await;
    let first = p.recv_response().await;
    assert_eq!(code_of(&first), 200);
    let body = String::from_utf8(first.body.clone()).unwrap();
    assert!(
        body.contains("m=audio ") && body.contains(" RTP/AVP 0 8"),
        "{body}"
    );
    let again = p.recv_response().await;
    assert_eq!(code_of(&again), 200, "the 2xx was not retransmitted");
    let tag = first.to_tag().unwrap();
    let me = p.addr();
    let ack = format!("ACK sip:bob@{target} SIP/2.0\r\nVia: SIP/2.0/UDP {me};branch=z9hG4bKack1\r\nFrom: <sip:tester@{me}>;tag=t1\r\nTo: <sip:bob@company.com>;tag={tag}\r\nCall-ID: z9hG4bKret@test\r\nCSeq: 1 ACK\r\nContent-Length: 0\r\n\r\n");
    p.send(ack.as_bytes(), target).await;
    bob.reached(CallState::Connected).await;
    // After the ACK no more copies arrive.
    let mut buf = [0u8; 2048];
    let quiet = tokio::time::timeout(Duration::from_millis(1500), p.sock.recv_from(&mut buf)).await;
    assert!(quiet.is_err(), "2xx still retransmitted after ACK");
    let body = sdp(4002, "0");
    let reinv = format!("INVITE sip:bob@{target} SIP/2.0\r\nVia: SIP/2.0/UDP {me};branch=z9hG4bKre\r\nFrom: <sip:tester@{me}>;tag=t1\r\nTo: <sip:bob@company.com>;tag={tag}\r\nCall-ID: z9hG4bKret@test\r\nCSeq: 2 INVITE\r\nContact: <sip:tester@{me}>\r\nContent-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{body}", body.len());
    p.send(reinv.as_bytes(), target).await;
    let r = p.recv_response().await;
    assert_eq!(code_of(&r), 200);
    assert!(String::from_utf8_lossy(&r.body).contains("RTP/AVP 0"));
}

/// Alice calls a peer that answers 183, then challenges with SHA-256 digest, then accepts:
/// the retried INVITE must carry a valid answer for alice's password.
#[tokio::test]
async fn invite_digest_sha256_and_session_progress() {
    let p = Peer::new().await;
    let mut alice = Agent::start("alice", "a-secret", None).await;
    alice.call(&format!("sip:bob@{}", p.addr())).await;
    let (inv, from) = p.recv_request().await;
    let ch = Challenge {
        realm: "company.com".into(),
        nonce: "n0nce".into(),
        opaque: None,
        algorithm: Algorithm::Sha256,
        qop_auth: true,
        stale: false,
    };
    p.respond(&inv, 401, from, &[("WWW-Authenticate", ch.to_header())])
        .await;
    let (ack, _) = p.recv_request().await;
    assert_eq!(ack.method, msg::Method::Ack);
    let (inv2, from) = p.recv_request().await;
    assert_eq!(inv2.method, msg::Method::Invite);
    assert_eq!(inv2.cseq().0, inv.cseq().0 + 1);
    // Past 1300 bytes it tried TCP first (RFC 3261 18.1.1); a peer with none gets it on UDP.
    let size = msg::encode_request(&inv2).len();
    assert!(size > 1300, "the INVITE with credentials is {size} bytes");
    assert!(inv2.header("Via").unwrap().starts_with("SIP/2.0/UDP "));
    let creds = Credentials::parse(&inv2.header("Authorization").unwrap()).unwrap();
    assert_eq!(creds.algorithm, Algorithm::Sha256);
    assert!(creds.verify("INVITE", "a-secret"));
    p.respond(&inv2, 183, from, &[]).await;
    alice
        .wait(|e| {
            matches!(
                e,
                Event::Call {
                    state: CallState::Progress,
                    status: Some(183),
                    ..
                }
            )
        })
        .await;
    p.respond(
        &inv2,
        200,
        from,
        &[
            ("Contact", format!("<sip:bob@{}>", p.addr())),
            ("Content-Type", "application/sdp".into()),
        ],
    )
    .await;
    alice.reached(CallState::Connected).await;
    let (ack, _) = p.recv_request().await;
    assert_eq!(ack.method, msg::Method::Ack);
    assert_eq!(ack.to_tag().as_deref(), Some("peer-tag"));
}

/// 3xx: the call follows the Contact of a 302 to the new address.
#[tokio::test]
async fn redirect_is_followed() {
    let mut bob = Agent::start("bob", "", None).await;
    let bob_addr = bob.handle.local_addr();
    let redirector = Peer::new().await;
    let mut alice = Agent::start("alice", "", None).await;
    alice
        .call(&format!("sip:oldbob@{}", redirector.addr()))
        .await;
    let (inv, from) = redirector.recv_request().await;
    redirector
        .respond(
            &inv,
            302,
            from,
            &[("Contact", format!("<sip:bob@{bob_addr}>"))],
        )
        .await;
    let call = bob.incoming().await;
    bob.send(Command::Answer(call)).await;
    alice.reached(CallState::Connected).await;
    assert!(alice.seen.iter().any(
        |e| matches!(e, Event::Call { reason: Some(r), .. } if r.starts_with("Redirected (302)"))
    ));
}

/// Every failure status becomes a call-ended reason with its own words, and is ACKed.
#[tokio::test]
async fn failure_codes_end_calls_with_clear_reasons() {
    let p = Peer::new().await;
    let mut alice = Agent::start("alice", "", None).await;
    for (code, words) in [
        (403, "Refused by the server"),
        (404, "Nobody has that address"),
        (415, "media format"),
        (486, "Busy"),
        (500, "Server error"),
        (503, "Service unavailable"),
        (600, "Busy everywhere"),
        (603, "Declined"),
    ] {
        alice.call(&format!("sip:bob@{}", p.addr())).await;
        let (inv, from) = p.recv_request().await;
        p.respond(&inv, 100, from, &[]).await;
        p.respond(&inv, code, from, &[]).await;
        let (status, _, message) = alice.ended().await;
        assert_eq!(status, code);
        assert!(
            message.starts_with(&format!("{code} ")) && message.contains(words),
            "{message}"
        );
        let (ack, _) = p.recv_request().await;
        assert_eq!(ack.method, msg::Method::Ack, "{code} not ACKed");
    }
}

/// A peer that challenges our BYE (RFC 3261 22.1): the engine answers with credentials.
#[tokio::test]
async fn bye_is_retried_with_digest_when_challenged() {
    let p = Peer::new().await;
    let mut alice = Agent::start("alice", "a-secret", None).await;
    alice.call(&format!("sip:bob@{}", p.addr())).await;
    let (inv, from) = p.recv_request().await;
    p.respond(
        &inv,
        200,
        from,
        &[
            ("Contact", format!("<sip:bob@{}>", p.addr())),
            ("Content-Type", "application/sdp".into()),
        ],
    )
    .await;
    let call = alice.reached(CallState::Connected).await;
    let (ack, _) = p.recv_request().await;
    assert_eq!(ack.method, msg::Method::Ack);
    alice.send(Command::Hangup(call)).await;
    let (bye, from) = p.recv_request().await;
    assert_eq!(bye.method, msg::Method::Bye);
    let ch = Challenge {
        realm: "company.com".into(),
        nonce: "byen0nce".into(),
        opaque: Some("op".into()),
        algorithm: Algorithm::Md5,
        qop_auth: true,
        stale: false,
    };
    p.respond(&bye, 407, from, &[("Proxy-Authenticate", ch.to_header())])
        .await;
    let (bye2, from) = p.recv_request().await;
    assert_eq!(bye2.method, msg::Method::Bye);
    assert_eq!(bye2.cseq().0, bye.cseq().0 + 1);
    let creds = Credentials::parse(&bye2.header("Proxy-Authorization").unwrap()).unwrap();
    assert!(creds.verify("BYE", "a-secret"));
    p.respond(&bye2, 200, from, &[]).await;
    assert_eq!(alice.ended().await.0, 200);
}

/// A provider that gives a separate authentication user and whose registrar sits behind a
/// proxy: one 401 carries challenges from two realms, and the REGISTER is sent again with
/// credentials for both, in the authentication user's name.
#[tokio::test]
async fn two_realms_are_both_answered_with_the_auth_user() {
    let registrar = Peer::new().await;
    let mut alice = Agent::start_with("alice", "pw", Some(registrar.addr()), |a| {
        a.auth_user = Some("alice-8812".into())
    })
    .await;
    let (reg, from) = registrar.recv_request().await;
    let realm = |r: &str| Challenge {
        realm: r.into(),
        nonce: format!("nonce-{r}"),
        opaque: None,
        algorithm: Algorithm::Md5,
        qop_auth: true,
        stale: false,
    };
    let challenges = [realm("proxy.example"), realm("registrar.example")];
    let extra: Vec<_> = challenges
        .iter()
        .map(|c| ("WWW-Authenticate", c.to_header()))
        .collect();
    registrar.respond(&reg, 401, from, &extra).await;
    let (again, from) = registrar.recv_request().await;
    let creds: Vec<Credentials> = msg::get_lines(&again.headers, "Authorization")
        .iter()
        .filter_map(|v| Credentials::parse(v))
        .collect();
    let mut realms: Vec<_> = creds.iter().map(|c| c.realm.as_str()).collect();
    realms.sort();
    assert_eq!(realms, ["proxy.example", "registrar.example"]);
    for c in &creds {
        assert_eq!(c.username, "alice-8812");
        assert!(c.verify("REGISTER", "pw"), "{c:?}");
        assert_eq!(c.uri, again.uri.to_string());
    }
    registrar
        .respond(
            &again,
            200,
            from,
            &[("Contact", again.header("Contact").unwrap())],
        )
        .await;
    alice.registered().await;
}
