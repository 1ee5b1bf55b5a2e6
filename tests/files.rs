//! The seed's flow end to end: Alice and Bob register, Alice calls Bob with audio and an MSRP
//! line, the voice flows, Alice sends a 500-byte text file on the call's MSRP session, Bob's copy
//! is byte for byte the same and hashed, and the call ends with BYE. Chat goes both ways too.

mod common;

use common::*;
use parley::engine::{CallState, Command, Event};
use parley::media::headless::{SinkSpec, SourceSpec};
use sha2::{Digest, Sha256};

async fn agent(user: &str, server: std::net::SocketAddr, files: std::path::PathBuf) -> Agent {
    let password = USERS.iter().find(|(u, _)| *u == user).unwrap().1;
    Agent::start_engine(
        user,
        password,
        Some(server),
        |e| {
            e.microphone = SourceSpec::Tone(440.0);
            e.speaker = SinkSpec::Discard;
            e.files = files;
        },
        |_| {},
    )
    .await
}

/// Alice and Bob registered at a fresh server and in a call Bob answered (files under `dir`):
/// the server, both agents, Alice's call and Bob's.
async fn talking(dir: &std::path::Path) -> (parley::server::Server, Agent, Agent, u32, u32) {
    let server = server(USERS).await;
    let addr = server.local_addr();
    let mut alice = agent("alice", addr, dir.join("alice")).await;
    let mut bob = agent("bob", addr, dir.join("bob")).await;
    alice.registered().await;
    bob.registered().await;
    alice.call("bob").await;
    let bc = bob.incoming().await;
    bob.send(Command::Answer(bc)).await;
    let ac = alice.reached(CallState::Connected).await;
    bob.reached(CallState::Connected).await;
    (server, alice, bob, ac, bc)
}

#[tokio::test]
async fn the_seed_flow_a_file_during_a_call() {
    let dir = tempfile::tempdir().unwrap();
    let (_server, mut alice, mut bob, ac, bc) = talking(dir.path()).await;
    // The voice flows while the file goes.
    bob.wait(|e| matches!(e, Event::CallStats { received, .. } if *received >= 50))
        .await;
    let file: Vec<u8> = (0..500)
        .map(|i| b"Parley file.txt line\n"[i % 21])
        .collect();
    let src = dir.path().join("file.txt");
    std::fs::write(&src, &file).unwrap();
    alice
        .send(Command::SendFile {
            call: ac,
            path: src,
        })
        .await;
    // Bob is asked first; the file is stored only once he says yes.
    let asked = bob.wait(|e| matches!(e, Event::FileOffered { .. })).await;
    assert!(
        matches!(asked, Event::FileOffered { call, ref name, size: 500, during_call: true, .. } if call == bc && name == "file.txt"),
        "{asked:?}"
    );
    assert_eq!(
        std::fs::read_dir(dir.path().join("bob"))
            .unwrap()
            .filter(|e| !e
                .as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .starts_with('.'))
            .count(),
        0
    );
    bob.send(Command::take_offer(bc, "file.txt", true, true))
        .await;
    let got = bob.wait(|e| matches!(e, Event::FileReceived { .. })).await;
    let Event::FileReceived {
        name,
        path,
        size,
        sha256,
        ..
    } = got
    else {
        unreachable!()
    };
    assert_eq!((name.as_str(), size), ("file.txt", 500));
    assert_eq!(std::fs::read(&path).unwrap(), file);
    assert_eq!(sha256, format!("{:x}", Sha256::digest(&file)));
    assert!(path.starts_with(dir.path().join("bob")));
    alice
        .wait(|e| matches!(e, Event::FileSent { size: 500, .. }))
        .await;
    assert!(alice.seen.iter().any(|e| matches!(
        e,
        Event::TransferProgress {
            done: 500,
            total: 500,
            ..
        }
    )));
    // Chat both ways on the same session.
    alice
        .send(Command::SendText {
            call: ac,
            text: "did you get it?".into(),
        })
        .await;
    let m = bob.wait(|e| matches!(e, Event::Message { .. })).await;
    assert!(
        matches!(m, Event::Message { ref text, .. } if text == "did you get it?"),
        "{m:?}"
    );
    bob.send(Command::SendText {
        call: bc,
        text: "yes, 500 bytes".into(),
    })
    .await;
    let m = alice.wait(|e| matches!(e, Event::Message { .. })).await;
    assert!(
        matches!(m, Event::Message { ref text, .. } if text == "yes, 500 bytes"),
        "{m:?}"
    );
    alice.send(Command::Hangup(ac)).await;
    assert_eq!(alice.ended().await.0, 200);
    assert_eq!(bob.ended().await.0, 200);
    // Both stores have the file and the messages, with their states (the ended call's event
    // comes after every write the store was given before it).
    let sent = alice.store.transfers().unwrap();
    assert_eq!(
        (sent[0].direction.as_str(), sent[0].state.as_str()),
        ("outgoing", "delivered")
    );
    let got = bob.store.transfers().unwrap();
    assert_eq!((got[0].state.as_str(), got[0].size), ("received", 500));
    assert_eq!(got[0].path.as_deref(), Some(path.to_str().unwrap()));
    let bob_msgs: Vec<_> = bob
        .store
        .messages()
        .unwrap()
        .into_iter()
        .map(|m| (m.direction.as_str(), m.body, m.state.as_str()))
        .collect();
    assert_eq!(
        bob_msgs,
        [
            ("incoming", "did you get it?".to_string(), "received"),
            // Alice's chat answered it: delivered, not merely sent.
            ("outgoing", "yes, 500 bytes".to_string(), "delivered")
        ]
    );
}

