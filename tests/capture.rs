//! What a listener on the network sees: `tcpdump` records loopback while two parties sign in
//! to `parley serve` over TLS, call, chat and send a file. The capture must hold the call (its
//! packets are there), yet no SIP, SDP or MSRP text, no word of the chat, no line of the file,
//! and no RTP packet whose payload is the plain tone being spoken; the same with chat and the
//! file through the MSRP relay of `parley serve` over TLS. Needs root for the capture (as CI
//! runs); without tcpdump it fails and says how to install it.

mod common;

use common::certs;
use common::{require, Agent, DOMAIN, USERS};
use parley::engine::{CallState, Command, Event};
use parley::media::codec::CodecKind;
use parley::media::headless::SourceSpec;
use parley::server::msrp_relay::{MsrpRelay, MsrpRelayConfig};
use parley::server::{Server, ServerConfig};
use parley::sip::digest::Algorithm;
use parley::sip::transport::Proto;
use std::io::BufRead;
use std::path::Path;
use std::process::{Child, Command as Process, Stdio};

/// tcpdump on loopback writing every packet to `file` as it comes, once it says it listens.
fn capture(file: &Path) -> Child {
    require("tcpdump", "--version", "tcpdump");
    let mut child = Process::new("tcpdump")
        .args(["-i", "lo", "-U", "-n", "-s", "0", "-w"])
        .arg(file)
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("tcpdump did not start");
    let stderr = child.stderr.take().unwrap();
    let mut lines = std::io::BufReader::new(stderr).lines();
    loop {
        match lines.next() {
            Some(Ok(l)) if l.contains("listening on") => break,
            Some(Ok(_)) => continue,
            _ => panic!("tcpdump could not capture loopback (it needs root)"),
        }
    }
    // Its later words go nowhere, so it never blocks on a full pipe.
    std::thread::spawn(move || lines.for_each(drop));
    child
}

/// The UDP payloads of an Ethernet pcap (tcpdump's format for `lo`).
fn udp_payloads(pcap: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let mut at = 24;
    while at + 16 <= pcap.len() {
        let len = u32::from_le_bytes(pcap[at + 8..at + 12].try_into().unwrap()) as usize;
        let Some(frame) = pcap.get(at + 16..at + 16 + len) else {
            break;
        };
        at += 16 + len;
        // Ethernet, IPv4, UDP.
        if frame.len() < 14 + 20 + 8 || frame[12..14] != [0x08, 0x00] || frame[14 + 9] != 17 {
            continue;
        }
        let ihl = usize::from(frame[14] & 0x0f) * 4;
        if let Some(udp) = frame.get(14 + ihl + 8..) {
            out.push(udp);
        }
    }
    out
}

fn ulaw(b: u8) -> f64 {
    let b = !b;
    let exponent = (b >> 4) & 7;
    let mantissa = i32::from(b & 0x0f);
    let magnitude = ((mantissa << 3) + 0x84) << exponent;
    f64::from(if b & 0x80 != 0 {
        0x84 - magnitude
    } else {
        magnitude - 0x84
    })
}

/// The share of a PCMU payload's energy at `hz` (Goertzel): near 1 for the plain tone, near
/// nothing for ciphertext.
fn tone_energy(payload: &[u8], hz: f64) -> f64 {
    let samples: Vec<f64> = payload.iter().map(|&b| ulaw(b)).collect();
    let w = 2.0 * std::f64::consts::PI * hz / 8000.0;
    let (mut s1, mut s2) = (0.0, 0.0);
    for x in &samples {
        let s = x + 2.0 * w.cos() * s1 - s2;
        (s2, s1) = (s1, s);
    }
    let power = s1 * s1 + s2 * s2 - 2.0 * w.cos() * s1 * s2;
    let total: f64 = samples.iter().map(|x| x * x).sum::<f64>() * samples.len() as f64 / 2.0;
    if total == 0.0 {
        return 0.0;
    }
    power / total
}

#[tokio::test]
async fn a_capture_of_a_call_with_chat_and_a_file_over_tls_shows_nothing_readable() {
    call_captured(false).await;
}

#[tokio::test]
async fn chat_and_a_file_through_the_msrp_relay_over_tls_show_nothing_readable_either() {
    call_captured(true).await;
}

/// The server's MSRP relay over TLS, with the server's certificate.
async fn msrp_relay(leaf: &certs::Leaf) -> MsrpRelay {
    let cfg = MsrpRelayConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        realm: DOMAIN.into(),
        users: USERS
            .iter()
            .map(|(u, p)| (u.to_string(), p.to_string()))
            .collect(),
        digest: vec![Algorithm::Sha256],
        tls: Some(leaf.server_config()),
        // The peers here are on loopback, which only an admin lets a relay reach.
        reach: parley::server::reach::Reach {
            allow: vec![parley::server::reach::Cidr::parse("127.0.0.0/8").unwrap()],
        },
        unproven_for: parley::server::msrp_relay::UNPROVEN_FOR,
    };
    MsrpRelay::start(cfg).await.unwrap()
}

