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
    wire_offers(wire, bob, SDP).await
}

/// As `wire_calls`, offering `sdp`.
async fn wire_offers(wire: &mut Wire, bob: &Agent, sdp: &str) -> (String, SocketAddr) {
    let to = bob.handle.local_addr();
    let text = wire.request_text(
        "INVITE",
        &format!("sip:bob@{to}"),
        &format!(
            "To: <sip:bob@{DOMAIN}>\r\nContact: <sip:w@{}>\r\nContent-Type: application/sdp\r\n",
            wire.addr
        ),
        sdp,
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
    let (status, _, message) = bob.ended().await;
    assert_eq!(status, 480);
    assert!(message.contains("Missed call"), "{message}");
    let calls = bob.store.calls().unwrap();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].status, Some(480));
    assert!(calls[0].answered_at.is_none() && calls[0].ended_at.is_some());
}

/// The wire calls Bob, Bob answers, the wire ACKs: returns Bob, the INVITE text, Bob's address
/// and Bob's tag.
async fn connected(wire: &mut Wire, password: &str) -> (Agent, String, SocketAddr, String) {
    connected_with(wire, password, SDP).await.0
}

/// As `connected`, offering `sdp`; also returns Bob's 200 OK.
async fn connected_with(
    wire: &mut Wire,
    password: &str,
    sdp: &str,
) -> ((Agent, String, SocketAddr, String), msg::Response) {
    let bob = Agent::start("bob", password, None).await;
    answered_by(bob, wire, sdp).await
}

/// `bob` answers the wire's call offering `sdp`; the wire ACKs.
async fn answered_by(
    mut bob: Agent,
    wire: &mut Wire,
    sdp: &str,
) -> ((Agent, String, SocketAddr, String), msg::Response) {
    let (text, to) = wire_offers(wire, &bob, sdp).await;
    let call = bob.incoming().await;
    bob.send(Command::Answer(call)).await;
    let ok = loop {
        let r = response(wire).await;
        if code_of(&r) == 200 {
            break r;
        }
    };
    let tag = ok.to_tag().unwrap();
    wire.send(&in_dialog(&text, "ACK", &tag, 1), to).await;
    bob.reached(CallState::Connected).await;
    ((bob, text, to, tag), ok)
}

/// The next request of `method`, skipping others and retransmissions of earlier ones.
async fn next_of(wire: &Wire, method: Method, after_cseq: u32) -> Request {
    loop {
        let r = wire.request().await;
        if r.method == method && r.cseq().0 > after_cseq {
            return r;
        }
    }
}

fn call_id(bob: &Agent) -> u32 {
    bob.seen
        .iter()
        .find_map(|e| match e {
            parley::engine::Event::IncomingCall { call, .. } => Some(*call),
            _ => None,
        })
        .unwrap()
}

#[tokio::test]
async fn glare_gets_491_and_our_reinvite_is_retried() {
    let mut wire = Wire::on("127.0.0.8").await;
    let (mut bob, text, to, tag) = connected(&mut wire, "").await;
    let call = call_id(&bob);
    bob.send(Command::Hold { call, on: true }).await;
    let ours = next_of(&wire, Method::Invite, 0).await;
    // The wire's own re-INVITE crosses Bob's: 491.
    wire.send(&in_dialog(&text, "INVITE", &tag, 2), to).await;
    let r = wire.final_response().await;
    assert_eq!((code_of(&r), r.cseq().1.as_str()), (491, "INVITE"));
    // Bob's gets 491 too; after the random wait Bob tries again, with a new CSeq.
    answer_as(&wire, &ours, 491, &wire_tag(&wire), to).await;
    let again = next_of(&wire, Method::Invite, ours.cseq().0).await;
    assert!(String::from_utf8_lossy(&again.body).contains("a=sendonly"));
    answer_as(&wire, &again, 200, &wire_tag(&wire), to).await;
    let ev = bob
        .wait(|e| matches!(e, parley::engine::Event::Hold { .. }))
        .await;
    assert!(matches!(
        ev,
        parley::engine::Event::Hold { local: true, .. }
    ));
}

