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

fn type_of(codec: CodecKind) -> u8 {
    match codec {
        CodecKind::Opus => 111,
        CodecKind::Pcmu => 0,
        CodecKind::Pcma => 8,
    }
}

fn params(remote: SocketAddr, codec: CodecKind, send: bool, receive: bool) -> MediaParams {
    let payload_type = type_of(codec);
    MediaParams {
        remote,
        payload_type,
        codec,
        decodes: vec![(payload_type, codec)],
        send,
        receive,
        telephone_event: None,
        event_rate: 8000,
        rtcp: None,
        rtcp_interval: Duration::from_millis(200),
        keepalive: Duration::from_millis(100),
        ice: None,
        srtp: None,
        dtls: None,
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
    let m = MediaSession::start(sock, None, None, p, src, sink, move |ev| {
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
    // Reports a second apart cover about 50 packets each: a 10% loss reads as 2-25%, where
    // ten packets (200 ms) would often read as 0% or 30%.
    pb.rtcp_interval = Duration::from_secs(1);
    let rate = codec.rate();
    let (tx, mut a_stats) = mpsc::unbounded_channel();
    let a = MediaSession::start(
        a_sock,
        Some(a_rtcp),
        None,
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
        None,
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

/// RTP of `hz` from `sock` to `to`: packets of `ms` (G.711 or Opus, coded here), `count` of
/// them at the network's pace, starting at sequence number `seq`.
async fn send_tone(
    sock: &tokio::net::UdpSocket,
    to: SocketAddr,
    codec: CodecKind,
    hz: f64,
    ms: u64,
    count: u32,
    seq: u16,
) {
    let rate = codec.rate();
    let samples = (u64::from(rate) * ms / 1000) as usize;
    let mut tone = parley::media::tone::Tone::new(hz, rate, 12000);
    let mut opus =
        opus::Encoder::new(48_000, opus::Channels::Mono, opus::Application::Voip).unwrap();
    let (mut pcm, mut packet) = (vec![0i16; samples], Vec::new());
    let mut tick = tokio::time::interval(Duration::from_millis(ms));
    let ssrc = rand::random();
    for i in 0..count {
        // The sender's own clock: this paces a peer, it waits for no event of ours.
        tick.tick().await;
        tone.fill(&mut pcm);
        let payload: Vec<u8> = match codec {
            CodecKind::Opus => opus.encode_vec(&pcm, 4000).unwrap(),
            CodecKind::Pcmu => pcm
                .iter()
                .map(|s| audio_codec_algorithms::encode_ulaw(*s))
                .collect(),
            CodecKind::Pcma => pcm
                .iter()
                .map(|s| audio_codec_algorithms::encode_alaw(*s))
                .collect(),
        };
        let p = parley::media::rtp::Packet {
            marker: i == 0,
            payload_type: type_of(codec),
            sequence: seq.wrapping_add(i as u16),
            timestamp: i * samples as u32,
            ssrc,
            payload: &payload,
        };
        parley::media::rtp::build(&p, &mut packet);
        let _ = sock.send_to(&packet, to).await;
    }
}

fn tokio_socket() -> (tokio::net::UdpSocket, SocketAddr) {
    let (s, a) = socket();
    s.set_nonblocking(true).unwrap();
    (tokio::net::UdpSocket::from_std(s).unwrap(), a)
}

/// The last counts a stopped session reported.
fn last_counts(rx: &mut mpsc::UnboundedReceiver<MediaStats>) -> MediaStats {
    let mut last = MediaStats::default();
    while let Ok(s) = rx.try_recv() {
        last = s;
    }
    last
}

#[tokio::test]
async fn a_stranger_who_knows_the_port_cannot_take_over_the_call() {
    let dir = tempfile::tempdir().unwrap();
    let (a_wav, b_wav) = (dir.path().join("a.wav"), dir.path().join("b.wav"));
    let (a_sock, a_addr) = socket();
    let (b_sock, b_addr) = socket();
    let codec = CodecKind::Pcmu;
    // The stranger saw the SDP: it blasts 300 Hz at B's port from the start, and listens.
    let (stranger, _) = tokio_socket();
    let attack = async {
        send_tone(&stranger, b_addr, codec, 300.0, 20, 400, 1).await;
    };
    let (a, mut a_stats) = session(
        a_sock,
        params(b_addr, codec, true, true),
        SourceSpec::Tone(1000.0),
        SinkSpec::Record(a_wav.clone()),
    );
    let (b, mut b_stats) = session(
        b_sock,
        params(a_addr, codec, true, true),
        SourceSpec::Tone(440.0),
        SinkSpec::Record(b_wav.clone()),
    );
    tokio::join!(attack, until_received(&mut b_stats, 200));
    b.stop().await;
    a.stop().await;
    let candidates = [300.0, 440.0, 1000.0];
    let b_heard = tone_share(&b_wav, 1000.0, &candidates);
    let b_stranger = tone_share(&b_wav, 300.0, &candidates);
    assert!(
        b_heard >= 0.95,
        "B heard the caller in {:.1}%",
        b_heard * 100.0
    );
    assert_eq!(b_stranger, 0.0, "B heard the stranger");
    // B kept sending to A, not to the stranger.
    assert!(tone_share(&a_wav, 440.0, &candidates) >= 0.95);
    let mut buf = [0u8; 2048];
    assert!(
        stranger.try_recv_from(&mut buf).is_err(),
        "B sent to the stranger"
    );
    assert!(last_counts(&mut b_stats).dropped_foreign >= 300);
    let _ = last_counts(&mut a_stats);
}

/// B (receive-only, G.711 both ways agreed) hears 440 Hz from a raw peer sending `codecs` in
/// turn, each for 3 s in packets of `ms`.
async fn heard_from_peer(codecs: &[CodecKind], ms: u64, speaker: CodecKind) -> (f64, MediaStats) {
    let dir = tempfile::tempdir().unwrap();
    let wav = dir.path().join("heard.wav");
    let (peer, peer_addr) = tokio_socket();
    let (b_sock, b_addr) = socket();
    let mut p = params(peer_addr, speaker, false, true);
    p.decodes = codecs.iter().map(|c| (type_of(*c), *c)).collect();
    let (b, mut stats) = session(
        b_sock,
        p,
        SourceSpec::Silence,
        SinkSpec::Record(wav.clone()),
    );
    let count = (3000 / ms) as u32;
    for (i, c) in codecs.iter().enumerate() {
        send_tone(
            &peer,
            b_addr,
            *c,
            440.0,
            ms,
            count,
            (i as u32 * count) as u16,
        )
        .await;
    }
    b.stop().await;
    (
        tone_share(&wav, 440.0, &CANDIDATES),
        last_counts(&mut stats),
    )
}

fn assert_continuous(share: f64, s: &MediaStats) {
    assert!(
        share >= 0.95,
        "440 Hz in only {:.1}% ({s:?})",
        share * 100.0
    );
}

#[tokio::test]
async fn a_peer_switching_from_pcmu_to_pcma_mid_call_is_heard() {
    let (share, s) =
        heard_from_peer(&[CodecKind::Pcmu, CodecKind::Pcma], 20, CodecKind::Pcmu).await;
    assert_continuous(share, &s);
}

#[tokio::test]
async fn pcmu_in_40_ms_packets_is_heard_continuous() {
    let (share, s) = heard_from_peer(&[CodecKind::Pcmu], 40, CodecKind::Pcmu).await;
    assert_continuous(share, &s);
    assert_eq!(s.lost, 0, "{s:?}");
}

#[tokio::test]
async fn opus_in_60_ms_packets_is_heard_continuous() {
    let (share, s) = heard_from_peer(&[CodecKind::Opus], 60, CodecKind::Opus).await;
    assert_continuous(share, &s);
    assert_eq!(s.lost, 0, "{s:?}");
}

#[tokio::test]
async fn a_peer_switching_from_opus_to_pcmu_is_heard_at_the_speakers_rate() {
    let codecs = [CodecKind::Opus, CodecKind::Pcmu];
    let (share, s) = heard_from_peer(&codecs, 20, CodecKind::Opus).await;
    assert_continuous(share, &s);
}

/// On hold (nothing of ours to send) a keepalive still leaves now and then: RTP with a payload
/// type nobody agreed on and no payload (RFC 6263 4.6), so a NAT keeps the path open.
#[tokio::test]
async fn on_hold_a_keepalive_keeps_the_path_open() {
    let (peer, peer_addr) = tokio_socket();
    let (sock, _) = socket();
    let (held, _stats) = session(
        sock,
        params(peer_addr, CodecKind::Pcmu, false, false),
        SourceSpec::Tone(440.0),
        SinkSpec::Discard,
    );
    let mut buf = [0u8; 2048];
    let mut keepalives = 0;
    while keepalives < 2 {
        let (n, _) = tokio::time::timeout(Duration::from_secs(10), peer.recv_from(&mut buf))
            .await
            .expect("no keepalive")
            .unwrap();
        // RTCP reports share the port here (no a=rtcp): they are not what is looked for.
        if parley::media::rtp::is_rtcp(&buf[..n]) {
            continue;
        }
        keepalives += 1;
        let p = parley::media::rtp::parse(&buf[..n]).unwrap();
        assert!((20..=24).contains(&p.payload_type), "{p:?}");
        assert!(p.payload.is_empty(), "{p:?}");
    }
    held.stop().await;
}

/// A peer that should be sending and is silent is said to be (and no longer once it sends).
#[tokio::test]
async fn silence_from_a_sending_peer_is_said() {
    let (peer, peer_addr) = tokio_socket();
    let (sock, addr) = socket();
    let (b, mut stats) = session(
        sock,
        params(peer_addr, CodecKind::Pcmu, false, true),
        SourceSpec::Silence,
        SinkSpec::Discard,
    );
    until(&mut stats, |s| s.no_media_secs >= 3).await;
    let sending = send_tone(&peer, addr, CodecKind::Pcmu, 440.0, 20, 150, 0);
    let heard = async { until(&mut stats, |s| s.received > 0 && s.no_media_secs == 0).await };
    let (_, s) = tokio::join!(sending, heard);
    assert_eq!(s.no_media_secs, 0);
    b.stop().await;
}
