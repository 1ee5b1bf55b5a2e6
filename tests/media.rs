//! The media path without SIP: two real media sessions (codec, RTP, jitter buffer, headless
//! devices) on loopback sockets, with a UDP relay in between that loses and delays packets the
//! way a bad network does, and a stream of malformed and foreign packets thrown at a session.

mod common;

use common::tone_share;
use parley::media::codec::CodecKind;
use parley::media::headless::{Sink, SinkSpec, Source, SourceSpec};
use parley::media::session::{MediaEvent, MediaParams, MediaSession, MediaStats};
use rand::{rngs::StdRng, Rng, SeedableRng};
use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

fn socket() -> (UdpSocket, SocketAddr) {
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    let a = s.local_addr().unwrap();
    (s, a)
}

fn params(remote: SocketAddr, codec: CodecKind, send: bool, receive: bool) -> MediaParams {
    MediaParams {
        remote,
        payload_type: match codec {
            CodecKind::Opus => 111,
            CodecKind::Pcmu => 0,
            CodecKind::Pcma => 8,
        },
        codec,
        send,
        receive,
        telephone_event: None,
        rtcp: None,
        rtcp_interval: Duration::from_millis(200),
    }
}

/// A session whose counts come out of the returned channel.
fn session(
    sock: UdpSocket,
    p: MediaParams,
    mic: SourceSpec,
    speaker: SinkSpec,
) -> (MediaSession, mpsc::UnboundedReceiver<MediaStats>) {
    let rate = p.codec.rate();
    let (tx, rx) = mpsc::unbounded_channel();
    let src = Source::open(&mic, rate).unwrap();
    let sink = Sink::open(&speaker, rate).unwrap();
    let m = MediaSession::start(sock, None, p, src, sink, move |ev| {
        if let MediaEvent::Stats(s) = ev {
            let _ = tx.send(s);
        }
    })
    .unwrap();
    (m, rx)
}

/// Waits for counts with at least `n` packets received.
async fn until_received(rx: &mut mpsc::UnboundedReceiver<MediaStats>, n: u64) -> MediaStats {
    loop {
        let s = tokio::time::timeout(Duration::from_secs(30), rx.recv())
            .await
            .expect("no media counts")
            .expect("session stopped");
        if s.received >= n {
            return s;
        }
    }
}

/// The tones the recordings are checked against.
const CANDIDATES: [f64; 3] = [440.0, 880.0, 1000.0];

/// Forwards datagrams from `a` to `b`, losing `loss` of them and delaying each by up to
/// `jitter` (a seeded random draw, so every run sees the same network).
async fn relay(listen: UdpSocket, to: SocketAddr, loss: f64, jitter: Duration) {
    listen.set_nonblocking(true).unwrap();
    let sock = Arc::new(tokio::net::UdpSocket::from_std(listen).unwrap());
    let mut rng = StdRng::seed_from_u64(4733);
    let mut buf = vec![0u8; 2048];
    loop {
        let Ok((n, _)) = sock.recv_from(&mut buf).await else {
            return;
        };
        if rng.gen_bool(loss) {
            continue;
        }
        let delay = jitter.mul_f64(rng.gen_range(0.0..1.0));
        let (sock, bytes) = (sock.clone(), buf[..n].to_vec());
        tokio::spawn(async move {
            // The network's delay, simulated: this is the impairment, not a wait for an event.
            tokio::time::sleep(delay).await;
            let _ = sock.send_to(&bytes, to).await;
        });
    }
}

async fn through_a_bad_network(codec: CodecKind) -> f64 {
    let dir = tempfile::tempdir().unwrap();
    let wav = dir.path().join("heard.wav");
    let (a_sock, a_addr) = socket();
    let (b_sock, b_addr) = socket();
    let (r_sock, r_addr) = socket();
    tokio::spawn(relay(r_sock, b_addr, 0.10, Duration::from_millis(40)));
    let (a, _) = session(
        a_sock,
        params(r_addr, codec, true, false),
        SourceSpec::Tone(440.0),
        SinkSpec::Discard,
    );
    let (b, mut b_stats) = session(
        b_sock,
        params(a_addr, codec, false, true),
        SourceSpec::Silence,
        SinkSpec::Record(wav.clone()),
    );
    let s = until_received(&mut b_stats, 250).await;
    b.stop().await;
    a.stop().await;
    assert!(s.lost > 0, "the relay lost nothing: {s:?}");
    tone_share(&wav, 440.0, &CANDIDATES)
}

#[tokio::test]
async fn opus_stays_continuous_through_loss_and_jitter() {
    let share = through_a_bad_network(CodecKind::Opus).await;
    assert!(
        share >= 0.95,
        "440 Hz in only {:.1}% of frames",
        share * 100.0
    );
}

#[tokio::test]
async fn pcmu_stays_continuous_through_loss_and_jitter() {
    let share = through_a_bad_network(CodecKind::Pcmu).await;
    assert!(
        share >= 0.95,
        "440 Hz in only {:.1}% of frames",
        share * 100.0
    );
}

