//! Dialogs at their edges (RFC 3261 9, 13, 15), played byte by byte from a raw socket: a second
//! fork's 2xx, a 2xx after the call ended, the callee hanging up before the ACK, a BYE on an
//! early dialog, the tag on the 200 to CANCEL, and a call nobody answers.

mod common;

use common::*;
use parley::engine::{CallState, Command};
use parley::sip::message::{self as msg, code_of, Inbound, MessageExt, Method, Request};
use std::net::SocketAddr;
use std::time::Duration;

const SDP: &str = "v=0\r\no=w 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n";

/// A 2xx (or other answer) to `req` from the wire with To tag `tag` and a Contact on the wire.
async fn answer_as(wire: &Wire, req: &Request, code: u16, tag: &str, to: SocketAddr) {
    let mut r = msg::response_to(req, code, None, Some(tag));
    msg::push(
        &mut r.headers,
        "Contact",
        format!("<sip:bob@{}>", wire.addr),
    );
    if code == 200 && req.method == Method::Invite {
        msg::push(&mut r.headers, "Content-Type", "application/sdp");
        r.body = SDP.as_bytes().to_vec();
    }
    let text = String::from_utf8(msg::encode_response(&r)).unwrap();
    wire.send(&text, to).await;
}

/// The next request that is not a retransmitted INVITE.
async fn next_request(wire: &Wire) -> Request {
    loop {
        let r = wire.request().await;
        if r.method != Method::Invite {
            return r;
        }
    }
}

/// Alice (a Parley agent) calls the wire; returns the INVITE and Alice's address.
async fn alice_calls(wire: &Wire) -> (Agent, Request, SocketAddr) {
    let mut alice = Agent::start("alice", "", None).await;
    alice.call(&format!("sip:bob@{}", wire.addr)).await;
    let invite = wire.request().await;
    assert_eq!(invite.method, Method::Invite);
    let to = alice.handle.local_addr();
    (alice, invite, to)
}

#[tokio::test]
async fn a_second_forks_answer_is_acked_then_ended() {
    let wire = Wire::on("127.0.0.2").await;
    let (mut alice, invite, to) = alice_calls(&wire).await;
    answer_as(&wire, &invite, 200, "first", to).await;
    let call = alice.reached(CallState::Connected).await;
    let ack = next_request(&wire).await;
    assert_eq!(
        (ack.method, ack.to_tag().as_deref()),
        (Method::Ack, Some("first"))
    );
    answer_as(&wire, &invite, 200, "second", to).await;
    let ack = next_request(&wire).await;
    assert_eq!(
        (ack.method, ack.to_tag().as_deref()),
        (Method::Ack, Some("second"))
    );
    let bye = next_request(&wire).await;
    assert_eq!(
        (bye.method, bye.to_tag().as_deref()),
        (Method::Bye, Some("second"))
    );
    answer_as(&wire, &bye, 200, "second", to).await;
    // The first dialog is still the call: hanging up ends that one.
    alice.send(Command::Hangup(call)).await;
    let bye = next_request(&wire).await;
    assert_eq!(
        (bye.method, bye.to_tag().as_deref()),
        (Method::Bye, Some("first"))
    );
    answer_as(&wire, &bye, 200, "first", to).await;
    assert_eq!(alice.ended().await.0, 200);
}

#[tokio::test]
async fn an_answer_after_the_call_ended_is_acked_then_ended() {
    let wire = Wire::on("127.0.0.3").await;
    let (mut alice, invite, to) = alice_calls(&wire).await;
    answer_as(&wire, &invite, 200, "kept", to).await;
    let call = alice.reached(CallState::Connected).await;
    assert_eq!(next_request(&wire).await.method, Method::Ack);
    alice.send(Command::Hangup(call)).await;
    let bye = next_request(&wire).await;
    answer_as(&wire, &bye, 200, "kept", to).await;
    alice.ended().await;
    answer_as(&wire, &invite, 200, "late", to).await;
    let ack = next_request(&wire).await;
    assert_eq!(
        (ack.method, ack.to_tag().as_deref()),
        (Method::Ack, Some("late"))
    );
    let bye = next_request(&wire).await;
    assert_eq!(
        (bye.method, bye.to_tag().as_deref()),
        (Method::Bye, Some("late"))
    );
}

/// The wire calls Bob (a Parley agent); returns the INVITE text's Call-ID and Bob's address.
async fn wire_calls(wire: &mut Wire, bob: &Agent) -> (String, SocketAddr) {
    let to = bob.handle.local_addr();
    let text = wire.request_text(
        "INVITE",
        &format!("sip:bob@{to}"),
        &format!(
            "To: <sip:bob@{DOMAIN}>\r\nContact: <sip:w@{}>\r\nContent-Type: application/sdp\r\n",
            wire.addr
        ),
        SDP,
    );
    wire.send(&text, to).await;
    (text, to)
}

/// The next response, provisional or final.
async fn response(wire: &Wire) -> msg::Response {
    loop {
        if let Inbound::Response(r) = wire.recv().await {
            if code_of(&r) != 100 {
                return r;
            }
        }
    }
}

