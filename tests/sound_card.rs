//! The sound-card path without a sound card: ALSA's `null` plugin stands in for the card (an
//! `.asoundrc` in a temporary HOME, so this test binary alone sees it), so capture and playback
//! really run on their threads, through the rings and the resampler, in a call between two
//! agents. And a device that is not there leaves the call connected, with words saying why
//! there is no sound.

mod common;

use common::*;
use parley::engine::{CallState, Command, Event};
use parley::media::headless::{SinkSpec, SourceSpec};

/// Points ALSA's default device at the null plugin for this process.
fn null_sound_card() -> tempfile::TempDir {
    let home = tempfile::tempdir().unwrap();
    std::fs::write(
        home.path().join(".asoundrc"),
        "pcm.!default { type plug slave.pcm \"null\" }\nctl.!default { type hw card 0 }\n",
    )
    .unwrap();
    // SAFETY: set before any thread of this test binary reads the environment.
    unsafe { std::env::set_var("HOME", home.path()) };
    home
}

async fn with_devices(
    user: &str,
    server: std::net::SocketAddr,
    mic: SourceSpec,
    speaker: SinkSpec,
) -> Agent {
    Agent::start_engine(
        user,
        USERS.iter().find(|(u, _)| *u == user).unwrap().1,
        Some(server),
        |e| {
            e.microphone = mic;
            e.speaker = speaker;
            e.use_saved_devices = true;
        },
        |_| {},
    )
    .await
}

#[tokio::test]
async fn calls_run_on_the_sound_card_path_and_a_missing_device_is_explained() {
    let _home = null_sound_card();
    let server = server(USERS).await;
    let addr = server.local_addr();
    let mut alice = with_devices(
        "alice",
        addr,
        SourceSpec::Device(None),
        SinkSpec::Device(None),
    )
    .await;
    let mut bob = with_devices(
        "bob",
        addr,
        SourceSpec::Device(Some("no such microphone".into())),
        SinkSpec::Device(None),
    )
    .await;
    alice.registered().await;
    bob.registered().await;
    alice.call("bob").await;
    let call = bob.incoming().await;
    bob.send(Command::Answer(call)).await;
    alice.reached(CallState::Connected).await;
    // Bob's microphone is missing: the call goes on, and he is told why he sends silence.
    let why = bob.wait(|e| matches!(e, Event::NoSound { .. })).await;
    assert!(format!("{why:?}").contains("no microphone"), "{why:?}");
    // Alice's card (the null device) captures and plays; media flows both ways.
    bob.wait(|e| matches!(e, Event::CallStats { received, .. } if *received >= 100))
        .await;
    alice
        .wait(|e| matches!(e, Event::CallStats { received, .. } if *received >= 100))
        .await;
    assert!(
        !alice
            .seen
            .iter()
            .any(|e| matches!(e, Event::Error { .. } | Event::NoSound { .. })),
        "{:?}",
        alice.seen
    );
    // Settings' pick applies mid-call: a microphone that is not there is said at once.
    alice
        .send(Command::SaveSetting {
            key: "input".into(),
            value: "a microphone unplugged".into(),
        })
        .await;
    let why = alice.wait(|e| matches!(e, Event::NoSound { .. })).await;
    assert!(format!("{why:?}").contains("unplugged"), "{why:?}");
    let ac = alice
        .seen
        .iter()
        .find_map(|e| match e {
            Event::Call { call, .. } => Some(*call),
            _ => None,
        })
        .unwrap();
    alice.send(Command::Hangup(ac)).await;
    assert_eq!(alice.ended().await.0, 200);
}