#[tokio::test]
async fn malformed_and_foreign_packets_are_dropped_without_harm() {
    let dir = tempfile::tempdir().unwrap();
    let wav = dir.path().join("heard.wav");
    let (a_sock, a_addr) = socket();
    let (b_sock, b_addr) = socket();
    let codec = CodecKind::Pcmu;
    let (a, _) = session(
        a_sock,
        params(b_addr, codec, true, false),
        SourceSpec::Tone(440.0),
        SinkSpec::Discard,
    );
    let (b, mut b_stats) = session(
        b_sock,
        params(a_addr, codec, false, true),
        SourceSpec::Silence,
        SinkSpec::Record(wav.clone()),
    );
    let attacker = UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut junk: Vec<Vec<u8>> = vec![
        vec![],
        vec![0x80],
        b"hello, not RTP".to_vec(),
        vec![0x8f, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1],
        vec![0xb0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0xff, 0xff],
    ];
    // Well-formed RTP with a payload type we did not negotiate, from a stranger.
    let mut foreign = Vec::new();
    let p = parley::media::rtp::Packet {
        marker: false,
        payload_type: 18,
        sequence: 1,
        timestamp: 1,
        ssrc: 666,
        payload: &[0; 20],
    };
    parley::media::rtp::build(&p, &mut foreign);
    junk.push(foreign);
    for _ in 0..20 {
        for j in &junk {
            attacker.send_to(j, b_addr).unwrap();
        }
    }
    let s = until_received(&mut b_stats, 150).await;
    b.stop().await;
    a.stop().await;
    assert!(s.dropped_foreign >= 20, "{s:?}");
    assert!(tone_share(&wav, 440.0, &CANDIDATES) >= 0.95);
}

#[tokio::test]
async fn keys_cross_the_media_as_telephone_events() {
    let (a_sock, a_addr) = socket();
    let (b_sock, b_addr) = socket();
    let codec = CodecKind::Opus;
    let mut pa = params(b_addr, codec, true, true);
    pa.telephone_event = Some(101);
    let mut pb = params(a_addr, codec, true, true);
    pb.telephone_event = Some(101);
    let (a, _) = session(a_sock, pa, SourceSpec::Tone(440.0), SinkSpec::Discard);
    let (tx, mut rx) = mpsc::unbounded_channel();
    let rate = codec.rate();
    let b = MediaSession::start(
        b_sock,
        None,
        pb,
        Source::open(&SourceSpec::Silence, rate).unwrap(),
        Sink::open(&SinkSpec::Discard, rate).unwrap(),
        move |ev| {
            if let MediaEvent::Key(k) = ev {
                let _ = tx.send(k);
            }
        },
    )
    .unwrap();
    for d in "0123456789*#ABCD".chars() {
        a.key(d);
    }
    let mut got = String::new();
    while got.len() < 16 {
        let k = tokio::time::timeout(Duration::from_secs(20), rx.recv())
            .await
            .expect("a key went missing")
            .unwrap();
        got.push(k);
    }
    assert_eq!(got, "0123456789*#ABCD");
    a.stop().await;
    b.stop().await;
}

/// Waits for counts that satisfy `pred`.
async fn until(
    rx: &mut mpsc::UnboundedReceiver<MediaStats>,
    pred: impl Fn(&MediaStats) -> bool,
) -> MediaStats {
    for _ in 0..30 {
        let s = tokio::time::timeout(Duration::from_secs(30), rx.recv())
            .await
            .expect("no media counts")
            .expect("session stopped");
        if pred(&s) {
            return s;
        }
    }
    panic!("the counts never got there");
}

#[tokio::test]
async fn rtcp_reports_give_round_trip_time_and_the_peers_loss() {
    // A's voice goes through a relay that loses 10%; B's reports come straight back.
    let (a_sock, a_addr) = socket();
    let (a_rtcp, a_rtcp_addr) = socket();
    let (b_sock, b_addr) = socket();
    let (b_rtcp, b_rtcp_addr) = socket();
    let (r_sock, r_addr) = socket();
    tokio::spawn(relay(r_sock, b_addr, 0.10, Duration::ZERO));
    let codec = CodecKind::Pcmu;
    let mut pa = params(r_addr, codec, true, true);
    pa.rtcp = Some(b_rtcp_addr);
    // B sends no voice: it would latch onto the relay (symmetric RTP) and bypass the loss.
    let mut pb = params(a_addr, codec, false, true);
    pb.rtcp = Some(a_rtcp_addr);
    let rate = codec.rate();
    let (tx, mut a_stats) = mpsc::unbounded_channel();
    let a = MediaSession::start(
        a_sock,
        Some(a_rtcp),
        pa,
        Source::open(&SourceSpec::Tone(440.0), rate).unwrap(),
        Sink::open(&SinkSpec::Discard, rate).unwrap(),
        move |ev| {
            if let MediaEvent::Stats(s) = ev {
                let _ = tx.send(s);
            }
        },
    )
    .unwrap();
    let b = MediaSession::start(
        b_sock,
        Some(b_rtcp),
        pb,
        Source::open(&SourceSpec::Silence, rate).unwrap(),
        Sink::open(&SinkSpec::Discard, rate).unwrap(),
        |_| {},
    )
    .unwrap();
    let s = until(&mut a_stats, |s| {
        s.rtt_ms.is_some() && s.peer_lost_percent > 0
    })
    .await;
    assert!(s.rtt_ms.unwrap() < 1000, "{s:?}");
    assert!((2..=25).contains(&s.peer_lost_percent), "{s:?}");
    a.stop().await;
    b.stop().await;
}