#[tokio::test]
async fn no_second_reinvite_while_one_is_pending() {
    let mut wire = Wire::on("127.0.0.9").await;
    let (bob, _text, to, _tag) = connected(&mut wire, "").await;
    let call = call_id(&bob);
    bob.send(Command::Hold { call, on: true }).await;
    let first = next_of(&wire, Method::Invite, 0).await;
    bob.send(Command::Hold { call, on: false }).await;
    // Until the first is answered, only its retransmissions arrive.
    for _ in 0..2 {
        let r = wire.request().await;
        assert_eq!((r.method, r.cseq().0), (Method::Invite, first.cseq().0));
    }
    answer_as(&wire, &first, 200, &wire_tag(&wire), to).await;
    let second = next_of(&wire, Method::Invite, first.cseq().0).await;
    assert!(String::from_utf8_lossy(&second.body).contains("a=sendrecv"));
}

#[tokio::test]
async fn a_reinvite_before_the_ack_or_on_an_early_dialog_gets_500_retry_after() {
    let mut wire = Wire::on("127.0.0.10").await;
    let mut bob = Agent::start("bob", "", None).await;
    let (text, to) = wire_calls(&mut wire, &bob).await;
    let call = bob.incoming().await;
    let tag = response(&wire).await.to_tag().unwrap();
    wire.send(&in_dialog(&text, "INVITE", &tag, 2), to).await;
    let early = loop {
        let r = wire.final_response().await;
        if r.cseq().0 == 2 {
            break r;
        }
    };
    assert_eq!(code_of(&early), 500);
    assert!(early.header("Retry-After").is_some());
    bob.send(Command::Answer(call)).await;
    let text3 = text.replace("branch=z9hG4bK", "branch=z9hG4bK3");
    wire.send(&in_dialog(&text3, "INVITE", &tag, 3), to).await;
    let unacked = loop {
        let r = wire.final_response().await;
        if r.cseq().0 == 3 {
            break r;
        }
    };
    assert_eq!(code_of(&unacked), 500);
    assert!(unacked.header("Retry-After").is_some());
}

const CHALLENGE: &str = "Digest realm=\"wire\", nonce=\"n0nce\", algorithm=MD5, qop=\"auth\"";

/// Sends `code` with a digest challenge in answer to `req`.
async fn challenge(wire: &Wire, req: &Request, code: u16, to: SocketAddr) {
    let mut r = msg::response_to(req, code, None, Some(&wire_tag(wire)));
    let name = match code {
        407 => "Proxy-Authenticate",
        _ => "WWW-Authenticate",
    };
    msg::push(&mut r.headers, name, CHALLENGE);
    wire.send(&String::from_utf8(msg::encode_response(&r)).unwrap(), to)
        .await;
}

#[tokio::test]
async fn challenged_reinvite_and_info_are_sent_again_with_credentials() {
    let mut wire = Wire::on("127.0.0.11").await;
    let (bob, _text, to, _tag) = connected(&mut wire, "b-secret").await;
    let call = call_id(&bob);
    bob.send(Command::Hold { call, on: true }).await;
    let first = next_of(&wire, Method::Invite, 0).await;
    challenge(&wire, &first, 401, to).await;
    let second = next_of(&wire, Method::Invite, first.cseq().0).await;
    let auth = second.header("Authorization").expect("no credentials");
    assert!(auth.contains("realm=\"wire\"") && auth.contains("username=\"bob\""));
    assert_eq!(second.body, first.body);
    answer_as(&wire, &second, 200, &wire_tag(&wire), to).await;
    bob.send(Command::Dtmf { call, digit: '5' }).await;
    let info = next_of(&wire, Method::Info, 0).await;
    challenge(&wire, &info, 407, to).await;
    let info2 = next_of(&wire, Method::Info, info.cseq().0).await;
    assert!(info2.header("Proxy-Authorization").is_some());
    assert_eq!(info2.body, info.body);
}

