//! Two sessions on loopback, and a raw peer for what a well-behaved one never sends.

use super::*;
use crate::msrp::Continuation;
use std::time::Duration;

type Events = mpsc::UnboundedReceiver<SessionEvent>;

struct Pair {
    alice: MsrpSession,
    bob: MsrpSession,
    a_rx: Events,
    b_rx: Events,
    dir: tempfile::TempDir,
    b_path: String,
}

fn params(local: &str, remote: &str, active: bool, files: PathBuf) -> SessionParams {
    SessionParams {
        local_path: local.into(),
        remote_path: remote.into(),
        active,
        partial: files.join(".partial"),
        files,
        max_size: 1 << 30,
        expect: None,
        ask: false,
        max_upload: None,
        budget: Default::default(),
        tls: None,
    }
}

/// Alice (active) and Bob (passive); Bob's session takes `bob` to adjust its parameters.
fn pair(bob: impl FnOnce(&mut SessionParams)) -> Pair {
    pair_with(|_| {}, bob)
}

fn pair_with(alice: impl FnOnce(&mut SessionParams), bob: impl FnOnce(&mut SessionParams)) -> Pair {
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
    let mut ap = params(&a_path, &b_path, true, a_files);
    alice(&mut ap);
    let alice = MsrpSession::start(None, ap, move |e| {
        let _ = a_tx.send(e);
    });
    Pair {
        alice,
        bob,
        a_rx,
        b_rx,
        dir,
        b_path,
    }
}

