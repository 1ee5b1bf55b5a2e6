//! Two sessions on loopback, and a raw peer for what a well-behaved one never sends.

use super::*;
use std::time::Duration;

type Events = mpsc::UnboundedReceiver<SessionEvent>;

struct Pair {
    alice: MsrpSession,
    bob: MsrpSession,
    a_rx: Events,
    b_rx: Events,
    dir: tempfile::TempDir,
}

fn params(local: &str, remote: &str, active: bool, files: PathBuf) -> SessionParams {
    SessionParams {
        local_path: local.into(),
        remote_path: remote.into(),
        active,
        files,
        max_size: 1 << 30,
        expect: None,
        ask: false,
        max_upload: None,
    }
}

/// Alice (active) and Bob (passive); Bob's session takes `bob` to adjust its parameters.
fn pair(bob: impl FnOnce(&mut SessionParams)) -> Pair {
    let dir = tempfile::tempdir().unwrap();
    let (a_files, b_files) = (dir.path().join("a"), dir.path().join("b"));
    std::fs::create_dir_all(&a_files).unwrap();
    std::fs::create_dir_all(&b_files).unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let b_path = format!("msrp://{}/bob123;tcp", listener.local_addr().unwrap());
    let a_path = "msrp://127.0.0.1:9/alice1;tcp".to_string();
    let (b_tx, b_rx) = mpsc::unbounded_channel();
    let mut bp = params(&b_path, &a_path, false, b_files);
    bob(&mut bp);
    let bob = MsrpSession::start(Some(listener), bp, move |e| {
        let _ = b_tx.send(e);
    });
    let (a_tx, a_rx) = mpsc::unbounded_channel();
    let alice = MsrpSession::start(None, params(&a_path, &b_path, true, a_files), move |e| {
        let _ = a_tx.send(e);
    });
    Pair {
        alice,
        bob,
        a_rx,
        b_rx,
        dir,
    }
}

/// The next event that is not progress.
async fn next(rx: &mut Events) -> SessionEvent {
    loop {
        let e = tokio::time::timeout(Duration::from_secs(20), rx.recv())
            .await
            .expect("an event in time")
            .expect("the session reports");
        if !matches!(e, SessionEvent::Progress { .. }) {
            return e;
        }
    }
}

fn data(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 % 251) as u8).collect()
}

fn parts(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .ends_with(".part")
        })
        .count()
}

#[tokio::test]
async fn text_and_a_file_cross_a_session_and_the_file_is_reported_whole() {
    let mut p = pair(|_| {});
    p.alice.send_text("Hi, I'm Alice!");
    let src = p.dir.path().join("report final.bin");
    std::fs::write(&src, data(200_000)).unwrap();
    p.alice.send_file(src);
    assert_eq!(
        next(&mut p.b_rx).await,
        SessionEvent::Text {
            content_type: "text/plain".into(),
            text: "Hi, I'm Alice!".into()
        }
    );
    let SessionEvent::FileReceived {
        name, path, size, ..
    } = next(&mut p.b_rx).await
    else {
        panic!("no file")
    };
    assert_eq!((name.as_str(), size), ("report final.bin", 200_000));
    assert_eq!(std::fs::read(path).unwrap(), data(200_000));
    assert_eq!(next(&mut p.a_rx).await, SessionEvent::TextDelivered);
    assert_eq!(
        next(&mut p.a_rx).await,
        SessionEvent::FileSent {
            name: "report final.bin".into(),
            size: 200_000
        }
    );
    assert_eq!(parts(&p.dir.path().join("b")), 0);
    drop(p.bob);
}

/// A session that asks: the file waits, whole, until the user says; kept when they accept,
/// and when they refuse the sender hears 413 and nothing is left.
#[tokio::test]
async fn a_file_that_asks_is_kept_or_refused_by_the_users_word() {
    for accept in [true, false] {
        let mut p = pair(|b| b.ask = true);
        let src = p.dir.path().join("slides.pdf");
        std::fs::write(&src, data(300_000)).unwrap();
        p.alice.send_file(src);
        let asked = SessionEvent::Arriving {
            name: "slides.pdf".into(),
            size: 300_000,
            content_type: "application/pdf".into(),
        };
        assert_eq!(next(&mut p.b_rx).await, asked);
        // Every chunk is answered before the user says: the file waits whole, not stored.
        while !matches!(
            p.b_rx.recv().await,
            Some(SessionEvent::Progress { done: 300_000, .. })
        ) {}
        p.bob.take("slides.pdf", accept);
        let bob_said = next(&mut p.b_rx).await;
        let alice_heard = next(&mut p.a_rx).await;
        let b_files = p.dir.path().join("b");
        if accept {
            assert!(matches!(
                bob_said,
                SessionEvent::FileReceived { size: 300_000, .. }
            ));
            assert!(matches!(
                alice_heard,
                SessionEvent::FileSent { size: 300_000, .. }
            ));
            assert_eq!(
                std::fs::read(b_files.join("slides.pdf")).unwrap(),
                data(300_000)
            );
        } else {
            let cancelled = |by_peer, incoming| SessionEvent::Cancelled {
                name: "slides.pdf".into(),
                incoming,
                by_peer,
            };
            assert_eq!(bob_said, cancelled(false, true));
            assert_eq!(alice_heard, cancelled(true, false));
            assert_eq!(
                std::fs::read_dir(&b_files).unwrap().count(),
                0,
                "nothing kept"
            );
        }
    }
}

