//! Files and chat outside a call (RFC 5547, RFC 4975) between two engines through the embedded
//! server: an offer accepted and delivered whole, an offer declined with 603 leaving nothing,
//! cancelling from either side, and an MSRP chat session.

mod common;

use common::*;
use parley::engine::{Command, Event};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

async fn agent(user: &str, server: std::net::SocketAddr, files: PathBuf) -> Agent {
    let password = USERS.iter().find(|(u, _)| *u == user).unwrap().1;
    // Temporaries live apart from received files, as in a profile (`user-partial`).
    let partial = files.with_file_name(format!("{user}-partial"));
    let engine =
        |e: &mut parley::engine::EngineConfig| (e.files, e.partial) = (files, Some(partial));
    let mut a = Agent::start_engine(user, password, Some(server), engine, |_| {}).await;
    a.registered().await;
    a
}

struct Two {
    alice: Agent,
    bob: Agent,
    dir: tempfile::TempDir,
    _server: parley::server::Server,
}

async fn two() -> Two {
    let dir = tempfile::tempdir().unwrap();
    let server = server(USERS).await;
    let addr = server.local_addr();
    Two {
        alice: agent("alice", addr, dir.path().join("alice")).await,
        bob: agent("bob", addr, dir.path().join("bob")).await,
        dir,
        _server: server,
    }
}

fn data(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 31 % 253) as u8).collect()
}

/// What is in a folder (nothing when it does not exist).
fn listing(dir: &Path) -> Vec<String> {
    match std::fs::read_dir(dir) {
        Ok(d) => d
            .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
            .collect(),
        Err(_) => Vec::new(),
    }
}

impl Two {
    async fn offer(&mut self, name: &str, len: usize) -> (PathBuf, u32) {
        let path = self.dir.path().join(name);
        std::fs::write(&path, data(len)).unwrap();
        let account = self.alice.account;
        self.alice
            .send(Command::SendFileTo {
                account,
                target: "bob".into(),
                path: path.clone(),
            })
            .await;
        let offer = self
            .bob
            .wait(|e| matches!(e, Event::FileOffered { .. }))
            .await;
        let Event::FileOffered {
            call,
            name: n,
            size,
            from,
            ..
        } = offer
        else {
            unreachable!()
        };
        assert_eq!((n.as_str(), size), (name, len as u64));
        assert_eq!(from, "sip:alice@company.com");
        (path, call)
    }
}

#[tokio::test]
async fn a_file_outside_a_call_is_offered_accepted_and_delivered_whole() {
    let mut t = two().await;
    let (_, call) = t.offer("minutes 2026.pdf", 3_000_000).await;
    t.bob.send(Command::Answer(call)).await;
    let got = t
        .bob
        .wait(|e| matches!(e, Event::FileReceived { .. }))
        .await;
    let Event::FileReceived {
        path, sha256, peer, ..
    } = got
    else {
        unreachable!()
    };
    assert_eq!(peer, "sip:alice@company.com");
    assert_eq!(std::fs::read(&path).unwrap(), data(3_000_000));
    assert_eq!(sha256, format!("{:x}", Sha256::digest(data(3_000_000))));
    t.alice
        .wait(|e| {
            matches!(
                e,
                Event::FileSent {
                    size: 3_000_000,
                    ..
                }
            )
        })
        .await;
    // Not a call: no call events, nothing in the call history, the transfer in the store.
    assert!(!t
        .bob
        .seen
        .iter()
        .any(|e| matches!(e, Event::IncomingCall { .. } | Event::Call { .. })));
    assert!(t.alice.store.calls().unwrap().is_empty());
    let sent = t.alice.store.transfers().unwrap();
    assert_eq!(sent.len(), 1);
    assert_eq!(
        (sent[0].name.as_str(), sent[0].state.as_str()),
        ("minutes 2026.pdf", "delivered")
    );
    let got = t.bob.store.transfers().unwrap();
    assert_eq!(got[0].state, parley::store::TransferState::Received);
    assert_eq!(listing(&t.dir.path().join("bob")), ["minutes 2026.pdf"]);
    assert!(listing(&t.dir.path().join("bob-partial")).is_empty());
}

#[tokio::test]
async fn a_declined_offer_leaves_nothing_behind() {
    let mut t = two().await;
    let (_, call) = t.offer("holiday.jpg", 100_000).await;
    t.bob.send(Command::Decline(call)).await;
    let failed = t
        .alice
        .wait(|e| matches!(e, Event::TransferFailed { .. }))
        .await;
    let Event::TransferFailed { message, .. } = failed else {
        unreachable!()
    };
    assert!(message.contains("declined"), "{message}");
    t.bob
        .wait(|e| matches!(e, Event::TransferCancelled { by_peer: false, .. }))
        .await;
    assert!(listing(&t.dir.path().join("bob")).is_empty());
    assert!(listing(&t.dir.path().join("bob-partial")).is_empty());
    assert_eq!(
        t.alice.store.transfers().unwrap().len(),
        0,
        "never started, never sending"
    );
}

async fn started_and_moving(t: &mut Two, len: usize) -> u32 {
    let (_, call) = t.offer("big.bin", len).await;
    t.bob.send(Command::Answer(call)).await;
    t.bob
        .wait(|e| matches!(e, Event::TransferProgress { done, .. } if *done > 0))
        .await;
    call
}