#[tokio::test]
async fn a_481_to_a_reinvite_ends_the_call() {
    let mut wire = Wire::on("127.0.0.12").await;
    let (mut bob, _text, to, _tag) = connected(&mut wire, "").await;
    let call = call_id(&bob);
    bob.send(Command::Hold { call, on: true }).await;
    let reinv = next_of(&wire, Method::Invite, 0).await;
    answer_as(&wire, &reinv, 481, &wire_tag(&wire), to).await;
    assert_eq!(bob.ended().await.0, 481);
}

#[tokio::test]
async fn a_408_to_an_info_ends_the_call_with_a_bye() {
    let mut wire = Wire::on("127.0.0.13").await;
    let (mut bob, _text, to, _tag) = connected(&mut wire, "").await;
    let call = call_id(&bob);
    bob.send(Command::Dtmf { call, digit: '1' }).await;
    let info = next_of(&wire, Method::Info, 0).await;
    answer_as(&wire, &info, 408, &wire_tag(&wire), to).await;
    assert_eq!(bob.ended().await.0, 408);
    assert_eq!(next_of(&wire, Method::Bye, 0).await.method, Method::Bye);
}

/// What PBXs and phones really send: host names, session-level direction, b= lines, an SRTP
/// line beside the plain one, rtcp-mux.
const PBX_SDP: &str = "v=0\r\no=pbx 77 1 IN IP4 pbx.example.com\r\ns=call\r\nc=IN IP4 127.0.0.1\r\nb=AS:84\r\nt=0 0\r\na=sendonly\r\nm=audio 4000 RTP/SAVP 0\r\na=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz\r\nm=audio 4002 RTP/AVP 0 101\r\nb=TIAS:64000\r\na=rtpmap:101 telephone-event/8000\r\na=rtcp-mux\r\n";

fn body_of(r: &msg::Response) -> String {
    String::from_utf8(r.body.clone()).unwrap()
}

/// The m-lines of an SDP body, as `kind port proto`.
fn m_lines(sdp: &str) -> Vec<String> {
    sdp.lines()
        .filter_map(|l| l.strip_prefix("m="))
        .map(|l| l.split(' ').take(3).collect::<Vec<_>>().join(" "))
        .collect()
}

fn origin(sdp: &str) -> (String, u64) {
    let o = sdp.lines().find_map(|l| l.strip_prefix("o=")).unwrap();
    let f: Vec<&str> = o.split(' ').collect();
    (f[1].to_string(), f[2].parse().unwrap())
}

#[tokio::test]
async fn a_pbx_offer_is_answered_line_by_line() {
    let mut wire = Wire::on("127.0.0.14").await;
    let (_, ok) = connected_with(&mut wire, "", PBX_SDP).await;
    let answer = body_of(&ok);
    let lines = m_lines(&answer);
    assert_eq!(lines[0], "audio 0 RTP/SAVP", "{answer}");
    assert!(
        lines[1].starts_with("audio ") && lines[1].ends_with(" RTP/AVP"),
        "{answer}"
    );
    assert!(
        answer.contains("a=recvonly"),
        "session-level sendonly is a hold: {answer}"
    );
    assert!(answer.contains("a=rtcp-mux"), "{answer}");
}