/// Two files and texts at once: their chunks interleave on the one connection and each
/// message is put back together by its Message-ID.
#[tokio::test]
async fn interleaved_files_and_texts_are_reassembled() {
    let mut p = pair(|_| {});
    let (one, two) = (p.dir.path().join("one.bin"), p.dir.path().join("two.bin"));
    std::fs::write(&one, data(700_000)).unwrap();
    std::fs::write(&two, data(300_001)).unwrap();
    p.alice.send_file(one);
    p.alice.send_file(two);
    p.alice.send_text("between the chunks");
    let mut got = Vec::new();
    while got.len() < 3 {
        got.push(next(&mut p.b_rx).await);
    }
    // The text arrives before the files end: it did not wait behind them.
    assert!(matches!(&got[0], SessionEvent::Text { text, .. } if text == "between the chunks"));
    for e in &got[1..] {
        let SessionEvent::FileReceived { name, path, .. } = e else {
            panic!("{e:?}")
        };
        let want = if name == "one.bin" { 700_000 } else { 300_001 };
        assert_eq!(std::fs::read(path).unwrap(), data(want));
    }
}

/// Alice sends a 100 MB file; returns once Bob has written some of it.
async fn big_file_moving() -> Pair {
    let mut p = pair(|_| {});
    let big = p.dir.path().join("big.bin");
    std::fs::write(&big, data(100_000_000)).unwrap();
    p.alice.send_file(big);
    loop {
        let e = tokio::time::timeout(Duration::from_secs(20), p.b_rx.recv())
            .await
            .expect("the file moving in time")
            .expect("the session reports");
        if matches!(e, SessionEvent::Progress { .. }) {
            return p;
        }
    }
}

#[tokio::test]
async fn the_sender_cancels_and_the_receiver_keeps_nothing() {
    // Once the receiver has some of it, the sender gives up.
    let mut p = big_file_moving().await;
    p.alice.cancel("big.bin");
    let mine = next(&mut p.a_rx).await;
    assert!(matches!(
        mine,
        SessionEvent::Cancelled {
            by_peer: false,
            incoming: false,
            ..
        }
    ));
    let theirs = next(&mut p.b_rx).await;
    assert!(
        matches!(theirs, SessionEvent::Cancelled { by_peer: true, incoming: true, ref name } if name == "big.bin"),
        "{theirs:?}"
    );
    let left = std::fs::read_dir(p.dir.path().join("b")).unwrap().count();
    assert_eq!(left, 0, "nothing of a cancelled file is kept");
}

#[tokio::test]
async fn the_receiver_cancels_with_413_and_the_sender_stops() {
    let mut p = big_file_moving().await;
    p.bob.cancel("big.bin");
    let mine = next(&mut p.b_rx).await;
    assert!(matches!(
        mine,
        SessionEvent::Cancelled {
            by_peer: false,
            incoming: true,
            ..
        }
    ));
    let theirs = next(&mut p.a_rx).await;
    assert!(
        matches!(
            theirs,
            SessionEvent::Cancelled {
                by_peer: true,
                incoming: false,
                ..
            }
        ),
        "{theirs:?}"
    );
    assert_eq!(
        std::fs::read_dir(p.dir.path().join("b")).unwrap().count(),
        0
    );
}

#[tokio::test]
async fn a_file_over_the_limit_is_refused_with_413() {
    let mut p = pair(|b| b.max_size = 1000);
    let f = p.dir.path().join("too big.bin");
    std::fs::write(&f, data(5000)).unwrap();
    p.alice.send_file(f);
    let theirs = next(&mut p.a_rx).await;
    assert!(
        matches!(theirs, SessionEvent::Cancelled { by_peer: true, .. }),
        "{theirs:?}"
    );
    assert_eq!(
        std::fs::read_dir(p.dir.path().join("b")).unwrap().count(),
        0
    );
    // The session goes on: a text still gets through.
    p.alice.send_text("still here");
    assert!(matches!(next(&mut p.b_rx).await, SessionEvent::Text { .. }));
}

