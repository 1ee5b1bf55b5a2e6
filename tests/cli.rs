//! The real `parley` binary: `serve`, `agent`, `call`, `history`, as a script would use them.

mod common;

use common::proc::{server_and_bob, server_and_bob_with, Proc};
use std::process::Command;
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_parley");

fn json_lines(out: &[u8]) -> Vec<serde_json::Value> {
    String::from_utf8_lossy(out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON: {l}: {e}")))
        .collect()
}

#[test]
fn serve_agent_call_and_history() {
    let dir = tempfile::tempdir().unwrap();
    let (alice_dir, bob_dir) = (dir.path().join("alice"), dir.path().join("bob"));
    let (_server, addr, bob) =
        server_and_bob(&["--user", "alice:a1", "--user", "bob:b1"], &bob_dir, "b1");

    let out = Command::new(BIN)
        .args([
            "--profile",
            alice_dir.to_str().unwrap(),
            "call",
            "sip:bob@company.com",
            "--account",
            "sip:alice@company.com",
            "--password",
            "a1",
            "--server",
            &addr,
            "--bind",
            "127.0.0.1:0",
            "--hangup-after",
            "1",
            "--json",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let events = json_lines(&out.stdout);
    let states: Vec<&str> = events
        .iter()
        .filter(|e| e["event"] == "call")
        .filter_map(|e| e["state"].as_str())
        .collect();
    for s in ["trying", "ringing", "connected"] {
        assert!(states.contains(&s), "{states:?}");
    }
    let ended = events.iter().find(|e| e["event"] == "call_ended").unwrap();
    assert_eq!(ended["status"], 200);
    bob.wait_line(|l| l.contains(r#""event":"call_ended""#));

    for (profile, direction, peer) in [
        (&alice_dir, "outgoing", "sip:bob@company.com"),
        (&bob_dir, "incoming", "sip:alice@company.com"),
    ] {
        let out = Command::new(BIN)
            .args(["--profile", profile.to_str().unwrap(), "history", "--json"])
            .output()
            .unwrap();
        assert!(out.status.success());
        let rows = json_lines(&out.stdout);
        assert_eq!(rows.len(), 1, "{rows:?}");
        assert_eq!(rows[0]["direction"], direction);
        assert_eq!(rows[0]["peer"], peer);
        assert_eq!(rows[0]["status"], 200);
        assert!(rows[0]["duration"].as_i64().unwrap() >= 1);
        assert!(rows[0]["started_at"].as_i64().unwrap() > 0);
    }

    let out = Command::new(BIN)
        .args([
            "--profile",
            alice_dir.to_str().unwrap(),
            "call",
            "sip:nobody@company.com",
            "--account",
            "sip:alice@company.com",
            "--password",
            "a1",
            "--server",
            &addr,
            "--bind",
            "127.0.0.1:0",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    // The server says of a user it does not have what it says of one not signed in.
    assert_eq!(err.trim(), "parley: 480 Temporarily Unavailable");
}

#[test]
fn serve_without_users_explains_itself() {
    let out = Command::new(BIN)
        .args(["serve", "--bind", "127.0.0.1:0", "--domain", "x.org"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--user NAME:PASSWORD"));
}

/// The bench runs real calls and prints its figures (which no test judges).
#[test]
fn bench_prints_figures() {
    let out = Command::new(BIN)
        .args(["bench", "--calls", "3", "--decodes", "100"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("SIP decode:   100 INVITEs"), "{text}");
    assert!(text.contains("Call setup:   3 calls"), "{text}");
    assert!(text.contains("Memory:"), "{text}");
}

/// `kill -9` in the middle of a call: the database is intact, the call is in the history, and
/// the next start closes it instead of leaving it "in progress".
#[test]
fn a_killed_client_leaves_a_sound_database() {
    let dir = tempfile::tempdir().unwrap();
    let (alice_dir, bob_dir) = (dir.path().join("alice"), dir.path().join("bob"));
    let (_server, addr, _bob) = server_and_bob(&["--open"], &bob_dir, "");
    let alice = Proc::spawn(&[
        "--profile",
        alice_dir.to_str().unwrap(),
        "call",
        "sip:bob@company.com",
        "--account",
        "sip:alice@company.com",
        "--server",
        &addr,
        "--bind",
        "127.0.0.1:0",
        "--json",
    ]);
    alice.wait_line(|l| l.contains(r#""state":"connected""#));
    drop(alice); // SIGKILL, mid-call

    let db = alice_dir.join("parley.db");
    let conn = rusqlite::Connection::open(&db).unwrap();
    let check: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(check, "ok");
    drop(conn);
    let out = Command::new(BIN)
        .args([
            "--profile",
            alice_dir.to_str().unwrap(),
            "history",
            "--json",
        ])
        .output()
        .unwrap();
    let rows = json_lines(&out.stdout);
    assert_eq!(rows.len(), 1);
    assert!(rows[0]["answered_at"].as_i64().is_some());
    assert!(rows[0]["ended_at"].is_null());

    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let mut cfg = parley::engine::EngineConfig::new("127.0.0.1:0".parse().unwrap());
        cfg.store = Some(std::sync::Arc::new(
            parley::store::Store::open(&db).unwrap(),
        ));
        let (h, mut events) = parley::engine::Engine::start(cfg).await.unwrap();
        h.send(parley::engine::Command::Restore).await;
        loop {
            let ev = tokio::time::timeout(Duration::from_secs(10), events.recv())
                .await
                .unwrap()
                .unwrap();
            if let parley::engine::Event::History { calls } = ev {
                assert!(calls[0].ended_at.is_some());
                assert_eq!(
                    calls[0].reason.as_deref(),
                    Some("Interrupted: Parley stopped during the call")
                );
                break;
            }
        }
    });
}

/// `parley agent` signs out before it exits (un-REGISTER, RFC 3261 10.2.2) when it is asked to
/// stop by `signal`: Ctrl+C, systemd or `kill` (TERM), a closed terminal (HUP).
fn agent_unregisters_on(signal: &str) {
    let dir = tempfile::tempdir().unwrap();
    let (_server, _addr, bob) = server_and_bob(&["--open"], &dir.path().join("bob"), "");
    let status = Command::new("kill")
        .args([signal, &bob.child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    bob.wait_line(|l| l.contains(r#""event":"unregistered""#));
    bob.wait_line(|l| l.contains(r#""event":"stopped""#));
}

#[test]
fn agent_unregisters_on_ctrl_c() {
    agent_unregisters_on("-INT");
}

#[test]
fn agent_unregisters_when_systemd_or_kill_stops_it() {
    agent_unregisters_on("-TERM");
}

#[test]
fn agent_unregisters_when_its_terminal_closes() {
    agent_unregisters_on("-HUP");
}

/// The seed's flow from the command line: `call --send-file` sends on the call's MSRP line once
/// answered and exits 0 only when Bob confirmed it; Bob's agent stores it in `--accept-files`.
#[test]
fn call_send_file_delivers_during_the_call() {
    let dir = tempfile::tempdir().unwrap();
    let inbox = dir.path().join("inbox");
    std::fs::create_dir_all(&inbox).unwrap();
    let (_server, addr, bob) = server_and_bob_with(
        &["--open"],
        &dir.path().join("bob"),
        "",
        &["--accept-files", inbox.to_str().unwrap()],
    );
    let file = dir.path().join("notes.txt");
    let bytes: Vec<u8> = (0..500u32).map(|i| b'a' + (i % 26) as u8).collect();
    std::fs::write(&file, &bytes).unwrap();
    let out = Command::new(BIN)
        .args([
            "--profile",
            dir.path().join("alice").to_str().unwrap(),
            "call",
            "sip:bob@company.com",
            "--account",
            "sip:alice@company.com",
            "--server",
            &addr,
            "--bind",
            "127.0.0.1:0",
            "--send-file",
            file.to_str().unwrap(),
            "--json",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let events = json_lines(&out.stdout);
    assert!(events
        .iter()
        .any(|e| e["event"] == "file_sent" && e["size"] == 500));
    let line = bob.wait_line(|l| l.contains(r#""event":"file_received""#));
    let got: serde_json::Value = serde_json::from_str(&line).unwrap();
    let path = std::path::PathBuf::from(got["path"].as_str().unwrap());
    assert!(path.starts_with(&inbox), "{path:?}");
    assert_eq!(std::fs::read(path).unwrap(), bytes);
}

/// `parley chat` sends a one-off text; Bob's agent prints it.
#[test]
fn chat_sends_a_message_the_agent_prints() {
    let dir = tempfile::tempdir().unwrap();
    let (_server, addr, bob) = server_and_bob(&["--open"], &dir.path().join("bob"), "");
    let out = Command::new(BIN)
        .args([
            "--profile",
            dir.path().join("alice").to_str().unwrap(),
            "chat",
            "sip:bob@company.com",
            "are you free?",
            "--account",
            "sip:alice@company.com",
            "--server",
            &addr,
            "--bind",
            "127.0.0.1:0",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let line = bob.wait_line(|l| l.contains(r#""event":"instant_message""#));
    assert!(line.contains("are you free?"), "{line}");
}
