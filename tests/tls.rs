//! SIP over TLS on loopback: `parley serve`'s TLS with a pinned self-signed certificate, a
//! CA-signed server found by RFC 3263 (`_sips._tcp`) and checked against the domain, and
//! servers whose certificates must be refused before anything is sent to them.

mod common;

use common::certs::{self, TestCa};
use common::dns;
use common::{Agent, DOMAIN, USERS};
use hickory_proto::rr::RecordType;
use parley::engine::{CallState, Command, Event};
use parley::server::{Server, ServerConfig};
use parley::sip::transport::Proto;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::io::AsyncReadExt;
use tokio::sync::mpsc;

/// The embedded server with TLS on a port of its own, presenting `leaf`.
async fn tls_server(leaf: &certs::Leaf) -> Server {
    let mut cfg = ServerConfig::new("127.0.0.1:0".parse().unwrap(), DOMAIN);
    for (u, p) in USERS {
        cfg.users.insert(u.to_string(), p.to_string());
    }
    cfg.tls = Some(("127.0.0.1:0".parse().unwrap(), leaf.server_config()));
    Server::start(cfg).await.unwrap()
}

/// A TLS listener that accepts one connection at a time and reports every decrypted byte
/// it got on each (`None`: the handshake failed, so the client refused us).
async fn tls_listener(
    config: Arc<rustls::ServerConfig>,
) -> (SocketAddr, mpsc::Receiver<Option<Vec<u8>>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = mpsc::channel(8);
    let acceptor = tokio_rustls::TlsAcceptor::from(config);
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let Ok(mut tls) = acceptor.accept(tcp).await else {
                let _ = tx.send(None).await;
                continue;
            };
            // One request's worth is enough to see what was sent.
            let mut got = vec![0u8; 65536];
            let n = tls.read(&mut got).await.unwrap_or(0);
            got.truncate(n);
            let _ = tx.send(Some(got)).await;
        }
    });
    (addr, rx)
}

fn untrusted(ev: &Event) -> bool {
    matches!(ev, Event::ServerUntrusted { .. })
}

#[tokio::test]
async fn two_parties_call_and_chat_over_tls_to_a_server_they_pinned() {
    let dir = tempfile::tempdir().unwrap();
    let leaf = certs::self_signed(dir.path(), "server", &[DOMAIN]);
    let server = tls_server(&leaf).await;
    let tls = server.tls_addr().unwrap();
    let pinned = |a: &mut parley::engine::AccountConfig| {
        a.transport = Proto::Tls;
        a.tls_fingerprint = Some(leaf.fingerprint);
    };
    let mut alice = Agent::start_with("alice", "a-secret", Some(tls), pinned).await;
    let mut bob = Agent::start_with("bob", "b-secret", Some(tls), pinned).await;
    alice.registered().await;
    bob.registered().await;
    alice.call(&format!("sip:bob@{DOMAIN}")).await;
    let incoming = bob.incoming().await;
    bob.send(Command::Answer(incoming)).await;
    let call = alice.reached(CallState::Connected).await;
    bob.reached(CallState::Connected).await;
    alice
        .send(Command::SendText {
            call,
            text: "over TLS".into(),
        })
        .await;
    let ev = bob
        .wait(|e| matches!(e, Event::Message { text, .. } if text == "over TLS"))
        .await;
    assert!(matches!(ev, Event::Message { .. }));
    alice.send(Command::Hangup(call)).await;
    bob.ended().await;
}

#[tokio::test]
async fn a_sips_account_finds_its_server_by_srv_and_checks_it_against_the_domain() {
    let ca = TestCa::new();
    let leaf = ca.leaf("server", &[DOMAIN]);
    let server = tls_server(&leaf).await;
    let port = server.tls_addr().unwrap().port();
    let zone = vec![
        (
            RecordType::SRV,
            format!("_sips._tcp.{DOMAIN}."),
            dns::srv(0, 5, port, "sip.company.com."),
        ),
        (
            RecordType::A,
            "sip.company.com.".into(),
            dns::a([127, 0, 0, 1].into()),
        ),
    ];
    let (ns, asked) = dns::serve_logged(zone).await;
    let mut alice = Agent::start_engine(
        "alice",
        "a-secret",
        None,
        |e| e.dns = Some(ns),
        |a| {
            a.aor = format!("sips:alice@{DOMAIN}");
            a.ca_file = Some(ca.cert.clone());
            a.register = true;
        },
    )
    .await;
    alice.registered().await;
    let asked = asked.lock().unwrap().clone();
    assert!(
        asked
            .iter()
            .any(|(t, n)| *t == RecordType::SRV && n.starts_with("_sips._tcp.")),
        "{asked:?}"
    );
    assert!(
        !asked.iter().any(|(_, n)| n.starts_with("_sip._udp.")),
        "a sips: account looked for UDP: {asked:?}"
    );
}