/// A call between two parties signed in over TLS, chat and a file in it (`relayed`: through
/// the MSRP relay), captured: nothing in the capture may be readable.
async fn call_captured(relayed: bool) {
    let dir = tempfile::tempdir().unwrap();
    let pcap = dir.path().join("call.pcap");
    let mut tcpdump = capture(&pcap);

    let leaf = certs::self_signed(dir.path(), "server", &[DOMAIN]);
    let mut cfg = ServerConfig::new("127.0.0.1:0".parse().unwrap(), DOMAIN);
    for (u, p) in USERS {
        cfg.users.insert(u.to_string(), p.to_string());
    }
    cfg.tls = Some(("127.0.0.1:0".parse().unwrap(), leaf.server_config()));
    let server = Server::start(cfg).await.unwrap();
    let tls = server.tls_addr().unwrap();
    let relay = match relayed {
        true => Some(msrp_relay(&leaf).await),
        false => None,
    };
    let relay_at = relay.as_ref().map(|r| r.local_addr().to_string());
    let agent = |user: &'static str, password: &'static str| {
        let files = dir.path().join(user);
        let fingerprint = leaf.fingerprint;
        let relay_at = relay_at.clone();
        Agent::start_engine(
            user,
            password,
            Some(tls),
            move |e| {
                e.microphone = SourceSpec::Tone(440.0);
                e.codecs = vec![CodecKind::Pcmu];
                e.files = files;
            },
            move |a| {
                a.transport = Proto::Tls;
                a.tls_fingerprint = Some(fingerprint);
                a.msrp_relay = relay_at;
            },
        )
    };
    let mut alice = agent("alice", "a-secret").await;
    let mut bob = agent("bob", "b-secret").await;
    alice.registered().await;
    bob.registered().await;

    alice.call(&format!("sip:bob@{DOMAIN}")).await;
    let bc = bob.incoming().await;
    bob.send(Command::Answer(bc)).await;
    let ac = alice.reached(CallState::Connected).await;
    bob.reached(CallState::Connected).await;
    bob.wait(|e| matches!(e, Event::CallStats { received, .. } if *received >= 100))
        .await;
    let chat = "the merger closes on Friday";
    alice
        .send(Command::SendText {
            call: ac,
            text: chat.into(),
        })
        .await;
    bob.wait(|e| matches!(e, Event::Message { text, .. } if text == chat))
        .await;
    let line = "Quarterly figures, confidential: 4711 units";
    let src = dir.path().join("figures.txt");
    std::fs::write(&src, format!("{line}\n").repeat(50)).unwrap();
    alice
        .send(Command::SendFile {
            call: ac,
            path: src,
        })
        .await;
    bob.wait(|e| matches!(e, Event::FileOffered { .. })).await;
    bob.send(Command::take_offer(bc, "figures.txt", true, true))
        .await;
    bob.wait(|e| matches!(e, Event::FileReceived { .. })).await;
    if let Some(r) = &relay {
        assert_eq!(r.sessions(), 2, "both parties' chat goes through the relay");
    }
    alice.send(Command::Hangup(ac)).await;
    alice.ended().await;
    bob.ended().await;

    // SIGINT: tcpdump writes out what it holds and ends.
    // SAFETY: signalling our own child, still running.
    unsafe { libc::kill(tcpdump.id() as libc::pid_t, libc::SIGINT) };
    tcpdump.wait().unwrap();
    let bytes = std::fs::read(&pcap).unwrap();
    let text = String::from_utf8_lossy(&bytes);
    for plain in [
        "REGISTER sip:",
        "INVITE sip:",
        "SIP/2.0",
        "m=audio",
        "a=crypto",
        "MSRP ",
        "To-Path",
        chat,
        line,
        "figures.txt",
    ] {
        assert!(!text.contains(plain), "the capture shows {plain:?}");
    }
    // The call is in the capture: its RTP-sized datagrams, none of them the plain tone.
    let rtp: Vec<&[u8]> = udp_payloads(&bytes)
        .into_iter()
        .filter(|p| p.len() >= 12 + 160 && p[0] >> 6 == 2 && p[1] & 0x7f == 0)
        .collect();
    assert!(rtp.len() >= 200, "only {} RTP packets captured", rtp.len());
    let plain = rtp
        .iter()
        .filter(|p| tone_energy(&p[12..12 + 160], 440.0) > 0.5)
        .count();
    assert_eq!(
        plain,
        0,
        "{plain} of {} RTP packets carry the plain tone",
        rtp.len()
    );
    // The check itself sees a plain tone packet for what it is.
    let tone: Vec<u8> = (0..160)
        .map(|i| {
            let x = (2.0 * std::f64::consts::PI * 440.0 * i as f64 / 8000.0).sin() * 8000.0;
            linear_to_ulaw(x as i16)
        })
        .collect();
    assert!(tone_energy(&tone, 440.0) > 0.5);
    drop(server);
}

fn linear_to_ulaw(sample: i16) -> u8 {
    let sign = if sample < 0 { 0x80 } else { 0 };
    let mut s = i32::from(sample).abs().min(32635) + 0x84;
    let mut exponent = 7;
    while exponent > 0 && s & (0x4000 >> (7 - exponent)) == 0 {
        exponent -= 1;
    }
    s >>= exponent + 3;
    !(sign | (exponent << 4) as u8 | (s & 0x0f) as u8)
}
