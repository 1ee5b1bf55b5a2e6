//! Interoperability with a real, independent SIP implementation: sipp (Debian's sip-tester),
//! as caller and as callee, straight to our engine and through our embedded server.
//! Without sipp these tests fail and say how to install it: a missing peer proves nothing.

mod common;

use common::*;
use parley::engine::{AccountConfig, CallState, Command, Engine, EngineConfig, Event};
use parley::sip::digest::Algorithm;
use std::process::Stdio;
use std::time::Duration;

/// Fails the test, with the install hint, when sipp is not installed.
fn require_sipp() {
    require("sipp", "-v", "sip-tester");
}

async fn run_sipp(args: &[String]) -> std::process::Output {
    let mut cmd = tokio::process::Command::new("sipp");
    cmd.args(args)
        .args(["-m", "1", "-timeout", "30s", "-nostdin", "-i", "127.0.0.1"])
        .stdin(Stdio::null())
        .kill_on_drop(true);
    tokio::time::timeout(Duration::from_secs(40), cmd.output())
        .await
        .expect("sipp hung")
        .expect("sipp did not start")
}

/// Waits until a process (sipp) has bound this UDP port on loopback.
async fn until_bound(port: u16) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while std::net::UdpSocket::bind(("127.0.0.1", port)).is_ok() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "sipp never bound port {port}"
        );
        tokio::task::yield_now().await;
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn free_udp_port() -> u16 {
    std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// sipp's built-in UAC calls our engine directly: INVITE, our 180 and 200, its ACK and BYE.
#[tokio::test]
async fn sipp_calls_parley() {
    require_sipp();
    let mut bob = Agent::start("bob", "", None).await;
    let port = bob.handle.local_addr().port();
    let answer = tokio::spawn(async move {
        let call = bob.incoming().await;
        bob.send(Command::Answer(call)).await;
        bob.reached(CallState::Connected).await;
        let ended = bob.ended().await;
        (ended, bob)
    });
    let sipp_port = free_udp_port();
    let out = run_sipp(&[
        "-sn".into(),
        "uac".into(),
        "-s".into(),
        "bob".into(),
        "-p".into(),
        sipp_port.to_string(),
        format!("127.0.0.1:{port}"),
    ])
    .await;
    assert!(
        out.status.success(),
        "sipp failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let ((status, reason, _), bob) = answer.await.unwrap();
    assert_eq!((status, reason.as_str()), (200, "Remote hung up"));
    let calls = bob.store.calls().unwrap();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].direction, parley::store::Direction::Incoming);
}

/// Our engine calls sipp's built-in UAS and hangs up with BYE.
#[tokio::test]
async fn parley_calls_sipp() {
    require_sipp();
    let sipp_port = free_udp_port();
    let sipp = tokio::spawn(run_sipp_owned(vec![
        "-sn".into(),
        "uas".into(),
        "-p".into(),
        sipp_port.to_string(),
    ]));
    until_bound(sipp_port).await;
    let mut alice = Agent::start("alice", "", None).await;
    alice
        .call(&format!("sip:service@127.0.0.1:{sipp_port}"))
        .await;
    let ev = alice
        .wait(|e| {
            matches!(
                e,
                Event::Call {
                    state: CallState::Connected,
                    ..
                } | Event::CallEnded { .. }
            )
        })
        .await;
    let Event::Call { call, .. } = ev else {
        panic!("{ev:?}")
    };
    alice.send(Command::Hangup(call)).await;
    assert_eq!(alice.ended().await.0, 200);
    let out = sipp.await.unwrap();
    assert!(
        out.status.success(),
        "sipp failed: {}",
        String::from_utf8_lossy(&out.stdout)
    );
}

async fn run_sipp_owned(args: Vec<String>) -> std::process::Output {
    run_sipp(&args).await
}

