//! Who may reach an account, tried as a stranger on the same network would: sipvicious's
//! svmap, INVITEs and MESSAGEs straight to a registered agent (made-up users, forged Froms,
//! even the agent's own Contact learnt from the registrar), and look-alike identities sent
//! through the server. Each asserts what the user would see: no ring, no History row, no
//! message; and an identity shown as verified only when the server vouched for it.

mod common;

use common::*;
use parley::engine::{Command, Event};
use parley::sip::message::{code_of, Inbound};

/// Whether svmap (what attackers scan with) lists a SIP device at `addr`.
async fn svmap_finds(addr: std::net::SocketAddr) -> bool {
    require("svmap", "--version", "sipvicious");
    let out = tokio::process::Command::new("svmap")
        .args([&format!("-p{}", addr.port()), &addr.ip().to_string()])
        .output()
        .await
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    text.contains(&format!("| {addr}"))
}

/// Nothing came back to the wire: a reply would have been sent before the agent handled the
/// later request the test synchronised on.
fn heard_nothing(wire: &Wire) {
    let mut buf = [0u8; 2048];
    match wire.sock.try_recv_from(&mut buf) {
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
        other => panic!(
            "the agent answered a stranger: {:?}",
            other.map(|(n, _)| String::from_utf8_lossy(&buf[..n]).to_string())
        ),
    }
}

/// An INVITE from the wire with a forged From, to `uri` (an address of the agent).
fn ghost_invite(wire: &mut Wire, uri: &str) -> String {
    forged_invite(wire, uri, "\"Alice (boss)\" <sip:alice@company.com>")
}

/// An INVITE from the wire with `from` as its From (a tag added).
fn forged_invite(wire: &mut Wire, uri: &str, from: &str) -> String {
    let from = format!("From: {from};tag=ghost\r\n");
    let text = wire.request_text("INVITE", uri, "To: <sip:100@company.com>\r\n", "");
    text.replacen(
        &format!(
            "From: <sip:tester@{}>;tag=w{}\r\n",
            wire.addr,
            wire.addr.port()
        ),
        &from,
        1,
    )
}

#[tokio::test]
async fn svmap_finds_a_lan_agent_but_not_one_that_takes_calls_only_from_its_server() {
    let server = server(USERS).await;
    let (_alice, bob) = registered_pair(&server).await;
    let lan = Agent::start("carol", "", None).await;
    assert!(
        svmap_finds(lan.handle.local_addr()).await,
        "svmap finds a LAN agent, which answers anyone (the scan works here)"
    );
    assert!(
        !svmap_finds(bob.handle.local_addr()).await,
        "a registered agent is invisible to svmap"
    );
}

#[tokio::test]
async fn a_stranger_cannot_ring_or_write_to_a_registered_agent() {
    let server = server(USERS).await;
    let (alice, mut bob) = registered_pair(&server).await;
    let at = bob.handle.local_addr();
    let mut stranger = Wire::on("127.0.0.5").await;
    for uri in [format!("sip:100@{at}"), format!("sip:bob@{at}")] {
        let invite = ghost_invite(&mut stranger, &uri);
        stranger.send(&invite, at).await;
    }
    let phish = "IT here: your password expired, confirm it at http://example.net";
    let message = stranger.request_text(
        "MESSAGE",
        &format!("sip:bob@{at}"),
        "To: <sip:bob@company.com>\r\nContent-Type: text/plain\r\n",
        phish,
    );
    let message = message.replace("sip:tester@", "sip:alice@company.com;x=");
    stranger.send(&message, at).await;
    // What alice really sends through the server comes after the stranger's three requests.
    alice
        .send(Command::SendMessage {
            account: alice.account,
            target: "sip:bob@company.com".into(),
            text: "lunch?".into(),
        })
        .await;
    let first = bob
        .wait(|e| matches!(e, Event::IncomingCall { .. } | Event::InstantMessage { .. }))
        .await;
    match first {
        Event::InstantMessage {
            from,
            text,
            verified,
            ..
        } => {
            assert_eq!(
                (from.as_str(), text.as_str()),
                ("sip:alice@company.com", "lunch?")
            );
            assert!(verified, "the server vouched for alice");
        }
        other => panic!("a stranger got through first: {other:?}"),
    }
    heard_nothing(&stranger);
    assert!(bob.store.calls().unwrap().is_empty(), "no History row");
    let kept: Vec<_> = bob
        .store
        .messages()
        .unwrap()
        .into_iter()
        .map(|m| m.body)
        .collect();
    assert_eq!(kept, ["lunch?"], "the phishing text was not kept");
}