#[tokio::test]
async fn a_reoffer_keeps_the_lines_and_a_hold_survives_their_offer() {
    let mut wire = Wire::on("127.0.0.15").await;
    let video = SDP.replace("m=audio", "m=video 4010 RTP/AVP 31\r\nm=audio");
    let ((mut bob, text, to, tag), ok) = connected_with(&mut wire, "", &video).await;
    let (sid, version) = origin(&body_of(&ok));
    let call = call_id(&bob);
    bob.send(Command::Hold { call, on: true }).await;
    let reinv = next_of(&wire, Method::Invite, 0).await;
    let offer = String::from_utf8(reinv.body.clone()).unwrap();
    let lines = m_lines(&offer);
    assert_eq!(lines[0], "video 0 RTP/AVP", "{offer}");
    assert!(lines[1].starts_with("audio "), "{offer}");
    assert_eq!(origin(&offer), (sid.clone(), version + 1));
    assert!(offer.contains("a=sendonly"));
    answer_as(&wire, &reinv, 200, &wire_tag(&wire), to).await;
    bob.wait(|e| matches!(e, parley::engine::Event::Hold { local: true, .. }))
        .await;
    // Their own sendrecv re-offer: Bob still holds, so the answer is sendonly.
    let reoffer = in_dialog(&text, "INVITE", &tag, 2).replace(
        "Content-Length: 0",
        &format!("Content-Length: {}", video.len()),
    ) + &video;
    wire.send(&reoffer, to).await;
    let r = loop {
        if let Inbound::Response(r) = wire.recv().await {
            if r.cseq().0 == 2 && code_of(&r) >= 200 {
                break r;
            }
        }
    };
    let answer = body_of(&r);
    assert!(answer.contains("a=sendonly"), "{answer}");
    assert_eq!(origin(&answer), (sid, version + 2));
}

/// The next RTP packet on `sock`: (payload type, SSRC).
async fn rtp_on(sock: &tokio::net::UdpSocket) -> (u8, u32) {
    let mut buf = [0u8; 2048];
    loop {
        let (n, _) = tokio::time::timeout(Duration::from_secs(10), sock.recv_from(&mut buf))
            .await
            .expect("no RTP came")
            .unwrap();
        if let Ok(p) = parley::media::rtp::parse(&buf[..n]) {
            return (p.payload_type, p.ssrc);
        }
    }
}

#[tokio::test]
async fn a_reinvite_repoints_the_running_stream_to_a_new_address_and_codec() {
    let mut wire = Wire::on("127.0.0.16").await;
    let first = tokio::net::UdpSocket::bind("127.0.0.16:0").await.unwrap();
    let second = tokio::net::UdpSocket::bind("127.0.0.16:0").await.unwrap();
    let offer = |port: u16, fmt: &str| {
        format!("v=0\r\no=w 1 {port} IN IP4 127.0.0.16\r\ns=-\r\nc=IN IP4 127.0.0.16\r\nt=0 0\r\nm=audio {port} RTP/AVP {fmt}\r\n")
    };
    let pcmu = offer(first.local_addr().unwrap().port(), "0");
    let bob = bob_playing_a_tone().await;
    let ((_bob, text, to, tag), _) = answered_by(bob, &mut wire, &pcmu).await;
    let (pt, ssrc) = rtp_on(&first).await;
    assert_eq!(pt, 0);
    let opus = offer(
        second.local_addr().unwrap().port(),
        "111\r\na=rtpmap:111 opus/48000/2",
    );
    let reinvite = in_dialog(&text, "INVITE", &tag, 2).replace(
        "Content-Length: 0",
        &format!("Content-Length: {}", opus.len()),
    ) + &opus;
    wire.send(&reinvite, to).await;
    // The same stream (same SSRC) now goes to the new port, as Opus.
    loop {
        let (pt, same) = rtp_on(&second).await;
        assert_eq!(same, ssrc, "the stream was restarted, not re-pointed");
        if pt == 111 {
            break;
        }
    }
}