/// sipp calls a Parley user through the embedded server in open (LAN) mode.
#[tokio::test]
async fn sipp_calls_through_the_embedded_server() {
    require_sipp();
    let mut cfg = parley::server::ServerConfig::new("127.0.0.1:0".parse().unwrap(), DOMAIN);
    cfg.open = true;
    let server = parley::server::Server::start(cfg).await.unwrap();
    let (handle, mut events) = Engine::start(EngineConfig::new("127.0.0.1:0".parse().unwrap()))
        .await
        .unwrap();
    let mut acc = AccountConfig::new("sip:bob@company.com", "");
    acc.server = Some(server.local_addr().to_string());
    handle.send(Command::AddAccount(Box::new(acc))).await;
    // sipp's first try must find bob registered.
    let mut seen = Vec::new();
    let registration = async {
        while let Some(ev) = events.recv().await {
            seen.push(ev.clone());
            if matches!(
                ev,
                Event::Registered { .. } | Event::RegistrationFailed { .. }
            ) {
                break;
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(20), registration)
        .await
        .expect("bob's registration got no answer");
    let h = handle.clone();
    let bob = tokio::spawn(async move {
        while let Some(ev) = events.recv().await {
            seen.push(ev.clone());
            match ev {
                Event::IncomingCall { call, .. } => h.send(Command::Answer(call)).await,
                Event::CallEnded { .. } => return seen,
                _ => {}
            }
        }
        seen
    });
    let out = run_sipp(&[
        "-sn".into(),
        "uac".into(),
        "-s".into(),
        "bob".into(),
        "-p".into(),
        free_udp_port().to_string(),
        server.local_addr().to_string(),
    ])
    .await;
    assert!(
        out.status.success(),
        "sipp failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let seen = tokio::time::timeout(Duration::from_secs(10), bob)
        .await
        .unwrap()
        .unwrap();
    assert!(
        seen.iter().any(|e| matches!(e, Event::Registered { .. })),
        "{seen:#?}"
    );
    assert!(
        seen.iter()
            .any(|e| matches!(e, Event::CallEnded { status: 200, .. })),
        "{seen:#?}"
    );
}

/// A scenario file of ours for sipp (`tests/data/sipp/NAME.xml`).
fn scenario(name: &str) -> String {
    format!("{}/tests/data/sipp/{name}.xml", env!("CARGO_MANIFEST_DIR"))
}

/// Starts sipp as the callee with one of our scenarios; returns its port and its run.
async fn sipp_callee(name: &str) -> (u16, tokio::task::JoinHandle<std::process::Output>) {
    let port = free_udp_port();
    let run = tokio::spawn(run_sipp_owned(vec![
        "-sf".into(),
        scenario(name),
        "-p".into(),
        port.to_string(),
    ]));
    until_bound(port).await;
    (port, run)
}

fn assert_sipp_passed(out: std::process::Output) {
    assert!(
        out.status.success(),
        "sipp failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// sipp answers our INVITE twice, as two forks would: both 2xx are ACKed, the second dialog
/// is ended with BYE, and the call goes on in the first (the scenario checks every tag).
#[tokio::test]
async fn a_second_2xx_from_sipp_is_acked_and_ended() {
    require_sipp();
    let (port, sipp) = sipp_callee("two_answers").await;
    let mut alice = Agent::start("alice", "", None).await;
    alice.call(&format!("sip:forks@127.0.0.1:{port}")).await;
    let call = alice.reached(CallState::Connected).await;
    // sipp presses a key in the first dialog once the second is over.
    let digit = alice.wait(|e| matches!(e, Event::Dtmf { .. })).await;
    assert!(matches!(digit, Event::Dtmf { digit: '5', .. }));
    alice.send(Command::Hangup(call)).await;
    assert_eq!(alice.ended().await.0, 200);
    assert_sipp_passed(sipp.await.unwrap());
}

/// sipp's re-INVITE crosses our hold re-INVITE: we answer 491, sipp answers ours 491, and ours
/// goes again after the RFC 3261 14.1 wait and puts the call on hold.
#[tokio::test]
async fn reinvite_glare_with_sipp() {
    require_sipp();
    let (port, sipp) = sipp_callee("glare").await;
    let mut alice = Agent::start("alice", "", None).await;
    alice.call(&format!("sip:glare@127.0.0.1:{port}")).await;
    let call = alice.reached(CallState::Connected).await;
    alice.send(Command::Hold { call, on: true }).await;
    alice
        .wait(|e| matches!(e, Event::Hold { local: true, .. }))
        .await;
    alice.send(Command::Hangup(call)).await;
    assert_eq!(alice.ended().await.0, 200);
    assert_sipp_passed(sipp.await.unwrap());
}

/// sipp tries to use the embedded server, which requires passwords, as a relay: an INVITE
/// with a made-up To tag to a foreign address is refused.
#[tokio::test]
async fn sipp_relay_attempt_is_refused() {
    require_sipp();
    let server = server(USERS).await;
    let out = run_sipp(&[
        "-sf".into(),
        scenario("relay"),
        "-key".into(),
        "victim".into(),
        "127.0.0.99:5099".into(),
        "-p".into(),
        free_udp_port().to_string(),
        server.local_addr().to_string(),
    ])
    .await;
    assert_sipp_passed(out);
}

/// sipp answers only the first challenge it reads: with the default `--digest md5,sha-256`
/// it registers, and with `sha-256` alone (which sipp cannot do) it is refused.
#[tokio::test]
async fn sipp_registers_with_a_password_at_the_embedded_server() {
    require_sipp();
    for (digest, ok) in [(None, true), (Some(vec![Algorithm::Sha256]), false)] {
        let mut cfg = parley::server::ServerConfig::new("127.0.0.1:0".parse().unwrap(), DOMAIN);
        cfg.users.insert("carol".into(), "secret".into());
        if let Some(d) = digest {
            cfg.digest = d;
        }
        let server = parley::server::Server::start(cfg).await.unwrap();
        let out = run_sipp(&[
            "-sf".into(),
            scenario("register-auth"),
            "-s".into(),
            "carol".into(),
            "-p".into(),
            free_udp_port().to_string(),
            server.local_addr().to_string(),
        ])
        .await;
        assert_eq!(
            out.status.success(),
            ok,
            "sipp: {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// Alice with short session timers (RFC 4028): asks for `secs`, takes down to 1 s.
async fn alice_with_session_timer(secs: u32) -> Agent {
    Agent::start_engine(
        "alice",
        "",
        None,
        |e| {
            e.session_interval = secs;
            e.min_se = 1;
        },
        |_| {},
    )
    .await
}

/// sipp makes itself the refresher and then never refreshes, as a phone that crashed or lost
/// its network would: the call is ended with BYE before the interval is up, and says why.
#[tokio::test]
async fn a_call_whose_other_side_vanished_ends_by_its_session_timer() {
    require_sipp();
    let (port, sipp) = sipp_callee("session_vanishes").await;
    let mut alice = alice_with_session_timer(3).await;
    alice.call(&format!("sip:st@127.0.0.1:{port}")).await;
    alice.reached(CallState::Connected).await;
    let (status, _, message) = alice.ended().await;
    assert_eq!(status, 408, "{message}");
    assert!(message.contains("Session Timer"), "{message}");
    assert_sipp_passed(sipp.await.unwrap());
}

/// sipp makes us the refresher with a 2 s interval: two refresh re-INVITEs come within it
/// (sipp's scenario fails otherwise), and the call goes on until sipp hangs up.
#[tokio::test]
async fn as_the_refresher_we_refresh_within_the_interval() {
    require_sipp();
    let (port, sipp) = sipp_callee("session_refreshed").await;
    let mut alice = alice_with_session_timer(2).await;
    alice.call(&format!("sip:sr@127.0.0.1:{port}")).await;
    alice.reached(CallState::Connected).await;
    let (status, _, message) = alice.ended().await;
    assert_eq!(status, 200, "{message}");
    assert_sipp_passed(sipp.await.unwrap());
}

/// sipp finds our interval too brief (422, Min-SE: 4): the INVITE goes again asking for 4 s
/// (the scenario checks it) and the call connects.
#[tokio::test]
async fn a_422_is_answered_with_the_interval_asked_for() {
    require_sipp();
    let (port, sipp) = sipp_callee("session_too_brief").await;
    let mut alice = alice_with_session_timer(2).await;
    alice.call(&format!("sip:tb@127.0.0.1:{port}")).await;
    alice.reached(CallState::Connected).await;
    let (status, _, message) = alice.ended().await;
    assert_eq!(status, 200, "{message}");
    assert_sipp_passed(sipp.await.unwrap());
}

/// Runs one of our caller scenarios against `bob`, telling it where its answer sends audio.
fn sipp_caller(
    name: &str,
    bob: &Agent,
    rtp_port: u16,
) -> tokio::task::JoinHandle<std::process::Output> {
    let target = format!("127.0.0.1:{}", bob.handle.local_addr().port());
    tokio::spawn(run_sipp_owned(vec![
        "-sf".into(),
        scenario(name),
        "-s".into(),
        "bob".into(),
        "-key".into(),
        "rtp_port".into(),
        rtp_port.to_string(),
        "-p".into(),
        free_udp_port().to_string(),
        target,
    ]))
}

/// The payload type of the next RTP packet on `sock`.
async fn rtp_payload_type(sock: &tokio::net::UdpSocket) -> u8 {
    let mut buf = [0u8; 2048];
    loop {
        let (n, _) = tokio::time::timeout(Duration::from_secs(10), sock.recv_from(&mut buf))
            .await
            .expect("no audio came to the address the ACK's answer gave")
            .unwrap();
        if let Ok(p) = parley::media::rtp::parse(&buf[..n]) {
            return p.payload_type;
        }
    }
}

/// Bob answers sipp's `scenario`, whose ACK answers our offer with audio to a port of the
/// test's: his voice must come there, in the answer's codec (PCMU); then sipp hangs up.
async fn audio_goes_where_the_ack_says(scenario: &str) {
    require_sipp();
    let rtp = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let mut bob = bob_playing_a_tone().await;
    let sipp = sipp_caller(scenario, &bob, rtp.local_addr().unwrap().port());
    let call = bob.incoming().await;
    bob.send(Command::Answer(call)).await;
    bob.reached(CallState::Connected).await;
    assert_eq!(rtp_payload_type(&rtp).await, 0, "PCMU, the answer's codec");
    bob.send(Command::Hangup(call)).await;
    assert_eq!(bob.ended().await.0, 200);
    assert_sipp_passed(sipp.await.unwrap());
}

/// sipp offers late, as trunks, SBCs and PBX transfers do: an INVITE without SDP, our offer in
/// the 200, its answer in the ACK.
#[tokio::test]
async fn a_late_offer_is_answered_in_the_ack_and_the_audio_goes_there() {
    audio_goes_where_the_ack_says("late_offer").await;
}

/// A re-INVITE without SDP asks for our offer; the answer in its ACK moves the running audio
/// to a new address (the call started with audio to one nobody reads).
#[tokio::test]
async fn a_reinvite_without_an_offer_moves_the_audio_where_the_ack_says() {
    audio_goes_where_the_ack_says("reinvite_without_offer").await;
}

/// A late offer whose ACK carries no answer: the call cannot have audio, so it is ended with
/// BYE (sipp's scenario waits for it), and the user reads why, as a failed call, not a missed
/// one, in the history too.
#[tokio::test]
async fn a_late_offer_whose_ack_brings_no_answer_is_hung_up_and_said() {
    require_sipp();
    let mut bob = bob_playing_a_tone().await;
    let sipp = sipp_caller("late_offer_unanswered", &bob, 9);
    let call = bob.incoming().await;
    bob.send(Command::Answer(call)).await;
    let ended = bob.wait(|e| matches!(e, Event::CallEnded { .. })).await;
    let Event::CallEnded {
        outcome, message, ..
    } = ended
    else {
        unreachable!()
    };
    assert!(outcome.is_failure(), "{outcome:?}");
    assert!(message.contains("no audio settings"), "{message}");
    assert_sipp_passed(sipp.await.unwrap());
    let history = bob.store.calls().unwrap();
    assert!(
        history[0].outcome().unwrap().is_failure(),
        "{:?}",
        history[0]
    );
}

/// The callee refreshes (`refresher=uas` in its 200) and its refresh re-INVITE names itself
/// `uac`: our answer names it `uac` too, with `Require: timer` (sipp's scenario checks both),
/// where a copy of the first `refresher=uas` left nobody refreshing and the call cut at 408.
#[tokio::test]
async fn a_callee_that_refreshes_is_named_refresher_in_our_answer() {
    require_sipp();
    let (port, sipp) = sipp_callee("session_callee_refreshes").await;
    let mut alice = alice_with_session_timer(90).await;
    alice.call(&format!("sip:su@127.0.0.1:{port}")).await;
    alice.reached(CallState::Connected).await;
    let (status, _, message) = alice.ended().await;
    assert_eq!(status, 200, "{message}");
    assert_sipp_passed(sipp.await.unwrap());
}
