//! Against Asterisk (chan_pjsip, the PBX behind FreePBX and most office phone systems): the lab
//! of `../shared/peers/asterisk` (its `build.sh` builds Asterisk into /opt and installs the
//! lab; each test here starts it and stops it). The tests are `#[ignore]`d because they need
//! that build: run them with `cargo test --test asterisk -- --ignored --test-threads=1` (one
//! Asterisk, on fixed ports), as root or right after sudo asked for a password, since the lab
//! lives in /opt (see the README). `PARLEY_ASTERISK_LAB` names another lab folder.

mod common;

use common::*;
use parley::engine::{CallState, Command, Event, SrtpPolicy};
use parley::media::codec::CodecKind;
use parley::media::headless::{SinkSpec, SourceSpec};
use parley::sip::transport::Proto;
use std::path::PathBuf;
use std::time::Duration;

const NEEDS: &str = "needs the Asterisk lab: ../shared/peers/asterisk/build.sh";

/// The lab's script (`lab.sh start|stop|cli`).
fn lab_sh() -> PathBuf {
    let dir = std::env::var_os("PARLEY_ASTERISK_LAB").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/peers/asterisk"),
        PathBuf::from,
    );
    dir.join("lab.sh")
}

/// Asterisk, running until dropped.
struct Lab;

impl Lab {
    fn start() -> Lab {
        let sh = lab_sh();
        let out = natlab::as_root("bash")
            .arg(&sh)
            .arg("start")
            .output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e} ({NEEDS})", sh.display()));
        assert!(
            out.status.success(),
            "the Asterisk lab did not start ({NEEDS}): {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        Lab
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        let _ = natlab::as_root("bash").arg(lab_sh()).arg("stop").output();
    }
}

/// Carol's endpoint with Asterisk's default `rewrite_contact=no` (the lab's users have `yes`):
/// Asterisk then connects to the Contact she registered instead of reusing her connection.
/// Added once to the installed lab's pjsip.conf (`lab.sh install` writes it anew).
fn carol_without_rewrite() {
    let conf = "/opt/asterisk-lab/etc/pjsip.conf";
    let marker = "; parley tests: carol without rewrite_contact";
    let text = std::fs::read_to_string(conf).unwrap_or_else(|e| panic!("{conf}: {e} ({NEEDS})"));
    if text.contains(marker) {
        return;
    }
    let mut tee = natlab::as_root("tee")
        .args(["-a", conf])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let extra = format!("\n{marker}\n[carol](+)\nrewrite_contact = no\n");
    use std::io::Write;
    tee.stdin
        .take()
        .unwrap()
        .write_all(extra.as_bytes())
        .unwrap();
    assert!(tee.wait().unwrap().success(), "cannot change {conf}");
}

/// A lab user (password `USER-secret`) signed in over `proto`, asking for `expires` seconds,
/// with the default encryption policy.
async fn lab_user(user: &str, proto: Proto, expires: u32, wav: Option<PathBuf>) -> Agent {
    lab_user_with(user, proto, expires, wav, None).await
}

/// As `lab_user`, with encryption as `srtp` says.
async fn lab_user_with(
    user: &str,
    proto: Proto,
    expires: u32,
    wav: Option<PathBuf>,
    srtp: Option<SrtpPolicy>,
) -> Agent {
    let server = match proto {
        Proto::Tls => "127.0.0.1:5061",
        _ => "127.0.0.1:5060",
    };
    let mut agent = Agent::start_engine(
        user,
        &format!("{user}-secret"),
        Some(server.parse().unwrap()),
        |e| {
            e.microphone = SourceSpec::Tone(440.0);
            e.codecs = vec![CodecKind::Pcmu];
            if let Some(wav) = wav {
                e.speaker = SinkSpec::Record(wav);
            }
        },
        |a| {
            a.transport = proto;
            a.expires = expires;
            a.ca_file = Some("/opt/asterisk-lab/certs/ca.crt".into());
            a.srtp = srtp;
        },
    )
    .await;
    agent.registered().await;
    agent
}

/// Waits for `n` more refreshes of the registration; fails at the first sign of a flow taken
/// for dead ("Offline") or a refused registration.
async fn refreshes(agent: &mut Agent, n: usize) {
    let mut seen = 0;
    while seen < n {
        let ev = tokio::time::timeout(Duration::from_secs(90), agent.events.recv())
            .await
            .expect("no refresh within 90 s")
            .expect("the engine stopped");
        match &ev {
            Event::Registered { .. } => seen += 1,
            Event::Connection { online: false, .. } | Event::RegistrationFailed { .. } => {
                panic!("after {seen} refreshes: {ev:?}")
            }
            _ => {}
        }
    }
}

/// Asterisk does no RFC 5626 outbound and never answers a CRLF ping: registrations over TCP
/// and TLS hold for ten minutes (20 refreshes of a 60 s registration each) with no "Offline"
/// and no new flow, where they used to flap every 10 s.
#[tokio::test]
#[ignore = "needs the Asterisk lab: ../shared/peers/asterisk/build.sh"]
async fn tcp_and_tls_registrations_hold_for_ten_minutes() {
    let _lab = Lab::start();
    let mut tcp = lab_user("alice", Proto::Tcp, 60, None).await;
    let mut tls = lab_user("bob", Proto::Tls, 60, None).await;
    tokio::join!(refreshes(&mut tcp, 20), refreshes(&mut tls, 20));
}