#[tokio::test]
async fn media_at_a_host_name_is_looked_up_and_flows() {
    let mut wire = Wire::on("127.0.0.1").await;
    let media = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let port = media.local_addr().unwrap().port();
    let sdp = format!(
        "v=0\r\no=w 1 1 IN IP4 localhost\r\ns=-\r\nc=IN IP4 localhost\r\nt=0 0\r\nm=audio {port} RTP/AVP 0\r\n"
    );
    let bob = bob_playing_a_tone().await;
    let ((_bob, ..), _) = answered_by(bob, &mut wire, &sdp).await;
    // The name went to a lookup of its own; its address came back and the voice went there.
    let (pt, _) = rtp_on(&media).await;
    assert_eq!(pt, 0);
}

/// The ICE role attributes (ICE-CONTROLLED 0x8029, ICE-CONTROLLING 0x802A) a STUN binding
/// request carries; `None` for anything else.
fn ice_roles(datagram: &[u8]) -> Option<Vec<u16>> {
    let cookie = datagram.get(4..8)?;
    if datagram.get(0..2)? != [0, 1] || cookie != [0x21, 0x12, 0xA4, 0x42] {
        return None;
    }
    let mut roles = Vec::new();
    let mut at = 20;
    while let (Some(t), Some(l)) = (datagram.get(at..at + 2), datagram.get(at + 2..at + 4)) {
        let kind = u16::from_be_bytes([t[0], t[1]]);
        if kind == 0x8029 || kind == 0x802A {
            roles.push(kind);
        }
        at += 4 + usize::from(u16::from_be_bytes([l[0], l[1]])).div_ceil(4) * 4;
    }
    Some(roles)
}

/// An ICE-lite peer (as many PBXs and SBCs are) only answers checks: facing one we control
/// and nominate even as the callee (RFC 8445 6.1.1), where we used to wait, controlled, for a
/// nomination that never comes. Our checks to its candidate say ICE-CONTROLLING.
#[tokio::test]
async fn facing_an_ice_lite_caller_we_take_control() {
    let mut wire = Wire::on("127.0.0.17").await;
    let lite = tokio::net::UdpSocket::bind("127.0.0.17:0").await.unwrap();
    let port = lite.local_addr().unwrap().port();
    let sdp = format!(
        "v=0\r\no=w 1 1 IN IP4 127.0.0.17\r\ns=-\r\nc=IN IP4 127.0.0.17\r\nt=0 0\r\na=ice-lite\r\n\
         m=audio {port} RTP/AVP 0\r\na=ice-ufrag:lite\r\na=ice-pwd:lite-password-of-22-chars\r\n\
         a=candidate:1 1 UDP 2130706431 127.0.0.17 {port} typ host\r\n"
    );
    let bob = bob_playing_a_tone().await;
    let (_call, _ok) = answered_by(bob, &mut wire, &sdp).await;
    let mut buf = [0u8; 2048];
    let roles = loop {
        let (n, _) = tokio::time::timeout(Duration::from_secs(10), lite.recv_from(&mut buf))
            .await
            .expect("no ICE check came to the lite peer's candidate")
            .unwrap();
        if let Some(roles) = ice_roles(&buf[..n]) {
            break roles;
        }
    };
    assert_eq!(roles, [0x802A], "ICE-CONTROLLING and nothing else");
}