#[tokio::test]
async fn a_self_signed_server_is_refused_with_nothing_sent_until_the_user_trusts_it() {
    let dir = tempfile::tempdir().unwrap();
    let leaf = certs::self_signed(dir.path(), "server", &[DOMAIN]);
    let (addr, mut got) = tls_listener(leaf.server_config()).await;
    let mut alice = Agent::start_with("alice", "a-secret", Some(addr), |a| {
        a.transport = Proto::Tls;
    })
    .await;
    let ev = alice.wait(untrusted).await;
    let Event::ServerUntrusted {
        fingerprint,
        why,
        can_pin,
        ..
    } = ev
    else {
        unreachable!()
    };
    // The key's fingerprint: a pin on it outlives the certificate's renewal.
    assert_eq!(fingerprint, leaf.key_fingerprint);
    assert!(why.contains("not signed by an authority"), "{why}");
    assert!(can_pin);
    assert_eq!(got.recv().await, Some(None), "the handshake was refused");
    // The question comes first, then the failure it explains.
    let failed = alice
        .wait(|e| matches!(e, Event::RegistrationFailed { .. }))
        .await;
    assert!(
        matches!(&failed, Event::RegistrationFailed { message, .. } if message.contains("certificate")),
        "{failed:?}"
    );
    // Trusted now: the REGISTER goes, and is the first thing this server reads.
    let account = alice.account;
    alice
        .send(Command::TrustServer {
            account,
            fingerprint,
        })
        .await;
    let first = got.recv().await.unwrap().expect("a handshake that held");
    assert!(
        first.starts_with(b"REGISTER "),
        "{}",
        String::from_utf8_lossy(&first)
    );
}

#[tokio::test]
async fn a_certificate_for_another_name_or_not_the_pinned_one_is_refused() {
    let ca = TestCa::new();
    let leaf = ca.leaf("other", &["other.example"]);
    let (addr, mut got) = tls_listener(leaf.server_config()).await;
    let server = format!("localhost:{}", addr.port());
    let mut alice = Agent::start_with("alice", "a-secret", None, |a| {
        a.server = Some(server.clone());
        a.transport = Proto::Tls;
        a.ca_file = Some(ca.cert.clone());
        a.register = true;
    })
    .await;
    let ev = alice.wait(untrusted).await;
    assert!(
        matches!(&ev, Event::ServerUntrusted { why, server, .. }
            if why.contains("another name") && server == "localhost"),
        "{ev:?}"
    );
    assert_eq!(got.recv().await, Some(None));
    // A pin is a promise about one certificate: another is refused even from a trusted CA.
    let right = ca.leaf("right", &["localhost"]);
    let (addr, mut got) = tls_listener(right.server_config()).await;
    let mut bob = Agent::start_with("bob", "b-secret", None, |a| {
        a.server = Some(format!("localhost:{}", addr.port()));
        a.transport = Proto::Tls;
        a.ca_file = Some(ca.cert.clone());
        a.tls_fingerprint = Some(leaf.fingerprint);
        a.register = true;
    })
    .await;
    let ev = bob.wait(untrusted).await;
    assert!(
        matches!(&ev, Event::ServerUntrusted { why, can_pin: false, .. }
            if why.contains("not the certificate trusted before")),
        "{ev:?}"
    );
    assert_eq!(got.recv().await, Some(None));
}

/// A TLS account's Contact says `transport=tls` on its one SIP port: a peer (a registrar that
/// does not reuse our connection, as Asterisk's `rewrite_contact=no`) that connects there over
/// TLS is taken, with the profile's certificate, and its call rings. Here Bob calls Alice's
/// Contact straight, pinning her certificate.
#[tokio::test]
async fn a_call_over_tls_reaches_the_port_a_tls_contact_names() {
    let dir = tempfile::tempdir().unwrap();
    let certs = dir.path().to_path_buf();
    let mut alice = Agent::start_engine(
        "alice",
        "",
        None,
        |e| e.tls_dir = Some(certs.clone()),
        |a| a.transport = Proto::Tls,
    )
    .await;
    let pin = parley::tls::Identity::own_in(&certs, &["parley".to_string()])
        .unwrap()
        .fingerprint();
    let mut bob = Agent::start_with("bob", "", None, |a| {
        a.transport = Proto::Tls;
        a.tls_fingerprint = Some(pin);
    })
    .await;
    let at = alice.handle.local_addr();
    bob.call(&format!("sip:alice@{at};transport=tls")).await;
    let call = alice.incoming().await;
    alice.send(Command::Answer(call)).await;
    alice.reached(CallState::Connected).await;
    bob.reached(CallState::Connected).await;
}
