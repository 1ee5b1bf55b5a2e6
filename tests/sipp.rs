//! Interoperability with a real, independent SIP implementation: sipp (Debian's sip-tester),
//! as caller and as callee, straight to our engine and through our embedded server.
//! CI installs sipp; on a machine without it these tests say so and pass only outside CI.

mod common;

use common::*;
use parley::engine::{AccountConfig, CallState, Command, Engine, EngineConfig, Event};
use std::process::Stdio;
use std::time::Duration;

fn sipp_available() -> bool {
    let found = std::process::Command::new("sipp")
        .arg("-v")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok();
    if !found {
        assert!(
            std::env::var_os("CI").is_none(),
            "sipp is required in CI (apt-get install sip-tester)"
        );
        eprintln!("sipp not installed: skipping");
    }
    found
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
    if !sipp_available() {
        return;
    }
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
    assert_eq!(calls[0].direction, "incoming");
}

/// Our engine calls sipp's built-in UAS and hangs up with BYE.
#[tokio::test]
async fn parley_calls_sipp() {
    if !sipp_available() {
        return;
    }
    let sipp_port = free_udp_port();
    let sipp = tokio::spawn(run_sipp_owned(vec![
        "-sn".into(),
        "uas".into(),
        "-p".into(),
        sipp_port.to_string(),
    ]));
    tokio::time::sleep(Duration::from_millis(500)).await;
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
    if !sipp_available() {
        return;
    }
    let mut cfg = parley::server::ServerConfig::new("127.0.0.1:0".parse().unwrap(), DOMAIN);
    cfg.open = true;
    let server = parley::server::Server::start(cfg).await.unwrap();
    let (handle, mut events) = Engine::start(EngineConfig::new("127.0.0.1:0".parse().unwrap()))
        .await
        .unwrap();
    let mut acc = AccountConfig::new("sip:bob@company.com", "");
    acc.server = Some(server.local_addr().to_string());
    handle.send(Command::AddAccount(acc)).await;
    let h = handle.clone();
    let bob = tokio::spawn(async move {
        let mut seen = Vec::new();
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
    // Wait until bob is registered: an OPTIONS would do, but sipp's first try must find him.
    tokio::time::sleep(Duration::from_millis(800)).await;
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