/// The token in the Contact is not enough: a stranger who read bob's Contact off an open
/// registrar (fetching bindings, RFC 3261 10.2.3) still cannot ring him from elsewhere.
#[tokio::test]
async fn knowing_the_agents_contact_is_not_enough() {
    let server = open_server().await;
    let (mut alice, mut bob) = registered_pair(&server).await;
    let mut stranger = Wire::on("127.0.0.6").await;
    let query = stranger.request_text(
        "REGISTER",
        "sip:company.com",
        "To: <sip:bob@company.com>\r\n",
        "",
    );
    stranger.send(&query, server.local_addr()).await;
    let bindings = stranger.final_response().await;
    let contact = parley::sip::message::get_all(&bindings.headers, "Contact")
        .into_iter()
        .find(|c| c.contains("rinstance="))
        .expect("bob's Contact carries its token");
    let uri = contact
        .trim_start_matches('<')
        .split('>')
        .next()
        .unwrap()
        .to_string();
    let invite = ghost_invite(&mut stranger, &uri);
    stranger.send(&invite, bob.handle.local_addr()).await;
    alice.call("sip:bob@company.com").await;
    let first = bob.wait(|e| matches!(e, Event::IncomingCall { .. })).await;
    let Event::IncomingCall {
        call,
        from,
        verified,
        ..
    } = first
    else {
        unreachable!()
    };
    assert_eq!(
        from, "sip:alice@company.com",
        "the first ring is alice's real call"
    );
    assert!(!verified, "an open server vouches for nobody");
    heard_nothing(&stranger);
    bob.send(Command::Hangup(call)).await;
    alice.ended().await;
}

#[tokio::test]
async fn only_what_the_server_asserts_is_verified() {
    let server = server(USERS).await;
    let (mut alice, mut bob) = registered_pair(&server).await;
    let mut stranger = Wire::on("127.0.0.7").await;
    // A look-alike of alice's own domain (a trailing dot) is alice's: challenged, not passed.
    let lookalike = stranger
        .request_text(
            "MESSAGE",
            "sip:bob@company.com",
            "To: <sip:bob@company.com>\r\nContent-Type: text/plain\r\n",
            "from the real alice, honest",
        )
        .replace(
            "<sip:tester@127.0.0.7",
            "<sip:alice@company.com.;x=127.0.0.7",
        );
    stranger.send(&lookalike, server.local_addr()).await;
    let r = stranger.final_response().await;
    assert_eq!(code_of(&r), 407, "{r}");
    // Another domain, dressed as alice, with an identity asserted by hand: passed, unverified.
    let dressed = stranger
        .request_text(
            "MESSAGE",
            "sip:bob@company.com",
            "To: <sip:bob@company.com>\r\nP-Asserted-Identity: <sip:alice@company.com>\r\n\
             Content-Type: text/plain\r\n",
            "it's me, alice",
        )
        .replace(
            "From: <sip:tester@127.0.0.7",
            "From: \"alice@company.com\" <sip:alice@evil.example;x=127.0.0.7",
        );
    stranger.send(&dressed, server.local_addr()).await;
    let e = bob
        .wait(|e| matches!(e, Event::InstantMessage { .. }))
        .await;
    let Event::InstantMessage {
        from,
        text,
        verified,
        ..
    } = e
    else {
        unreachable!()
    };
    assert_eq!(
        (from.as_str(), text.as_str()),
        ("sip:alice@evil.example", "it's me, alice")
    );
    assert!(
        !verified,
        "nobody vouched for evil.example; the forged assertion was dropped"
    );
    let kept = bob.store.messages().unwrap();
    assert!(!kept[0].verified, "kept as unverified");
    // alice herself, authenticated by the server: verified.
    alice.call("sip:bob@company.com").await;
    let e = bob.wait(|e| matches!(e, Event::IncomingCall { .. })).await;
    let Event::IncomingCall {
        call,
        from,
        verified,
        ..
    } = e
    else {
        unreachable!()
    };
    assert_eq!(from, "sip:alice@company.com");
    assert!(verified, "the server authenticated alice and asserted it");
    bob.send(Command::Hangup(call)).await;
    alice.ended().await;
    bob.ended().await;
    assert!(bob.store.calls().unwrap()[0].verified);
}

#[tokio::test]
async fn a_lan_account_takes_direct_calls_but_marks_them_unverified() {
    let mut bob = Agent::start("bob", "", None).await;
    let at = bob.handle.local_addr();
    let mut stranger = Wire::on("127.0.0.8").await;
    let invite = ghost_invite(&mut stranger, &format!("sip:bob@{at}"));
    stranger.send(&invite, at).await;
    let e = bob.wait(|e| matches!(e, Event::IncomingCall { .. })).await;
    let Event::IncomingCall {
        call,
        from,
        display_name,
        verified,
        ..
    } = e
    else {
        unreachable!()
    };
    assert_eq!(from, "sip:alice@company.com");
    assert_eq!(display_name.as_deref(), Some("Alice (boss)"));
    assert!(!verified, "a claim nobody checked");
    match stranger.recv().await {
        Inbound::Response(r) => assert!(code_of(&r) < 200, "it rings: {r}"),
        other => panic!("{other:?}"),
    }
    bob.send(Command::Decline(call)).await;
    bob.ended().await;
    // An address for a display name is not shown: it would pose as that address.
    let dressed = "\"alice@company.com\" <sip:mallory@evil.example>";
    let invite = forged_invite(&mut stranger, &format!("sip:bob@{at}"), dressed);
    stranger.send(&invite, at).await;
    let e = bob
        .wait(|e| matches!(e, Event::IncomingCall { from, .. } if from.contains("mallory")))
        .await;
    assert!(
        matches!(
            &e,
            Event::IncomingCall {
                display_name: None,
                ..
            }
        ),
        "{e:?}"
    );
}