/// The next event that is not progress.
async fn next(rx: &mut Events) -> SessionEvent {
    loop {
        let e = tokio::time::timeout(Duration::from_secs(20), rx.recv())
            .await
            .expect("an event in time")
            .expect("the session reports");
        // Progress, and every chunk answered, come before what a test waits for.
        if !matches!(
            e,
            SessionEvent::Progress { .. } | SessionEvent::AllAnswered { .. }
        ) {
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

/// A session that asks: nothing of the file reaches the disk until the user says (its first
/// chunk waits in memory, the sender is held back); kept when they accept, and when they
/// refuse the sender hears 413 and nothing is left.
#[tokio::test]
async fn a_file_that_asks_is_kept_or_refused_by_the_users_word() {
    for accept in [true, false] {
        let mut p = pair(|b| b.ask = true);
        let src = p.dir.path().join("slides.pdf");
        std::fs::write(&src, data(3_000_000)).unwrap();
        p.alice.send_file(src);
        let asked = SessionEvent::Arriving {
            name: "slides.pdf".into(),
            size: 3_000_000,
            content_type: "application/pdf".into(),
        };
        assert_eq!(next(&mut p.b_rx).await, asked);
        let b_files = p.dir.path().join("b");
        assert_eq!(
            on_disk(&b_files),
            0,
            "bytes reached the disk before the user said"
        );
        p.bob.take("slides.pdf", accept);
        let bob_said = next(&mut p.b_rx).await;
        let alice_heard = next(&mut p.a_rx).await;
        if accept {
            assert!(matches!(
                bob_said,
                SessionEvent::FileReceived {
                    size: 3_000_000,
                    ..
                }
            ));
            assert!(matches!(
                alice_heard,
                SessionEvent::FileSent {
                    size: 3_000_000,
                    ..
                }
            ));
            assert_eq!(
                std::fs::read(b_files.join("slides.pdf")).unwrap(),
                data(3_000_000)
            );
        } else {
            let cancelled = |by_peer, incoming| SessionEvent::Cancelled {
                name: "slides.pdf".into(),
                incoming,
                by_peer,
            };
            assert_eq!(bob_said, cancelled(false, true));
            assert_eq!(alice_heard, cancelled(true, false));
            assert_eq!(on_disk(&b_files), 0, "nothing kept");
        }
    }
}

/// Files under `dir` (its private `.partial` folder included).
fn on_disk(dir: &std::path::Path) -> usize {
    let mut n = 0;
    for e in std::fs::read_dir(dir).unwrap() {
        let e = e.unwrap();
        match e.file_type().unwrap().is_dir() {
            true => n += on_disk(&e.path()),
            false => n += 1,
        }
    }
    n
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
    let left = on_disk(&p.dir.path().join("b"));
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
    assert_eq!(on_disk(&p.dir.path().join("b")), 0);
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
    // The first request names the session, or the connection is not taken at all.
    let evil = "msrp://127.0.0.1:9/evil1;tcp";
    s.write_all(&send("t0abc", &to, evil, "m0", "text/plain", b""))
        .await
        .unwrap();
    assert!(read_some(&mut s).await.starts_with("MSRP t0abc 200"));
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

/// A chunk of message `id` carrying `body` at `range`, ending with `c`.
fn chunk(
    tid: &str,
    to: &str,
    id: &str,
    extra: &[(&str, &str)],
    range: &str,
    body: &[u8],
    c: Continuation,
) -> Vec<u8> {
    let mut headers = vec![
        ("To-Path", to),
        ("From-Path", "msrp://127.0.0.1:9/evil1;tcp"),
        ("Message-ID", id),
        ("Byte-Range", range),
    ];
    headers.extend_from_slice(extra);
    let mut out = super::super::frame::request_head(tid, "SEND", &headers, true);
    out.extend_from_slice(body);
    out.extend(super::super::frame::end_line(tid, true, c));
    out
}

/// The transaction ids and codes of the responses read until `n` have come.
async fn responses(s: &mut TcpStream, n: usize) -> Vec<(String, u16)> {
    let mut text = String::new();
    loop {
        let got: Vec<(String, u16)> = text
            .lines()
            .filter_map(|l| {
                let mut w = l.strip_prefix("MSRP ")?.split(' ');
                let tid = w.next()?.to_string();
                Some((tid, w.next()?.parse().ok()?))
            })
            .collect();
        if got.len() >= n {
            return got;
        }
        text.push_str(&read_some(s).await);
    }
}

const FILE: (&str, &str) = ("Content-Type", "application/octet-stream; name=\"big.bin\"");

/// A stranger's file on a session that asks: nothing reaches the disk before the user's word,
/// at most one chunk's worth waits, and a refusal leaves nothing and stops the sender.
#[tokio::test]
async fn a_strangers_file_touches_no_disk_before_the_user_says() {
    let (s, bob, mut rx, dir) = raw_peer(|b| b.ask = true).await;
    let to = format!("msrp://{}/bob123;tcp", s.peer_addr().unwrap());
    let (mut rd, mut wr) = s.into_split();
    // 50 MB announced, sent as 1 MiB chunks that never finish; the writer blocks once TCP
    // holds what the receiver will not read.
    let writer = tokio::spawn(async move {
        for i in 0..50u64 {
            let range = format!("{}-{}/52428800", i * 1_048_576 + 1, (i + 1) * 1_048_576);
            let c = chunk(
                &format!("txn{i:03}"),
                &to,
                "f1",
                &[FILE],
                &range,
                &[7u8; 1_048_576],
                Continuation::More,
            );
            if wr.write_all(&c).await.is_err() {
                return;
            }
        }
    });
    let asked = next(&mut rx).await;
    assert!(
        matches!(asked, SessionEvent::Arriving { ref name, size: 52_428_800, .. } if name == "big.bin"),
        "{asked:?}"
    );
    assert_eq!(
        on_disk(dir.path()),
        0,
        "bytes reached the disk before the user said"
    );
    bob.take("big.bin", false);
    assert!(matches!(
        next(&mut rx).await,
        SessionEvent::Cancelled { by_peer: false, .. }
    ));
    // The chunks are read again now, and refused.
    let mut buf = vec![0u8; 65536];
    let mut heard = String::new();
    while !heard.contains(" 413 ") {
        let n = rd.read(&mut buf).await.unwrap();
        assert!(n > 0, "closed before a 413: {heard}");
        heard.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    writer.abort();
    assert_eq!(on_disk(dir.path()), 0, "a refused file left something");
}

/// Files and texts a peer starts and never finishes are bounded per session (413 beyond).
#[tokio::test]
async fn unfinished_files_and_texts_are_bounded() {
    let (mut s, _bob, _rx, _dir) = raw_peer(|_| {}).await;
    let to = format!("msrp://{}/bob123;tcp", s.peer_addr().unwrap());
    let mut all = Vec::new();
    for i in 0..6 {
        let name = format!("application/octet-stream; name=\"f{i}.bin\"");
        all.extend(chunk(
            &format!("tfil{i}"),
            &to,
            &format!("f{i}"),
            &[("Content-Type", &name)],
            "1-3/100",
            b"abc",
            Continuation::More,
        ));
    }
    for i in 0..20 {
        all.extend(chunk(
            &format!("ttxt{i}"),
            &to,
            &format!("t{i}"),
            &[("Content-Type", "text/plain")],
            "1-3/100",
            b"abc",
            Continuation::More,
        ));
    }
    s.write_all(&all).await.unwrap();
    let got = responses(&mut s, 26).await;
    let code = |tid: &str| got.iter().find(|(t, _)| t == tid).map(|(_, c)| *c);
    let files: Vec<_> = (0..6).map(|i| code(&format!("tfil{i}"))).collect();
    let texts: Vec<_> = (0..20).map(|i| code(&format!("ttxt{i}"))).collect();
    assert_eq!(
        files,
        [
            Some(200),
            Some(200),
            Some(200),
            Some(200),
            Some(413),
            Some(413)
        ]
    );
    assert_eq!(
        texts.iter().filter(|c| **c == Some(200)).count(),
        16,
        "{texts:?}"
    );
    assert_eq!(
        texts.iter().filter(|c| **c == Some(413)).count(),
        4,
        "{texts:?}"
    );
}

/// Unfinished files of one peer in the chunk form the bound test uses, on session `to`; the
/// codes its `n` first chunks got.
async fn unfinished_files(s: &mut TcpStream, n: usize) -> Vec<u16> {
    let to = format!("msrp://{}/bob123;tcp", s.peer_addr().unwrap());
    let mut all = Vec::new();
    for i in 0..n {
        let name = format!("application/octet-stream; name=\"f{i}.bin\"");
        let (tid, id) = (format!("tfil{i}"), format!("f{i}"));
        let c = chunk(
            &tid,
            &to,
            &id,
            &[("Content-Type", &name)],
            "1-3/100",
            b"abc",
            Continuation::More,
        );
        all.extend(c);
    }
    s.write_all(&all).await.unwrap();
    let got = responses(s, n).await;
    (0..n)
        .map(|i| {
            got.iter()
                .find(|(t, _)| *t == format!("tfil{i}"))
                .map_or(0, |(_, c)| *c)
        })
        .collect()
}

/// One peer with several sessions at once is bounded across them: its third session, with
/// the first two each holding a session's worth of unfinished files, gets 413 for every file,
/// and the share comes back when a session ends.
#[tokio::test]
async fn unfinished_files_are_bounded_per_peer_across_sessions() {
    let budget = crate::msrp::budget::Budget::default();
    let peer: std::net::IpAddr = "127.0.0.1".parse().unwrap();
    let mut sessions = Vec::new();
    for _ in 0..2 {
        let b = budget.clone();
        let (mut s, bob, rx, dir) = raw_peer(move |p| p.budget = b).await;
        assert_eq!(unfinished_files(&mut s, 4).await, [200; 4]);
        sessions.push((s, bob, rx, dir));
    }
    assert_eq!(budget.files_of(peer), 8);
    let b = budget.clone();
    let (mut third, _bob, _rx, _dir) = raw_peer(move |p| p.budget = b).await;
    assert_eq!(unfinished_files(&mut third, 2).await, [413; 2]);
    // The first session ends (its events stop once its task is gone): its share comes back.
    let (s, bob, mut rx, _dir) = sessions.remove(0);
    drop((s, bob));
    while rx.recv().await.is_some() {}
    assert_eq!(budget.files_of(peer), 4);
}

/// A passive session takes only the connection that names it: a port scanner that comes
/// first, and one that says nothing, do not take its place.
#[tokio::test]
async fn scanners_before_the_peer_do_not_take_the_session() {
    let dir = tempfile::tempdir().unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, mut rx) = mpsc::unbounded_channel();
    let ours = format!("msrp://{addr}/bob123;tcp");
    let p = params(
        &ours,
        "msrp://127.0.0.1:9/evil1;tcp",
        false,
        dir.path().to_path_buf(),
    );
    let _bob = MsrpSession::start(Some(listener), p, move |e| {
        let _ = tx.send(e);
    });
    let _silent = TcpStream::connect(addr).await.unwrap();
    let mut scanner = TcpStream::connect(addr).await.unwrap();
    scanner.write_all(b"GET / HTTP/1.0\r\n\r\n").await.unwrap();
    let mut buf = [0u8; 64];
    // Closed, with nothing said.
    assert!(matches!(scanner.read(&mut buf).await, Ok(0) | Err(_)));
    let mut peer = TcpStream::connect(addr).await.unwrap();
    peer.write_all(&send(
        "tp1xyz",
        &ours,
        "msrp://127.0.0.1:9/evil1;tcp",
        "m1",
        "text/plain",
        b"it's me",
    ))
    .await
    .unwrap();
    assert!(
        matches!(next(&mut rx).await, SessionEvent::Text { ref text, .. } if text == "it's me")
    );
}

/// `Byte-Range: 1-n/*` (size unknown to the sender) is a file as long as what arrives; REPORTs
/// and responses naming a file's Message-ID never land in it, and a REPORT is never answered.
#[tokio::test]
async fn unknown_totals_work_and_reports_never_land_in_files() {
    let (mut s, _bob, mut rx, _dir) = raw_peer(|_| {}).await;
    let to = format!("msrp://{}/bob123;tcp", s.peer_addr().unwrap());
    let from = "msrp://127.0.0.1:9/evil1;tcp";
    let mut all = chunk(
        "ta1xyz",
        &to,
        "f1",
        &[FILE],
        "1-5/*",
        b"hello",
        Continuation::More,
    );
    let report = super::super::frame::request(
        "tr1xyz",
        "REPORT",
        &[
            ("To-Path", &to),
            ("From-Path", from),
            ("Message-ID", "f1"),
            ("Byte-Range", "6-10/*"),
            ("Status", "000 200 OK"),
        ],
        Some(b"EVIL!"),
    );
    all.extend(report);
    all.extend(
        b"MSRP tq1xyz 200 OK\r\nTo-Path: x\r\nFrom-Path: y\r\nMessage-ID: f1\r\n-------tq1xyz$\r\n",
    );
    all.extend(chunk(
        "ta2xyz",
        &to,
        "f1",
        &[FILE],
        "6-10/*",
        b"world",
        Continuation::Complete,
    ));
    s.write_all(&all).await.unwrap();
    let got = loop {
        if let SessionEvent::FileReceived { path, size, .. } = next(&mut rx).await {
            break (std::fs::read(path).unwrap(), size);
        }
    };
    assert_eq!(got, (b"helloworld".to_vec(), 10));
    let answered = responses(&mut s, 2).await;
    assert_eq!(answered, [("ta1xyz".into(), 200), ("ta2xyz".into(), 200)]);
}

/// A peer that sends and never reads our answers is held back, then stopped: the session
/// ends with a reason instead of queueing answers without end.
#[tokio::test]
async fn a_peer_that_reads_nothing_is_stopped() {
    let (s, _bob, mut rx, _dir) = raw_peer(|_| {}).await;
    let to = format!("msrp://{}/bob123;tcp", s.peer_addr().unwrap());
    let (_rd, mut wr) = s.into_split();
    let flood = tokio::spawn(async move {
        let mut batch = Vec::new();
        for i in 0..200_000u32 {
            let tid = format!("tn{i:08}");
            batch.extend(send(
                &tid,
                &to,
                "msrp://127.0.0.1:9/evil1;tcp",
                &format!("m{i}"),
                "text/plain",
                b"x",
            ));
            if batch.len() > 64 * 1024 && wr.write_all(&std::mem::take(&mut batch)).await.is_err() {
                return;
            }
        }
    });
    let ended = loop {
        let e = tokio::time::timeout(Duration::from_secs(120), rx.recv())
            .await
            .expect("the session went on")
            .expect("the session reports");
        if let SessionEvent::Failed(why) = e {
            break why;
        }
    };
    assert!(ended.contains("stopped reading"), "{ended}");
    flood.abort();
}

/// A receiver that answers every chunk 200 but never reports: the sender learns every byte
/// was taken (so a session that then ends is "sent, not confirmed", not "not delivered").
#[tokio::test]
async fn every_chunk_answered_without_a_report_is_said() {
    let dir = tempfile::tempdir().unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let b_path = format!("msrp://{}/rawb1;tcp", listener.local_addr().unwrap());
    let a_path = "msrp://127.0.0.1:9/alice1;tcp".to_string();
    let (tx, mut rx) = mpsc::unbounded_channel();
    let alice = MsrpSession::start(
        None,
        params(&a_path, &b_path, true, dir.path().into()),
        move |e| {
            let _ = tx.send(e);
        },
    );
    let src = dir.path().join("notes.bin");
    std::fs::write(&src, data(600_000)).unwrap();
    alice.send_file(src);
    let (mut s, _) = listener.accept().await.unwrap();
    let receiver = tokio::spawn(async move {
        let (mut decoder, mut buf, mut tid) = (Decoder::default(), Vec::new(), String::new());
        loop {
            if s.read_buf(&mut buf).await.unwrap_or(0) == 0 {
                return;
            }
            let mut used = 0;
            let mut answers = Vec::new();
            while let Ok(Some((item, n))) = decoder.next(&buf[used..]) {
                used += n;
                match item {
                    super::super::frame::Item::Head(h) => tid = h.transaction.clone(),
                    super::super::frame::Item::End(_) => answers.extend(
                        super::super::frame::response(&tid, 200, "OK", &a_path, &b_path),
                    ),
                    _ => {}
                }
            }
            buf.drain(..used);
            if s.write_all(&answers).await.is_err() {
                return;
            }
        }
    });
    let got = loop {
        let e = tokio::time::timeout(Duration::from_secs(20), rx.recv()).await;
        match e.expect("an event in time").expect("the session reports") {
            SessionEvent::AllAnswered { name, size } => break (name, size),
            SessionEvent::FileSent { .. } => panic!("no report was sent"),
            _ => {}
        }
    };
    assert_eq!(got, ("notes.bin".to_string(), 600_000));
    receiver.abort();
}

fn identity() -> std::sync::Arc<crate::media::dtls::MediaIdentity> {
    let id = crate::tls::Identity::generate(&["parley".into()]).unwrap();
    std::sync::Arc::new(crate::media::dtls::MediaIdentity::of(&id))
}

fn tls(
    ours: &std::sync::Arc<crate::media::dtls::MediaIdentity>,
    theirs: &crate::media::dtls::MediaIdentity,
) -> Option<PeerTls> {
    Some(PeerTls {
        identity: ours.clone(),
        theirs: theirs.fingerprint(),
    })
}

#[tokio::test]
async fn over_tls_text_crosses_and_a_stranger_with_another_certificate_is_turned_away() {
    let (a, b, mallory) = (identity(), identity(), identity());
    // Mallory knows Bob's path and certificate, but Bob expects Alice's.
    let mut p = pair_with(|ap| ap.tls = tls(&mallory, &b), |bp| bp.tls = tls(&b, &a));
    p.alice.send_text("let me in");
    let SessionEvent::Failed(why) = next(&mut p.a_rx).await else {
        panic!("Mallory's session went on")
    };
    // TLS 1.3 tells the client only after its handshake: the refusal comes as an alert.
    assert!(
        why.contains("alert") || why.contains("encrypted connection"),
        "{why}"
    );
    // Bob still waits for Alice, who gets through; the text arrives encrypted and whole.
    let (a_tx, mut a_rx) = mpsc::unbounded_channel();
    let a_files = p.dir.path().join("a");
    let mut ap = params("msrp://127.0.0.1:9/alice1;tcp", &p.b_path, true, a_files);
    ap.tls = tls(&a, &b);
    let alice = MsrpSession::start(None, ap, move |e| {
        let _ = a_tx.send(e);
    });
    alice.send_text("it's Alice");
    assert_eq!(
        next(&mut p.b_rx).await,
        SessionEvent::Text {
            content_type: "text/plain".into(),
            text: "it's Alice".into()
        }
    );
    assert_eq!(next(&mut a_rx).await, SessionEvent::TextDelivered);
}