/// `text` (a request the wire sent) turned into `method` in the dialog with To tag `tag`.
fn in_dialog(text: &str, method: &str, tag: &str, cseq: u32) -> String {
    let mut out = String::new();
    for line in text.split("\r\n") {
        let l = if let Some(rest) = line.strip_prefix("INVITE ") {
            format!("{method} {rest}")
        } else if line.starts_with("To:") {
            format!("{line};tag={tag}")
        } else if line.starts_with("CSeq:") {
            format!("CSeq: {cseq} {method}")
        } else if line.starts_with("Via:") {
            line.replace(";branch=z9hG4bK", &format!(";branch=z9hG4bK{method}"))
        } else if line.starts_with("Content-Length:") {
            "Content-Length: 0".to_string()
        } else {
            line.to_string()
        };
        out.push_str(&l);
        out.push_str("\r\n");
        if line.is_empty() {
            break;
        }
    }
    out
}

#[tokio::test]
async fn callee_hanging_up_before_the_ack_waits_for_it() {
    let mut wire = Wire::on("127.0.0.4").await;
    let mut bob = Agent::start("bob", "", None).await;
    let (text, to) = wire_calls(&mut wire, &bob).await;
    let call = bob.incoming().await;
    bob.send(Command::Answer(call)).await;
    let ok = loop {
        let r = response(&wire).await;
        if code_of(&r) == 200 {
            break r;
        }
    };
    bob.send(Command::Hangup(call)).await;
    // Until the ACK, only copies of the 200 arrive, never a BYE.
    for _ in 0..2 {
        assert_eq!(code_of(&response(&wire).await), 200);
    }
    let tag = ok.to_tag().unwrap();
    wire.send(&in_dialog(&text, "ACK", &tag, 1), to).await;
    let bye = wire.request().await;
    assert_eq!(
        (bye.method, bye.to_tag().as_deref()),
        (Method::Bye, Some(&*wire_tag(&wire)))
    );
    wire.answer(&bye, 200, to).await;
    assert_eq!(bob.ended().await.0, 200);
}

/// The From tag the wire puts on its requests (see `Wire::request_text`).
fn wire_tag(wire: &Wire) -> String {
    format!("w{}", wire.addr.port())
}

#[tokio::test]
async fn a_bye_on_the_early_dialog_ends_the_invite_with_487() {
    let mut wire = Wire::on("127.0.0.5").await;
    let mut bob = Agent::start("bob", "", None).await;
    let (text, to) = wire_calls(&mut wire, &bob).await;
    bob.incoming().await;
    let ringing = response(&wire).await;
    assert_eq!(code_of(&ringing), 180);
    let tag = ringing.to_tag().unwrap();
    wire.send(&in_dialog(&text, "BYE", &tag, 2), to).await;
    let mut codes = vec![
        code_of(&wire.final_response().await),
        code_of(&wire.final_response().await),
    ];
    codes.sort();
    assert_eq!(codes, [200, 487]);
    assert_eq!(bob.ended().await.0, 487);
}

#[tokio::test]
async fn the_200_to_cancel_carries_the_dialogs_to_tag() {
    let mut wire = Wire::on("127.0.0.6").await;
    let mut bob = Agent::start("bob", "", None).await;
    let (text, to) = wire_calls(&mut wire, &bob).await;
    bob.incoming().await;
    let ringing = response(&wire).await;
    let tag = ringing.to_tag().unwrap();
    // A CANCEL repeats the INVITE's Via branch, Call-ID, From and To (RFC 3261 9.1).
    let cancel = text
        .replacen("INVITE ", "CANCEL ", 1)
        .replace("CSeq: 1 INVITE", "CSeq: 1 CANCEL")
        .split("\r\n\r\n")
        .next()
        .unwrap()
        .replace(
            &format!("Content-Length: {}", SDP.len()),
            "Content-Length: 0",
        )
        + "\r\n\r\n";
    wire.send(&cancel, to).await;
    let mut seen = Vec::new();
    for _ in 0..2 {
        let r = wire.final_response().await;
        seen.push((r.cseq().1, code_of(&r), r.to_tag()));
    }
    seen.sort();
    assert_eq!(
        seen,
        [
            ("CANCEL".to_string(), 200, Some(tag.clone())),
            ("INVITE".to_string(), 487, Some(tag)),
        ]
    );
    assert_eq!(bob.ended().await.0, 487);
}

#[tokio::test]
async fn an_unanswered_call_gets_480_and_is_a_missed_call() {
    let mut wire = Wire::on("127.0.0.7").await;
    let mut bob = Agent::start_engine(
        "bob",
        "",
        None,
        |e| e.ring_timeout = Duration::from_secs(1),
        |_| {},
    )
    .await;
    wire_calls(&mut wire, &bob).await;
    bob.incoming().await;
    assert_eq!(code_of(&wire.final_response().await), 480);
    assert_eq!(bob.ended().await.0, 480);
    let calls = bob.store.calls().unwrap();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].status, Some(480));
    assert!(calls[0].answered_at.is_none() && calls[0].ended_at.is_some());
}