/// Over UDP, a call to the lab's echo test (600) connects and our own tone comes back.
#[tokio::test]
#[ignore = "needs the Asterisk lab: ../shared/peers/asterisk/build.sh"]
async fn the_echo_test_returns_our_voice_over_udp() {
    let _lab = Lab::start();
    let dir = tempfile::tempdir().unwrap();
    let wav = dir.path().join("heard.wav");
    let mut alice = lab_user("alice", Proto::Udp, 300, Some(wav.clone())).await;
    alice.call("600").await;
    let call = alice.reached(CallState::Connected).await;
    alice.heard(150).await;
    alice.send(Command::Hangup(call)).await;
    alice.ended().await;
    let share = tone_share(&wav, 440.0, &[440.0, 1000.0]);
    assert!(share >= 0.8, "our tone came back in {:.0}%", share * 100.0);
}

/// Asterisk with `rewrite_contact=no` (its default) calls the Contact a TLS client registered:
/// Carol's says `transport=tls` on her SIP port, where TLS is taken, so Alice's call to her
/// rings and connects (it used to go nowhere: no TLS listener was there). Carol takes plain
/// audio where offered (the lab's carol has no SRTP).
#[tokio::test]
#[ignore = "needs the Asterisk lab: ../shared/peers/asterisk/build.sh"]
async fn an_incoming_call_over_tls_reaches_a_contact_asterisk_does_not_rewrite() {
    carol_without_rewrite();
    let _lab = Lab::start();
    let optional = Some(SrtpPolicy::Optional);
    let mut carol = lab_user_with("carol", Proto::Tls, 300, None, optional).await;
    let mut alice = lab_user("alice", Proto::Udp, 300, None).await;
    alice.call("carol").await;
    let call = carol.incoming().await;
    carol.send(Command::Answer(call)).await;
    carol.reached(CallState::Connected).await;
    alice.reached(CallState::Connected).await;
}

/// A call to the echo test (600) by `user` over `proto`: connected, encrypted as `encrypted`
/// says (the call card's words contain `said`), and our tone heard back.
async fn echo_call(user: &str, proto: Proto, srtp: Option<SrtpPolicy>, said: &str) {
    let dir = tempfile::tempdir().unwrap();
    let wav = dir.path().join("heard.wav");
    let mut agent = lab_user_with(user, proto, 300, Some(wav.clone()), srtp).await;
    agent.call("600").await;
    let call = agent.reached(CallState::Connected).await;
    let (encrypted, message) = agent.security().await;
    assert!(encrypted && message.contains(said), "{message}");
    agent.heard(150).await;
    agent.send(Command::Hangup(call)).await;
    agent.ended().await;
    let share = tone_share(&wav, 440.0, &[440.0, 1000.0]);
    assert!(share >= 0.8, "our tone came back in {:.0}%", share * 100.0);
}

/// An extension that requires SDES (`media_encryption=sdes`), over TLS: keys in the SDP on TLS
/// hops only, and the echo comes back through SRTP both ways.
#[tokio::test]
#[ignore = "needs the Asterisk lab: ../shared/peers/asterisk/build.sh"]
async fn sdes_over_tls_with_an_extension_that_requires_it() {
    let _lab = Lab::start();
    echo_call("alice-sdes", Proto::Tls, None, "keys exchanged over TLS").await;
}

/// An extension that requires DTLS-SRTP (`media_encryption=dtls`), over UDP: the handshake on
/// the media path, the echo through SRTP.
#[tokio::test]
#[ignore = "needs the Asterisk lab: ../shared/peers/asterisk/build.sh"]
async fn dtls_srtp_over_udp_with_an_extension_that_requires_it() {
    let _lab = Lab::start();
    let mandatory = Some(SrtpPolicy::Mandatory);
    echo_call("alice-dtls", Proto::Udp, mandatory, "keys by DTLS").await;
}

/// Asterisk's re-INVITE in a running call (extension 661: a tone, a re-INVITE towards us, then
/// echo): answered, and the echo carries our tone afterwards.
#[tokio::test]
#[ignore = "needs the Asterisk lab: ../shared/peers/asterisk/build.sh"]
async fn asterisk_reinvites_a_running_call_and_audio_goes_on() {
    let _lab = Lab::start();
    let dir = tempfile::tempdir().unwrap();
    let wav = dir.path().join("heard.wav");
    let mut alice = lab_user("alice", Proto::Udp, 300, Some(wav.clone())).await;
    alice.call("661").await;
    let call = alice.reached(CallState::Connected).await;
    // 3 s of tone, the re-INVITE, then the echo: 400 packets is well into the echo.
    alice.heard(400).await;
    alice.send(Command::Hangup(call)).await;
    alice.ended().await;
    let share = tone_share_last(&wav, 440.0, &[440.0, 1000.0], 2.0);
    assert!(share >= 0.8, "our tone came back in {:.0}%", share * 100.0);
}
