//! Voice end to end on loopback: two Parley agents call through `parley serve`, each playing a
//! tone into its headless microphone and recording what it hears; the recording must hold the
//! other side's tone, at its frequency, for at least 95% of the frames the other side sent.

mod common;

use common::*;
use parley::engine::{CallState, Command, Event};
use parley::media::codec::CodecKind;
use parley::media::headless::{SinkSpec, SourceSpec};
use parley::media::tone::{power_at, strongest};
use std::path::{Path, PathBuf};

async fn speaking(
    user: &str,
    password: &str,
    server: std::net::SocketAddr,
    hz: f64,
    wav: PathBuf,
    codec: CodecKind,
) -> Agent {
    Agent::start_engine(
        user,
        password,
        Some(server),
        |e| {
            e.microphone = SourceSpec::Tone(hz);
            e.speaker = SinkSpec::Record(wav);
            e.codecs = vec![codec];
        },
        |_| {},
    )
    .await
}

/// The last count of packets this agent sent, from its final stats.
fn sent(agent: &Agent) -> u64 {
    agent
        .seen
        .iter()
        .rev()
        .find_map(|e| match e {
            Event::CallStats { sent, .. } => Some(*sent),
            _ => None,
        })
        .unwrap()
}

/// 20 ms windows of the recording in which `hz` is the strongest of the candidates.
fn frames_with(wav: &Path, hz: f64) -> (u64, u64) {
    let mut r = hound::WavReader::open(wav).unwrap();
    let rate = r.spec().sample_rate;
    let pcm: Vec<i16> = r.samples::<i16>().map(Result::unwrap).collect();
    let window = (rate / 50) as usize;
    let candidates = [440.0, 660.0, 1000.0, 1500.0];
    let mut with = 0;
    for w in pcm.chunks_exact(window) {
        if strongest(w, rate, &candidates) == Some(hz) && power_at(w, rate, hz) > 0.001 {
            with += 1;
        }
    }
    (with, (pcm.len() / window) as u64)
}

/// Alice (440 Hz) calls Bob (660 Hz) with `codec`; each recording must hold the other's tone.
async fn both_directions(codec: CodecKind) {
    let dir = tempfile::tempdir().unwrap();
    let server = server(USERS).await;
    let (a_wav, b_wav) = (dir.path().join("alice.wav"), dir.path().join("bob.wav"));
    let addr = server.local_addr();
    let mut alice = speaking("alice", "a-secret", addr, 440.0, a_wav.clone(), codec).await;
    let mut bob = speaking("bob", "b-secret", addr, 660.0, b_wav.clone(), codec).await;
    alice.registered().await;
    bob.registered().await;
    alice.call("bob").await;
    let call = bob.incoming().await;
    bob.send(Command::Answer(call)).await;
    let ac = alice.reached(CallState::Connected).await;
    bob.heard(100).await;
    alice.heard(100).await;
    // Both meters move: Bob's tone goes out, Alice's comes in.
    bob.wait(|e| matches!(e, Event::Levels { input, output, .. } if *input > 0.5 && *output > 0.5))
        .await;
    alice.send(Command::Hangup(ac)).await;
    assert_eq!(alice.ended().await.0, 200);
    assert_eq!(bob.ended().await.0, 200);
    let rate = hound::WavReader::open(&b_wav).unwrap().spec().sample_rate;
    assert_eq!(rate, codec.rate(), "the negotiated codec is {codec:?}");
    let (bob_heard, _) = frames_with(&b_wav, 440.0);
    let (alice_heard, _) = frames_with(&a_wav, 660.0);
    let (a_sent, b_sent) = (sent(&alice), sent(&bob));
    assert!(
        bob_heard * 100 >= a_sent * 95,
        "bob heard {bob_heard} of {a_sent}"
    );
    assert!(
        alice_heard * 100 >= b_sent * 95,
        "alice heard {alice_heard} of {b_sent}"
    );
}

#[tokio::test]
async fn two_agents_hear_each_others_tone_over_opus() {
    both_directions(CodecKind::Opus).await;
}

#[tokio::test]
async fn two_agents_hear_each_others_tone_over_pcmu() {
    both_directions(CodecKind::Pcmu).await;
}