/// A raw peer: connects to a passive session as its other side and writes what it likes.
async fn raw_peer(
    bob: impl FnOnce(&mut SessionParams),
) -> (TcpStream, MsrpSession, Events, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = mpsc::unbounded_channel();
    let mut bp = params(
        &format!("msrp://{addr}/bob123;tcp"),
        "msrp://127.0.0.1:9/evil1;tcp",
        false,
        dir.path().to_path_buf(),
    );
    bob(&mut bp);
    let s = MsrpSession::start(Some(listener), bp, move |e| {
        let _ = tx.send(e);
    });
    let stream = TcpStream::connect(addr).await.unwrap();
    (stream, s, rx, dir)
}

fn send(tid: &str, to: &str, from: &str, id: &str, ctype: &str, body: &[u8]) -> Vec<u8> {
    let range = format!("1-{}/{}", body.len(), body.len());
    super::super::frame::request(
        tid,
        "SEND",
        &[
            ("To-Path", to),
            ("From-Path", from),
            ("Message-ID", id),
            ("Byte-Range", &range),
            ("Content-Type", ctype),
        ],
        Some(body),
    )
}

async fn read_some(s: &mut TcpStream) -> String {
    let mut buf = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(10), s.read(&mut buf))
        .await
        .unwrap()
        .unwrap();
    String::from_utf8_lossy(&buf[..n]).to_string()
}

#[tokio::test]
async fn hostile_file_names_are_stored_safely() {
    let (mut s, _bob, mut rx, dir) = raw_peer(|_| {}).await;
    let to = format!("msrp://{}/bob123;tcp", s.peer_addr().unwrap());
    let from = "msrp://127.0.0.1:9/evil1;tcp";
    std::fs::write(dir.path().join("CON_"), b"keep me").unwrap();
    let long = "a".repeat(300);
    let names = [
        "../../etc/passwd",
        "CON",
        "",
        "bell\u{7}\nname.txt",
        long.as_str(),
    ];
    for (i, name) in names.iter().enumerate() {
        let ctype = format!("application/octet-stream; name=\"{name}\"");
        let body = format!("file {i}");
        s.write_all(&send(
            &format!("tid{i}xx"),
            &to,
            from,
            &format!("m{i}"),
            &ctype,
            body.as_bytes(),
        ))
        .await
        .unwrap();
    }
    let mut stored = Vec::new();
    while stored.len() < names.len() {
        if let SessionEvent::FileReceived { path, .. } = next(&mut rx).await {
            stored.push(path);
        }
    }
    for p in &stored {
        assert_eq!(p.parent().unwrap(), dir.path(), "{p:?} stays in the folder");
        let n = p.file_name().unwrap().to_string_lossy().to_string();
        assert!(
            !n.is_empty() && n.len() <= 200 && !n.chars().any(char::is_control),
            "{n:?}"
        );
        assert!(!n.starts_with('.') && n != "CON", "{n:?}");
    }
    assert_eq!(std::fs::read(dir.path().join("CON_")).unwrap(), b"keep me");
}

#[tokio::test]
async fn wrong_paths_and_unknown_methods_get_their_status() {
    let (mut s, _bob, _rx, _dir) = raw_peer(|_| {}).await;
    let to = format!("msrp://{}/bob123;tcp", s.peer_addr().unwrap());
    s.write_all(&send(
        "t1abc",
        "msrp://x:1/other;tcp",
        "msrp://127.0.0.1:9/evil1;tcp",
        "m1",
        "text/plain",
        b"hi",
    ))
    .await
    .unwrap();
    assert!(read_some(&mut s).await.starts_with("MSRP t1abc 481"));
    s.write_all(&send(
        "t2abc",
        &to,
        "msrp://127.0.0.1:9/someone-else;tcp",
        "m2",
        "text/plain",
        b"hi",
    ))
    .await
    .unwrap();
    assert!(read_some(&mut s).await.starts_with("MSRP t2abc 403"));
    let nick = super::super::frame::request(
        "t3abc",
        "NICKNAME",
        &[
            ("To-Path", &to),
            ("From-Path", "msrp://127.0.0.1:9/evil1;tcp"),
        ],
        None,
    );
    s.write_all(&nick).await.unwrap();
    assert!(read_some(&mut s).await.starts_with("MSRP t3abc 501"));
}