#[tokio::test]
async fn the_receiver_cancels_and_both_sides_clean_up() {
    let mut t = two().await;
    let call = started_and_moving(&mut t, 200_000_000).await;
    t.bob
        .send(Command::CancelTransfer {
            call,
            name: "big.bin".into(),
        })
        .await;
    t.alice
        .wait(|e| matches!(e, Event::TransferCancelled { by_peer: true, .. }))
        .await;
    t.bob
        .wait(|e| matches!(e, Event::TransferCancelled { by_peer: false, .. }))
        .await;
    assert!(listing(&t.dir.path().join("bob")).is_empty());
    assert!(listing(&t.dir.path().join("bob-partial")).is_empty());
    let states: Vec<_> = t
        .alice
        .store
        .transfers()
        .unwrap()
        .into_iter()
        .map(|r| r.state)
        .collect();
    assert_eq!(states, [parley::store::TransferState::Cancelled]);
}

#[tokio::test]
async fn the_sender_cancels_and_both_sides_clean_up() {
    let mut t = two().await;
    started_and_moving(&mut t, 200_000_000).await;
    let call = match t
        .alice
        .wait(|e| matches!(e, Event::TransferStarted { .. }))
        .await
    {
        Event::TransferStarted { call, .. } => call,
        _ => unreachable!(),
    };
    t.alice
        .send(Command::CancelTransfer {
            call,
            name: "big.bin".into(),
        })
        .await;
    t.bob
        .wait(|e| matches!(e, Event::TransferCancelled { by_peer: true, .. }))
        .await;
    t.alice
        .wait(|e| matches!(e, Event::TransferCancelled { by_peer: false, .. }))
        .await;
    assert!(listing(&t.dir.path().join("bob")).is_empty());
    assert!(listing(&t.dir.path().join("bob-partial")).is_empty());
}

/// A chat session outside a call. Bob has never written to Alice and she is no contact of
/// his: her first chat rings and waits for his answer; once he has written to her, the next
/// one is taken at once.
#[tokio::test]
async fn an_msrp_chat_session_outside_a_call() {
    let mut t = two().await;
    let account = t.alice.account;
    t.alice
        .send(Command::StartChat {
            account,
            target: "bob".into(),
        })
        .await;
    let offered = t.bob.wait(|e| matches!(e, Event::ChatOffered { .. })).await;
    let Event::ChatOffered { call, from, .. } = offered else {
        unreachable!()
    };
    assert_eq!(from, "sip:alice@company.com");
    assert!(!t
        .bob
        .seen
        .iter()
        .any(|e| matches!(e, Event::ChatStarted { .. })));
    t.bob.send(Command::Answer(call)).await;
    let call = match t
        .alice
        .wait(|e| matches!(e, Event::ChatStarted { .. }))
        .await
    {
        Event::ChatStarted { call, .. } => call,
        _ => unreachable!(),
    };
    let bob_call = match t.bob.wait(|e| matches!(e, Event::ChatStarted { .. })).await {
        Event::ChatStarted { call, peer } => {
            assert_eq!(peer, "sip:alice@company.com");
            call
        }
        _ => unreachable!(),
    };
    t.alice
        .send(Command::SendText {
            call,
            text: "lunch at 1?".into(),
        })
        .await;
    let m = t.bob.wait(|e| matches!(e, Event::Message { .. })).await;
    assert!(
        matches!(m, Event::Message { ref text, .. } if text == "lunch at 1?"),
        "{m:?}"
    );
    t.alice
        .wait(|e| matches!(e, Event::MessageSent { .. }))
        .await;
    t.bob
        .send(Command::SendText {
            call: bob_call,
            text: "yes".into(),
        })
        .await;
    t.alice
        .wait(|e| matches!(e, Event::Message { text, .. } if text == "yes"))
        .await;
    t.alice.send(Command::Hangup(call)).await;
    t.bob.wait(|e| matches!(e, Event::ChatEnded { .. })).await;
    let texts: Vec<String> = t
        .bob
        .store
        .messages()
        .unwrap()
        .into_iter()
        .map(|m| m.body)
        .collect();
    assert_eq!(texts, ["lunch at 1?", "yes"]);
    // Bob wrote to Alice: her next chat is taken without asking.
    t.alice
        .send(Command::StartChat {
            account,
            target: "bob".into(),
        })
        .await;
    t.bob.seen.clear();
    t.bob.wait(|e| matches!(e, Event::ChatStarted { .. })).await;
    assert!(!t
        .bob
        .seen
        .iter()
        .any(|e| matches!(e, Event::ChatOffered { .. })));
}

/// Bob takes no file over 1000 bytes: his refusal says so (a Warning), and Alice reads that
/// the file is too large for him, not that he cannot take files at all.
#[tokio::test]
async fn a_file_too_large_for_the_other_side_is_said_to_be_too_large() {
    let dir = tempfile::tempdir().unwrap();
    let server = server(USERS).await;
    let mut alice = agent("alice", server.local_addr(), dir.path().join("alice")).await;
    let password = USERS.iter().find(|(u, _)| *u == "bob").unwrap().1;
    let small = |e: &mut parley::engine::EngineConfig| e.max_file_size = 1000;
    let mut bob =
        Agent::start_engine("bob", password, Some(server.local_addr()), small, |_| {}).await;
    bob.registered().await;
    let path = dir.path().join("big.bin");
    std::fs::write(&path, data(5000)).unwrap();
    let account = alice.account;
    let target = "bob".into();
    alice
        .send(Command::SendFileTo {
            account,
            target,
            path,
        })
        .await;
    let failed = alice
        .wait(|e| matches!(e, Event::TransferFailed { .. }))
        .await;
    let Event::TransferFailed { message, .. } = failed else {
        unreachable!()
    };
    assert!(message.contains("larger than"), "{message}");
}