/// Two agents in a call with tones both ways (alice 440 Hz, bob 660 Hz); returns alice's call.
async fn in_a_call(dir: &Path, codec: CodecKind) -> (Agent, Agent, u32, parley::server::Server) {
    let server = server(USERS).await;
    let addr = server.local_addr();
    let (a_wav, b_wav) = (dir.join("alice.wav"), dir.join("bob.wav"));
    let mut alice = speaking("alice", "a-secret", addr, 440.0, a_wav, codec).await;
    let mut bob = speaking("bob", "b-secret", addr, 660.0, b_wav, codec).await;
    alice.registered().await;
    bob.registered().await;
    alice.call("bob").await;
    let call = bob.incoming().await;
    bob.send(Command::Answer(call)).await;
    let ac = alice.reached(CallState::Connected).await;
    bob.heard(50).await;
    (alice, bob, ac, server)
}

/// The next two counts of `agent`: (received in the first, received in the second).
async fn two_counts(agent: &mut Agent) -> (u64, u64) {
    let mut got = Vec::new();
    while got.len() < 2 {
        if let Event::CallStats { received, .. } =
            agent.wait(|e| matches!(e, Event::CallStats { .. })).await
        {
            got.push(received);
        }
    }
    (got[0], got[1])
}

#[tokio::test]
async fn hold_stops_media_both_ways_and_resume_restarts_it() {
    let dir = tempfile::tempdir().unwrap();
    let (mut alice, mut bob, call, _server) = in_a_call(dir.path(), CodecKind::Pcmu).await;
    alice.send(Command::Hold { call, on: true }).await;
    alice
        .wait(|e| matches!(e, Event::Hold { local: true, .. }))
        .await;
    bob.wait(|e| matches!(e, Event::Hold { remote: true, .. }))
        .await;
    // Packets in flight when the hold began may still land in the first interval.
    two_counts(&mut bob).await;
    let (b1, b2) = two_counts(&mut bob).await;
    let (a1, a2) = two_counts(&mut alice).await;
    assert_eq!(b1, b2, "bob still receives on hold");
    assert_eq!(a1, a2, "alice still receives on hold");
    alice.send(Command::Hold { call, on: false }).await;
    alice
        .wait(|e| matches!(e, Event::Hold { local: false, .. }))
        .await;
    bob.heard(b2 + 50).await;
    alice.heard(a2 + 50).await;
}

#[tokio::test]
async fn mute_sends_silence_and_keeps_rtp_flowing() {
    let dir = tempfile::tempdir().unwrap();
    let (mut alice, mut bob, call, _server) = in_a_call(dir.path(), CodecKind::Pcmu).await;
    alice.send(Command::Mute { call, on: true }).await;
    alice
        .wait(|e| matches!(e, Event::Muted { on: true, .. }))
        .await;
    let (_, now) = two_counts(&mut bob).await;
    bob.heard(now + 75).await;
    alice.send(Command::Hangup(call)).await;
    bob.ended().await;
    // The last second of bob's recording holds no tone: alice was muted.
    let mut r = hound::WavReader::open(dir.path().join("bob.wav")).unwrap();
    let pcm: Vec<i16> = r.samples::<i16>().map(Result::unwrap).collect();
    let last = &pcm[pcm.len() - 8000..];
    assert!(
        power_at(last, 8000, 440.0) < 0.0001,
        "{}",
        power_at(last, 8000, 440.0)
    );
}

/// The keys `agent` hears, in order, until it has `n` of them.
async fn keys(agent: &mut Agent, n: usize) -> String {
    let mut got = String::new();
    while got.len() < n {
        if let Event::Dtmf { digit, .. } = agent.wait(|e| matches!(e, Event::Dtmf { .. })).await {
            got.push(digit);
        }
    }
    got
}

#[tokio::test]
async fn keys_travel_as_rfc4733_events_both_ways_in_order() {
    for codec in [CodecKind::Opus, CodecKind::Pcmu] {
        let dir = tempfile::tempdir().unwrap();
        let (mut alice, mut bob, call, _server) = in_a_call(dir.path(), codec).await;
        for d in "159#*0".chars() {
            alice.send(Command::Dtmf { call, digit: d }).await;
        }
        assert_eq!(keys(&mut bob, 6).await, "159#*0", "{codec:?}");
        let bob_call = match bob
            .seen
            .iter()
            .find(|e| matches!(e, Event::IncomingCall { .. }))
        {
            Some(Event::IncomingCall { call, .. }) => *call,
            _ => unreachable!(),
        };
        for d in "D7".chars() {
            bob.send(Command::Dtmf {
                call: bob_call,
                digit: d,
            })
            .await;
        }
        assert_eq!(keys(&mut alice, 2).await, "D7", "{codec:?}");
    }
}