/// A malformed frame ends that session with a clear error; another session is untouched.
#[tokio::test]
async fn a_malformed_frame_ends_only_its_session() {
    let mut healthy = pair(|_| {});
    let (mut s, _bob, mut rx, dir) = raw_peer(|_| {}).await;
    let to = format!("msrp://{}/bob123;tcp", s.peer_addr().unwrap());
    // The first chunk of a 200-byte file, then a start line that is not MSRP.
    let head = super::super::frame::request_head(
        "t1abc",
        "SEND",
        &[
            ("To-Path", &to),
            ("From-Path", "msrp://127.0.0.1:9/evil1;tcp"),
            ("Message-ID", "m1"),
            ("Byte-Range", "1-100/200"),
            (
                "Content-Type",
                "application/octet-stream; name=\"half.bin\"",
            ),
        ],
        true,
    );
    s.write_all(&head).await.unwrap();
    s.write_all(&[7u8; 100]).await.unwrap();
    s.write_all(&super::super::frame::end_line(
        "t1abc",
        true,
        super::super::Continuation::More,
    ))
    .await
    .unwrap();
    assert!(read_some(&mut s).await.starts_with("MSRP t1abc 200"));
    s.write_all(b"MSRP nonsense here\r\n\r\n").await.unwrap();
    let SessionEvent::Failed(why) = next(&mut rx).await else {
        panic!("the session should fail")
    };
    assert!(why.contains("malformed"), "{why}");
    assert_eq!(parts(dir.path()), 0, "no part of a file stays behind");
    healthy.alice.send_text("unaffected");
    assert!(matches!(
        next(&mut healthy.b_rx).await,
        SessionEvent::Text { .. }
    ));
}

#[tokio::test]
async fn cpim_texts_are_unwrapped() {
    let (mut s, _bob, mut rx, _dir) = raw_peer(|_| {}).await;
    let to = format!("msrp://{}/bob123;tcp", s.peer_addr().unwrap());
    let body = super::super::cpim::wrap("sip:evil@x", "sip:bob@x", "wrapped hello");
    s.write_all(&send(
        "t1abc",
        &to,
        "msrp://127.0.0.1:9/evil1;tcp",
        "m1",
        "message/cpim",
        &body,
    ))
    .await
    .unwrap();
    assert_eq!(
        next(&mut rx).await,
        SessionEvent::Text {
            content_type: "text/plain;charset=utf-8".into(),
            text: "wrapped hello".into()
        }
    );
}

/// The seed's flow on the wire: a 500-byte text file goes as one SEND carrying
/// `Byte-Range: 1-500/500`, the whole body and a `$` end-line.
#[tokio::test]
async fn a_500_byte_file_is_one_send_with_its_whole_byte_range() {
    let dir = tempfile::tempdir().unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let b_path = format!("msrp://{}/bob123;tcp", listener.local_addr().unwrap());
    let a_path = "msrp://127.0.0.1:9/alice1;tcp";
    let alice = MsrpSession::start(
        None,
        params(a_path, &b_path, true, dir.path().to_path_buf()),
        |_| {},
    );
    let body: Vec<u8> = (0..500)
        .map(|i| b"Parley file.txt line\n"[i % 21])
        .collect();
    let file = dir.path().join("file.txt");
    std::fs::write(&file, &body).unwrap();
    alice.send_file(file);
    let (mut s, _) = listener.accept().await.unwrap();
    let (mut seen, mut buf) = (Vec::new(), vec![0u8; 4096]);
    let text = loop {
        let n = tokio::time::timeout(Duration::from_secs(10), s.read(&mut buf))
            .await
            .expect("the file in time")
            .unwrap();
        assert!(n > 0, "the connection closed early");
        seen.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&seen).to_string();
        let Some(at) = text.find("Byte-Range: 1-500/500\r\n") else {
            continue;
        };
        let tid = text[..at].rfind("MSRP ").map(|i| &text[i + 5..]);
        let tid = tid.and_then(|t| t.split_whitespace().next()).unwrap();
        if text.contains(&format!("-------{tid}$\r\n")) {
            break text;
        }
    };
    let ranges: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("Byte-Range:") && !l.contains("/0"))
        .collect();
    assert_eq!(
        ranges,
        ["Byte-Range: 1-500/500"],
        "one SEND carries the file"
    );
    assert!(
        seen.windows(500).any(|w| w == body),
        "its whole body, in one piece"
    );
    assert!(text.contains("Content-Type: text/plain"), "{text}");
}
