//! IPv6 end to end on `::1`: `[v6]` literals in Request-URIs, Vias, Contacts and SDP, and the
//! server and agents listening on both families when bound to an unspecified address.

mod common;

use common::*;
use parley::engine::{CallState, Command};
use parley::sip::message::{code_of, MessageExt};
use std::net::SocketAddr;

/// An agent listening on both families, using the server at `server` (any family).
async fn dual_agent(user: &str, password: &str, server: SocketAddr) -> Agent {
    Agent::start_engine(
        user,
        password,
        None,
        |e| e.bind = "0.0.0.0:0".parse().unwrap(),
        |a| {
            a.server = Some(server.to_string());
            a.register = true;
        },
    )
    .await
}

async fn dual_server() -> parley::server::Server {
    let mut cfg = parley::server::ServerConfig::new("0.0.0.0:0".parse().unwrap(), DOMAIN);
    for (u, p) in USERS {
        cfg.users.insert(u.to_string(), p.to_string());
    }
    parley::server::Server::start(cfg).await.unwrap()
}

#[tokio::test]
async fn the_server_answers_on_both_families() {
    let server = dual_server().await;
    let port = server.local_addr().port();
    for ip in ["127.0.0.1", "::1"] {
        let mut wire = Wire::on(ip).await;
        let to = SocketAddr::new(ip.parse().unwrap(), port);
        let text = wire.request_text(
            "OPTIONS",
            &format!("sip:{}", to),
            "To: <sip:x@company.com>\r\n",
            "",
        );
        wire.send(&text, to).await;
        assert_eq!(code_of(&wire.final_response().await), 200, "over {ip}");
    }
}

#[tokio::test]
async fn a_call_over_ipv6_through_the_server() {
    let server = dual_server().await;
    let v6: SocketAddr = SocketAddr::new("::1".parse().unwrap(), server.local_addr().port());
    let mut alice = dual_agent("alice", "a-secret", v6).await;
    let mut bob = dual_agent("bob", "b-secret", v6).await;
    alice.registered().await;
    bob.registered().await;
    alice.call("bob").await;
    let call = bob.incoming().await;
    bob.send(Command::Answer(call)).await;
    let ac = alice.reached(CallState::Connected).await;
    bob.reached(CallState::Connected).await;
    alice.send(Command::Hangup(ac)).await;
    assert_eq!(alice.ended().await.0, 200);
    assert_eq!(bob.ended().await.0, 200);
}

#[tokio::test]
async fn an_ipv6_invite_gets_ipv6_contact_and_sdp() {
    let mut bob = Agent::start_engine(
        "bob",
        "",
        None,
        |e| e.bind = "[::]:0".parse().unwrap(),
        |_| {},
    )
    .await;
    let to = SocketAddr::new("::1".parse().unwrap(), bob.handle.local_addr().port());
    let mut wire = Wire::on("::1").await;
    let sdp =
        "v=0\r\no=w 1 1 IN IP6 ::1\r\ns=-\r\nc=IN IP6 ::1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n";
    let text = wire.request_text(
        "INVITE",
        &format!("sip:bob@{to}"),
        &format!(
            "To: <sip:bob@{to}>\r\nContact: <sip:w@{}>\r\nContent-Type: application/sdp\r\n",
            wire.addr
        ),
        sdp,
    );
    wire.send(&text, to).await;
    let call = bob.incoming().await;
    bob.send(Command::Answer(call)).await;
    let ok = wire.final_response().await;
    assert_eq!(code_of(&ok), 200);
    let contact = ok.header("Contact").unwrap();
    assert!(contact.contains("@[::1]:"), "{contact}");
    let body = String::from_utf8(ok.body.clone()).unwrap();
    assert!(body.contains("c=IN IP6 ::1\r\n"), "{body}");
    assert!(body.contains(" IN IP6 ::1\r\n"), "{body}");
}

/// Signalling over IPv6, media offered over IPv4 (a caller of the other family behind the
/// server): the answer's media is IPv4 too, so the two can hear each other.
#[tokio::test]
async fn media_follows_the_offers_address_family() {
    let mut bob = Agent::start_engine(
        "bob",
        "",
        None,
        |e| e.bind = "0.0.0.0:0".parse().unwrap(),
        |_| {},
    )
    .await;
    let to = SocketAddr::new("::1".parse().unwrap(), bob.handle.local_addr().port());
    let mut wire = Wire::on("::1").await;
    let sdp = "v=0\r\no=w 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n";
    let text = wire.request_text(
        "INVITE",
        &format!("sip:bob@{to}"),
        &format!(
            "To: <sip:bob@{to}>\r\nContact: <sip:w@{}>\r\nContent-Type: application/sdp\r\n",
            wire.addr
        ),
        sdp,
    );
    wire.send(&text, to).await;
    let call = bob.incoming().await;
    bob.send(Command::Answer(call)).await;
    let ok = wire.final_response().await;
    let body = String::from_utf8(ok.body.clone()).unwrap();
    assert!(body.contains("c=IN IP4 127.0.0.1\r\n"), "{body}");
    assert!(ok.header("Contact").unwrap().contains("[::1]"));
}