/// Linphone set to ZRTP offers plain RTP/AVP with `a=zrtp-hash`. Bob, who requires
/// encryption, refuses with 488 and a Warning naming ZRTP, and is told why in words; Carol,
/// who takes encryption when she can, answers and her call card says the call is not encrypted
/// because ZRTP was what was offered.
#[tokio::test]
async fn a_zrtp_offer_is_refused_or_taken_plain_and_said() {
    let zrtp = |ip: &str| {
        format!(
            "v=0\r\no=l 1 1 IN IP4 {ip}\r\ns=-\r\nc=IN IP4 {ip}\r\nt=0 0\r\nm=audio 7078 RTP/AVP 0\r\n\
             a=zrtp-hash:1.10 {}\r\n",
            "ab".repeat(32)
        )
    };
    let mut wire = Wire::on("127.0.0.18").await;
    let mut bob = Agent::start_with("bob", "", None, |a| {
        a.srtp = Some(parley::engine::SrtpPolicy::Mandatory)
    })
    .await;
    wire_offers(&mut wire, &bob, &zrtp("127.0.0.18")).await;
    let refused = loop {
        let r = response(&wire).await;
        if code_of(&r) >= 200 {
            break r;
        }
    };
    assert_eq!(code_of(&refused), 488);
    let warning = refused.header("Warning").unwrap_or_default();
    assert!(warning.contains("ZRTP"), "{warning}");
    let told = bob
        .wait(|e| matches!(e, parley::engine::Event::Error { .. }))
        .await;
    assert!(format!("{told:?}").contains("ZRTP"), "{told:?}");

    let mut wire = Wire::on("127.0.0.19").await;
    let carol = Agent::start("bob", "", None).await;
    let ((mut carol, ..), _) = answered_by(carol, &mut wire, &zrtp("127.0.0.19")).await;
    let is = |e: &parley::engine::Event| matches!(e, parley::engine::Event::CallSecurity { .. });
    let said = match carol.seen.iter().find(|e| is(e)).cloned() {
        Some(e) => e,
        None => carol.wait(is).await,
    };
    let parley::engine::Event::CallSecurity {
        encrypted, message, ..
    } = said
    else {
        unreachable!()
    };
    assert!(!encrypted && message.contains("ZRTP"), "{message}");
}

/// Our ICE credentials in an SDP body (`ice-ufrag`).
fn ufrag_of(sdp: &str) -> String {
    sdp.lines()
        .find_map(|l| l.strip_prefix("a=ice-ufrag:"))
        .expect("no ICE in our SDP")
        .to_string()
}

/// The other side restarts ICE (a re-INVITE with new credentials, RFC 8445 9): our answer
/// carries new credentials too, where it used to keep the old ones (which says "no restart").
/// A re-INVITE with the same credentials keeps ours.
#[tokio::test]
async fn their_ice_restart_is_answered_with_new_credentials() {
    let mut wire = Wire::on("127.0.0.20").await;
    let media = tokio::net::UdpSocket::bind("127.0.0.20:0").await.unwrap();
    let port = media.local_addr().unwrap().port();
    let offer = |version: u32, ufrag: &str| {
        format!(
            "v=0\r\no=w 1 {version} IN IP4 127.0.0.20\r\ns=-\r\nc=IN IP4 127.0.0.20\r\nt=0 0\r\n\
             m=audio {port} RTP/AVP 0\r\na=ice-ufrag:{ufrag}\r\na=ice-pwd:{ufrag}-password-of-22\r\n\
             a=candidate:1 1 UDP 2130706431 127.0.0.20 {port} typ host\r\n"
        )
    };
    let bob = bob_playing_a_tone().await;
    let ((_bob, text, to, tag), ok) = answered_by(bob, &mut wire, &offer(1, "aaaa")).await;
    let first = ufrag_of(&body_of(&ok));
    for (cseq, ufrag, restart) in [(2, "aaaa", false), (3, "bbbb", true)] {
        let sdp = offer(cseq, ufrag);
        let branch = format!("z9hG4bKINVITE{cseq}");
        let length = format!("Content-Length: {}", sdp.len());
        let req = in_dialog(&text, "INVITE", &tag, cseq)
            .replace("z9hG4bKINVITE", &branch)
            .replace("Content-Length: 0", &length)
            + &sdp;
        wire.send(&req, to).await;
        let ok = loop {
            let r = response(&wire).await;
            if code_of(&r) == 200 && r.cseq().0 == cseq {
                break r;
            }
        };
        wire.send(&in_dialog(&text, "ACK", &tag, cseq), to).await;
        let ours = ufrag_of(&body_of(&ok));
        assert_eq!(
            ours != first,
            restart,
            "re-INVITE {cseq}: {first} then {ours}"
        );
    }
}