/// A file on a call's line that Bob refuses: Alice hears it was refused, nothing of it stays
/// with Bob, and the call goes on.
#[tokio::test]
async fn a_file_during_a_call_refused_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (_server, mut alice, mut bob, ac, bc) = talking(dir.path()).await;
    let src = dir.path().join("unwanted.bin");
    std::fs::write(&src, vec![7u8; 100_000]).unwrap();
    alice
        .send(Command::SendFile {
            call: ac,
            path: src,
        })
        .await;
    bob.wait(|e| matches!(e, Event::FileOffered { .. })).await;
    bob.send(Command::take_offer(bc, "unwanted.bin", true, false))
        .await;
    let heard = alice
        .wait(|e| matches!(e, Event::TransferCancelled { .. }))
        .await;
    assert!(
        matches!(heard, Event::TransferCancelled { by_peer: true, .. }),
        "{heard:?}"
    );
    bob.wait(|e| matches!(e, Event::TransferCancelled { by_peer: false, .. }))
        .await;
    let left = std::fs::read_dir(dir.path().join("bob")).unwrap().count();
    assert_eq!(left, 0, "no file and no part stays with Bob");
    // The call is still up: a text still crosses.
    alice
        .send(Command::SendText {
            call: ac,
            text: "never mind".into(),
        })
        .await;
    bob.wait(|e| matches!(e, Event::Message { .. })).await;
    assert!(!bob
        .seen
        .iter()
        .any(|e| matches!(e, Event::FileReceived { .. })));
}

/// A one-off text outside any call (SIP MESSAGE) through the server, which challenges Alice:
/// Bob gets it, Alice hears it was delivered, both stores keep it; a non-text body gets 415.
#[tokio::test]
async fn a_message_outside_a_call() {
    let dir = tempfile::tempdir().unwrap();
    let server = server(USERS).await;
    let addr = server.local_addr();
    let mut alice = agent("alice", addr, dir.path().join("a")).await;
    let mut bob = agent("bob", addr, dir.path().join("b")).await;
    alice.registered().await;
    bob.registered().await;
    let account = alice.account;
    alice
        .send(Command::SendMessage {
            account,
            target: "bob".into(),
            text: "lunch at noon?".into(),
        })
        .await;
    let got = bob
        .wait(|e| matches!(e, Event::InstantMessage { .. }))
        .await;
    assert!(
        matches!(got, Event::InstantMessage { ref from, ref text, .. } if from == "sip:alice@company.com" && text == "lunch at noon?"),
        "{got:?}"
    );
    alice.wait(|e| matches!(e, Event::MessageSent { .. })).await;
    assert_eq!(bob.store.messages().unwrap()[0].body, "lunch at noon?");
    assert_eq!(
        alice.store.messages().unwrap()[0].direction,
        parley::store::Direction::Outgoing
    );
    // A body that is not text is refused with 415 (sent through the server: only it
    // reaches bob).
    let mut wire = Wire::on("127.0.0.40").await;
    let to = server.local_addr();
    let text = wire.request_text(
        "MESSAGE",
        "sip:bob@company.com",
        "To: <sip:bob@company.com>\r\nContent-Type: application/octet-stream\r\n",
        "\u{1}\u{2}",
    );
    wire.send(&text, to).await;
    assert_eq!(
        parley::sip::message::code_of(&wire.final_response().await),
        415
    );
}
